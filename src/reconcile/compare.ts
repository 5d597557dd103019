/**
 * The comparisons reconcile makes, pure so they are tested on their own:
 *   - a Nexudus record's spec against the grant running for it (as visibility shows the grant);
 *   - what a membership holds in Kisi (its own assignment, or one it relies on) against Kisi;
 *   - a Kisi role assignment against the memberships that could explain it.
 *
 * Grants are compared through their search attributes (customer, groups, window) instead of a
 * query per grant: one visibility listing answers for thousands of grants. Only what the
 * attributes cannot tell (tentative or not) costs a query, and only for grants still 'scheduled'.
 */
import type { GrantSpec } from '../domain/grant-spec';
import type { GrantKind } from '../domain/ids';
import type { MembershipStatus as LegacyMembershipStatus } from '../contract/legacy';
import type { MembershipStatus } from '../contract/membership';
import { covers } from '../domain/membership-ledger';
import { liveSpans } from '../domain/leases';

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

/**
 * What a membership holds in Kisi. `own`: an assignment it created (only it moves or deletes it;
 * a legacy membership's applied assignment is always its own). `relied`: one it did not create
 * that already gives its leases' access, left exactly as it is.
 */
export interface HeldAssignment {
  kind: 'own' | 'relied';
  assignmentId: number;
  /** ISO instants of the window: what the membership wrote (own), or what Kisi held when it chose to rely on it. */
  from: string | null;
  until: string | null;
}

/** A membership's state as reconcile needs it, from either status query (current or legacy). */
export interface MembershipState {
  leases: Record<string, { from: string | null; until: string | null; requestSeq: number }>;
  held: HeldAssignment | null;
  needsAttention: boolean;
  lastError: string | null;
}

export interface MembershipView {
  workflowId: string;
  /** Keyed by customer (membership-<customer>-<group>, workflows/legacy/): legacy query and signals. */
  legacy: boolean;
  groupId: number;
  /** The Kisi user it writes for: from its id (current), from its status (legacy; null before its first lease). */
  kisiUserId: number | null;
  /** Null when the status query failed (then nothing is concluded about it). */
  state: MembershipState | null;
}

export function stateOfCurrent(s: MembershipStatus): MembershipState {
  const h = s.holding;
  return {
    leases: Object.fromEntries(Object.entries(s.leases).map(([id, l]) => [id, { from: l.from, until: l.until, requestSeq: l.requestSeq }])),
    held: h ? { kind: h.kind, assignmentId: h.assignmentId, from: h.from, until: h.until } : null,
    needsAttention: s.needsAttention,
    lastError: s.lastError,
  };
}

export function stateOfLegacy(s: LegacyMembershipStatus): MembershipState {
  const a = s.assignment;
  return {
    leases: Object.fromEntries(Object.entries(s.leases).map(([id, l]) => [id, { from: l.from, until: l.until, requestSeq: heldRequestSeq(l) }])),
    held: a ? { kind: 'own', assignmentId: a.id, from: a.from, until: a.until } : null,
    needsAttention: s.needsAttention,
    lastError: s.lastError,
  };
}

/** The number a lease is held with; 0 when a worker from before it was reported answered. */
function heldRequestSeq(lease: { requestSeq?: unknown }): number {
  return typeof lease.requestSeq === 'number' && Number.isFinite(lease.requestSeq) ? lease.requestSeq : 0;
}

