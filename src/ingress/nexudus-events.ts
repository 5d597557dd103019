/**
 * What a Nexudus webhook body must hold, per action. Nexudus publishes no payload schema: the body
 * is "a JSON array holding one entity" in the REST record's PascalCase shape. So only `Id` is
 * required; every other field the product reads is checked for its type when present (a wrong type
 * is a 422, a missing field means "re-read the record"), and unknown fields pass.
 */
import { z } from 'zod';
import { bookingSchema, contractSchema, nexudusId, type WebhookActionName } from '../domain/nexudus-entities';

export type NexudusEntity = 'booking' | 'contract' | 'customer';

export const SUPPORTED_NEXUDUS_ACTIONS = {
  BookingCreate: { entity: 'booking', deleted: false },
  BookingUpdate: { entity: 'booking', deleted: false },
  BookingDelete: { entity: 'booking', deleted: true },
  CoworkerContractCreate: { entity: 'contract', deleted: false },
  CoworkerContractActivate: { entity: 'contract', deleted: false },
  CoworkerContractActivateFirst: { entity: 'contract', deleted: false },
  CoworkerContractUpdate: { entity: 'contract', deleted: false },
  CoworkerContractCancel: { entity: 'contract', deleted: false },
  CoworkerContractRenew: { entity: 'contract', deleted: false },
  CoworkerContractUpgradeDowngrade: { entity: 'contract', deleted: false },
  CoworkerContractDelete: { entity: 'contract', deleted: true },
  AccessControlUpdate: { entity: 'customer', deleted: false },
  CoworkerUpdate: { entity: 'customer', deleted: false },
  CoworkerDelete: { entity: 'customer', deleted: true },
} as const satisfies Partial<Record<WebhookActionName, { entity: NexudusEntity; deleted: boolean }>>;

export type SupportedNexudusAction = keyof typeof SUPPORTED_NEXUDUS_ACTIONS;

/** The action name as registered (exact, case-sensitive), or undefined when the product does not handle it. */
export function supportedNexudusAction(action: string): SupportedNexudusAction | undefined {
  return Object.prototype.hasOwnProperty.call(SUPPORTED_NEXUDUS_ACTIONS, action) ? (action as SupportedNexudusAction) : undefined;
}

/** An id the product can put into a workflow id: a positive safe integer (numeric strings accepted). */
const safeId = nexudusId.refine((n) => Number.isSafeInteger(n), { message: 'expected an id no larger than 2^53-1' });

/**
 * The webhook-body variant of an entity schema: `Id` required, every other known field optional,
 * nullable, and of its REST type when present.
 */
function lenient<S extends z.ZodObject>(schema: S) {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    shape[key] = key === 'Id' ? safeId : field.nullable().optional();
  }
  return z.looseObject(shape) as unknown as z.ZodType<{ Id: number } & Record<string, unknown>>;
}

const bookingBody = lenient(bookingSchema);
const contractBody = lenient(contractSchema);

/**
 * The customer a customer-level webhook is about. AccessControlUpdate's body is most likely the
 * customer (Coworker) record, so its `Id` (UNVERIFIED); a body that carries `CoworkerId` is another
 * entity (a booking, a check-in) and names the customer there.
 */
const customerBody = z
  .looseObject({ Id: safeId.optional(), CoworkerId: z.union([safeId, z.null()]).optional() })
  .refine((b) => b.Id !== undefined || (b.CoworkerId !== undefined && b.CoworkerId !== null), { message: 'expected Id (the customer) or CoworkerId', path: ['Id'] });

export const ENTITY_BODY_SCHEMAS = { booking: bookingBody, contract: contractBody, customer: customerBody } as const;

/** A webhook body: an array of entities (one, in practice) or, tolerated, the bare entity. */
export const webhookBodySchema = z.union([
  z.array(z.record(z.string(), z.unknown()), { message: 'expected a JSON array of entity objects' }).min(1, { message: 'expected at least one entity' }).max(100, { message: 'expected at most 100 entities' }),
  z.record(z.string(), z.unknown()),
]);

export interface ValidatedEntity {
  entity: NexudusEntity;
  /** The id the workflow key is derived from: the record's, or the customer's for customer actions. */
  id: number;
  record: Record<string, unknown>;
}

/** The ordering key of a webhook's events: all events of one Nexudus record queue behind each other. */
export function nexudusEntityKey(entity: NexudusEntity, id: number): string {
  return `${entity}-${id}`;
}

export type EntityValidation = { ok: true; value: ValidatedEntity } | { ok: false; issues: z.ZodError['issues'] };

export function validateEntity(action: SupportedNexudusAction, record: unknown): EntityValidation {
  const { entity } = SUPPORTED_NEXUDUS_ACTIONS[action];
  if (entity === 'customer') {
    const parsed = customerBody.safeParse(record);
    if (!parsed.success) return { ok: false, issues: parsed.error.issues };
    const id = parsed.data.CoworkerId ?? parsed.data.Id!;
    return { ok: true, value: { entity, id, record: record as Record<string, unknown> } };
  }
  const parsed = ENTITY_BODY_SCHEMAS[entity].safeParse(record);
  if (!parsed.success) return { ok: false, issues: parsed.error.issues };
  return { ok: true, value: { entity, id: parsed.data.Id, record: record as Record<string, unknown> } };
}

/** The entities of a parsed body, as an array. */
export function entitiesOf(body: z.output<typeof webhookBodySchema>): Array<Record<string, unknown>> {
  return Array.isArray(body) ? body : [body];
}

/**
 * The record a body names even when the body is otherwise unusable: its `Id` (for customer actions
 * `CoworkerId`, else `Id`), when that reads as an id. Such a record is re-read from Nexudus (or
 * synced, for a customer) instead of being dropped.
 */
export function salvageEntityId(entity: NexudusEntity, record: Record<string, unknown>): number | undefined {
  const fields = entity === 'customer' ? ['CoworkerId', 'Id'] : ['Id'];
  for (const field of fields) {
    const parsed = safeId.safeParse(record[field]);
    if (parsed.success) return parsed.data;
  }
  return undefined;
}
