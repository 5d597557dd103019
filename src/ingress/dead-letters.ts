/**
 * Where events the product cannot use go: kept dead in the inbox with their reason (operators see
 * them at `GET /reports/dead-events` and act with `npm run inbox`), counted in
 * `ingress_dead_events_total{source,cause}` and logged at error level, each time. One place, so a
 * delivery refused at the door and one that died in the forwarder are recorded alike.
 */
import type { Logger } from '../config/logger';
import type { DeadCause, Inbox, NewInboxEvent, StoredEvent } from './inbox';
import type { IngressMetrics } from './metrics';

export class DeadLetters {
  constructor(
    private readonly inbox: Inbox,
    private readonly logger: Logger,
    private readonly metrics?: IngressMetrics,
  ) {}

  /** A delivery that arrives unusable: stored dead at once. Answers its inbox id. */
  arrived(event: NewInboxEvent, reason: string, cause: DeadCause, options: { bodyKept?: boolean } = {}): number {
    const id = this.inbox.enqueueDead(event, reason, cause, options);
    this.count(event.source, cause);
    this.logger.error({ inboxId: id, source: event.source, action: event.action.slice(0, 100), entityKey: event.entityKey, cause, reason, requestId: event.requestId ?? undefined }, 'webhook kept as a dead event: the product cannot use it');
    return id;
  }

  /** A queued event that turned out unusable at delivery. */
  died(event: StoredEvent, reason: string, cause: DeadCause): void {
    this.inbox.kill(event.id, reason, cause);
    this.count(event.source, cause);
    this.logger.error({ inboxId: event.id, source: event.source, action: event.action, entityKey: event.entityKey, cause, reason, requestId: event.requestId ?? undefined }, 'inbox: event recorded as dead');
  }

  private count(source: string, cause: DeadCause): void {
    this.metrics?.deadEvents.inc({ source, cause });
  }
}
