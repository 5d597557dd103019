/**
 * Kisi event webhooks: which events the product acts on. Only a successful `lock.unlock` by a user
 * on a door the access map marks `"onUnlock": "checkin"` becomes a check-in; every other event is
 * acknowledged and ignored (Kisi disables an integration that keeps failing).
 */
import { z } from 'zod';
import type { AccessMap } from '../config/access-map';
import type { CheckinInput } from '../contract/checkin';

const kisiId = z.union([z.number().int().positive(), z.string().regex(/^\d{1,15}$/).transform(Number)]).refine(Number.isSafeInteger, { message: 'expected a safe integer id' });
/** The uuid becomes part of a workflow id: a conservative alphabet and length. */
const eventUuid = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/, { message: 'expected an event uuid (letters, digits, - and _)' });
const optionalText = z.union([z.string().max(1000), z.null()]).optional();

/** Enough to decide whether the event concerns us (every Kisi event has a type). */
export const kisiEventEnvelope = z.looseObject({ type: z.string().min(1).max(200), uuid: z.unknown().optional() });

export const kisiUnlockEventSchema = z.looseObject({
  uuid: eventUuid,
  type: z.literal('lock.unlock'),
  actor_type: optionalText,
  actor_id: kisiId,
  actor_name: optionalText,
  /** Seen in event exports; in webhooks UNVERIFIED, so optional (the workflow resolves the user by id). */
  actor_email: optionalText,
  object_type: optionalText,
  object_id: kisiId,
  object_name: optionalText,
  success: z.boolean(),
  created_at: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date-time' }),
});
export type KisiUnlockEvent = z.output<typeof kisiUnlockEventSchema>;

export type KisiEventDecision =
  | { kind: 'checkin'; input: CheckinInput }
  | { kind: 'ignore'; reason: string }
  | { kind: 'invalid'; issues: z.ZodError['issues'] };

export function decideKisiEvent(body: unknown, accessMap: AccessMap): KisiEventDecision {
  const envelope = kisiEventEnvelope.safeParse(body);
  if (!envelope.success) return { kind: 'invalid', issues: envelope.error.issues };
  if (envelope.data.type !== 'lock.unlock') return { kind: 'ignore', reason: `event type ${envelope.data.type} is not handled` };
  const parsed = kisiUnlockEventSchema.safeParse(body);
  if (!parsed.success) return { kind: 'invalid', issues: parsed.error.issues };
  const event = parsed.data;
  if (!event.success) return { kind: 'ignore', reason: 'the unlock was refused by Kisi' };
  if (event.actor_type != null && event.actor_type !== 'User') return { kind: 'ignore', reason: `actor type ${event.actor_type} is not a user` };
  if (event.object_type != null && event.object_type !== 'Lock') return { kind: 'ignore', reason: `object type ${event.object_type} is not a lock` };
  if (accessMap.doorAction(event.object_id) !== 'checkin') return { kind: 'ignore', reason: `lock ${event.object_id} does not check customers in` };
  return {
    kind: 'checkin',
    input: {
      eventUuid: event.uuid,
      kisiUserId: event.actor_id,
      kisiUserEmail: event.actor_email ? event.actor_email : null,
      lockId: event.object_id,
      lockName: event.object_name ? event.object_name : null,
      unlockedAt: new Date(Date.parse(event.created_at)).toISOString(),
    },
  };
}

/** Ordering key of a Kisi event in the inbox: each event stands alone. */
export function kisiEntityKey(uuid: string): string {
  return `checkin-${uuid}`;
}
