/**
 * Two deployments in one namespace, on a real dev server (SQLite visibility): each sees only its
 * own workflows through every visibility reader of the product: the grants CLI's list, reconcile's
 * running grants and memberships (which customer sync and the pass watch also use), the latest
 * reconcile report, the failed check-ins report and replay's default selection.
 *
 * The second deployment's task queue holds single quotes, so the queries' escaping is proven against
 * the server's own parser, not only against the unit tests. (Double quotes and backslashes parse
 * too, but the dev server's SQL visibility never matches values holding them: TEMPORAL_TASK_QUEUE
 * refuses them: test/temporal/visibility-queries.test.ts.)
 *
 * No worker runs: the workflows are started with their search attributes and stay Running; the
 * reconcile runs are completed by hand (one workflow task answered over gRPC) so each deployment
 * has a completed report to read.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CHECKIN_WORKFLOW_TYPE, type CheckinInput } from '../../src/contract/checkin';
import { GRANT_WORKFLOW_TYPE } from '../../src/contract/grant';
import { MEMBERSHIP_WORKFLOW_TYPE } from '../../src/contract/membership';
import { RECONCILE_WORKFLOW_TYPE } from '../../src/contract/reconcile';
import { checkinWorkflowId, grantWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import type { ReconcileReport } from '../../src/domain/reconcile-report';
import { CustomerEmail, GrantKind, GrantState, KisiGroupIds, NexudusCustomerId } from '../../src/domain/search-attributes';
import { buildFailedCheckinReport } from '../../src/ingress/failed-checkins';
import { listGrants } from '../../src/ops/grant-commands';
import { listReplayTargets } from '../../src/ops/replay';
import { latestReconcileReport, listRunningGrants, listRunningMemberships } from '../../src/reconcile/visibility';
import { newClient } from '../../src/temporal/connection';
import { literal, replayCandidatesQuery } from '../../src/temporal/visibility-queries';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const NAMESPACE = 'default';
const run = Math.random().toString(36).slice(2, 8);
/** One customer, one Kisi user, one group in both deployments: only the task queue tells them apart. */
const CUSTOMER = 2_000_001;
const KISI_USER = 900_001;

interface Deployment {
  name: string;
  taskQueue: string;
  booking: string;
  membership: string;
  checkin: string;
  reconcile: string;
}

function deployment(name: string, taskQueue: string, n: number): Deployment {
  return {
    name,
    taskQueue,
    booking: grantWorkflowId('booking', 8_100_000 + n),
    membership: membershipWorkflowId(KISI_USER, 100 + n),
    checkin: checkinWorkflowId(randomUUID()),
    reconcile: `reconcile-visibility-${run}-${name}`,
  };
}

const A = deployment('a', `visibility-a-${run}`, 1);
const B = deployment('b', `visibility-b 'quoted' ${run}`, 2);

let env: TestWorkflowEnvironment;
let client: Client;
const testStarted = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000).toISOString();

beforeAll(async () => {
  env = await createDevServerEnv();
  client = newClient(env.connection);
  for (const d of [A, B]) await startDeployment(d);
  // Visibility trails the starts: wait until all of both deployments are listed (by id, unscoped),
  // so the scoped listings below are judged on complete data rather than on an early, partial view.
  const all = [A, B].flatMap((d) => [d.booking, d.membership, d.checkin, d.reconcile]);
  const everything = `WorkflowId IN (${all.map(literal).join(', ')})`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { count } = await client.workflow.count(everything);
    const completed = (await client.workflow.count(`${everything} AND ExecutionStatus = 'Completed'`)).count;
    if (count === all.length && completed === 2) break;
    if (Date.now() > deadline) throw new Error(`visibility listed ${count}/${all.length} workflows, ${completed}/2 completed`);
    await new Promise((r) => setTimeout(r, 200));
  }
});
afterAll(async () => {
  await env?.teardown();
});

async function startDeployment(d: Deployment): Promise<void> {
  // The reconcile run first, and completed at once: the only workflow task on the queue is its own.
  await client.workflow.start(RECONCILE_WORKFLOW_TYPE, { taskQueue: d.taskQueue, workflowId: d.reconcile, args: [{ trigger: 'manual' }] });
  await completeWorkflowTask(d.taskQueue, d.reconcile, { trigger: 'manual', deployment: d.name } as unknown as ReconcileReport);

  await client.workflow.start(GRANT_WORKFLOW_TYPE.booking, {
    taskQueue: d.taskQueue,
    workflowId: d.booking,
    typedSearchAttributes: [
      { key: GrantKind, value: 'booking' },
      { key: GrantState, value: 'granted' },
      { key: NexudusCustomerId, value: String(CUSTOMER) },
    ],
  });
  await client.workflow.start(MEMBERSHIP_WORKFLOW_TYPE, {
    taskQueue: d.taskQueue,
    workflowId: d.membership,
    typedSearchAttributes: [
      { key: NexudusCustomerId, value: String(CUSTOMER) },
      { key: CustomerEmail, value: 'ada@example.com' },
      { key: KisiGroupIds, value: [d.membership.split('-').pop()!] },
    ],
  });
  const input: CheckinInput = { v: 2, eventUuid: d.checkin.slice('checkin-'.length), kisiUserId: KISI_USER, kisiUserEmail: 'ada@example.com', lockId: 1, lockName: `door ${d.name}`, unlockedAt: new Date().toISOString() };
  await client.workflow.start(CHECKIN_WORKFLOW_TYPE, {
    taskQueue: d.taskQueue,
    workflowId: d.checkin,
    args: [input],
    typedSearchAttributes: [
      { key: GrantKind, value: 'checkin' },
      { key: GrantState, value: 'needs-attention' },
    ],
  });
}

