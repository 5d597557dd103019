/**
 * The comparisons reconcile makes, pure so they are tested on their own:
 *   - a Nexudus record's spec against the grant running for it (as visibility shows the grant);
 *   - a Kisi role assignment against the membership that should explain it.
 *
 * Grants are compared through their search attributes (customer, groups, window) instead of a
 * query per grant: one visibility listing answers for thousands of grants. Only what the
 * attributes cannot tell (tentative or not) costs a query, and only for grants still 'scheduled'.
 */
import type { GrantSpec } from '../domain/grant-spec';
import type { GrantKind } from '../domain/ids';
import { sameEffect } from '../domain/leases';
import type { MembershipStatus } from '../contract/legacy';

/** A running grant as visibility lists it. */
export interface RunningGrant {
  workflowId: string;
  kind: GrantKind;
  sourceId: number;
  customerId: number | null;
  customerEmail: string | null;
  groups: number[];
  state: string | null;
  startsAt: number | null;
  endsAt: number | null;
}

/**
 * Search attributes hold instants at whatever precision the visibility store keeps; a spec's
 * window is exact. Closer than this counts as the same instant.
 */
const INSTANT_TOLERANCE_MS = 1000;

function sameInstant(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.abs(a - b) < INSTANT_TOLERANCE_MS;
}

function sameGroups(a: number[], b: number[]): boolean {
  const x = [...new Set(a)].sort((p, q) => p - q);
  const y = [...new Set(b)].sort((p, q) => p - q);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Whether a record should have a grant now: it maps to Kisi and its window is not over. */
export function wantsGrant(spec: GrantSpec, now: number): boolean {
  if (spec.groups.length === 0 || spec.window === null) return false;
  if (spec.lifecycle === 'ended') return false;
  // A tentative booking's grant waits for the confirmation until its window is over.
  return spec.window.until === null || spec.window.until > now;
}

/** What delivering `spec` to its running grant would amount to, for the report. */
export function deliveryEffect(spec: GrantSpec, now: number): 'ended' | 'updated' {
  if (spec.lifecycle === 'ended') return 'ended';
  if (spec.window?.until !== null && spec.window?.until !== undefined && spec.window.until <= now) return 'ended';
  return 'updated';
}

export type GrantComparison =
  /** The grant already follows this state of the record. */
  | { verdict: 'same' }
  /** The grant must be told: `why` says what differs. */
  | { verdict: 'differs'; why: string }
  /** Attributes agree, but they cannot show whether the grant waits for a tentative booking: ask it. */
  | { verdict: 'ask-lifecycle' };

export function compareWithGrant(spec: GrantSpec, grant: RunningGrant): GrantComparison {
  if (spec.lifecycle === 'ended') return { verdict: 'differs', why: `record ${spec.endedReason ?? 'ended'}` };
  if (grant.customerId !== null && grant.customerId !== spec.customerId) return { verdict: 'differs', why: `customer ${grant.customerId} → ${spec.customerId}` };
  if (!sameGroups(grant.groups, spec.groups)) return { verdict: 'differs', why: `groups [${grant.groups.join(',')}] → [${spec.groups.join(',')}]` };
  const w = spec.window;
  if (w === null) return { verdict: 'differs', why: 'no window' };
  if (!sameInstant(grant.endsAt, w.until)) return { verdict: 'differs', why: `ends ${iso(grant.endsAt)} → ${iso(w.until)}` };
  // A window open at the start is published with the grant's start time: nothing to compare then.
  if (w.from !== null && !sameInstant(grant.startsAt, w.from)) return { verdict: 'differs', why: `starts ${iso(grant.startsAt)} → ${iso(w.from)}` };
  // A tentative grant grants nothing, so it stays 'scheduled'; an active one leaves 'scheduled' once
  // Kisi holds its window. 'granted' with a tentative record, or 'scheduled' either way, needs a look.
  if ((spec.lifecycle === 'tentative' || spec.lifecycle === 'inactive') && grant.state === 'granted') return { verdict: 'differs', why: `record became ${spec.lifecycle}` };
  if (grant.state === 'scheduled') return { verdict: 'ask-lifecycle' };
  return { verdict: 'same' };
}

const iso = (ms: number | null) => (ms === null ? 'open' : new Date(ms).toISOString());

// ------------------------------------------------------------------------------------------------
// Kisi

/** The part of a Kisi role assignment reconcile reads. */
export interface SeenAssignment {
  id: number;
  userId: number;
  groupId: number;
  validFrom: string | null;
  validUntil: string | null;
  createdAt: number | null;
}

function instant(text: string | null): number | null {
  if (text === null) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Whether Kisi holds the window the membership applied. The membership sends a start already
 * passed as open (null), so two starts both in the past are the same (sameEffect).
 */
export function assignmentMatches(seen: SeenAssignment, applied: NonNullable<MembershipStatus['assignment']>, now: number): boolean {
  return sameEffect({ from: instant(seen.validFrom), until: instant(seen.validUntil) }, { from: instant(applied.from), until: instant(applied.until) }, now);
}

export type AssignmentVerdict =
  | { verdict: 'explained' }
  | { verdict: 'skip'; why: string }
  /** The membership will take care of it when repaired (its own assignment is missing). */
  | { verdict: 'membership-repairs' }
  | { verdict: 'drift'; why: 'no-membership' | 'duplicate' | 'no-lease'; detail: string };

export interface MembershipView {
  workflowId: string;
  customerId: number;
  groupId: number;
  /** From the status query; null when the query failed (then nothing is concluded about it). */
  status: MembershipStatus | null;
}

/**
 * Judges one assignment of a mapped group. `membership` is the running membership of the
 * assignment's user and group, if any; `present` tells whether an assignment id exists in Kisi's
 * listing of that group.
 */
export function judgeAssignment(
  seen: SeenAssignment,
  membership: MembershipView | undefined,
  present: (assignmentId: number) => boolean,
  options: { now: number; graceMs: number },
): AssignmentVerdict {
  const { now, graceMs } = options;
  if (membership) {
    const s = membership.status;
    if (s === null) return { verdict: 'skip', why: `${membership.workflowId} did not answer its status query` };
    if (s.assignment?.id === seen.id) return { verdict: 'explained' };
    if (s.needsAttention) return { verdict: 'skip', why: `${membership.workflowId} needs attention` };
    if (s.assignment === null) {
      // Leases but nothing applied yet: the membership is writing Kisi right now.
      if (Object.keys(s.leases).length > 0) return { verdict: 'skip', why: `${membership.workflowId} is applying its leases` };
    } else if (!present(s.assignment.id)) {
      return { verdict: 'membership-repairs' };
    }
  }
  // Memberships that are starting write Kisi before visibility lists them: judge only older ones.
  if (seen.createdAt !== null && now - seen.createdAt < graceMs) return { verdict: 'skip', why: `created ${Math.round((now - seen.createdAt) / 1000)} s ago` };
  if (!membership) return { verdict: 'drift', why: 'no-membership', detail: 'no running membership for this user and group' };
  const s = membership.status!;
  if (s.assignment === null) return { verdict: 'drift', why: 'no-lease', detail: `${membership.workflowId} holds no lease that needs access` };
  return { verdict: 'drift', why: 'duplicate', detail: `extra next to assignment ${s.assignment.id} applied by ${membership.workflowId}` };
}
