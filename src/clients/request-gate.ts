/**
 * How the API clients stay under a provider's rate limit, one gate per credential in the process:
 * start pacing (RequestPacer), arrival counting at the server (CompletionWindow), both behind
 * RequestGate.
 */

export interface RateLimit {
  /** Minimum gap between two request starts, in ms (Kisi: 200 for 5/s; Nexudus: 100). */
  minIntervalMs: number;
  /** Optional cap per rolling minute (Nexudus: 120). */
  perMinute?: number;
}

/**
 * Serialises request starts so one process never exceeds the limit. Requests queue in
 * arrival order; a server's Retry-After can push every queued request back (`pauseFor`).
 */
export class RequestPacer {
  private nextSlot = 0;
  private readonly recent: number[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Resolves when the caller may start its request. */
  acquire(): Promise<void> {
    const turn = this.chain.then(() => this.waitForSlot());
    this.chain = turn.catch(() => undefined);
    return turn;
  }

  /** Makes every request wait at least `ms` from now (after a 429/409 with Retry-After). */
  pauseFor(ms: number): void {
    this.nextSlot = Math.max(this.nextSlot, this.now() + ms);
  }

  private async waitForSlot(): Promise<void> {
    for (;;) {
      const now = this.now();
      let wait = Math.max(0, this.nextSlot - now);
      if (this.limit.perMinute !== undefined) {
        while (this.recent.length > 0 && this.recent[0]! <= now - 60_000) this.recent.shift();
        if (this.recent.length >= this.limit.perMinute) wait = Math.max(wait, this.recent[0]! + 60_000 - now);
      }
      if (wait <= 0) break;
      await this.sleep(wait);
    }
    const start = this.now();
    this.nextSlot = start + this.limit.minIntervalMs;
    if (this.limit.perMinute !== undefined) this.recent.push(start);
  }
}

/**
 * A client-side guarantee for a server that counts request *arrivals* in a rolling window (a
 * second for Kisi's 5 per second; 100 ms and one request for Nexudus' "one call per 100 ms").
 *
 * Spacing request starts (RequestPacer) is not enough: a request that is slow to reach the server
 * (a new TLS connection, a cold start) arrives late, closer to the ones after it, and the server
 * then sees six arrivals inside one second although the starts were 200 ms apart. Measured against
 * the sandbox's rolling-window limit at exactly 5 starts per second: about 3% of requests got 429.
 *
 * The rule here makes that impossible: a request may start only while fewer than `perWindow`
 * requests are in flight or finished less than a window ago. Any request that finished a window
 * before another started also arrived (at the latest when it finished) a window before that one
 * arrived, so no rolling window at the server can hold more than `perWindow` arrivals. With one
 * per window, requests run one at a time, each starting a window after the previous finished.
 */
export class CompletionWindow {
  private inFlight = 0;
  /** Finish times within the last window, oldest first. */
  private readonly finished: number[] = [];
  private waiters: (() => void)[] = [];
  private readonly windowMs: number;
  private readonly now: () => number;

  /** At most `perWindow` arrivals in any rolling `windowMs` (default 1000: per second). */
  constructor(
    private readonly perWindow: number,
    options: { windowMs?: number; now?: () => number } = {},
  ) {
    if (!(perWindow >= 1)) throw new Error('CompletionWindow: perWindow must be at least 1');
    this.windowMs = options.windowMs ?? 1000;
    if (!(this.windowMs >= 0)) throw new Error('CompletionWindow: windowMs must be 0 or more');
    this.now = options.now ?? Date.now;
  }

  /** Resolves when a request may start; call `leave()` when it has finished (or failed). */
  async enter(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.finished.length > 0 && this.finished[0]! <= now - this.windowMs) this.finished.shift();
      if (this.inFlight + this.finished.length < this.perWindow) {
        this.inFlight++;
        return;
      }
      // A slot frees only when a finish time leaves the window; with none yet, wait for a finish.
      const oldest = this.finished[0];
      await new Promise<void>((resolve) => {
        if (oldest !== undefined) setTimeout(resolve, Math.max(1, oldest + this.windowMs - now));
        else this.waiters.push(resolve);
      });
    }
  }

  leave(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.finished.push(this.now());
    const waiting = this.waiters;
    this.waiters = [];
    for (const wake of waiting) wake();
  }
}

/**
 * What each API client puts its requests through, one gate per credential in the process: the
 * completion window (what the server counts) and start pacing with an optional per-minute cap,
 * which a throttling answer pauses for everyone queued behind it.
 */
export class RequestGate {
  private readonly window: CompletionWindow;
  private readonly pacer: RequestPacer;

  constructor(limit: RateLimit & { perWindow: number; windowMs: number }) {
    this.window = new CompletionWindow(limit.perWindow, { windowMs: limit.windowMs });
    this.pacer = new RequestPacer({ minIntervalMs: limit.minIntervalMs, perMinute: limit.perMinute });
  }

  /**
   * Runs `request` when the limits allow. `pauseAfter` reads a failure: a number of ms (a 429 or
   * 409 with its Retry-After) pauses every later start, applied before the slot is given back so
   * no queued request can slip through first.
   */
  async run<T>(request: () => Promise<T>, pauseAfter?: (error: unknown) => number | undefined): Promise<T> {
    await this.window.enter();
    try {
      await this.pacer.acquire();
      return await request();
    } catch (error) {
      const pause = pauseAfter?.(error);
      if (pause !== undefined) this.pacer.pauseFor(pause);
      throw error;
    } finally {
      this.window.leave();
    }
  }
}
