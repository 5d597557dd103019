/**
 * How the API clients stay under a provider's allowance, one gate per credential in the process,
 * and who goes first when the allowance is short: priority lanes (src/domain/lanes.ts) with aging.
 *
 * A request may start when all of these hold (the allowance, never exceeded):
 * - no Retry-After pause is running (a 429/409 pauses every later start);
 * - at least `minIntervalMs` have passed since the previous start;
 * - the completion window has room (see below);
 * - every rolling cap (Nexudus: 120 a minute, 5,000 an hour, ...; writes 60 a minute, ...) counts
 *   fewer requests than the share of it the request's lane may fill (live all of it, scheduled 90%,
 *   background 75%), so a minute the reconcile or a burst of syncs filled still has calls for the
 *   door: 10% of every cap is live's alone. A cap counts like the completion window (below): the
 *   requests in flight and those finished less than its window ago, so it bounds *arrivals* at the
 *   server, not only starts (counting starts lets one request started just before a window and
 *   arriving inside it make max + 1).
 *
 * Among the requests allowed to start, the next is the first by (effective lane, arrival). Aging:
 * a scheduled request that has waited 10 s, or a background one that has waited 30 s, is due; the
 * gate promotes due requests to live, earliest due first, one per `promoteEverySlots` nominal slots
 * of the allowance (Kisi at 5/s: 1 s; Nexudus: 3.6 s). A promoted request is then the oldest live one and
 * starts at the next free slot, within the scheduled share of the caps (live's reserve stays). So a
 * lone background request waits at most 30 s + one promotion interval + one slot however much live
 * load there is (with rolling caps: as long as live alone leaves its 10%), and promotions take at
 * most one in `promoteEverySlots` of the sustainable rate from live.
 *
 * The completion window is a guarantee for a server that counts request *arrivals* in a rolling
 * window (a second for Kisi's 5 per second; 100 ms and one request for Nexudus' "one call per
 * 100 ms"). Spacing request starts is not enough: a request that is slow to reach the server (a
 * new TLS connection, a cold start) arrives late, closer to the ones after it, and the server then
 * sees six arrivals inside one second although the starts were 200 ms apart. Measured against the
 * sandbox's rolling-window limit at exactly 5 starts per second: about 3% of requests got 429. The
 * rule here makes that impossible: a request may start only while fewer than `perWindow` requests
 * are in flight or finished less than a window ago. Any request that finished a window before
 * another started also arrived (at the latest when it finished) a window before that one arrived,
 * so no rolling window at the server can hold more than `perWindow` arrivals. With one per window,
 * requests run one at a time, each starting a window after the previous finished.
 *
 * Priorities off (`lanes: false`, API_PRIORITIES=off): every request is served in one lane, in
 * arrival order, with the whole of every cap and no aging: the allowance alone, as a plain FIFO.
 * The counter-check of `npm run bench:live` and an operator's escape hatch.
 *
 * Cancellation: a request whose AbortSignal fires while it is queued leaves the queue at once and
 * is rejected with GateCancelledError (not retryable); nothing is sent and the slot goes to the
 * next. A request already started is the caller's to abort (the clients pass the signal to axios).
 */
import { laneRank, type Lane } from '../domain/lanes';

/** At most `max` request arrivals at the server in any rolling `windowMs`. */
export interface RollingCap {
  max: number;
  windowMs: number;
  /** Counts only writes (any method but GET/HEAD): Nexudus' "writes 60 per minute". */
  writesOnly?: boolean;
}

export interface GateLimits {
  /** Minimum gap between two request starts, in ms (Kisi: 200 for 5/s; Nexudus: 100). */
  minIntervalMs: number;
  /** Completion window: at most this many requests in flight or finished within `windowMs`. Omitted: no window. */
  perWindow?: number;
  windowMs?: number;
  caps?: RollingCap[];
}

export interface AgingPolicy {
  /** How long a waiting request of the lane waits before it is due for promotion to live. */
  dueAfterMs: { scheduled: number; background: number };
  /** At most one promotion per this many nominal slots (the sustainable interval of the allowance). */
  promoteEverySlots: number;
}

