/**
 * Delivers the inbox's backlog: the oldest pending event of each record, a few records at a time,
 * each record strictly in arrival order. Failures decide what happens next:
 *   - poison (PermanentEventError): the event is marked dead and its record moves on;
 *   - Temporal did not accept it: the whole forwarder pauses with a growing backoff (every other
 *     delivery would fail the same way), and the hot path keeps sending new events here;
 *   - anything else (Nexudus away or throttled during a re-read): that record waits with its own
 *     growing backoff while the others go on.
 */
import type { Logger } from '../logger';
import { TemporalDispatchError, type DispatchOutcome } from './dispatch';
import type { Inbox, StoredEvent } from './inbox';
import type { IngressMetrics } from './metrics';
import type { TemporalBreaker } from './temporal-breaker';
import { PermanentEventError } from './translate';

export interface ForwarderOptions {
  inbox: Inbox;
  /** Translates (re-reading Nexudus when needed) and dispatches one stored event; `signal` aborts at stop. */
  deliver: (event: StoredEvent, signal: AbortSignal) => Promise<{ outcome: DispatchOutcome; workflowId?: string }>;
  breaker: TemporalBreaker;
  logger: Logger;
  metrics?: IngressMetrics;
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
    this.loop = this.run().catch((error: unknown) => {
      // The loop itself never throws by design; if it does, say so loudly: events would wait.
      this.options.logger.fatal({ err: error }, 'inbox forwarder stopped unexpectedly');
      this.running = false;
    });
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
    const { inbox } = this.options;
    while (this.running) {
      const now = Date.now();
      if (now < this.pausedUntil) {
        await this.sleep(this.pausedUntil - now, false);
        continue;
      }
      const due = inbox.dueHeads(now, this.concurrency);
      if (due.length === 0) {
        const next = inbox.nextDueAt();
        await this.sleep(next === null ? this.idlePollMs : Math.min(Math.max(next - now, 0), this.idlePollMs), true);
        continue;
      }
      const results = await Promise.all(due.map(async (event) => ({ event, result: await this.deliverOne(event) })));
      if (this.abandoned) return;
      const refused = results.flatMap(({ event, result }) => (result.kind === 'temporal' ? [{ event, message: result.message }] : []));
      if (refused.length > 0) {
        // One pause per round, however many deliveries Temporal refused in it.
        this.temporalBackoffMs = this.nextBackoff(this.temporalBackoffMs);
        this.pausedUntil = Date.now() + this.temporalBackoffMs;
        for (const { event, message } of refused) this.options.inbox.retryLater(event.id, this.pausedUntil, message);
        this.options.logger.warn({ retryInMs: this.temporalBackoffMs, events: refused.length, err: refused[0]!.message }, 'inbox: Temporal did not accept deliveries; pausing');
      }
    }
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
        inbox.kill(event.id, error.message);
        metrics?.forwarded.inc({ source: event.source, outcome: 'dead' });
        log.error({ reason: error.message }, 'inbox: poison event recorded as dead');
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
