/**
 * The completion window and the request gate in simulated time: requests with random latencies,
 * each "arriving" at a random moment between its start and its finish. With the window, no rolling
 * second ever holds more than the limit; with start spacing alone (the counter-check), it does.
 * The Nexudus shape of the gate (one per 100 ms window) runs requests one at a time, 100 ms after
 * the previous finish, and a throttling answer pauses everyone queued.
 */
import { CompletionWindow, RequestGate, RequestPacer } from '../../src/clients/request-gate';
import { seededRandom } from '../../src/domain/seeded-random';
import { maxInRollingSecond } from '../helpers/kisi';

/** Runs `count` concurrent requests through the gates; returns arrival times and the total span. */
async function simulate(count: number, useWindow: boolean, seed: number): Promise<{ arrivals: number[]; elapsed: number }> {
  const random = seededRandom(seed);
  const pacer = new RequestPacer({ minIntervalMs: 200 });
  const window = new CompletionWindow(5);
  const arrivals: number[] = [];
  const one = async () => {
    if (useWindow) await window.enter();
    await pacer.acquire();
    const start = Date.now();
    // Mostly fast, sometimes a slow first byte (cold connection): up to 400 ms.
    const latency = random() < 0.2 ? 150 + random() * 250 : random() * 40;
    arrivals.push(Math.round(start + latency * random()));
    await new Promise((r) => setTimeout(r, latency));
    if (useWindow) window.leave();
  };
  const t0 = Date.now();
  const all = Promise.all(Array.from({ length: count }, one));
  await jest.runAllTimersAsync();
  await all;
  return { arrivals, elapsed: Date.now() - t0 };
}

describe('CompletionWindow', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('keeps every rolling second at or under the limit whatever the latencies', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { arrivals, elapsed } = await simulate(60, true, seed);
      expect(arrivals).toHaveLength(60);
      expect(maxInRollingSecond(arrivals)).toBeLessThanOrEqual(5);
      // and still close to 5 per second: 60 requests in well under 15 s
      expect(elapsed).toBeLessThan(15_000);
    }
  });

  it('counter-check: start spacing alone lets slow requests bunch up at the server', async () => {
    let worst = 0;
    for (const seed of [1, 2, 3, 4, 5]) worst = Math.max(worst, maxInRollingSecond((await simulate(60, false, seed)).arrivals));
    expect(worst).toBeGreaterThan(5);
  });

  it('waits for a finish when all slots are in flight', async () => {
    const window = new CompletionWindow(1);
    await window.enter();
    let second = false;
    const next = window.enter().then(() => (second = true));
    await jest.advanceTimersByTimeAsync(5000);
    expect(second).toBe(false); // the first is still in flight
    window.leave();
    await jest.advanceTimersByTimeAsync(999);
    expect(second).toBe(false); // finished less than a second ago
    await jest.advanceTimersByTimeAsync(2);
    await next;
    expect(second).toBe(true);
  });
});

describe('RequestGate', () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it('one per 100 ms window: never two in flight, each start at least 100 ms after the previous finish, within 120 a minute', async () => {
    const gate = new RequestGate({ minIntervalMs: 100, perMinute: 120, perWindow: 1, windowMs: 100 });
    const random = seededRandom(7);
    const spans: Array<{ start: number; end: number }> = [];
    let inFlight = 0;
    let most = 0;
    const all = Promise.all(
      Array.from({ length: 150 }, () =>
        gate.run(async () => {
          inFlight++;
          most = Math.max(most, inFlight);
          const start = Date.now();
          await new Promise((r) => setTimeout(r, random() < 0.2 ? 300 : random() * 30));
          spans.push({ start, end: Date.now() });
          inFlight--;
        }),
      ),
    );
    await jest.runAllTimersAsync();
    await all;
    expect(most).toBe(1);
    const byStart = [...spans].sort((a, b) => a.start - b.start);
    for (let i = 1; i < byStart.length; i++) expect(byStart[i]!.start - byStart[i - 1]!.end).toBeGreaterThanOrEqual(100);
    // The per-minute cap binds: the 121st start comes a minute after the first.
    expect(byStart[120]!.start - byStart[0]!.start).toBeGreaterThanOrEqual(60_000);
  });

  it('a throttling failure pauses the requests queued behind it for the time it names', async () => {
    const gate = new RequestGate({ minIntervalMs: 200, perWindow: 5, windowMs: 1000 });
    const starts: number[] = [];
    const throttled = Object.assign(new Error('429'), { retryAfterMs: 3_000 });
    const first = gate
      .run(
        async () => {
          starts.push(Date.now());
          throw throttled;
        },
        (e) => (e === throttled ? throttled.retryAfterMs : undefined),
      )
      .catch((e: unknown) => e);
    const queued = Array.from({ length: 3 }, () => gate.run(async () => void starts.push(Date.now())));
    await jest.runAllTimersAsync();
    expect(await first).toBe(throttled);
    await Promise.all(queued);
    expect(starts).toHaveLength(4);
    for (const later of starts.slice(1)) expect(later - starts[0]!).toBeGreaterThanOrEqual(3_000);
  });

  it('a failure that names no pause holds nobody up', async () => {
    const gate = new RequestGate({ minIntervalMs: 200, perWindow: 5, windowMs: 1000 });
    const starts: number[] = [];
    const failed = gate
      .run(async () => {
        starts.push(Date.now());
        throw new Error('boom');
      }, () => undefined)
      .catch((e: unknown) => e);
    const next = gate.run(async () => void starts.push(Date.now()));
    await jest.runAllTimersAsync();
    expect(await failed).toEqual(new Error('boom'));
    await next;
    expect(starts[1]! - starts[0]!).toBeLessThan(1_000);
  });
});
