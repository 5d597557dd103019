/**
 * What keeps the operator reports from competing with the grants: one computation at a time (a
 * few requests may wait their turn; more are answered 429), each answer cached for a minute (the
 * same question again costs nothing), and a Nexudus allowance of their own, a fixed share of the
 * API's 120 calls a minute that the grants' clients never see.
 */

/** The reports' share of Nexudus: calls per minute, across every report (Nexudus allows 120). */
export const REPORT_NEXUDUS_CALLS_PER_MINUTE = 10;
/** Pages of one Nexudus listing in one report computation (1,000 records a page). */
export const REPORT_NEXUDUS_PAGES_PER_REPORT = 5;
/** How long a computed report is answered from the cache. */
export const REPORT_CACHE_MS = 60_000;
/** The longest range a report covers. */
export const REPORT_MAX_RANGE_MS = 31 * 86_400_000;

/** More report requests are waiting than the ingress lets queue: try again shortly. */
export class ReportsBusyError extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('another report is being computed and others are waiting: try again shortly');
    this.name = 'ReportsBusyError';
  }
}

export interface ReportResult<T> {
  value: T;
  /** When it was computed (ms); older than now when answered from the cache. */
  computedAt: number;
  cached: boolean;
}

export class ReportRunner {
  /** The reports' Nexudus allowance, one for every report this runner computes (the route's and the console's alike). */
  readonly nexudusAllowance: CallAllowance;
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private readonly cache = new Map<string, { value: unknown; at: number }>();
  private readonly inFlight = new Map<string, Promise<ReportResult<unknown>>>();

  constructor(private readonly options: { cacheMs?: number; maxWaiting?: number; now?: () => number } = {}) {
    this.nexudusAllowance = new CallAllowance(REPORT_NEXUDUS_CALLS_PER_MINUTE, options.now);
  }

  /**
   * The report for `key`: from the cache when computed less than a minute ago, shared with a
   * computation of the same key in flight, else computed after the ones before it. `compute`
   * says whether its value may be cached (a report with a source that could not be read is not).
   */
  run<T>(key: string, compute: () => Promise<{ value: T; cacheable: boolean }>): Promise<ReportResult<T>> {
    const now = this.now();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < (this.options.cacheMs ?? REPORT_CACHE_MS)) return Promise.resolve({ value: hit.value as T, computedAt: hit.at, cached: true });
    const running = this.inFlight.get(key);
    if (running) return running as Promise<ReportResult<T>>;
    if (this.waiting >= (this.options.maxWaiting ?? 4)) return Promise.reject(new ReportsBusyError(5));

    this.waiting++;
    const result = this.tail.then(async () => {
      this.waiting--;
      try {
        const { value, cacheable } = await compute();
        const at = this.now();
        this.prune(at);
        if (cacheable) this.cache.set(key, { value, at });
        return { value, computedAt: at, cached: false };
      } finally {
        // Before the callers resume: a later request asks again (or reads the cache), never this.
        this.inFlight.delete(key);
      }
    });
    // The next computation waits for this one, whatever its outcome.
    this.tail = result.catch(() => undefined);
    this.inFlight.set(key, result);
    return result;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.cache) if (now - entry.at >= (this.options.cacheMs ?? REPORT_CACHE_MS)) this.cache.delete(key);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** A sliding one-minute allowance of calls (the reports' share of an API). */
export class CallAllowance {
  private readonly calls: number[] = [];

  constructor(
    readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one call if the last minute leaves room; false otherwise. */
  take(): boolean {
    const now = this.now();
    while (this.calls.length > 0 && now - this.calls[0]! >= 60_000) this.calls.shift();
    if (this.calls.length >= this.perMinute) return false;
    this.calls.push(now);
    return true;
  }
}
