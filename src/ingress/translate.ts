/**
 * Turns one verified event into what Temporal must hear: a grant spec (signal-with-start), a
 * customer sync request, or a door check-in. The body is used when it says enough; otherwise the
 * record is re-read from Nexudus (GET by id: list answers and perhaps webhook bodies omit
 * collections such as a contract's `Desks`).
 *
 * Errors say whether trying again can help: PermanentEventError (a poison event: the record does
 * not exist, or no reading of it makes sense) versus anything else (Nexudus away, throttled...).
 */
import { isApiError, isNotFound } from '../clients/errors';
import type { NexudusClient } from '../clients/nexudus';
import type { AccessMap } from '../config/access-map';
import type { GrantSpec } from '../domain/grant-spec';
import { checkinWorkflowId, customerSyncWorkflowId, grantWorkflowId } from '../domain/ids';
import { bookingSchema, contractSchema, type NexudusBooking, type NexudusContract } from '../domain/nexudus-entities';
import { TimeParseError } from '../domain/time';
import { goneSpec, type SpecSource } from '../clients/nexudus-grant-specs';
import type { CheckinInput } from '../contract/checkin';
import type { CustomerSyncRequest } from '../contract/customer';
import type { DeadCause } from './inbox';
import { decideKisiEvent } from './kisi-events';
import { SUPPORTED_NEXUDUS_ACTIONS, supportedNexudusAction, validateEntity, type ValidatedEntity } from './nexudus-events';

export type DeliveryPlan =
  | { kind: 'grant'; workflowId: string; spec: GrantSpec; startEvenIfUnmapped: boolean }
  | { kind: 'customer-sync'; workflowId: string; customerId: number; request: CustomerSyncRequest }
  | { kind: 'checkin'; workflowId: string; input: CheckinInput }
  | { kind: 'ignore'; reason: string };

/** A poison event: retrying cannot help. It is recorded as dead with this reason. */
export class PermanentEventError extends Error {
  constructor(
    message: string,
    /** The bounded label it is counted under (ingress_dead_events_total). */
    readonly deadCause: DeadCause = 'other',
  ) {
    super(message);
    this.name = 'PermanentEventError';
  }
}

/** One event as the ingress received it (the inbox stores exactly this). */
export interface ReceivedEvent {
  source: 'nexudus' | 'kisi';
  /** Nexudus action name from the URL, or the Kisi event type. */
  action: string;
  /** The one entity (Nexudus) or the event object (Kisi), parsed from the verified raw body. */
  record: unknown;
}

export interface TranslatorDeps {
  specs: SpecSource;
  /** Absent when the ingress runs without Nexudus credentials (development): re-reads then wait. */
  nexudus: Pick<NexudusClient, 'getBooking' | 'getContract'> | undefined;
  accessMap: () => AccessMap;
}

export class EventTranslator {
  constructor(private readonly deps: TranslatorDeps) {}

  /**
   * The plan from the body alone, or 'reread' when the body lacks what the workflow needs.
   * Synchronous and without I/O: the webhook's hot path.
   */
  fromBody(event: ReceivedEvent): DeliveryPlan | 'reread' {
    if (event.source === 'kisi') return this.kisiPlan(event.record);
    const { action, entity } = this.nexudusEntity(event);
    const { deleted } = SUPPORTED_NEXUDUS_ACTIONS[action];
    const record = entity.record;
    if (entity.entity === 'customer') {
      return {
        kind: 'customer-sync',
        workflowId: customerSyncWorkflowId(entity.id),
        customerId: entity.id,
        request: { deleted, reason: action },
      };
    }
    const customerId = typeof record.CoworkerId === 'number' ? record.CoworkerId : Number(record.CoworkerId) || 0;
    if (deleted) {
      // A tombstone whatever the record maps to: a late create or update (even one that moved the
      // booking to a mapped resource) must never bring a deleted record back.
      const spec = entity.entity === 'booking' ? this.deletedBooking(entity) : this.deletedContract(entity);
      return grantPlan(spec ?? goneSpec(entity.entity, entity.id, customerId), true);
    }
    if (entity.entity === 'booking') {
      // A body without a customer (absent or null) is not a booking without a customer: webhook
      // bodies may leave fields out. Only the record as the API returns it can say so (translate).
      if (record.CoworkerId === undefined || record.CoworkerId === null) return 'reread';
      const booking = bookingSchema.safeParse(record);
      if (!booking.success) return 'reread';
      return grantPlan(this.buildSpec(() => this.deps.specs.fromBooking(booking.data), `booking ${entity.id}`), false);
    }
    const contract = contractSchema.safeParse(record);
    // Desks decide the groups; a body without them (as list answers) cannot say what is granted.
    if (!contract.success || !Array.isArray(record.Desks)) return 'reread';
    return grantPlan(this.buildSpec(() => this.deps.specs.fromContract(contract.data), `contract ${entity.id}`), false);
  }

