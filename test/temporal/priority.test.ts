/**
 * Temporal task-queue priority: every workflow the product starts carries its lane's priorityKey
 * (src/domain/lanes.ts), and the server dispatches a live workflow's task ahead of a backlog of
 * lower-priority ones. On a real dev server (the version the product ships with), no worker at
 * first, so the backlog is in Temporal's task queue as in a burst.
 */
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { checkinWorkflowId, customerSyncWorkflowId, grantWorkflowId } from '../../src/domain/ids';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { TEMPORAL_PRIORITY_KEY } from '../../src/domain/lanes';
import { passWatchWorkflowId } from '../../src/contract/pass-watch';
import { deliverSpec, pokePassWatch, requestCustomerSync, startCheckin } from '../../src/temporal/starters';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const MIN = 60_000;
let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createDevServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

let next = 9_100_000;
function booking(now: number, startsIn: number): GrantSpec {
  const sourceId = next++;
  return {
    kind: 'booking',
    sourceId,
    customerId: 42,
    customerName: 'Ada',
    customerEmail: 'ada@example.com',
    version: now,
    lifecycle: 'active',
    endedReason: null,
    window: { from: now + startsIn, until: now + startsIn + 60 * MIN },
    groups: [101],
    label: 'Room',
  } as GrantSpec;
}

const priorityOf = async (workflowId: string) => (await env.client.workflow.getHandle(workflowId).describe()).priority?.priorityKey;

test('each start carries its lane: live within the hour, scheduled later, background for reconcile', async () => {
  const taskQueue = `priority-lanes-${Date.now()}`;
  const now = Date.now();
  const soon = booking(now, 10 * MIN);
  const later = booking(now, 3 * 24 * 60 * MIN);
  const begun = booking(now, -5 * MIN);
  for (const spec of [soon, later, begun]) await deliverSpec(env.client, spec, { taskQueue, now });
  expect(await priorityOf(grantWorkflowId('booking', soon.sourceId))).toBe(TEMPORAL_PRIORITY_KEY.live);
  expect(await priorityOf(grantWorkflowId('booking', later.sourceId))).toBe(TEMPORAL_PRIORITY_KEY.scheduled);
  expect(await priorityOf(grantWorkflowId('booking', begun.sourceId))).toBe(TEMPORAL_PRIORITY_KEY.live);

  await requestCustomerSync(env.client, 501, { deleted: false, reason: 'AccessControlUpdate' }, { taskQueue });
  await requestCustomerSync(env.client, 502, { deleted: true, reason: 'CoworkerDelete' }, { taskQueue });
  await requestCustomerSync(env.client, 503, { deleted: false, reason: 'reconcile' }, { taskQueue, lane: 'background' });
  expect(await priorityOf(customerSyncWorkflowId(501))).toBe(TEMPORAL_PRIORITY_KEY.scheduled);
  expect(await priorityOf(customerSyncWorkflowId(502))).toBe(TEMPORAL_PRIORITY_KEY.live);
  expect(await priorityOf(customerSyncWorkflowId(503))).toBe(TEMPORAL_PRIORITY_KEY.background);

  await pokePassWatch(env.client, { taskQueue });
  expect(await priorityOf(passWatchWorkflowId(taskQueue))).toBe(TEMPORAL_PRIORITY_KEY.live);
  const eventUuid = `prio-${Date.now()}`;
  await startCheckin(env.client, { eventUuid, kisiUserId: 1, kisiUserEmail: 'ada@example.com', lockId: 7, lockName: 'Front door', unlockedAt: new Date(now).toISOString() } as Parameters<typeof startCheckin>[1], { taskQueue });
  expect(await priorityOf(checkinWorkflowId(eventUuid))).toBe(TEMPORAL_PRIORITY_KEY.live);
});

/**
 * 100 background, then 100 scheduled, then one live workflow, started while no worker runs; then
 * a worker with two workflow task slots. How many of the backlog ran before the live one, and how
 * many scheduled ones before the median background one.
 */
async function dispatchOrder(on: TestWorkflowEnvironment): Promise<{ ahead: number; scheduledFirst: number }> {
  const taskQueue = `priority-order-${Date.now()}`;
  const probe = (workflowId: string, lane: keyof typeof TEMPORAL_PRIORITY_KEY) =>
    on.client.workflow.start('firstTaskAt', { taskQueue, workflowId, priority: { priorityKey: TEMPORAL_PRIORITY_KEY[lane] } });
  const backlog: WorkflowHandle[] = [];
  for (let i = 0; i < 100; i++) backlog.push(await probe(`${taskQueue}-background-${i}`, 'background'));
  for (let i = 0; i < 100; i++) backlog.push(await probe(`${taskQueue}-scheduled-${i}`, 'scheduled'));
  const live = await probe(`${taskQueue}-live`, 'live');
  const worker = await Worker.create({
    connection: on.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('./priority/workflows'),
    maxConcurrentWorkflowTaskExecutions: 2,
    maxCachedWorkflows: 0,
  });
  const ran = await worker.runUntil(async () => ({ live: (await live.result()) as number, backlog: (await Promise.all(backlog.map((h) => h.result()))) as number[] }));
  const background = ran.backlog.slice(0, 100).sort((a, b) => a - b);
  return {
    ahead: ran.backlog.filter((t) => t < ran.live).length,
    scheduledFirst: ran.backlog.slice(100).filter((t) => t < background[50]!).length,
  };
}

test('a live workflow started behind 200 waiting ones runs before almost all of them; scheduled before background', async () => {
  const { ahead, scheduledFirst } = await dispatchOrder(env);
  // FIFO would run it 201st. The server spreads a queue over partitions and orders each one by
  // priority, so a task or two of another partition may go first.
  expect(ahead).toBeLessThanOrEqual(5);
  // Scheduled work, though it arrived later, mostly runs before background work (FIFO: none would).
  expect(scheduledFirst).toBeGreaterThanOrEqual(60);
});

test('with matching.useNewMatcher=false (bench:live\'s priorities-off run) the server ignores the keys: arrival order', async () => {
  const cli = await resolveExecutable('cli');
  if (cli.type !== 'existing-path') throw new Error('the CLI must be installed for this test (npm run provision)');
  const fifo = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: cli.path }, extraArgs: ['--dynamic-config-value', 'matching.useNewMatcher=false'], log: { format: 'pretty', level: 'error' } },
  });
  try {
    const { ahead, scheduledFirst } = await dispatchOrder(fifo);
    expect(ahead).toBeGreaterThanOrEqual(150);
    expect(scheduledFirst).toBeLessThan(10);
  } finally {
    await fifo.teardown();
  }
});
