/**
 * Delivers the inbox's backlog: the oldest pending event of each record, a few records at a time,
 * each record strictly in arrival order. Failures decide what happens next:
 *   - poison (PermanentEventError, a Temporal INVALID_ARGUMENT included): the event is marked dead
 *     and its record moves on;
 *   - Temporal did not accept it: the whole forwarder pauses with a growing backoff (every other
 *     delivery would fail the same way), and the hot path keeps sending new events here;
 *   - anything else (Nexudus away or throttled during a re-read): that record waits with its own
 *     growing backoff while the others go on.
 *
 * The loop survives its own failures: when the inbox itself cannot be read or written (a full
 * disk), the round is abandoned, logged, counted, and tried again with a growing pause; what was
 * delivered but not yet forgotten is delivered again later (starts and signals are idempotent).
 * `health()` says whether it runs and since when it fails, for /healthz.
 */
import type { Logger } from '../config/logger';
import type { DeadLetters } from './dead-letters';
import { TemporalDispatchError, type DispatchOutcome } from './dispatch';
import type { Inbox, StoredEvent } from './inbox';
import type { IngressMetrics } from './metrics';
import type { TemporalBreaker } from './temporal-breaker';
import { PermanentEventError } from './translate';

export interface ForwarderHealth {
  /** The loop runs (false before start, after stop, or if it ended by itself). */
  running: boolean;
  /** Since when its rounds fail (ms), null while they succeed. */
  failingSince: number | null;
  lastError: string | null;
}

export interface ForwarderOptions {
  inbox: Inbox;
  /** Translates (re-reading Nexudus when needed) and dispatches one stored event; `signal` aborts at stop. */
  deliver: (event: StoredEvent, signal: AbortSignal) => Promise<{ outcome: DispatchOutcome; workflowId?: string }>;
  breaker: TemporalBreaker;
  deadLetters: DeadLetters;
  logger: Logger;
  metrics?: IngressMetrics;
  /** How often expired dead events are purged (ms). Default 10 min. */
  purgeEveryMs?: number;
  /** Records delivered side by side (different keys); default 4. */
  concurrency?: number;
  /** First retry delay (ms); doubles per failure up to maxBackoffMs. Default 500. */
  initialBackoffMs?: number;
  /** Longest wait between attempts (ms). Default 30 s. */
  maxBackoffMs?: number;
  /** Longest idle sleep before looking at the inbox again without a nudge (ms). Default 1 s. */
  idlePollMs?: number;
  /** How long stop() waits for deliveries in flight before leaving them (ms). Default 2 s. */
  stopGraceMs?: number;
}

export class Forwarder {
  private running = false;
  /** Set when stop() gave up waiting: late results must not touch the (closing) inbox. */
  private abandoned = false;
  /** One controller per delivery in flight (a shared signal would collect a listener per call). */
  private readonly inFlight = new Set<AbortController>();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private temporalBackoffMs = 0;
  private pausedUntil = 0;
  private loopBackoffMs = 0;
  private failingSince: number | null = null;
  private lastError: string | null = null;
  private nextPurgeAt = 0;
  private readonly concurrency: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly idlePollMs: number;

  constructor(private readonly options: ForwarderOptions) {
    this.concurrency = options.concurrency ?? 4;
    this.initialBackoffMs = options.initialBackoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.idlePollMs = options.idlePollMs ?? 1_000;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abandoned = false;
    this.loop = this.run().catch((error: unknown) => {
      // Each round's failures are caught in run(); reaching here is a bug. /healthz turns red
      // (not running), so the process is restarted rather than answering "queued" for ever.
      this.options.logger.fatal({ err: error }, 'inbox forwarder stopped unexpectedly');
      this.running = false;
    });
  }

  health(): ForwarderHealth {
    return { running: this.running, failingSince: this.failingSince, lastError: this.lastError };
  }

  /** Something was queued: look now rather than at the next poll (a Temporal pause still holds). */
  nudge(): void {
    this.wake?.();
  }

