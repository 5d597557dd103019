/**
 * The request gate in simulated time (fake timers make every bound exact: a limit checked to the
 * millisecond, not "roughly"): requests with random latencies, each "arriving" at a random moment
 * between its start and its finish.
 * - The allowance: Kisi's 5 per rolling second with the completion window (and, as a counter-check,
 *   start spacing alone letting slow requests bunch up); Nexudus' one in flight, 100 ms after the
 *   previous finish, 120 a minute, 5,000 an hour, writes 60 a minute, under mixed-lane bursts.
 * - Lanes: live first, scheduled next, background last; aging bounds how long background waits
 *   under sustained live load; live's reserve of the rolling caps.
 * - Cancellation of a queued request; a throttling pause.
 */
import type { Lane } from '../../src/domain/lanes';
import { DEFAULT_AGING, GateCancelledError, RequestGate, type GateLimits, type GateOptions, type RollingCap } from '../../src/clients/request-gate';
import { seededRandom } from '../../dev/lib/seeded-random';
import { maxInRollingSecond } from '../../bench/lib/stats';

const KISI: GateLimits = { minIntervalMs: 200, perWindow: 5, windowMs: 1000 };
const NEXUDUS_CAPS: RollingCap[] = [
  { max: 120, windowMs: 60_000 },
  { max: 5_000, windowMs: 3_600_000 },
  { max: 60, windowMs: 60_000, writesOnly: true },
];
const NEXUDUS: GateLimits = { minIntervalMs: 100, perWindow: 1, windowMs: 100, caps: NEXUDUS_CAPS };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Started {
  lane: Lane;
  write: boolean;
  queuedAt: number;
  start: number;
  arrival: number;
  end: number;
  tag?: string;
}

/** Runs one request through the gate; records when it was queued, started, arrived and finished. */
async function one(gate: RequestGate, log: Started[], o: { lane: Lane; latency: number; random: () => number; write?: boolean; tag?: string; signal?: AbortSignal }): Promise<void> {
  const queuedAt = Date.now();
  await gate.run(
    async () => {
      const start = Date.now();
      const entry: Started = { lane: o.lane, write: o.write ?? false, queuedAt, start, arrival: Math.round(start + o.latency * o.random()), end: NaN, tag: o.tag };
      log.push(entry);
      await sleep(o.latency);
      entry.end = Date.now();
    },
    { lane: o.lane, write: o.write, signal: o.signal },
  );
}

/** The most entries inside any rolling window of `windowMs` (a window holds times t with t - first < windowMs). */
function maxInRolling(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= windowMs) j++;
    max = Math.max(max, i - j + 1);
  }
  return max;
}

/** Mostly fast, sometimes a slow first byte (a cold connection): up to 400 ms. */
const latencyOf = (random: () => number) => (random() < 0.2 ? 150 + random() * 250 : random() * 40);
const laneOf = (random: () => number): Lane => (['live', 'scheduled', 'background'] as const)[Math.floor(random() * 3)]!;

beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
afterEach(() => jest.useRealTimers());

