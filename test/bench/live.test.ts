/**
 * Smoke run of the live-changes benchmark (bench/live.ts): a few bookings, syncs and one live
 * change of each kind, priorities on and off, on the real stack. Shape only, no timing.
 */
import { runLiveBench } from '../../bench/live';
import type { BenchResult } from '../../bench/lib/results';
import { expectWellFormed } from './well-formed';

jest.setTimeout(300_000);

test('the live benchmark measures each kind of live change with priorities on and off, and the pre-scheduled windows', async () => {
  const result = (await runLiveBench({
    bookings: 4,
    customers: 2,
    updates: 4,
    live: 4,
    liveStartSeconds: 1,
    liveSpreadSeconds: 2,
    concurrency: 4,
    maxWaitSeconds: 120,
    reconcileEverySeconds: 60,
    quick: 1,
    log: () => undefined,
  })) as BenchResult & Record<string, unknown>;
  // The common shape (the schema keeps only the common keys), then the keys of this benchmark.
  const { name, machine, parameters, rows, details, notes } = result;
  expectWellFormed({ name, machine, parameters, rows, details, notes }, 'live-quick');
  const stats = { p50Ms: expect.any(Number), p99Ms: expect.any(Number), maxMs: expect.any(Number), n: expect.any(Number), notReached: 0 };
  for (const side of [result, result.priorityOff as Record<string, unknown>]) {
    expect(side.live).toEqual({ ...stats, n: 3 });
    expect(side.checkin).toEqual({ ...stats, n: 1 });
    expect(side.scheduledExact).toMatchObject({ bookings: 4, exact: 4, missing: 0 });
  }
  expect(result.ratio).toEqual({ live: expect.any(Object), checkin: expect.any(Object) });
  // Where the time went: the activities of each change's workflows were read.
  const on = (details as { on: { samples: Array<{ activities: unknown[] }> } }).on;
  for (const sample of on.samples) expect(sample.activities.length).toBeGreaterThan(0);
});
