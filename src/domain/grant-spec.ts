/**
 * What a grant should be, computed from a Nexudus record and the access map. Built outside
 * workflows (ingress, activities) and carried into them by signals; workflows only compare and
 * act on it. All instants are UTC epoch milliseconds; `null` bounds are open.
 */
import { type GrantKind } from './ids';
import {
  contractDeskIds,
  type NexudusBooking,
  type NexudusContract,
  type NexudusCoworkerTimePass,
  type NexudusTimePass,
} from './nexudus-entities';
import { endOfLocalDay, parseUtcInstant, resolveNexudusInstant } from './time';

/** What the access map says one mapped item opens (src/config/access-map.ts reads the map into these). */
export interface AccessRule {
  groups: number[];
  leadMs: number;
  lagMs: number;
}

export interface AccessWindow {
  /** Kisi opens from here (start minus lead); null = already open. */
  from: number | null;
  /** Kisi closes here (end plus lag); null = open-ended. */
  until: number | null;
}

/**
 * active: grant the window; tentative: a booking not confirmed yet, and inactive: a contract not
 * activated yet or suspended; both grant nothing until they change; ended: revoke now and finish.
 */
export type GrantLifecycle = 'active' | 'tentative' | 'inactive' | 'ended';

export interface GrantSpec {
  kind: GrantKind;
  sourceId: number;
  customerId: number;
  customerName: string | null;
  customerEmail: string | null;
  /** The record's UpdatedOn (ms): older deliveries than what a grant holds are ignored. Null when unknown. */
  version: number | null;
  lifecycle: GrantLifecycle;
  /** Why it ended, for operators (deleted, cancelled). */
  endedReason: string | null;
  /** The access window (lead and lag applied); null once ended. A tentative booking keeps it but grants nothing. */
  window: AccessWindow | null;
  groups: number[];
  /** Human name of what was bought (resource, pass, desks), for summaries. */
  label: string;
}

/** Customer id of a record that names none (an id-only deletion, a visitor's booking). */
export const UNKNOWN_CUSTOMER = 0;

export interface SpecContext {
  /** Location time zone (IANA), for local fields and day-pass midnights. */
  timeZone: string;
  /** Now, for facts Nexudus leaves implicit (a used pass without a UsedDate). */
  now: number;
}

function versionOf(updatedOn: string | null | undefined): number | null {
  if (!updatedOn) return null;
  try {
    return parseUtcInstant(updatedOn);
  } catch {
    return null;
  }
}

function ended(base: Omit<GrantSpec, 'lifecycle' | 'endedReason' | 'window'>, reason: string): GrantSpec {
  return { ...base, lifecycle: 'ended', endedReason: reason, window: null };
}

export function bookingSpec(
  booking: NexudusBooking,
  rule: AccessRule | undefined,
  ctx: SpecContext,
  options: { deleted?: boolean } = {},
): GrantSpec {
  const base = {
    kind: 'booking' as const,
    sourceId: booking.Id,
    customerId: booking.CoworkerId ?? UNKNOWN_CUSTOMER,
    customerName: booking.CoworkerFullName ?? null,
    customerEmail: booking.CoworkerEmail ?? null,
    version: versionOf(booking.UpdatedOn),
    groups: rule?.groups ?? [],
    label: booking.ResourceName ?? `resource ${booking.ResourceId}`,
  };
  if (options.deleted) return ended(base, 'deleted');
  if (booking.Cancelled) return ended(base, 'cancelled');
  // Nobody to let in: a grant that exists for a former customer ends.
  if (!booking.CoworkerId) return ended(base, 'no customer');
  const start = resolveNexudusInstant(booking.FromTime, booking.FromTimeLocal, ctx.timeZone);
  const end = resolveNexudusInstant(booking.ToTime, booking.ToTimeLocal, ctx.timeZone);
  // A tentative booking keeps its window (the grant waits for confirmation until it is over) but grants nothing.
  return {
    ...base,
    lifecycle: booking.Tentative ? 'tentative' : 'active',
    endedReason: null,
    window: { from: start - (rule?.leadMs ?? 0), until: end + (rule?.lagMs ?? 0) },
  };
}

