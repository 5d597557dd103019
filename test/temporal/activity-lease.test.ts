/**
 * The holder's side of the activity lease (src/temporal/activity-lease.ts) against a real dev
 * server: a worker cut off from Temporal stops running activities before its lease can pass, and
 * the next worker takes over only after that; a worker that shuts down gives the lease back at once.
 */
import { Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { TcpProxy } from '../../bench/lib/tcp-proxy';
import { ActivityLease } from '../../src/temporal/activity-lease';
import { closeSafeInterceptors, newClient } from '../../src/temporal/connection';
import { createDevServerEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

jest.setTimeout(120_000);

const TTL = 6_000;
const STOP_LEAD = 1_000;
const taskQueue = `holder-${Math.random().toString(36).slice(2, 8)}`;
const silent = { info() {}, warn() {} };
let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;
let proxy: TcpProxy;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by an earlier suite in this jest worker
  }
  env = await createDevServerEnv();
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle() });
  running = worker.run();
  const address = env.address.split(':');
  proxy = new TcpProxy(address[0]!, () => Number(address[1]));
  await proxy.listen();
});
afterAll(async () => {
  // A failed test leaves its holders running: stop them, or their timers keep jest alive.
  for (const lease of leases) lease.stop();
  await proxy?.close();
  worker?.shutdown();
  await running;
  await env?.teardown();
});

interface Timeline {
  acquired: number[];
  lost: number[];
}

const leases: ActivityLease[] = [];

function holder(identity: string, connection: Connection, timeline: Timeline): ActivityLease {
  const lease = new ActivityLease({
    client: newClient(connection),
    taskQueue,
    identity,
    ttlMs: TTL,
    stopLeadMs: STOP_LEAD,
    logger: silent,
    onAcquired: async () => void timeline.acquired.push(Date.now()),
    onLost: async () => {
      await new Promise((r) => setTimeout(r, 300)); // the activities' drain
      timeline.lost.push(Date.now());
    },
  });
  leases.push(lease);
  return lease;
}

async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('cut off from Temporal, the holder stops before anyone else starts; a holder that shuts down hands over at once', async () => {
  const viaProxy = await Connection.connect({ address: `127.0.0.1:${proxy.port}`, interceptors: closeSafeInterceptors() });
  const direct = await Connection.connect({ address: env.address, interceptors: closeSafeInterceptors() });
  const a: Timeline = { acquired: [], lost: [] };
  const b: Timeline = { acquired: [], lost: [] };
  const leaseA = holder('a', viaProxy, a);
  const runA = leaseA.run();
  await until(() => a.acquired.length === 1, 'a to take the lease');
  const leaseB = holder('b', direct, b);
  const runB = leaseB.run();
  await new Promise((r) => setTimeout(r, 2_000));
  expect(b.acquired).toEqual([]); // a renews: b waits

  const cutAt = Date.now();
  proxy.partition();
  await until(() => a.lost.length === 1, 'a to give the activities up', TTL * 2);
  await until(() => b.acquired.length === 1, 'b to take over', TTL * 3);
  // a stopped within its TTL of the cut, and b started only after a had stopped.
  expect(a.lost[0]! - cutAt).toBeLessThan(TTL);
  expect(b.acquired[0]!).toBeGreaterThan(a.lost[0]!);

  // a reconnects: it asks again, and finds b holding the lease.
  proxy.heal();
  await new Promise((r) => setTimeout(r, 2_500));
  expect(a.acquired).toHaveLength(1);

  // b shuts down (a deploy): it gives the lease back, and the worker that replaces it has the lease
  // at its first claim, instead of waiting for b's to run out.
  leaseB.stop();
  await runB;
  const c: Timeline = { acquired: [], lost: [] };
  const startedAt = Date.now();
  const leaseC = holder('c', direct, c);
  const runC = leaseC.run();
  await until(() => c.acquired.length === 1 || a.acquired.length === 2, 'the released lease to be taken', TTL * 2);
  expect(Date.now() - startedAt).toBeLessThan(TTL / 2);
  leaseC.stop();
  await runC;
  leaseA.stop();
  await runA;
  await viaProxy.close();
  await direct.close();
});