export const DEFAULT_AGING: AgingPolicy = { dueAfterMs: { scheduled: 10_000, background: 30_000 }, promoteEverySlots: 5 };

/** The share of each rolling cap a lane may fill; what is above a lane's share is kept for the lanes above it. */
export const DEFAULT_CAP_SHARE: Readonly<Record<Lane, number>> = { live: 1, scheduled: 0.9, background: 0.75 };

export interface GateOptions {
  now?: () => number;
  /** `false`: strict lanes, no aging (the counter-check in the tests). */
  aging?: AgingPolicy | false;
  capShare?: Readonly<Record<Lane, number>>;
  /** `false`: lower lanes may burst up to their share of a cap (the counter-check in the tests). Default true. */
  paceLowerLanes?: boolean;
  /**
   * `false`: priorities off. Lanes are ignored: every request waits in one queue in arrival order,
   * may fill the whole of every cap, and nothing ages (API_PRIORITIES=off). Default true.
   */
  lanes?: boolean;
}

export interface RunOptions {
  lane?: Lane;
  signal?: AbortSignal;
  /** Counts against `writesOnly` caps. */
  write?: boolean;
  /**
   * Reads a failure: a number of ms (a 429 or 409 with its Retry-After) pauses every later start,
   * applied before the slot is given back so no queued request can slip through first.
   */
  pauseAfter?: (error: unknown) => number | undefined;
}

/** A queued request whose caller gave up (its activity was cancelled): never sent, not retryable. */
export class GateCancelledError extends Error {
  readonly retryable = false;
  readonly cancelled = true;
  constructor(readonly reason?: unknown) {
    super('cancelled while waiting for the rate limit: not sent');
    this.name = 'GateCancelledError';
  }
}

interface Waiter {
  lane: Lane;
  enqueuedAt: number;
  seq: number;
  write: boolean;
  promoted: boolean;
  resolve: () => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Times in ascending order, dropped from the front as they leave a window. */
class TimeLog {
  private items: number[] = [];
  private head = 0;

  push(t: number): void {
    this.items.push(t);
  }

  /** Drops entries at or before `cutoff`; returns how many remain. */
  prune(cutoff: number): number {
    while (this.head < this.items.length && this.items[this.head]! <= cutoff) this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return this.items.length - this.head;
  }

  /** The i-th oldest entry (0 = oldest) still held. */
  at(i: number): number | undefined {
    return this.items[this.head + i];
  }
}

export class RequestGate {
  private readonly queue: Waiter[] = [];
  private seq = 0;
  private inFlight = 0;
  private readonly finished = new TimeLog();
  private lastStart = -Infinity;
  private pausedUntil = -Infinity;
  private lastPromotion = -Infinity;
  /**
   * Per cap: its requests in flight, the finish times of its requests within its window, and when
   * the last request of a lower lane (scheduled, background) counted by it started.
   */
  private readonly caps: Array<{ cap: RollingCap; inFlight: number; finished: TimeLog; lastLowerStart: number }>;
  private readonly now: () => number;
  private readonly aging: AgingPolicy | false;
  private readonly capShare: Readonly<Record<Lane, number>>;
  private readonly paceLowerLanes: boolean;
  /** False: priorities off, every request in the live lane (one FIFO, the whole of every cap). */
  readonly lanes: boolean;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** Promotions are at most one per this many ms. */
  readonly promoteEveryMs: number;