/** Answers the queue's one workflow task with "complete, returning `result`", as a worker would. */
async function completeWorkflowTask(taskQueue: string, workflowId: string, result: unknown): Promise<void> {
  const identity = `visibility-test-${run}`;
  // A long poll: the server wants a deadline on it.
  const task = await client.connection.withDeadline(Date.now() + 20_000, () =>
    client.workflowService.pollWorkflowTaskQueue({
      namespace: NAMESPACE,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      identity,
    }),
  );
  expect(task.workflowExecution?.workflowId).toBe(workflowId);
  await client.workflowService.respondWorkflowTaskCompleted({
    namespace: NAMESPACE,
    identity,
    taskToken: task.taskToken,
    commands: [
      {
        commandType: temporal.api.enums.v1.CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        completeWorkflowExecutionCommandAttributes: { result: { payloads: [client.options.loadedDataConverter.payloadConverter.toPayload(result)] } },
      },
    ],
  });
}

describe.each([
  [A.taskQueue, A, B],
  [B.taskQueue, B, A],
])('the deployment on task queue %s', (_taskQueue, own, other) => {
  const others = [other.booking, other.membership, other.checkin, other.reconcile];

  test('npm run grants -- list: its own grants only', async () => {
    const running = await listGrants(client, own.taskQueue, { limit: 50, includeClosed: false });
    expect(running.grants.map((g) => g.workflowId)).toEqual([own.booking]);
    const byCustomer = await listGrants(client, own.taskQueue, { customerId: CUSTOMER, state: 'granted', kind: 'booking', limit: 50, includeClosed: true });
    expect(byCustomer.grants.map((g) => g.workflowId)).toEqual([own.booking]);
  });

  test('reconcile (and customer sync, the pass watch): its own running grants and memberships only', async () => {
    expect([...(await listRunningGrants(client, own.taskQueue)).keys()]).toEqual([own.booking]);
    expect([...(await listRunningGrants(client, own.taskQueue, ['booking'], CUSTOMER)).keys()]).toEqual([own.booking]);
    expect((await listRunningMemberships(client, own.taskQueue)).map((m) => m.workflowId)).toEqual([own.membership]);
  });

  test('the latest reconcile report (previous run, GET /reports/reconcile): its own', async () => {
    const latest = await latestReconcileReport(client, { taskQueue: own.taskQueue });
    expect(latest?.workflowId).toBe(own.reconcile);
    expect(latest?.report).toMatchObject({ deployment: own.name });
  });

  test('GET /reports/failed-checkins: its own check-ins only', async () => {
    const report = await buildFailedCheckinReport(
      { client, taskQueue: own.taskQueue, nexudus: undefined, logger: pino({ level: 'silent' }) },
      testStarted,
      new Date(Date.now() + 120_000).toISOString(),
    );
    expect('items' in report.temporal ? report.temporal.items.map((i) => [i.workflowId, i.lockName]) : report.temporal).toEqual([[own.checkin, `door ${own.name}`]]);
  });

  test('npm run replay (default selection): its own grants and memberships only', async () => {
    const { targets } = await listReplayTargets(client, replayCandidatesQuery(own.taskQueue), 100);
    expect(targets.map((t) => t.workflowId).sort()).toEqual([own.booking, own.membership].sort());
  });

  test('none of the readers above returned anything of the other deployment', async () => {
    const seen = [
      ...(await listGrants(client, own.taskQueue, { limit: 50, includeClosed: true })).grants.map((g) => g.workflowId),
      ...(await listRunningGrants(client, own.taskQueue)).keys(),
      ...(await listRunningMemberships(client, own.taskQueue)).map((m) => m.workflowId),
      ...(await listReplayTargets(client, replayCandidatesQuery(own.taskQueue), 100)).targets.map((t) => t.workflowId),
    ];
    expect(seen.filter((id) => others.includes(id))).toEqual([]);
  });
});
