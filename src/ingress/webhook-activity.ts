/**
 * When each webhook source last reached the ingress with a correct signature, and how many of its
 * deliveries were refused (missing or wrong signature) lately: what the console's Problems page
 * shows as webhook health. Counted where the webhook routes count `ingress_webhooks_total`; held in
 * this process' memory (a restart starts afresh, as the metrics do).
 */

export type WebhookSource = 'nexudus' | 'kisi';
export const WEBHOOK_SOURCES: readonly WebhookSource[] = ['nexudus', 'kisi'];

/** "Recently", for refusals: the last 24 hours. */
export const REFUSED_WINDOW_MS = 24 * 3_600_000;
const BUCKET_MS = 60_000;

export interface WebhookSourceActivity {
  /** Arrival of the last correctly signed delivery (ms), null when none since the process started. */
  lastAcceptedAt: number | null;
  /** Arrival of the last refused delivery (ms), null when none. */
  lastRefusedAt: number | null;
  /** Refused deliveries within the window (REFUSED_WINDOW_MS). */
  refusedRecently: number;
  windowMs: number;
}

interface SourceState {
  lastAcceptedAt: number | null;
  lastRefusedAt: number | null;
  /** Refusals per minute (start of the minute, ms → count), at most a window's worth of minutes. */
  refusedByMinute: Map<number, number>;
}

export class WebhookActivity {
  private readonly sources = new Map<WebhookSource, SourceState>();

  constructor(private readonly options: { windowMs?: number; now?: () => number } = {}) {}

  /** A delivery whose signature was correct (whatever became of it: delivered, queued, dead, ignored). */
  accepted(source: WebhookSource): void {
    this.state(source).lastAcceptedAt = this.now();
  }

  /** A delivery refused for its signature (or for a secret not configured). */
  refused(source: WebhookSource): void {
    const now = this.now();
    const state = this.state(source);
    state.lastRefusedAt = now;
    const minute = Math.floor(now / BUCKET_MS) * BUCKET_MS;
    state.refusedByMinute.set(minute, (state.refusedByMinute.get(minute) ?? 0) + 1);
    this.prune(state, now);
  }

  of(source: WebhookSource): WebhookSourceActivity {
    const now = this.now();
    const state = this.state(source);
    this.prune(state, now);
    let refusedRecently = 0;
    for (const count of state.refusedByMinute.values()) refusedRecently += count;
    return { lastAcceptedAt: state.lastAcceptedAt, lastRefusedAt: state.lastRefusedAt, refusedRecently, windowMs: this.windowMs };
  }

  private get windowMs(): number {
    return this.options.windowMs ?? REFUSED_WINDOW_MS;
  }

  private prune(state: SourceState, now: number): void {
    // A minute counts while any of it lies within the window (so counts may include up to a minute more).
    for (const minute of state.refusedByMinute.keys()) if (minute + BUCKET_MS <= now - this.windowMs) state.refusedByMinute.delete(minute);
  }

  private state(source: WebhookSource): SourceState {
    let state = this.sources.get(source);
    if (!state) {
      state = { lastAcceptedAt: null, lastRefusedAt: null, refusedByMinute: new Map() };
      this.sources.set(source, state);
    }
    return state;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }
}
