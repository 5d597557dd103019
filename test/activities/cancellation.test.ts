/**
 * asActivity hands the activity's lane and cancellation to the API calls of its body, over real
 * HTTP to a local server that answers `/groups/{id}` at once and never answers `/places`:
 * - the lane the body's calls go in;
 * - Temporal's cancellation (the SDK's activity environment fires the same AbortSignal a worker
 *   does) aborts an in-flight call on the wire and takes a queued one out of its gate unsent; the
 *   activity then ends with the SDK's CancelledFailure, so the worker reports it as cancelled (or,
 *   on shutdown, as a retryable failure), never as a not-retryable API error;
 * - a body that swallows a cancelled call does not report success;
 * - the attempt's own deadline stops its calls before the start-to-close timeout.
 * The same on a real Temporal server: test/activities/cancellation-temporal.test.ts.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { asActivity } from '../../activities/failures';
import { currentCallContext } from '../../src/clients/call-context';
import { KisiClient } from '../../src/clients/kisi';
import { freshKisiKey } from '../helpers/kisi';

jest.setTimeout(20_000);

/** A long start-to-close, so that only the tests about the attempt deadline meet it. */
const LONG = { startToCloseTimeoutMs: 600_000 };
/** The SDK logs every failed activity as a warning; these failures are the point of the tests. */
const quiet = { logger: new DefaultLogger('ERROR') };

let server: Server;
let url: string;
const seen: Array<{ path: string; at: number; closedAt?: number }> = [];

beforeAll(async () => {
  const app = express();
  app.use((req, res, next) => {
    const entry: (typeof seen)[number] = { path: req.path, at: Date.now() };
    seen.push(entry);
    res.on('close', () => (entry.closedAt = Date.now()));
    next();
  });
  app.get('/groups/:id', (req, res) => void res.json({ id: Number(req.params.id), name: 'G', place_id: 1 }));
  app.get('/places', () => undefined); // never answers
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(() => {
  seen.length = 0;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise((r) => server.close(r));
});

const kisi = (maxRps = 5) => new KisiClient({ apiKey: freshKisiKey('activity'), baseUrl: url, maxRps, timeoutMs: 15_000 });

async function arrivalOf(path: string): Promise<(typeof seen)[number]> {
  for (let i = 0; i < 200; i++) {
    const entry = seen.find((x) => x.path === path);
    if (entry) return entry;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${path} never arrived`);
}

async function closed(entry: (typeof seen)[number]): Promise<number> {
  for (let i = 0; i < 100 && entry.closedAt === undefined; i++) await new Promise((r) => setTimeout(r, 10));
  return entry.closedAt ?? Infinity;
}

test("the body's calls go in the lane asActivity names, scheduled when it names none, with the activity's signal", async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  expect(await env.run(() => asActivity(async () => currentCallContext().lane, { lane: 'live' }))).toBe('live');
  expect(await env.run(() => asActivity(async () => currentCallContext().lane, { lane: 'background' }))).toBe('background');
  expect(await env.run(() => asActivity(async () => currentCallContext().lane))).toBe('scheduled');
  const aborted = await env.run(() => asActivity(async () => currentCallContext().signal?.aborted));
  expect(aborted).toBe(false); // a signal is there, not fired
  env.cancel();
  expect(await env.run(() => asActivity(async () => currentCallContext().signal?.aborted))).toBe(true);
});

test('cancelling the activity aborts its call in flight on the wire; the activity ends with CancelledFailure', async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  const client = kisi();
  const run = env.run(() => asActivity(() => client.listPlaces(), { lane: 'live' })).catch((e: unknown) => e);
  const places = await arrivalOf('/places');
  const cancelledAt = Date.now();
  env.cancel();
  const error = await run;
  expect(error).toBeInstanceOf(CancelledFailure);
  expect((error as CancelledFailure).message).toBe('CANCELLED');
  expect(Date.now() - cancelledAt).toBeLessThan(500);
  expect((await closed(places)) - cancelledAt).toBeLessThan(1_000);
});

test('cancelling the activity takes its queued call out of the gate unsent', async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  const client = kisi(1); // one call a second: the second call of the body queues
  const run = env
    .run(() =>
      asActivity(async () => {
        await client.getGroup(1);
        return client.getGroup(2);
      }),
    )
    .catch((e: unknown) => e);
  await arrivalOf('/groups/1');
  await new Promise((r) => setTimeout(r, 200));
  env.cancel();
  expect(await run).toBeInstanceOf(CancelledFailure);
  await new Promise((r) => setTimeout(r, 1_500)); // past the turn the queued call would have had
  expect(seen.map((x) => x.path)).toEqual(['/groups/1']);
});

test('on worker shutdown the activity ends with the CancelledFailure the SDK reports as a retryable failure, not a final API error', async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  const client = kisi();
  const run = env.run(() => asActivity(() => client.listPlaces())).catch((e: unknown) => e);
  await arrivalOf('/places');
  env.cancel('WORKER_SHUTDOWN');
  const error = await run;
  expect(error).toBeInstanceOf(CancelledFailure);
  expect(error).not.toBeInstanceOf(ApplicationFailure);
  expect((error as CancelledFailure).message).toBe('WORKER_SHUTDOWN');
});

test('a body that swallows a cancelled call does not report success', async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  const client = kisi();
  const run = env
    .run(() =>
      asActivity(async () => {
        try {
          await client.listPlaces();
        } catch {
          // a per-record error counted and skipped, as a reconcile does
        }
        return 'all done';
      }),
    )
    .then(
      (v) => v,
      (e: unknown) => e,
    );
  await arrivalOf('/places');
  env.cancel();
  expect(await run).toBeInstanceOf(CancelledFailure);
});

test('the attempt deadline stops a call before the start-to-close timeout; the attempt fails retryably', async () => {
  // start-to-close 2 s: the margin is a tenth of it (at most 5 s), so calls stop at 1.8 s.
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 2_000 }, quiet);
  const client = kisi();
  const started = Date.now();
  const error = await env.run(() => asActivity(() => client.listPlaces(), { lane: 'live' })).catch((e: unknown) => e);
  const stoppedAfter = Date.now() - started;
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect(error).toMatchObject({ type: 'AttemptDeadline', nonRetryable: false });
  expect(stoppedAfter).toBeGreaterThanOrEqual(1_790);
  expect(stoppedAfter).toBeLessThan(2_000);
  const places = seen.find((x) => x.path === '/places')!;
  expect(await closed(places)).toBeLessThan(started + 2_000);
});

test('without cancellation an API failure keeps its own classification', async () => {
  const env = new MockActivityEnvironment(LONG, quiet);
  const client = kisi();
  const error = await env.run(() => asActivity(() => client.getUser(7))).catch((e: unknown) => e); // 404 from express
  expect(error).toBeInstanceOf(ApplicationFailure);
  expect(error).toMatchObject({ type: 'kisi:404', nonRetryable: true });
});