describe('the allowance is never exceeded', () => {
  async function kisiBurst(limits: GateLimits, seed: number): Promise<{ log: Started[]; elapsed: number }> {
    const random = seededRandom(seed);
    const gate = new RequestGate(limits);
    const log: Started[] = [];
    const t0 = Date.now();
    const all = Promise.all(Array.from({ length: 60 }, () => one(gate, log, { lane: laneOf(random), latency: latencyOf(random), random })));
    await jest.runAllTimersAsync();
    await all;
    return { log, elapsed: Date.now() - t0 };
  }

  it('Kisi: at most 5 arrivals in any rolling second whatever the latencies and lanes, still close to 5 per second', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { log, elapsed } = await kisiBurst(KISI, seed);
      expect(log).toHaveLength(60);
      expect(maxInRollingSecond(log.map((x) => x.arrival))).toBeLessThanOrEqual(5);
      expect(elapsed).toBeLessThan(15_000);
    }
  });

  it('counter-check: start spacing alone (no completion window) lets slow requests bunch up at the server', async () => {
    let worst = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const { log } = await kisiBurst({ minIntervalMs: 200 }, seed);
      worst = Math.max(worst, maxInRollingSecond(log.map((x) => x.arrival)));
    }
    expect(worst).toBeGreaterThan(5);
  });

  it('Nexudus: one in flight, 100 ms after the previous finish, 120 a minute, writes 60 a minute, 5,000 an hour, under a mixed-lane burst', async () => {
    const random = seededRandom(11);
    const gate = new RequestGate(NEXUDUS);
    const log: Started[] = [];
    let inFlight = 0;
    let most = 0;
    const t0 = Date.now();
    // More than the hour holds: 4,800 scheduled (and some background) requests queued over the
    // first 40 minutes, then 600 live ones from minute 45, 100 a minute, which may use the hour's
    // last 10% (the lower lanes stop at 90% of it).
    const all = Promise.all(
      Array.from({ length: 5_400 }, async (_, i) => {
        await sleep(i < 4_800 ? Math.floor((i / 4_800) * 40 * 60_000) : 45 * 60_000 + (i - 4_800) * 600);
        const latency = random() < 0.1 ? 300 : random() * 30;
        const lane: Lane = i < 4_800 ? (random() < 0.9 ? 'scheduled' : 'background') : 'live';
        const write = random() < 0.33;
        await gate.run(
          async () => {
            inFlight++;
            most = Math.max(most, inFlight);
            const start = Date.now();
            const entry: Started = { lane, write, queuedAt: start, start, arrival: Math.round(start + latency * random()), end: NaN };
            log.push(entry);
            await sleep(latency);
            entry.end = Date.now();
            inFlight--;
          },
          { lane, write },
        );
      }),
    );
    await jest.runAllTimersAsync();
    await all;
    expect(most).toBe(1);
    const byStart = [...log].sort((a, b) => a.start - b.start);
    for (let i = 1; i < byStart.length; i++) expect(byStart[i]!.start - byStart[i - 1]!.end).toBeGreaterThanOrEqual(100);
    const starts = byStart.map((x) => x.start);
    // What Nexudus counts: arrivals, each somewhere between a request's start and its finish.
    const arrivals = byStart.map((x) => x.arrival);
    const writes = byStart.filter((x) => x.write).map((x) => x.arrival);
    console.log(`nexudus burst: ${log.length} in ${Math.round((Date.now() - t0) / 60_000)} min; most arrivals in a minute ${maxInRolling(arrivals, 60_000)}, writes ${maxInRolling(writes, 60_000)}, in an hour ${maxInRolling(arrivals, 3_600_000)}; 5,001st start after ${starts[5_000]! - starts[0]!} ms`);
    expect(maxInRolling(arrivals, 60_000)).toBeLessThanOrEqual(120);
    expect(maxInRolling(writes, 60_000)).toBeLessThanOrEqual(60);
    expect(maxInRolling(arrivals, 3_600_000)).toBeLessThanOrEqual(5_000);
    expect(starts[5_000]! - starts[0]!).toBeGreaterThanOrEqual(3_600_000);
    // Scheduled and background never went beyond their 90% of the hour, and went at the hour's
    // sustainable pace (one per 720 ms): never a burst that would leave live only its reserve.
    const lower = byStart.filter((x) => x.lane !== 'live');
    expect(maxInRolling(lower.map((x) => x.arrival), 3_600_000)).toBeLessThanOrEqual(4_500);
    for (let i = 1; i < lower.length; i++) expect(lower[i]!.start - lower[i - 1]!.start).toBeGreaterThanOrEqual(720);
  }, 60_000);

  it('a rolling cap bounds arrivals, not only starts: a request that arrives late does not make max + 1', async () => {
    // Two per second. A is slow and reaches the server just before it finishes, 990 ms in; B, C and
    // D are quick. Counting starts, C and D would start at 1000 ms (A's and B's starts have left the
    // second) and arrive beside A: three in one second at the server.
    const gate = new RequestGate({ minIntervalMs: 0, caps: [{ max: 2, windowMs: 1_000 }] });
    const arrivals: number[] = [];
    const call = (latency: number, arriveAfter: number) =>
      gate.run(async () => {
        arrivals.push(Date.now() + arriveAfter);
        await sleep(latency);
      }, { lane: 'live' });
    const all = Promise.all([call(1_000, 990), call(2, 1), call(2, 1), call(2, 1)]);
    await jest.runAllTimersAsync();
    await all;
    expect(arrivals).toHaveLength(4);
    expect(maxInRolling(arrivals, 1_000)).toBe(2);
  });

  it('Nexudus writes: never more than 60 in a rolling minute while reads use the rest', async () => {
    const gate = new RequestGate(NEXUDUS);
    const random = seededRandom(3);
    const log: Started[] = [];
    const all = Promise.all(Array.from({ length: 300 }, (_, i) => one(gate, log, { lane: laneOf(random), write: i % 2 === 0, latency: random() * 30, random })));
    await jest.runAllTimersAsync();
    await all;
    expect(maxInRolling(log.filter((x) => x.write).map((x) => x.arrival), 60_000)).toBeLessThanOrEqual(60);
    expect(maxInRolling(log.map((x) => x.arrival), 60_000)).toBeLessThanOrEqual(120);
    // The write cap binds (150 writes need three minutes) but reads do not wait for it.
    expect(maxInRolling(log.map((x) => x.start), 60_000)).toBeGreaterThan(100);
  });
});