  /** The plan, re-reading the record from Nexudus when the body does not suffice. */
  async translate(event: ReceivedEvent): Promise<DeliveryPlan> {
    const fromBody = this.fromBody(event);
    if (fromBody !== 'reread') return fromBody;
    const { entity } = this.nexudusEntity(event);
    const nexudus = this.deps.nexudus;
    if (!nexudus) throw new Error('Nexudus credentials are not configured: cannot re-read the record');
    const what = `${entity.entity} ${entity.id}`;
    let fresh: NexudusBooking | NexudusContract;
    try {
      fresh = entity.entity === 'booking' ? await nexudus.getBooking(entity.id) : await nexudus.getContract(entity.id);
    } catch (error) {
      if (isNotFound(error)) throw new PermanentEventError(`${what} does not exist in Nexudus (404 on re-read)`, 'not-found');
      if (isApiError(error) && error.code === 'invalid_response') throw new PermanentEventError(`${what}: Nexudus answers a record the product cannot read: ${error.message}`, 'unreadable-record');
      throw error;
    }
    if (entity.entity === 'booking' && (fresh as NexudusBooking).CoworkerId == null) {
      // Read from the API without a customer (e.g. a visitor's): nobody to let in. A grant that
      // exists for a former customer ends; nothing starts.
      return grantPlan({ ...goneSpec('booking', entity.id, 0), endedReason: 'no customer' }, false);
    }
    const spec =
      entity.entity === 'booking'
        ? this.buildSpec(() => this.deps.specs.fromBooking(fresh as NexudusBooking), what)
        : this.buildSpec(() => this.deps.specs.fromContract(fresh as NexudusContract), what);
    return grantPlan(spec, false);
  }

  private nexudusEntity(event: ReceivedEvent): { action: keyof typeof SUPPORTED_NEXUDUS_ACTIONS; entity: ValidatedEntity } {
    const action = supportedNexudusAction(event.action);
    if (!action) throw new PermanentEventError(`Nexudus action ${event.action} is not handled`, 'unhandled-action');
    const validation = validateEntity(action, event.record);
    if (!validation.ok) {
      throw new PermanentEventError(`invalid ${action} body: ${validation.issues.map((i) => `${i.path.join('.') || '(entity)'}: ${i.message}`).join('; ')}`, 'invalid-entity');
    }
    return { action, entity: validation.value };
  }

  private deletedBooking(entity: ValidatedEntity): GrantSpec | undefined {
    const booking = bookingSchema.safeParse(entity.record);
    return booking.success ? this.deps.specs.fromBooking(booking.data, { deleted: true }) : undefined;
  }

  private deletedContract(entity: ValidatedEntity): GrantSpec | undefined {
    const contract = contractSchema.safeParse(entity.record);
    return contract.success ? this.deps.specs.fromContract(contract.data, { deleted: true }) : undefined;
  }

  private buildSpec(build: () => GrantSpec, what: string): GrantSpec {
    try {
      return build();
    } catch (error) {
      if (error instanceof TimeParseError) throw new PermanentEventError(`${what}: ${error.message}`, 'unreadable-record');
      throw error;
    }
  }

  private kisiPlan(record: unknown): DeliveryPlan {
    const decision = decideKisiEvent(record, this.deps.accessMap());
    if (decision.kind === 'invalid') {
      throw new PermanentEventError(`invalid Kisi event: ${decision.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ')}`, 'invalid-event');
    }
    if (decision.kind === 'ignore') return decision;
    return { kind: 'checkin', workflowId: checkinWorkflowId(decision.input.eventUuid), input: decision.input };
  }
}

function grantPlan(spec: GrantSpec, startEvenIfUnmapped: boolean): DeliveryPlan {
  return { kind: 'grant', workflowId: grantWorkflowId(spec.kind, spec.sourceId), spec, startEvenIfUnmapped };
}

/** A short name of the plan for logs and answers. */
export function planTarget(plan: DeliveryPlan): string | undefined {
  return plan.kind === 'ignore' ? undefined : plan.workflowId;
}