  /**
   * Stops taking new events and lets the deliveries in flight finish, for up to `stopGraceMs`;
   * then aborts them. Whatever did not finish stays in the inbox and is delivered by the next
   * start (a repeated delivery is harmless: starts and signals are idempotent).
   */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    if (!this.loop) return;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), this.options.stopGraceMs ?? 2_000)));
    const finished = await Promise.race([this.loop.then(() => 'done' as const), grace]);
    clearTimeout(timer);
    if (finished === 'late') {
      this.abandoned = true;
      for (const controller of this.inFlight) controller.abort();
      this.options.logger.warn('inbox forwarder: deliveries still in flight at shutdown were left in the inbox');
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.round();
        if (this.failingSince !== null) this.options.logger.info({ failedForMs: Date.now() - this.failingSince }, 'inbox forwarder: working again');
        this.failingSince = null;
        this.lastError = null;
        this.loopBackoffMs = 0;
      } catch (error) {
        if (this.abandoned || !this.running) return;
        this.failingSince ??= Date.now();
        this.lastError = error instanceof Error ? error.message : String(error);
        this.loopBackoffMs = this.nextBackoff(this.loopBackoffMs);
        this.options.metrics?.forwarderErrors.inc();
        this.options.logger.error({ err: error, retryInMs: this.loopBackoffMs, failingForMs: Date.now() - this.failingSince }, 'inbox forwarder: a round failed (is the inbox writable?); trying again');
        await this.sleep(this.loopBackoffMs, false);
      }
    }
  }

  /** One round: purge when due, then deliver the heads that are due, or sleep until one is. */
  private async round(): Promise<void> {
    const { inbox } = this.options;
    const now = Date.now();
    if (now >= this.nextPurgeAt) {
      const purged = inbox.purgeExpiredDead(now);
      this.nextPurgeAt = now + (this.options.purgeEveryMs ?? 600_000);
      if (purged > 0) this.options.logger.info({ purged, retentionMs: inbox.deadRetentionMs }, 'inbox: expired dead events deleted');
    }
    if (now < this.pausedUntil) {
      await this.sleep(this.pausedUntil - now, false);
      return;
    }
    const due = inbox.dueHeads(now, this.concurrency);
    if (due.length === 0) {
      const next = inbox.nextDueAt();
      await this.sleep(next === null ? this.idlePollMs : Math.min(Math.max(next - now, 0), this.idlePollMs), true);
      return;
    }
    // Every delivery of the round settles before the next round: none may be handed out twice.
    const settled = await Promise.allSettled(due.map(async (event) => ({ event, result: await this.deliverOne(event) })));
    if (this.abandoned) return;
    const results = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const refused = results.flatMap(({ event, result }) => (result.kind === 'temporal' ? [{ event, message: result.message }] : []));
    if (refused.length > 0) {
      // One pause per round, however many deliveries Temporal refused in it.
      this.temporalBackoffMs = this.nextBackoff(this.temporalBackoffMs);
      this.pausedUntil = Date.now() + this.temporalBackoffMs;
      for (const { event, message } of refused) inbox.retryLater(event.id, this.pausedUntil, message);
      this.options.logger.warn({ retryInMs: this.temporalBackoffMs, events: refused.length, err: refused[0]!.message }, 'inbox: Temporal did not accept deliveries; pausing');
    }
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async deliverOne(event: StoredEvent): Promise<{ kind: 'done' } | { kind: 'temporal'; message: string }> {
    const { inbox, logger, metrics, breaker } = this.options;
    const log = logger.child({ inboxId: event.id, entityKey: event.entityKey, action: event.action, source: event.source, requestId: event.requestId ?? undefined });
    const controller = new AbortController();
    this.inFlight.add(controller);
    try {
      const { outcome, workflowId } = await this.options.deliver(event, controller.signal);
      if (this.abandoned) return { kind: 'done' };
      inbox.delivered(event.id);
      this.temporalBackoffMs = 0;
      breaker.close();
      metrics?.forwarded.inc({ source: event.source, outcome });
      log.info({ workflowId, outcome, waitedMs: Date.now() - event.receivedAt, attempts: event.attempts + 1 }, 'inbox: delivered');
      return { kind: 'done' };
    } catch (error) {
      if (this.abandoned) return { kind: 'done' };
      if (error instanceof PermanentEventError) {
        this.options.deadLetters.died(event, error.message, error.deadCause);
        metrics?.forwarded.inc({ source: event.source, outcome: 'dead' });
        return { kind: 'done' };
      }
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof TemporalDispatchError) {
        breaker.open();
        metrics?.forwarded.inc({ source: event.source, outcome: 'retry-temporal' });
        return { kind: 'temporal', message };
      }
      const delay = jitter(this.backoffFor(event.attempts + 1));
      inbox.retryLater(event.id, Date.now() + delay, message);
      metrics?.forwarded.inc({ source: event.source, outcome: 'retry' });
      log.warn({ retryInMs: delay, attempts: event.attempts + 1, err: message }, 'inbox: delivery failed; the record waits');
      return { kind: 'done' };
    } finally {
      this.inFlight.delete(controller);
    }
  }

  private nextBackoff(current: number): number {
    return current === 0 ? this.initialBackoffMs : Math.min(current * 2, this.maxBackoffMs);
  }

  private backoffFor(attempts: number): number {
    return Math.min(this.initialBackoffMs * 2 ** Math.min(attempts - 1, 20), this.maxBackoffMs);
  }

  /** Sleeps `ms`, or less when nudged (if `wakeable`) or stopped. */
  private sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        if (wakeable || !this.running) done();
      };
    });
  }
}

/** Spreads retries of many records over ±20 % so they do not all hit Nexudus at once. */
function jitter(ms: number): number {
  return Math.round(ms * (0.8 + Math.random() * 0.4));
}
