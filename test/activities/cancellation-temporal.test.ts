/**
 * Cancellation reaches the network on a real Temporal server (the dev server), with a real worker:
 * - a workflow cancels its activity while the activity's Kisi call is in flight: the worker learns
 *   it from the answer to the activity's next heartbeat, the call is aborted on the wire, and the
 *   activity confirms the cancellation (the workflow sees a cancellation, not a failure);
 * - an attempt runs into its start-to-close timeout while its call hangs: the call is gone from
 *   the server before the retry's call arrives, so the two never run side by side.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { asActivity, HEARTBEAT_EVERY_MS } from '../../activities/failures';
import { KisiClient } from '../../src/clients/kisi';
import { freshKisiKey } from '../helpers/kisi';
import { createDevServerEnv } from '../helpers/temporal-env';
import { cancelActivityAfter, retryPastTimeout, type CancellationActivities } from './cancellation/workflows';

jest.setTimeout(90_000);

let env: TestWorkflowEnvironment;
let server: Server;
const seen: Array<{ path: string; at: number; closedAt?: number }> = [];

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const app = express();
  app.use((req, res, next) => {
    const entry: (typeof seen)[number] = { path: req.path, at: Date.now() };
    seen.push(entry);
    res.on('close', () => (entry.closedAt = Date.now()));
    next();
  });
  app.get('/groups/1', (_req, res) => void res.json({ id: 1, name: 'G', place_id: 1 }));
  app.get('/groups/999', () => undefined); // never answers
  app.get('/places', () => undefined); // never answers
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  env = await createDevServerEnv();
});

afterAll(async () => {
  await env?.teardown();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

async function withWorker<T>(fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const kisi = new KisiClient({ apiKey: freshKisiKey('temporal'), baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRps: 5, timeoutMs: 60_000 });
  const activities: CancellationActivities = {
    waitForPlaces: () => asActivity(async () => void (await kisi.listPlaces()), { lane: 'live' }),
    slowFirstAttempt: () =>
      asActivity(async () => {
        const attempt = Context.current().info.attempt;
        await kisi.getGroup(attempt === 1 ? 999 : 1);
        return attempt;
      }),
  };
  const taskQueue = `cancellation-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowsPath: require.resolve('./cancellation/workflows'), activities });
  return worker.runUntil(fn(taskQueue));
}

test("a workflow's cancel aborts its activity's call in flight; the activity confirms the cancellation", async () => {
  seen.length = 0;
  const result = await withWorker((taskQueue) => env.client.workflow.execute(cancelActivityAfter, { taskQueue, workflowId: `cancel-${Date.now()}`, args: [1_000] }));
  expect(result).toBe('cancelled');
  const places = seen.find((x) => x.path === '/places')!;
  expect(places.closedAt).toBeDefined();
  // Cancelled a second in; the worker hears of it with the first heartbeat (5 s in), then aborts.
  const heldFor = places.closedAt! - places.at;
  console.log(`cancel: the call was in flight ${heldFor} ms (cancel requested at ~1000 ms, first heartbeat at ${HEARTBEAT_EVERY_MS} ms)`);
  expect(heldFor).toBeGreaterThanOrEqual(900);
  expect(heldFor).toBeLessThan(HEARTBEAT_EVERY_MS + 3_000);
});

test("an attempt that reaches its start-to-close timeout has no call left in flight when its retry's call arrives", async () => {
  seen.length = 0;
  const attempt = await withWorker((taskQueue) => env.client.workflow.execute(retryPastTimeout, { taskQueue, workflowId: `deadline-${Date.now()}` }));
  expect(attempt).toBe(2);
  const first = seen.find((x) => x.path === '/groups/999')!;
  const retry = seen.find((x) => x.path === '/groups/1')!;
  console.log(`deadline: attempt 1's call closed after ${first.closedAt! - first.at} ms; the retry's call arrived ${retry.at - first.closedAt!} ms after that`);
  expect(first.closedAt).toBeDefined();
  expect(first.closedAt!).toBeLessThanOrEqual(retry.at);
  // Stopped by the attempt's own deadline (3 s less a tenth), not by the SDK's timer 5 s after the timeout.
  expect(first.closedAt! - first.at).toBeLessThan(3_000);
});
