/**
 * Who a Nexudus customer is for Kisi: the facts that decide which Kisi user holds their access and
 * whether they may have any. Pure and workflow-safe: grants, the customer workflow, the sync and
 * reconcile all decide with these functions, so one rule holds everywhere.
 *
 * Kisi identifies a person by email (unique in an organization, and never changed: a new email
 * needs a new Kisi user), so two Nexudus customers sharing an email are one Kisi user, and a
 * customer whose email changes moves to another Kisi user.
 */
import type { NexudusCoworker } from './nexudus-entities';
import { parseUtcInstant } from './time';

/** What Nexudus says about a customer at one version of their record. */
export interface CustomerFacts {
  customerId: number;
  /** Normalized (trimmed, lower case); null when Nexudus has none (Kisi cannot create a user then). */
  email: string | null;
  name: string | null;
  /** `Active: false` (suspended or deactivated): no door at all, at once, whatever they bought. */
  active: boolean;
  /** The record's UpdatedOn (ms): older facts never replace newer ones. Null when unknown. */
  version: number | null;
}

/** The one way an email is compared and used as Kisi's key. */
export function normalizeEmail(email: string | null | undefined): string | null {
  const trimmed = email?.trim().toLowerCase();
  return trimmed ? trimmed : null;
}

/** The facts of a customer record as read from Nexudus (a missing `Active` reads as active). */
export function customerFacts(coworker: Pick<NexudusCoworker, 'Id' | 'Email' | 'FullName' | 'Active' | 'UpdatedOn'>): CustomerFacts {
  let version: number | null = null;
  try {
    version = coworker.UpdatedOn ? parseUtcInstant(coworker.UpdatedOn) : null;
  } catch {
    version = null; // an unreadable UpdatedOn orders like a missing one
  }
  return {
    customerId: coworker.Id,
    email: normalizeEmail(coworker.Email),
    name: coworker.FullName?.trim() || null,
    active: coworker.Active !== false,
    version,
  };
}

/**
 * Whether the customer may open any door the product gives. The rule is this one function:
 * grants, card assignment, the customer sync and reconcile all ask it.
 */
export function mayEnter(facts: Pick<CustomerFacts, 'active'>): boolean {
  return facts.active;
}

/**
 * Whether `next` may replace `known`: newer or equal versions win (a re-read of the same version
 * is harmless); facts without a version replace only facts without one.
 */
export function newerFacts(known: CustomerFacts | null, next: CustomerFacts): boolean {
  if (known === null) return true;
  if (known.version === null || next.version === null) return next.version !== null || known.version === null;
  return next.version >= known.version;
}

/** Whether two sets of facts put the customer on a different Kisi user or change their right to enter. */
export function identityChanged(a: CustomerFacts | null, b: CustomerFacts): boolean {
  return a === null || a.email !== b.email || a.active !== b.active;
}