  constructor(
    private readonly limits: GateLimits,
    options: GateOptions = {},
  ) {
    if (!(limits.minIntervalMs >= 0)) throw new Error('RequestGate: minIntervalMs must be 0 or more');
    if (limits.perWindow !== undefined && !(limits.perWindow >= 1)) throw new Error('RequestGate: perWindow must be at least 1');
    if (limits.perWindow !== undefined && !((limits.windowMs ?? -1) >= 0)) throw new Error('RequestGate: a completion window needs windowMs (0 or more)');
    for (const cap of limits.caps ?? []) {
      if (!(cap.max >= 1) || !(cap.windowMs > 0)) throw new Error('RequestGate: a rolling cap needs max >= 1 and windowMs > 0');
    }
    this.caps = (limits.caps ?? []).map((cap) => ({ cap, inFlight: 0, finished: new TimeLog(), lastLowerStart: -Infinity }));
    this.now = options.now ?? (() => Date.now());
    this.lanes = options.lanes ?? true;
    // Priorities off: one lane, so nothing is ever due for promotion.
    this.aging = this.lanes ? (options.aging ?? DEFAULT_AGING) : false;
    this.capShare = options.capShare ?? DEFAULT_CAP_SHARE;
    this.paceLowerLanes = options.paceLowerLanes ?? true;
    const nominalSlotMs = Math.max(
      1,
      limits.minIntervalMs,
      limits.perWindow !== undefined ? (limits.windowMs ?? 0) / limits.perWindow : 0,
      ...(limits.caps ?? []).filter((c) => !c.writesOnly).map((c) => c.windowMs / c.max),
    );
    this.promoteEveryMs = this.aging ? this.aging.promoteEverySlots * nominalSlotMs : Infinity;
  }

  /** Runs `request` when the limits allow and its lane's turn has come (default lane: scheduled). */
  async run<T>(request: () => Promise<T>, options: RunOptions = {}): Promise<T> {
    await this.admit(options);
    try {
      return await request();
    } catch (error) {
      const pause = options.pauseAfter?.(error);
      if (pause !== undefined) this.pauseFor(pause);
      throw error;
    } finally {
      this.leave(options.write ?? false);
    }
  }

