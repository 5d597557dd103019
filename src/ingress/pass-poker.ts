/**
 * Pokes the pass watcher (workflows/pass-watch.ts) on `AccessControlUpdate`, at most once per
 * interval (500 ms) per ingress process: the first poke goes at once, pokes during the following
 * interval make at most one more at its end (the trailing one, so a pass saved after the leading
 * look still gets one). A 9:00 burst of 300 webhooks over ten seconds costs about twenty signals
 * (each a billed Temporal action), and each asks for one shared look. The interval is what a day
 * pass bought during a burst may wait before its look: at 1 s, bench:live's first day pass took
 * 2.2 s end to end, 1 s of it before the look.
 *
 * A poke never fails or delays its webhook: it is sent off the request's path, and a failure is
 * logged and forgotten (the customer's own sync still reads the passes; reconcile repairs).
 */
import type { Logger } from '../config/logger';

export interface PassPokerOptions {
  /** Sends one poke (the signal-with-start). */
  send: () => Promise<void>;
  logger: Pick<Logger, 'warn'>;
  /** At most one poke per this many ms (default DEFAULT_POKE_INTERVAL_MS). */
  intervalMs?: number;
  /** Told of each poke requested, sent and failed (the ingress counts them: ingress_pass_watch_pokes_total). */
  onOutcome?: (outcome: 'requested' | 'sent' | 'failed') => void;
}

export const DEFAULT_POKE_INTERVAL_MS = 500;

export class PassWatchPoker {
  private lastSentAt = Number.NEGATIVE_INFINITY;
  private trailing: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  /** Pokes asked for, and sent (for tests and logs). */
  requested = 0;
  sent = 0;
  failed = 0;

  constructor(private readonly options: PassPokerOptions) {}

  /** Something may have changed a pass: look soon. Returns at once. */
  poke(): void {
    if (this.closed) return;
    this.requested++;
    this.options.onOutcome?.('requested');
    if (this.trailing) return; // the trailing poke will cover this one
    const wait = this.lastSentAt + (this.options.intervalMs ?? DEFAULT_POKE_INTERVAL_MS) - Date.now();
    if (wait <= 0) {
      this.fire();
      return;
    }
    this.trailing = setTimeout(() => {
      this.trailing = undefined;
      this.fire();
    }, wait);
    this.trailing.unref?.();
  }

  /** Drops a trailing poke not sent yet (the process is stopping). */
  close(): void {
    this.closed = true;
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
  }

  private fire(): void {
    if (this.closed) return;
    this.lastSentAt = Date.now();
    this.sent++;
    this.options.onOutcome?.('sent');
    let sending: Promise<void>;
    try {
      sending = this.options.send();
    } catch (error) {
      sending = Promise.reject(error);
    }
    sending.catch((error: unknown) => {
      this.failed++;
      this.options.onOutcome?.('failed');
      this.options.logger.warn({ err: error }, 'could not poke the pass watcher (the customer syncs still read passes; reconcile repairs)');
    });
  }
}
