/**
 * What the inbox keeps of a verified webhook: the fields the product reads, nothing else. A
 * customer record carries access PINs and card numbers (`AccessPincode`, `AccessCardId`,
 * `KeyFobNumber`), bookings and contracts carry notes and prices: none of that is needed to deliver
 * the event, so none of it reaches the disk. Translation at delivery (src/ingress/translate.ts)
 * reads these projections exactly as it reads a whole body.
 */
import { createHash } from 'node:crypto';
import { bookingSchema, contractSchema } from '../domain/nexudus-entities';
import type { NexudusEntity } from './nexudus-events';

/** The fields of each entity the product reads (the schemas list every one of them). */
const NEXUDUS_FIELDS: Record<NexudusEntity, readonly string[]> = {
  booking: Object.keys(bookingSchema.shape),
  contract: Object.keys(contractSchema.shape),
  // Customer actions only name the customer; the sync re-reads everything else.
  customer: ['Id', 'CoworkerId'],
};

/** The fields of a Kisi unlock event the check-in uses (not `actor_name`: never read). */
const KISI_FIELDS = ['uuid', 'type', 'actor_type', 'actor_id', 'actor_email', 'object_type', 'object_id', 'object_name', 'success', 'created_at'] as const;

/** Longest text kept per field: a field is an id, a date, a name or an email, never kilobytes. */
const MAX_TEXT = 500;

/** One Nexudus entity as stored: its known fields as a JSON object (a body of one entity). */
export function storedNexudusEntity(entity: NexudusEntity, record: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  for (const field of NEXUDUS_FIELDS[entity]) {
    if (!Object.prototype.hasOwnProperty.call(record, field)) continue;
    kept[field] = field === 'Desks' ? desks(record.Desks) : bounded(record[field]);
  }
  return JSON.stringify(kept);
}

/** A Kisi event as stored: the fields the check-in reads. */
export function storedKisiEvent(event: unknown): string {
  const kept: Record<string, unknown> = {};
  if (event && typeof event === 'object' && !Array.isArray(event)) {
    for (const field of KISI_FIELDS) {
      if (Object.prototype.hasOwnProperty.call(event, field)) kept[field] = bounded((event as Record<string, unknown>)[field]);
    }
  }
  return JSON.stringify(kept);
}

/**
 * A body nothing could be read from (not JSON, not an object): kept as a description only, so an
 * operator can match it with the sender's log (size and SHA-256), never its content.
 */
export function describedBody(raw: Buffer): string {
  return JSON.stringify({ notKept: 'the body could not be read, so only its size and SHA-256 were kept', bytes: raw.length, sha256: createHash('sha256').update(raw).digest('hex') });
}

/** A contract's desks: ids, or `{Id, Name}` (desk objects may carry prices and notes). */
function desks(value: unknown): unknown {
  if (!Array.isArray(value)) return bounded(value);
  return value.slice(0, 100).map((d) => (d && typeof d === 'object' && !Array.isArray(d) ? { Id: bounded((d as Record<string, unknown>).Id), Name: bounded((d as Record<string, unknown>).Name) } : bounded(d)));
}

/** Scalars as they are (texts cut); anything nested is not a field the product reads: dropped. */
function bounded(value: unknown): unknown {
  if (typeof value === 'string') return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  return Array.isArray(value) ? '[array]' : value === undefined ? null : '[object]';
}