/**
 * A pass opens from when the customer holds it until it is used up (a used pass stays valid to the
 * end of the local day it was used on), it expires, or it is deleted, whichever comes first.
 */
export function passSpec(
  pass: NexudusCoworkerTimePass,
  passType: NexudusTimePass | undefined,
  rule: AccessRule | undefined,
  ctx: SpecContext,
  options: { deleted?: boolean; customerName?: string | null; customerEmail?: string | null } = {},
): GrantSpec {
  const base = {
    kind: 'pass' as const,
    sourceId: pass.Id,
    customerId: pass.CoworkerId,
    customerName: options.customerName ?? null,
    customerEmail: options.customerEmail ?? null,
    version: versionOf(pass.UpdatedOn),
    groups: rule?.groups ?? [],
    label: passType?.Name ?? pass.TimePassName ?? `pass type ${pass.TimePassId}`,
  };
  if (options.deleted) return ended(base, 'deleted');
  const ends: number[] = [];
  const expire = pass.ExpireDate ? resolveNexudusInstant(pass.ExpireDate, stringField(pass, 'ExpireDateLocal'), ctx.timeZone) : undefined;
  if (expire !== undefined) ends.push(expire);
  const usedUp = pass.Used === true || (pass.RemainingUses !== null && pass.RemainingUses !== undefined && pass.RemainingUses <= 0);
  if (usedUp) {
    // Without a UsedDate, the last change of the record (when it was used up) is stable from one
    // reading to the next; "now" would move the end a day later every day.
    const usedAt = pass.UsedDate
      ? resolveNexudusInstant(pass.UsedDate, stringField(pass, 'UsedDateLocal'), ctx.timeZone)
      : pass.UpdatedOn
        ? parseUtcInstant(pass.UpdatedOn)
        : ctx.now;
    ends.push(endOfLocalDay(usedAt, ctx.timeZone));
  }
  const until = ends.length > 0 ? Math.min(...ends) + (rule?.lagMs ?? 0) : null;
  return { ...base, lifecycle: 'active', endedReason: null, window: { from: null, until } };
}

export function contractSpec(
  contract: NexudusContract,
  rule: AccessRule | undefined,
  ctx: SpecContext,
  options: { deleted?: boolean; label?: string } = {},
): GrantSpec {
  const base = {
    kind: 'contract' as const,
    sourceId: contract.Id,
    customerId: contract.CoworkerId,
    customerName: contract.CoworkerFullName ?? null,
    customerEmail: contract.CoworkerEmail ?? null,
    version: versionOf(contract.UpdatedOn),
    groups: rule?.groups ?? [],
    label: options.label ?? contract.TariffName ?? `desks ${contractDeskIds(contract).join(', ') || 'none'}`,
  };
  if (options.deleted) return ended(base, 'deleted');
  const start = resolveNexudusInstant(contract.StartDate, stringField(contract, 'StartDateLocal'), ctx.timeZone);
  let end: number | null = null;
  if (contract.CancellationDate) {
    end = resolveNexudusInstant(contract.CancellationDate, stringField(contract, 'CancellationDateLocal'), ctx.timeZone);
  } else if (contract.Cancelled) {
    // Cancelled without a date: cancelled when the record changed. A fixed instant, so no later
    // reading moves it (the time of reading would push the end on with every read).
    end = contract.UpdatedOn ? parseUtcInstant(contract.UpdatedOn) : ctx.now;
  }
  return {
    ...base,
    // Not yet activated, or suspended: nothing until it is active (a withdrawn cancellation, an
    // activation, arrive as a newer version of the record).
    lifecycle: contract.Active === false ? 'inactive' : 'active',
    endedReason: null,
    window: { from: start - (rule?.leadMs ?? 0), until: end === null ? null : end + (rule?.lagMs ?? 0) },
  };
}

function stringField(record: Record<string, unknown>, name: string): string | null {
  const value = record[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

/** True when the spec asks for access at some instant at or after `now`. */
export function grantsAnythingAfter(spec: GrantSpec, now: number): boolean {
  if (spec.lifecycle !== 'active' || !spec.window || spec.groups.length === 0) return false;
  return spec.window.until === null || spec.window.until > now;
}
