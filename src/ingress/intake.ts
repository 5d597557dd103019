/**
 * The webhook hot path, shared by the Nexudus and Kisi routes: hand a verified event to Temporal
 * at once when that is safe and possible, otherwise store it in the inbox, and answer either way
 * as soon as the event is safe (Temporal accepted it, or it is fsynced in the inbox).
 *
 * An event goes to the inbox instead of Temporal when
 *   - earlier events of the same record are still waiting there (they must reach it first),
 *   - Temporal refused or timed out recently (the breaker is open: no point waiting again; one
 *     delivery every few seconds probes it, so the breaker closes without the forwarder),
 *   - its body does not say enough and Nexudus must be read (done off the hot path),
 *   - or Temporal does not accept it now.
 * An event Temporal refuses as invalid is kept dead (retrying cannot help). Events of one record
 * are handled one at a time in this process, so two deliveries of the same record cannot overtake
 * each other between the backlog check and the inbox.
 */
import type { DeadLetters } from './dead-letters';
import { dispatchPlan, TemporalDispatchError, TemporalRejectedError, type DispatchDeps, type DispatchOutcome } from './dispatch';
import type { DeadCause, Inbox, NewInboxEvent } from './inbox';
import { KeyedSerializer } from './keyed-serializer';
import type { TemporalBreaker } from './temporal-breaker';
import type { DeliveryPlan } from './translate';

export type IntakeAnswer =
  | { result: 'delivered'; outcome: DispatchOutcome; workflowId: string | undefined; entityKey: string }
  | { result: 'queued'; reason: string; entityKey: string; workflowId: string | undefined }
  | { result: 'ignored'; reason: string; entityKey: string; workflowId?: undefined }
  | { result: 'dead'; reason: string; entityKey: string; deadEventId: number; workflowId?: string | undefined };

export interface IntakeDeps {
  inbox: Inbox;
  dispatch: DispatchDeps;
  breaker: TemporalBreaker;
  deadLetters: DeadLetters;
  /** Told when something was queued, so the backlog moves without waiting for a poll. */
  onQueued: () => void;
  /** How long the hot path waits for Temporal before queueing instead (ms). Default 2 s. */
  deadlineMs?: number;
}

export class EventIntake {
  private readonly serializer = new KeyedSerializer();

  constructor(private readonly deps: IntakeDeps) {}

  accept(event: NewInboxEvent, plan: DeliveryPlan | 'reread'): Promise<IntakeAnswer> {
    if (plan !== 'reread' && plan.kind === 'ignore') return Promise.resolve({ result: 'ignored', reason: plan.reason, entityKey: event.entityKey });
    const workflowId = plan === 'reread' ? undefined : plan.workflowId;
    return this.serializer.run(event.entityKey, async (): Promise<IntakeAnswer> => {
      const { inbox, breaker } = this.deps;
      if (plan === 'reread') return this.queue(event, workflowId, 'the body does not say enough: the record is re-read from Nexudus');
      if (inbox.hasBacklog(event.entityKey)) return this.queue(event, workflowId, 'earlier events of this record are waiting in the inbox');
      const probing = breaker.isOpen && breaker.tryProbe();
      if (breaker.isOpen && !probing) return this.queue(event, workflowId, 'Temporal is unreachable: queued in the inbox');
      try {
        const outcome = await dispatchPlan(this.deps.dispatch, plan, this.deps.deadlineMs ?? 2_000);
        breaker.close();
        return { result: 'delivered', outcome, workflowId, entityKey: event.entityKey };
      } catch (error) {
        if (error instanceof TemporalRejectedError) return this.dead(event, error.message, error.deadCause, workflowId);
        if (!(error instanceof TemporalDispatchError)) throw error;
        breaker.open();
        return this.queue(event, workflowId, `Temporal did not accept the event (${error.message}): queued in the inbox`);
      } finally {
        if (probing) breaker.probeDone();
      }
    });
  }

  /** An event the product cannot use: kept dead, answered 2xx (a signed delivery is never refused). */
  dead(event: NewInboxEvent, reason: string, cause: DeadCause, workflowId?: string, options: { bodyKept?: boolean } = {}): IntakeAnswer {
    const deadEventId = this.deps.deadLetters.arrived(event, reason, cause, options);
    return { result: 'dead', reason, entityKey: event.entityKey, deadEventId, workflowId };
  }

  private queue(event: NewInboxEvent, workflowId: string | undefined, reason: string): IntakeAnswer {
    this.deps.inbox.enqueue(event);
    this.deps.onQueued();
    return { result: 'queued', reason, entityKey: event.entityKey, workflowId };
  }
}
