/**
 * The activity lease workflow on a dev server (updates and update-with-start as production uses
 * them): who gets the lease, renewal, hand-over after it runs out, release, bad claims refused, and
 * the lease carried through continue-as-new. With RECORD_REPLAY_HISTORIES set, the histories are
 * saved for the replay test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import {
  ACTIVITY_LEASE_WORKFLOW_TYPE,
  activityLeaseStatusQuery,
  activityLeaseWorkflowId,
  claimActivityLeaseUpdate,
  releaseActivityLeaseUpdate,
  type ActivityLeaseInput,
  type LeaseAnswer,
} from '../../src/contract/activity-lease';
import { createDevServerEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

jest.setTimeout(120_000);

const TTL = 3_000;
const taskQueue = `lease-${Math.random().toString(36).slice(2, 8)}`;
const workflowId = activityLeaseWorkflowId(taskQueue);
let env: TestWorkflowEnvironment;
let client: Client;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by an earlier suite in this jest worker
  }
  env = await createDevServerEnv();
  client = env.client;
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle() });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

function claim(holder: string, ttlMs = TTL): Promise<LeaseAnswer> {
  return client.workflow.executeUpdateWithStart(claimActivityLeaseUpdate, {
    args: [{ holder, ttlMs }],
    startWorkflowOperation: new WithStartWorkflowOperation(ACTIVITY_LEASE_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ claimsPerRun: 6 } satisfies ActivityLeaseInput],
    }),
  });
}

test('one holder at a time: renewal, refusal, hand-over when it runs out, release, continue-as-new', async () => {
  const a1 = await claim('a');
  expect(a1).toMatchObject({ held: true, holder: 'a', fence: 1, acquired: true });
  const b1 = await claim('b');
  expect(b1).toMatchObject({ held: false, holder: 'a', fence: 1 });
  const a2 = await claim('a');
  expect(a2).toMatchObject({ held: true, holder: 'a', fence: 1, acquired: false });
  expect(a2.until).toBeGreaterThanOrEqual(a1.until);

  // a stops renewing: b takes it once it has run out (workflow time), not before.
  await new Promise((r) => setTimeout(r, a2.until - a2.at + 300));
  const b2 = await claim('b');
  expect(b2).toMatchObject({ held: true, holder: 'b', fence: 2, acquired: true });

  // Past the sixth claim the workflow has continued as new: the lease went with it.
  await client.workflow.getHandle(workflowId).executeUpdate(releaseActivityLeaseUpdate, { args: [{ holder: 'a' }] }); // not the holder: no effect
  await expect(claim('c')).resolves.toMatchObject({ held: false, holder: 'b', fence: 2 });
  await client.workflow.getHandle(workflowId).executeUpdate(releaseActivityLeaseUpdate, { args: [{ holder: 'b' }] });
  await expect(claim('c')).resolves.toMatchObject({ held: true, holder: 'c', fence: 3, acquired: true });
  const runs = await runIds();
  expect(runs.length).toBeGreaterThanOrEqual(2);
  await expect(client.workflow.getHandle(workflowId).query(activityLeaseStatusQuery)).resolves.toMatchObject({ holder: 'c', fence: 3 });

  // A malformed claim is refused by the validator, and changes nothing.
  await expect(claim('d', 10)).rejects.toMatchObject({ cause: { message: expect.stringMatching(/ttlMs must be/) } });
  await expect(client.workflow.getHandle(workflowId).query(activityLeaseStatusQuery)).resolves.toMatchObject({ holder: 'c', fence: 3 });

  if (process.env.RECORD_REPLAY_HISTORIES) await record(process.env.RECORD_REPLAY_HISTORIES);
});

/** Run ids of the chain, newest first. */
async function runIds(): Promise<string[]> {
  const ids: string[] = [];
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    ids.push(runId ?? 'latest');
    runId = started?.continuedExecutionRunId || undefined;
    if (!runId) return ids;
  }
}

async function record(generation: string): Promise<void> {
  const dir = path.join(__dirname, '..', 'replay', 'histories', generation.replace(/[^\w.-]/g, '_'), 'activity-lease', '01');
  fs.mkdirSync(dir, { recursive: true });
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    fs.writeFileSync(path.join(dir, `${workflowId}${runId ? `.${runId.slice(0, 8)}` : ''}.json`), JSON.stringify(temporal.api.history.v1.History.fromObject(history).toJSON()) + '\n');
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return;
  }
}