  /** Makes every request wait at least `ms` from now (after a 429/409 with Retry-After). */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.now() + ms);
    this.pump();
  }

  /** How many requests wait, per lane (for logs and tests); with priorities off all count as live. */
  waiting(): Record<Lane, number> {
    const out: Record<Lane, number> = { live: 0, scheduled: 0, background: 0 };
    for (const w of this.queue) out[w.lane]++;
    return out;
  }

  private admit(options: RunOptions): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new GateCancelledError(signal.reason));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        lane: this.lanes ? (options.lane ?? 'scheduled') : 'live',
        enqueuedAt: this.now(),
        seq: this.seq++,
        write: options.write ?? false,
        promoted: false,
        resolve,
        reject,
        signal,
      };
      if (signal) {
        waiter.onAbort = () => this.cancel(waiter);
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.pump();
    });
  }

  private cancel(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter);
    if (i < 0) return; // already started: the caller aborts the request itself
    this.queue.splice(i, 1);
    waiter.reject(new GateCancelledError(waiter.signal?.reason));
    this.pump();
  }

  private leave(write: boolean): void {
    const now = this.now();
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (this.limits.perWindow !== undefined) this.finished.push(now);
    for (const c of this.caps) {
      if (c.cap.writesOnly && !write) continue;
      c.inFlight = Math.max(0, c.inFlight - 1);
      c.finished.push(now);
    }
    this.pump();
  }

  /** Starts every request that may start now, then sleeps until the next moment something may change. */
  private pump(): void {
    const now = this.now();
    this.promote(now);
    while (this.queue.length > 0 && this.startsFrom(now) <= now) {
      const next = this.pick(now);
      if (!next) break;
      this.start(next, now);
    }
    this.wakeAt(this.queue.length > 0 ? this.nextChange(now) : Infinity);
  }

  private start(waiter: Waiter, now: number): void {
    this.queue.splice(this.queue.indexOf(waiter), 1);
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort);
    this.inFlight++;
    this.lastStart = now;
    for (const c of this.caps) {
      if (c.cap.writesOnly && !waiter.write) continue;
      c.inFlight++;
      if (waiter.lane !== 'live') c.lastLowerStart = now;
    }
    waiter.resolve();
  }

  /** The earliest time the pause, the start spacing and the completion window let any request start. */
  private startsFrom(now: number): number {
    let at = Math.max(this.pausedUntil, this.lastStart + this.limits.minIntervalMs);
    const { perWindow, windowMs = 0 } = this.limits;
    if (perWindow !== undefined) {
      const finished = this.finished.prune(now - windowMs);
      const excess = this.inFlight + finished - perWindow; // >= 0: full; this many finishes must leave the window
      if (excess >= 0) at = Math.max(at, excess < finished ? this.finished.at(excess)! + windowMs : Infinity);
    }
    return at;
  }

  private effectiveLane(w: Waiter): Lane {
    return w.promoted ? 'live' : w.lane;
  }

  /**
   * True when every rolling cap that counts this request has room within its lane's share. A
   * promoted request goes first but fills no more than the scheduled share: live's reserve stays.
   */
  private capsAllow(w: Waiter, now: number): boolean {
    const share = w.promoted ? Math.max(this.capShare[w.lane], this.capShare.scheduled) : this.capShare[w.lane];
    for (const { cap, inFlight, finished, lastLowerStart } of this.caps) {
      if (cap.writesOnly && !w.write) continue;
      const limit = share >= 1 ? cap.max : Math.max(1, Math.floor(cap.max * share));
      if (inFlight + finished.prune(now - cap.windowMs) >= limit) return false;
      // Lower lanes go at the cap's sustainable pace, never in a burst: a minute the background
      // filled in its first seconds would leave live only its reserve until the minute rolls over.
      if (this.paceLowerLanes && w.lane !== 'live' && now < lastLowerStart + pacingMs(cap)) return false;
    }
    return true;
  }

  /** The first waiter by (effective lane, arrival) that the caps let start. */
  private pick(now: number): Waiter | undefined {
    let best: Waiter | undefined;
    for (const w of this.queue) {
      if (best && !before(w, best, this.effectiveLane(w), this.effectiveLane(best))) continue;
      if (this.capsAllow(w, now)) best = w;
    }
    return best;
  }

  private dueAt(w: Waiter): number {
    if (!this.aging || w.promoted || w.lane === 'live') return Infinity;
    return w.enqueuedAt + this.aging.dueAfterMs[w.lane];
  }

  /** Promotes the earliest-due waiter to live, if one is due and the promotion interval has passed. */
  private promote(now: number): void {
    if (!this.aging || now - this.lastPromotion < this.promoteEveryMs) return;
    let due: Waiter | undefined;
    for (const w of this.queue) {
      const at = this.dueAt(w);
      if (at <= now && (!due || at < this.dueAt(due) || (at === this.dueAt(due) && w.seq < due.seq))) due = w;
    }
    if (!due) return;
    due.promoted = true;
    this.lastPromotion = now;
  }

  /** The next moment a waiter may become startable: a pause or spacing ending, a window or cap entry expiring, a promotion. */
  private nextChange(now: number): number {
    let at = Infinity;
    const starts = this.startsFrom(now);
    if (starts > now) at = starts;
    else {
      // Free to start but nobody could: a cap blocks; wake when its oldest finish leaves the window
      // (a cap whose count is all in flight frees on a finish, which pumps).
      for (const { cap, finished, lastLowerStart } of this.caps) {
        if (finished.prune(now - cap.windowMs) > 0) at = Math.min(at, finished.at(0)! + cap.windowMs);
        const paced = lastLowerStart + pacingMs(cap);
        if (this.paceLowerLanes && paced > now) at = Math.min(at, paced);
      }
    }
    if (this.aging) {
      let firstDue = Infinity;
      for (const w of this.queue) firstDue = Math.min(firstDue, this.dueAt(w));
      if (Number.isFinite(firstDue)) at = Math.min(at, Math.max(firstDue, this.lastPromotion + this.promoteEveryMs));
    }
    return at;
  }

  private wakeAt(at: number): void {
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (!Number.isFinite(at)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(1, at - this.now()));
  }
}

/** The sustainable interval of a rolling cap (120 a minute: 500 ms), at which lower lanes go. */
function pacingMs(cap: RollingCap): number {
  return cap.windowMs / cap.max;
}

/** Order of service: effective lane first, then arrival. */
function before(a: Waiter, b: Waiter, laneA: Lane, laneB: Lane): boolean {
  const ra = laneRank(laneA);
  const rb = laneRank(laneB);
  if (ra !== rb) return ra < rb;
  if (a.enqueuedAt !== b.enqueuedAt) return a.enqueuedAt < b.enqueuedAt;
  return a.seq < b.seq;
}