describe('lanes', () => {
  it('live first, then scheduled, then background; arrival order within a lane', async () => {
    const gate = new RequestGate({ minIntervalMs: 0, perWindow: 1, windowMs: 0 });
    const order: string[] = [];
    let release!: () => void;
    const blocker = gate.run(() => new Promise<void>((r) => (release = r)));
    const queued = (
      [
        ['background', 'b1'],
        ['scheduled', 's1'],
        ['live', 'l1'],
        ['background', 'b2'],
        ['live', 'l2'],
        ['scheduled', 's2'],
      ] as const
    ).map(([lane, tag]) => gate.run(async () => void order.push(tag), { lane }));
    await jest.advanceTimersByTimeAsync(10);
    expect(order).toEqual([]);
    expect(gate.waiting()).toEqual({ live: 2, scheduled: 2, background: 2 });
    release();
    await blocker;
    await jest.runAllTimersAsync();
    await Promise.all(queued);
    expect(order).toEqual(['l1', 'l2', 's1', 's2', 'b1', 'b2']);
  });

  it('unannotated requests go in the scheduled lane', async () => {
    const gate = new RequestGate({ minIntervalMs: 0, perWindow: 1, windowMs: 0 });
    const order: string[] = [];
    let release!: () => void;
    const blocker = gate.run(() => new Promise<void>((r) => (release = r)));
    await jest.advanceTimersByTimeAsync(1);
    const queued = [
      gate.run(async () => void order.push('background'), { lane: 'background' }),
      gate.run(async () => void order.push('default')),
      gate.run(async () => void order.push('live'), { lane: 'live' }),
    ];
    release();
    await blocker;
    await jest.runAllTimersAsync();
    await Promise.all(queued);
    expect(order).toEqual(['live', 'default', 'background']);
  });

  describe('aging under sustained live load (Kisi shape: 5 per second)', () => {
    /** Eight live callers back to back until `stopAt`, plus `background` requests queued at +2 s. */
    async function sustained(options: GateOptions, background: number, stopAfterMs: number) {
      const gate = new RequestGate(KISI, options);
      const random = seededRandom(5);
      const log: Started[] = [];
      const t0 = Date.now();
      const stopAt = t0 + stopAfterMs;
      const live = Array.from({ length: 8 }, async () => {
        while (Date.now() < stopAt) await one(gate, log, { lane: 'live', latency: 20 + random() * 20, random });
      });
      const bg = (async () => {
        await sleep(2_000);
        await Promise.all(Array.from({ length: background }, (_, i) => one(gate, log, { lane: 'background', latency: 30, random, tag: `b${i}` })));
      })();
      await jest.advanceTimersByTimeAsync(stopAfterMs + 60_000);
      await Promise.all(live);
      await jest.runAllTimersAsync();
      await bg;
      return { gate, log, t0 };
    }

    it('a background request starts within 30 s + one promotion interval + one slot, not before 30 s', async () => {
      const { gate, log } = await sustained({}, 1, 90_000);
      expect(gate.promoteEveryMs).toBe(1_000);
      const b = log.find((x) => x.lane === 'background')!;
      const waited = b.start - b.queuedAt;
      expect(waited).toBeGreaterThanOrEqual(DEFAULT_AGING.dueAfterMs.background);
      expect(waited).toBeLessThanOrEqual(DEFAULT_AGING.dueAfterMs.background + gate.promoteEveryMs + 1_000);
      // Live load went on all the time: live kept starting during the background request's wait.
      expect(log.filter((x) => x.lane === 'live' && x.start > b.queuedAt && x.start < b.start).length).toBeGreaterThan(140);
    });

    it('counter-check: without aging the background request is still waiting when the live load ends', async () => {
      const { log, t0 } = await sustained({ aging: false }, 1, 90_000);
      const b = log.find((x) => x.lane === 'background')!;
      expect(b.start).toBeGreaterThanOrEqual(t0 + 90_000);
    });

    it('ten background requests: one promoted per interval, each within its bound, live keeps the starts between them', async () => {
      const { gate, log } = await sustained({}, 10, 120_000);
      const bgs = log.filter((x) => x.lane === 'background').sort((a, b) => a.start - b.start);
      expect(bgs).toHaveLength(10);
      bgs.forEach((b, i) => expect(b.start - b.queuedAt).toBeLessThanOrEqual(DEFAULT_AGING.dueAfterMs.background + (i + 1) * gate.promoteEveryMs + 1_000));
      const first = bgs[0]!.start;
      const last = bgs[9]!.start;
      const during = log.filter((x) => x.start >= first && x.start <= last);
      console.log(`ten background: waits ${bgs.map((b) => b.start - b.queuedAt).join(', ')} ms; gaps ${bgs.slice(1).map((b, i) => b.start - bgs[i]!.start).join(', ')}; live ${during.filter((x) => x.lane === 'live').length} of ${during.length} starts between the first and the last`);
      // At most one promotion per interval (a start may lag its promotion by up to a slot of 200 ms)...
      expect(9 * gate.promoteEveryMs).toBeLessThanOrEqual(last - first + 200);
      // ...and live, still waiting all along, gets at least three starts between two background ones.
      for (let i = 1; i < bgs.length; i++) {
        expect(log.filter((x) => x.lane === 'live' && x.start > bgs[i - 1]!.start && x.start < bgs[i]!.start).length).toBeGreaterThanOrEqual(3);
      }
    });
  });

  describe("live's reserve of the rolling caps (Nexudus shape)", () => {
    /** 300 background calls queued at once (a reconcile, a backfill), a live call every 7 s for four minutes. */
    async function reconcileAndDoor(options: GateOptions) {
      const gate = new RequestGate(NEXUDUS, options);
      const random = seededRandom(9);
      const log: Started[] = [];
      const bg = Promise.all(Array.from({ length: 300 }, () => one(gate, log, { lane: 'background', latency: 20, random })));
      const live = (async () => {
        for (let i = 0; i < 34; i++) {
          await sleep(7_000);
          await one(gate, log, { lane: 'live', latency: 20, random });
        }
      })();
      await jest.runAllTimersAsync();
      await Promise.all([bg, live]);
      return log;
    }

    it('with the reserve alone (the background bursting), a live call still starts within 200 ms every time', async () => {
      const log = await reconcileAndDoor({ paceLowerLanes: false });
      const waits = log.filter((x) => x.lane === 'live').map((x) => x.start - x.queuedAt);
      expect(Math.max(...waits)).toBeLessThanOrEqual(200);
    });

    it('with pacing alone (no reserve), the background never fills the minute: a live call starts within 600 ms', async () => {
      const log = await reconcileAndDoor({ capShare: { live: 1, scheduled: 1, background: 1 } });
      const waits = log.filter((x) => x.lane === 'live').map((x) => x.start - x.queuedAt);
      console.log(`pacing, no reserve: 34 live calls among 300 background ones waited at most ${Math.max(...waits)} ms`);
      expect(Math.max(...waits)).toBeLessThanOrEqual(600);
    });

    it('a live call finds the minute open although the background filled it: it starts within 200 ms every time', async () => {
      const log = await reconcileAndDoor({});
      const waits = log.filter((x) => x.lane === 'live').map((x) => x.start - x.queuedAt);
      console.log(`reserve: 34 live calls among 300 background ones waited at most ${Math.max(...waits)} ms`);
      expect(waits).toHaveLength(34);
      expect(Math.max(...waits)).toBeLessThanOrEqual(200);
      const starts = log.map((x) => x.start);
      expect(maxInRolling(starts, 60_000)).toBeLessThanOrEqual(120);
      // Background (promoted ones included) never fills more than the scheduled share: 108 of 120.
      expect(maxInRolling(log.filter((x) => x.lane === 'background').map((x) => x.start), 60_000)).toBeLessThanOrEqual(108);
    });

    it('counter-check: without a reserve and with the background bursting, a live call waits for the minute to roll over', async () => {
      const log = await reconcileAndDoor({ capShare: { live: 1, scheduled: 1, background: 1 }, paceLowerLanes: false });
      const waits = log.filter((x) => x.lane === 'live').map((x) => x.start - x.queuedAt);
      console.log(`no reserve: 34 live calls among 300 background ones waited up to ${Math.max(...waits)} ms`);
      expect(Math.max(...waits)).toBeGreaterThan(10_000);
    });
  });
});