function instant(text: string | null): number | null {
  if (text === null) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

const windowOf = (a: { validFrom: string | null; validUntil: string | null }) => ({ from: instant(a.validFrom), until: instant(a.validUntil) });
const second = (ms: number | null) => (ms === null ? null : Math.floor(ms / 1000));

/**
 * Whether Kisi holds the window a membership wrote. Kisi keeps whole seconds, and the membership
 * sends a start already passed as open (null), so two starts both in the past are the same.
 */
export function holdsWindow(seen: Pick<SeenAssignment, 'validFrom' | 'validUntil'>, written: { from: string | null; until: string | null }, now: number): boolean {
  const k = windowOf(seen);
  const w = { from: instant(written.from), until: instant(written.until) };
  if (second(k.until) !== second(w.until)) return false;
  if (second(k.from) === second(w.from)) return true;
  return (k.from === null || k.from <= now) && (w.from === null || w.from <= now);
}

/** The span of leases Kisi should serve now (the earliest live one), as instants; null when none is live. */
export function servedSpan(state: MembershipState, now: number): { from: number | null; until: number | null } | null {
  const leases = Object.fromEntries(Object.entries(state.leases).map(([id, l]) => [id, { window: { from: instant(l.from), until: instant(l.until) } }]));
  const span = liveSpans(leases, now)[0];
  return span ? { from: span.from, until: span.until } : null;
}

export type HoldingVerdict = { verdict: 'ok' } | { verdict: 'repair'; why: string };

/**
 * Judges what a membership holds against Kisi (`seen`: the held assignment as Kisi lists it, or
 * undefined when Kisi has no such assignment). Own: it must be there with the window written.
 * Relied on: it must be there and still cover the leases' span (the membership then writes its own).
 */
export function judgeHolding(held: HeldAssignment, state: MembershipState, seen: SeenAssignment | undefined, now: number): HoldingVerdict {
  if (held.kind === 'own') {
    if (!seen) return { verdict: 'repair', why: `its own Kisi assignment ${held.assignmentId} is missing` };
    if (!holdsWindow(seen, held, now)) return { verdict: 'repair', why: `Kisi holds ${seen.validFrom ?? 'open'} → ${seen.validUntil ?? 'open'} instead of ${held.from ?? 'open'} → ${held.until ?? 'open'} on its own assignment ${held.assignmentId}` };
    return { verdict: 'ok' };
  }
  if (!seen) return { verdict: 'repair', why: `the Kisi assignment ${held.assignmentId} it relies on (not ours) is gone` };
  const span = servedSpan(state, now);
  if (span && !covers(windowOf(seen), span, now)) {
    return { verdict: 'repair', why: `the Kisi assignment ${held.assignmentId} it relies on (not ours) now holds ${seen.validFrom ?? 'open'} → ${seen.validUntil ?? 'open'}, less than its leases need (${iso(span.from)} → ${iso(span.until)})` };
  }
  return { verdict: 'ok' };
}

export type AssignmentVerdict =
  | { verdict: 'explained'; by: string }
  | { verdict: 'skip'; why: string }
  | { verdict: 'drift'; why: 'no-membership' | 'no-lease' | 'extra'; detail: string };

/**
 * Judges one assignment of a mapped group. `holders`: the memberships that hold it (own or relied
 * on); `sameUser`: the running memberships of the assignment's user and group (current and legacy);
 * `repairing`: memberships asked to compare with Kisi again this run (they may yet rely on it).
 * Nobody holding it makes it drift, unless it is too young to judge or a membership of that user
 * and group is in flux (it may be about to rely on it).
 */
export function judgeAssignment(
  seen: SeenAssignment,
  holders: MembershipView[],
  sameUser: MembershipView[],
  repairing: ReadonlySet<string>,
  options: { now: number; graceMs: number },
): AssignmentVerdict {
  const { now, graceMs } = options;
  if (holders.length > 0) return { verdict: 'explained', by: holders[0]!.workflowId };
  for (const m of sameUser) {
    const s = m.state;
    if (s === null) return { verdict: 'skip', why: `${m.workflowId} did not answer its status query` };
    if (s.needsAttention) return { verdict: 'skip', why: `${m.workflowId} needs attention` };
    if (repairing.has(m.workflowId)) return { verdict: 'skip', why: `${m.workflowId} compares with Kisi again now` };
    if (s.held === null && servedSpan(s, now) !== null) return { verdict: 'skip', why: `${m.workflowId} is applying its leases` };
  }
  // Memberships that are starting write Kisi before visibility lists them: judge only older ones.
  if (seen.createdAt !== null && now - seen.createdAt < graceMs) return { verdict: 'skip', why: `created ${Math.round((now - seen.createdAt) / 1000)} s ago` };
  const holding = sameUser.find((m) => m.state?.held);
  if (holding) {
    const h = holding.state!.held!;
    return { verdict: 'drift', why: 'extra', detail: `extra next to assignment ${h.assignmentId} ${h.kind === 'own' ? 'held' : 'relied on'} by ${holding.workflowId}` };
  }
  if (sameUser.length > 0) return { verdict: 'drift', why: 'no-lease', detail: `${sameUser.map((m) => m.workflowId).join(', ')} holds no lease that needs access` };
  return { verdict: 'drift', why: 'no-membership', detail: 'no running membership for this user and group' };
}
