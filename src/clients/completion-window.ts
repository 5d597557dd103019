/**
 * A client-side guarantee for a server that counts request *arrivals* in a rolling second.
 *
 * Spacing request starts (RequestPacer) is not enough: a request that is slow to reach the server
 * (a new TLS connection, a cold start) arrives late, closer to the ones after it, and the server
 * then sees six arrivals inside one second although the starts were 200 ms apart. Measured against
 * the sandbox's rolling-window limit at exactly 5 starts per second: about 3% of requests got 429.
 *
 * The rule here makes that impossible: a request may start only while fewer than `perSecond`
 * requests are in flight or finished less than a second ago. Any request that finished a second
 * before another started also arrived (at the latest when it finished) a second before that one
 * arrived, so no rolling second at the server can hold more than `perSecond` arrivals.
 */
export class CompletionWindow {
  private inFlight = 0;
  /** Finish times within the last second, oldest first. */
  private readonly finished: number[] = [];
  private waiters: (() => void)[] = [];

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(perSecond >= 1)) throw new Error('CompletionWindow: perSecond must be at least 1');
  }

  /** Resolves when a request may start; call `leave()` when it has finished (or failed). */
  async enter(): Promise<void> {
    for (;;) {
      const now = this.now();
      while (this.finished.length > 0 && this.finished[0]! <= now - 1000) this.finished.shift();
      if (this.inFlight + this.finished.length < this.perSecond) {
        this.inFlight++;
        return;
      }
      // A slot frees only when a finish time leaves the window; with none yet, wait for a finish.
      const oldest = this.finished[0];
      await new Promise<void>((resolve) => {
        if (oldest !== undefined) setTimeout(resolve, Math.max(1, oldest + 1000 - now));
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