describe('cancellation', () => {
  it('a queued request whose signal fires leaves the queue at once, unsent; its slot goes to the next', async () => {
    const gate = new RequestGate(KISI);
    const sent: string[] = [];
    // Five requests fill the second; the next two wait for it to roll.
    const first = Array.from({ length: 5 }, () => gate.run(async () => void sent.push('early')));
    await jest.advanceTimersByTimeAsync(900);
    expect(sent).toHaveLength(5);
    const controller = new AbortController();
    const starts: Record<string, number> = {};
    const cancelled = gate.run(async () => void sent.push('cancelled'), { lane: 'live', signal: controller.signal }).catch((e: unknown) => e);
    const next = gate.run(async () => {
      starts.next = Date.now();
      sent.push('next');
    }, { lane: 'background' });
    await jest.advanceTimersByTimeAsync(10);
    expect(gate.waiting()).toEqual({ live: 1, scheduled: 0, background: 1 });
    const abortedAt = Date.now();
    controller.abort(new Error('activity cancelled'));
    expect(gate.waiting()).toEqual({ live: 0, scheduled: 0, background: 1 });
    const error = await cancelled;
    expect(Date.now()).toBe(abortedAt); // rejected at once, not at its turn
    expect(error).toBeInstanceOf(GateCancelledError);
    expect(error).toMatchObject({ retryable: false, cancelled: true });
    await jest.runAllTimersAsync();
    await Promise.all([...first, next]);
    expect(sent).not.toContain('cancelled');
    // The first start was at t=0 and the second rolls over at 1000: the freed turn went to 'next' then.
    expect(starts.next! - 1_000_000).toBeLessThanOrEqual(1_000 + 1);
  });

  it('a request whose signal has already fired is refused without queueing', async () => {
    const gate = new RequestGate(KISI);
    const controller = new AbortController();
    controller.abort();
    let ran = false;
    await expect(gate.run(async () => void (ran = true), { signal: controller.signal })).rejects.toBeInstanceOf(GateCancelledError);
    expect(ran).toBe(false);
    expect(gate.waiting()).toEqual({ live: 0, scheduled: 0, background: 0 });
  });

  it('a signal that fires after the start does not touch the gate (the request itself is aborted by its caller)', async () => {
    const gate = new RequestGate(KISI);
    const controller = new AbortController();
    const done = gate.run(
      async () => {
        controller.abort();
        await sleep(50);
        return 'finished';
      },
      { signal: controller.signal },
    );
    await jest.runAllTimersAsync();
    await expect(done).resolves.toBe('finished');
  });
});

