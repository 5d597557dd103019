/**
 * API_PRIORITIES=off: the request gates ignore lanes. Every call waits in one queue and is served
 * in arrival order, may fill the whole of every rolling cap, and nothing is promoted by aging; the
 * allowance itself is kept as with priorities on. The counter-check of `npm run bench:live`.
 */
import { RequestGate } from '../../src/clients/request-gate';
import { parseEnv } from '../../src/config/env';
import type { Lane } from '../../src/domain/lanes';

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

/** Holds the gate's one slot, queues `calls` behind it in this order, then lets them all run. */
async function serveOrder(gate: RequestGate, calls: Array<[Lane, string]>): Promise<string[]> {
  const order: string[] = [];
  let release!: () => void;
  const blocker = gate.run(() => new Promise<void>((r) => (release = r)));
  await jest.advanceTimersByTimeAsync(1);
  const queued = calls.map(([lane, tag]) => gate.run(async () => void order.push(tag), { lane }));
  await jest.advanceTimersByTimeAsync(10);
  release();
  await blocker;
  await jest.runAllTimersAsync();
  await Promise.all(queued);
  return order;
}

const MIXED: Array<[Lane, string]> = [
  ['background', 'b1'],
  ['scheduled', 's1'],
  ['live', 'l1'],
  ['background', 'b2'],
  ['live', 'l2'],
  ['scheduled', 's2'],
];

test('off: calls are served in arrival order whatever their lane', async () => {
  const gate = new RequestGate({ minIntervalMs: 0, perWindow: 1, windowMs: 0 }, { lanes: false });
  expect(await serveOrder(gate, MIXED)).toEqual(['b1', 's1', 'l1', 'b2', 'l2', 's2']);
});

test('counter-check: on (the default), the same calls go live first', async () => {
  const gate = new RequestGate({ minIntervalMs: 0, perWindow: 1, windowMs: 0 });
  expect(await serveOrder(gate, MIXED)).toEqual(['l1', 'l2', 's1', 's2', 'b1', 'b2']);
});

test('off: a background call may fill the whole of a rolling cap (no reserve), and the cap still holds', async () => {
  const gate = new RequestGate({ minIntervalMs: 0, caps: [{ max: 10, windowMs: 60_000 }] }, { lanes: false });
  const starts: number[] = [];
  const all = Promise.all(Array.from({ length: 12 }, () => gate.run(async () => void starts.push(Date.now()), { lane: 'background' })));
  await jest.advanceTimersByTimeAsync(1_000);
  // On, background could fill 75% of the minute (7 calls); off, all 10 go and the 11th waits for the minute.
  expect(starts).toHaveLength(10);
  await jest.runAllTimersAsync();
  await all;
  expect(starts).toHaveLength(12);
  expect(starts[10]! - starts[0]!).toBeGreaterThanOrEqual(60_000);
});

test('API_PRIORITIES: on by default, off on request, nothing else accepted', () => {
  expect(parseEnv({}).API_PRIORITIES).toBe('on');
  expect(parseEnv({ API_PRIORITIES: 'off' }).API_PRIORITIES).toBe('off');
  expect(() => parseEnv({ API_PRIORITIES: 'false' })).toThrow(/API_PRIORITIES/);
});