describe('throttling', () => {
  it('waits for a finish when all slots of the window are in flight', async () => {
    const gate = new RequestGate({ minIntervalMs: 0, perWindow: 1, windowMs: 1000 });
    let release!: () => void;
    const first = gate.run(() => new Promise<void>((r) => (release = r)));
    let second = false;
    const next = gate.run(async () => void (second = true));
    await jest.advanceTimersByTimeAsync(5000);
    expect(second).toBe(false); // the first is still in flight
    release();
    await first;
    await jest.advanceTimersByTimeAsync(999);
    expect(second).toBe(false); // finished less than a second ago
    await jest.advanceTimersByTimeAsync(2);
    await next;
    expect(second).toBe(true);
  });

  it('a throttling failure pauses the requests queued behind it, of every lane, for the time it names', async () => {
    const gate = new RequestGate(KISI);
    const starts: number[] = [];
    const throttled = Object.assign(new Error('429'), { retryAfterMs: 3_000 });
    const first = gate
      .run(
        async () => {
          starts.push(Date.now());
          throw throttled;
        },
        { pauseAfter: (e) => (e === throttled ? throttled.retryAfterMs : undefined) },
      )
      .catch((e: unknown) => e);
    const queued = (['live', 'scheduled', 'background'] as const).map((lane) => gate.run(async () => void starts.push(Date.now()), { lane }));
    await jest.runAllTimersAsync();
    expect(await first).toBe(throttled);
    await Promise.all(queued);
    expect(starts).toHaveLength(4);
    for (const later of starts.slice(1)) expect(later - starts[0]!).toBeGreaterThanOrEqual(3_000);
  });

  it('a failure that names no pause holds nobody up', async () => {
    const gate = new RequestGate(KISI);
    const starts: number[] = [];
    const failed = gate
      .run(
        async () => {
          starts.push(Date.now());
          throw new Error('boom');
        },
        { pauseAfter: () => undefined },
      )
      .catch((e: unknown) => e);
    const next = gate.run(async () => void starts.push(Date.now()));
    await jest.runAllTimersAsync();
    expect(await failed).toEqual(new Error('boom'));
    await next;
    expect(starts[1]! - starts[0]!).toBeLessThan(1_000);
  });
});
