/**
 * The grant side of the lease protocol, as plain code: what one grant (a booking, pass or contract)
 * wants from Kisi and which leases it holds on memberships, with every transition. The grant
 * workflow (workflows/grant.ts) only drives it: signals and activity results go in, the lease
 * requests and returns it plans go out. Pure and deterministic (time is passed in).
 *
 * Rules it keeps:
 *   - Access follows the person: leases sit on the memberships of the Kisi user of the customer's
 *     current email; when the email changes, the new user's leases are asked for first and the old
 *     ones given back once those are applied (no gap longer than the Kisi writes).
 *   - An inactive customer holds nothing, at once; reactivated, they get back what is still wanted.
 *   - An operator's cancellation holds until a newer version of the record (or an operator's retry).
 *   - The newest record wins; deletion is final.
 */
import type { GrantState, GrantStatus, GroupLeaseState } from './grant-state';
import type { LeaseReturn, LeaseUpdate } from './lease-messages';
import { mayEnter, newerFacts, normalizeEmail, type CustomerFacts } from './customer';
import type { AccessWindow, GrantSpec } from './grant-spec';
import { legacyMembershipWorkflowId, membershipWorkflowId, type GrantKind } from './ids';
import { sameWindow } from './leases';
import { grantAttributeValues, type GrantAttributeValues } from './search-attributes';

export const AUTO_RETRY_AFTER_MS = 10 * 60_000;

/** Who the grant's customer is in Kisi, as last resolved. */
export interface Person {
  /** The Nexudus customer it was resolved for (a booking can move to another customer). */
  customerId: number;
  kisiUserId: number;
  /** Normalized email of that Kisi user. */
  email: string;
  /** What the CustomerEmail search attribute holds for it (the email, or its keyed hash). */
  emailKey: string;
  name: string | null;
  /** The facts' version the resolution used (UpdatedOn of the customer record). */
  version: number | null;
}

export interface GrantLease {
  groupId: number;
  /** Null for a legacy membership (keyed by customer), which the grant only gives back. */
  kisiUserId: number | null;
  /** The customer a legacy membership is keyed by. */
  legacyCustomerId?: number;
  state: GroupLeaseState;
  window: AccessWindow | null;
  requestSeq: number;
  error: string | null;
}

export interface GrantData {
  spec: GrantSpec;
  person: Person | null;
  /** Newest customer facts heard (customer workflow): email and active state override `person`. */
  facts: CustomerFacts | null;
  /** A spec email the last fresh resolution found wrong (Nexudus said otherwise): not chased again. */
  settledSpecEmail: string | null;
  /** Keyed by membership workflow id. */
  leases: Record<string, GrantLease>;
  requestSeq: number;
  /** The last lease request failed: no new request until a retry (operator, or automatic at retryAt). */
  acquireError: { error: string; retryAt: number | null } | null;
  /** Set by a retry: failed leases are asked for again and the customer is looked up afresh. */
  retrying: boolean;
  grantedAt: number | null;
  revokedAt: number | null;
  published: GrantAttributeValues | null;
  openStart: number;
  operatorCancel: { at: number; version: number | null; spec: GrantSpec } | null;
  finished: boolean;
}

/** One lease request to send (the activity resolves the Kisi user first when `resolve`). */
export interface RequestPlan {
  requestSeq: number;
  window: AccessWindow;
  groups: Array<{ groupId: number; ownWrite: boolean }>;
  /** The Kisi user is not known or no longer matches the customer's email: find or create it. */
  resolve: boolean;
  /** Ignore caches (operator retry, a stale person). */
  fresh: boolean;
  person: Person | null;
  facts: CustomerFacts | null;
}

export interface RequestResult {
  person: Person | null;
  /** False when Nexudus says the customer may not enter (inactive, deleted). */
  active: boolean;
  facts: CustomerFacts | null;
  leases: Array<{ groupId: number; membershipId: string }>;
}

export interface ReturnPlan {
  membershipId: string;
  legacy: boolean;
  ret: LeaseReturn;
}

/** A membership's update as the ledger takes it: legacy memberships' notices carry no Kisi user. */
export type LedgerLeaseUpdate = Omit<LeaseUpdate, 'kisiUserId'> & { kisiUserId: number | null; legacyCustomerId?: number };

const endOf = (w: AccessWindow) => (w.until === null ? Infinity : w.until);

/** Whether `next` may replace `current`: deletion is final, and an older record never wins. */
export function supersedes(current: GrantSpec, next: GrantSpec): boolean {
  if (next.kind !== current.kind || next.sourceId !== current.sourceId) return false;
  if (current.lifecycle === 'ended') return false;
  if (next.lifecycle === 'ended') return true;
  if (current.version !== null && next.version !== null) return next.version >= current.version;
  return true;
}

export function windowOver(spec: GrantSpec, now: number): boolean {
  if (spec.lifecycle === 'ended') return true;
  const until = spec.window?.until;
  return until !== null && until !== undefined && until <= now;
}

/** Whether the record asks for any access at `now` or later (groups, active, a window not over). */
function recordWants(spec: GrantSpec, now: number): boolean {
  const w = spec.window;
  if (spec.lifecycle !== 'active' || !w || spec.groups.length === 0) return false;
  if (w.until !== null && (w.until <= now || (w.from !== null && w.until <= w.from))) return false;
  return true;
}

/** Whether a version of the record lifts an operator's cancellation made at `cancel`. */
export function liftsCancellation(cancel: { version: number | null; spec: GrantSpec }, next: GrantSpec): boolean {
  if (next.version !== null && cancel.version !== null) return next.version > cancel.version;
  if (next.version !== null) return true; // the record now has a version it had not: it changed
  // No versions to compare: only a different record (window, groups, state) counts as a change.
  const a = cancel.spec;
  return a.lifecycle !== next.lifecycle || !sameWindow(a.window, next.window) || a.groups.join(',') !== next.groups.join(',');
}

export class GrantLedger {
  constructor(
    readonly grantId: string,
    readonly kind: GrantKind,
    readonly data: GrantData,
  ) {}

  static fresh(grantId: string, kind: GrantKind, spec: GrantSpec, firstRequestSeq: number, openStart: number): GrantLedger {
    return new GrantLedger(grantId, kind, {
      spec,
      person: null,
      facts: null,
      settledSpecEmail: null,
      leases: {},
      requestSeq: firstRequestSeq,
      acquireError: null,
      retrying: false,
      grantedAt: null,
      revokedAt: null,
      // The starter set these attributes with the first spec (see grantAttributeValues).
      published: grantAttributeValues(spec, 'scheduled', openStart),
      openStart,
      operatorCancel: null,
      finished: false,
    });
  }

  get spec(): GrantSpec {
    return this.data.spec;
  }

  // ---- inputs ----------------------------------------------------------------------------------

  /** A newer state of the record. False when it does not replace the one held. */
  sourceChanged(next: GrantSpec): boolean {
    const d = this.data;
    if (!supersedes(d.spec, next)) return false;
    d.spec = next;
    if (d.operatorCancel && liftsCancellation(d.operatorCancel, next)) d.operatorCancel = null;
    // New facts (an email added, a group fixed) deserve a new attempt without an operator.
    if (d.acquireError) {
      d.acquireError = null;
      d.retrying = true;
    }
    return true;
  }

  /** The customer workflow's facts. False when older than what the grant knows. */
  customerChanged(facts: CustomerFacts): boolean {
    const d = this.data;
    if (facts.customerId !== d.spec.customerId) return false;
    if (!newerFacts(d.facts, facts)) return false;
    if (d.person && d.person.version !== null && facts.version !== null && facts.version < d.person.version) return false;
    d.facts = facts;
    if (d.acquireError) {
      d.acquireError = null;
      d.retrying = true;
    }
    return true;
  }

  /** An operator's (or the automatic) retry: look everything up afresh and ask again for what failed. */
  retry(): void {
    const d = this.data;
    d.acquireError = null;
    d.retrying = true;
    d.operatorCancel = null;
    for (const lease of Object.values(d.leases)) if (lease.state === 'release-failed') lease.state = 'failed';
  }

  /** The retried read of the record (a newer spec, when it supersedes). */
  refreshed(spec: GrantSpec): void {
    if (supersedes(this.data.spec, spec)) this.data.spec = spec;
  }

  refreshFailed(error: string, retryAt: number | null): void {
    this.data.acquireError = { error, retryAt };
    this.data.retrying = false;
  }

  /** An operator cancelled the grant: give everything back and hold until the record changes. */
  operatorCancelled(now: number): void {
    this.data.operatorCancel = { at: now, version: this.data.spec.version, spec: this.data.spec };
  }

  /**
   * An update from a membership. Legacy memberships (keyed by customer) send theirs in the legacy
   * shape; the workflow maps them here with `kisiUserId: null` and the legacy membership id.
   * `keepEarlyAnswer: false` replays a run from before early answers were kept (see
   * answersUnrecordedRequest).
   */
  leaseUpdate(update: LedgerLeaseUpdate, options: { keepEarlyAnswer?: boolean } = {}): void {
    if (update.leaseId !== this.grantId) return;
    const d = this.data;
    if (options.keepEarlyAnswer !== false && this.answersUnrecordedRequest(update)) {
      // The membership answered a request whose activity result is still on its way: record the
      // answer as the lease of that request, which `requested` then keeps. It is told only once.
      d.leases[update.membershipId] = {
        groupId: update.groupId,
        kisiUserId: update.kisiUserId,
        state: update.status === 'applied' ? 'applied' : update.status === 'failed' ? 'failed' : 'requested',
        window: update.window,
        requestSeq: update.requestSeq,
        error: update.status === 'failed' ? update.error : null,
      };
      return;
    }
    const lease = d.leases[update.membershipId];
    if (!lease) {
      // A lease this grant does not know it holds yet (the request's answer is on its way) or any
      // more (a request whose answer was lost): recorded, so it is kept if wanted, else given back.
      if (update.status === 'applied' || update.status === 'waiting') {
        d.leases[update.membershipId] = {
          groupId: update.groupId,
          kisiUserId: update.kisiUserId,
          ...(update.legacyCustomerId !== undefined ? { legacyCustomerId: update.legacyCustomerId } : {}),
          state: update.status === 'applied' ? 'applied' : 'requested',
          window: update.window,
          requestSeq: update.requestSeq,
          error: null,
        };
      }
      return;
    }
    if (update.requestSeq < lease.requestSeq) return;
    const sameW = sameWindow(update.window, lease.window);
    if (update.status === 'applied' && (lease.state === 'requested' || lease.state === 'failed') && sameW) {
      // From failed too: the membership's automatic retry succeeded, the grant is fine again.
      lease.state = 'applied';
      lease.error = null;
    } else if (update.status === 'waiting' && lease.state === 'applied' && sameW) {
      lease.state = 'requested';
    } else if (update.status === 'failed') {
      lease.state = lease.state === 'releasing' || lease.state === 'release-failed' ? 'release-failed' : lease.state === 'released' ? 'released' : 'failed';
      if (lease.state !== 'released') lease.error = update.error;
    } else if (update.status === 'released' && (lease.state === 'releasing' || lease.state === 'release-failed')) {
      lease.state = 'released';
      lease.error = null;
    }
  }

  /**
   * Whether `update` answers a lease request this grant sent but has not recorded (the request
   * activity's result is on its way): a failure of a lease it does not know yet, or any answer
   * with a newer request number than the lease it knows (the window moved, a retry). Grants that
   * ran before this rule dropped such a failure and let `requested` overwrite such an answer.
   */
  answersUnrecordedRequest(update: LedgerLeaseUpdate): boolean {
    if (update.leaseId !== this.grantId || update.kisiUserId === null || update.window === null || update.status === 'released') return false;
    const lease = this.data.leases[update.membershipId];
    if (!lease) return update.status === 'failed'; // applied and waiting were always recorded
    return update.requestSeq > lease.requestSeq;
  }

  // ---- decisions -------------------------------------------------------------------------------

  /** Whether the customer may enter, by the newest facts known. */
  customerMayEnter(): boolean {
    const d = this.data;
    if (d.facts) return mayEnter(d.facts);
    return true;
  }

  /** The Kisi groups the grant wants at `now` (none while cancelled, suspended or over). */
  wantedGroups(now: number): number[] {
    const d = this.data;
    if (d.operatorCancel || !recordWants(d.spec, now) || !this.customerMayEnter()) return [];
    return [...new Set(d.spec.groups)];
  }

  /** The email the customer should be known by in Kisi, from the newest source; null when unknown. */
  private expectedEmail(): string | null {
    const d = this.data;
    if (d.facts) return d.facts.email;
    const fromSpec = normalizeEmail(d.spec.customerEmail);
    if (fromSpec !== null && fromSpec !== d.settledSpecEmail) return fromSpec;
    return null;
  }

  /** The person is unknown, or no longer the Kisi user of the customer's email. */
  personStale(): boolean {
    const d = this.data;
    if (d.person === null) return true;
    if (d.spec.customerId !== d.person.customerId) return true;
    const expected = this.expectedEmail();
    return expected !== null && expected !== d.person.email;
  }

  /** Membership id of each wanted group, when the person is known and current. */
  private wantedLeaseIds(now: number): Map<string, number> | null {
    const groups = this.wantedGroups(now);
    const wanted = new Map<string, number>();
    if (groups.length === 0) return wanted;
    if (this.personStale()) return null;
    for (const g of groups) wanted.set(membershipWorkflowId(this.data.person!.kisiUserId, g), g);
    return wanted;
  }

  /** The lease request to send now, if any (also increments the request number). */
  requestPlan(now: number): RequestPlan | null {
    const d = this.data;
    if (d.acquireError || !d.spec.window) return null;
    const groups = this.wantedGroups(now);
    if (groups.length === 0) return null;
    const wanted = this.wantedLeaseIds(now);
    const legacyGroups = new Set(Object.values(d.leases).filter((l) => l.kisiUserId === null && (l.state === 'requested' || l.state === 'applied')).map((l) => l.groupId));
    let missing: number[];
    let resolve = false;
    if (wanted === null) {
      missing = groups;
      resolve = true;
    } else {
      missing = [...wanted].filter(([id]) => {
        const lease = d.leases[id];
        if (!lease || lease.state === 'released' || lease.state === 'releasing') return true;
        if (lease.state === 'failed' && d.retrying) return true;
        return !sameWindow(lease.window, d.spec.window);
      }).map(([, g]) => g);
      if (d.retrying && missing.length > 0) resolve = true;
    }
    if (missing.length === 0) {
      d.retrying = false;
      return null;
    }
    d.requestSeq++;
    const plan: RequestPlan = {
      requestSeq: d.requestSeq,
      window: d.spec.window,
      groups: missing.map((groupId) => ({ groupId, ownWrite: legacyGroups.has(groupId) })),
      resolve,
      fresh: d.retrying || (d.person !== null && this.personStale()),
      person: resolve ? null : d.person,
      facts: d.facts,
    };
    d.retrying = false;
    return plan;
  }

  /** The request's answer: who the customer is in Kisi and the leases now asked for. */
  requested(plan: RequestPlan, result: RequestResult): void {
    const d = this.data;
    if (result.facts && newerFacts(d.facts, result.facts)) d.facts = result.facts;
    if (!result.active) {
      // Nexudus says the customer may not enter now (inactive, or gone): that holds until newer facts.
      const base = result.facts ?? d.facts ?? { customerId: d.spec.customerId, email: null, name: null, active: false, version: null };
      d.facts = { ...base, active: false };
      return;
    }
    if (result.person) {
      d.person = result.person;
      // The spec's email disagreed with what Nexudus says now: do not chase it again.
      const specEmail = normalizeEmail(d.spec.customerEmail);
      if (plan.fresh && specEmail !== null && specEmail !== result.person.email) d.settledSpecEmail = specEmail;
    }
    for (const { groupId, membershipId } of result.leases) {
      // The membership may answer before this activity returns: keep what it said.
      const known = d.leases[membershipId];
      if (known && known.requestSeq === plan.requestSeq && sameWindow(known.window, plan.window)) continue;
      d.leases[membershipId] = { groupId, kisiUserId: d.person?.kisiUserId ?? null, state: 'requested', window: plan.window, requestSeq: plan.requestSeq, error: null };
    }
  }

  requestFailed(error: string, retryAt: number | null): void {
    this.data.acquireError = { error, retryAt };
  }

  /**
   * Leases to give back now. One whose group is still wanted from another membership (the person
   * moved to another Kisi user, or a legacy membership is being left) waits until that one is
   * applied or has failed, so the door never closes in between.
   */
  returnPlans(now: number): ReturnPlan[] {
    const d = this.data;
    const wanted = this.wantedLeaseIds(now);
    const wantedGroups = new Set(this.wantedGroups(now));
    const natural = windowOver(d.spec, now) && d.spec.lifecycle !== 'ended' && !d.operatorCancel;
    const plans: ReturnPlan[] = [];
    for (const [id, lease] of Object.entries(d.leases)) {
      if (lease.state !== 'requested' && lease.state !== 'applied' && lease.state !== 'failed') continue;
      if (wanted !== null && wanted.has(id)) continue;
      if (wantedGroups.has(lease.groupId)) {
        // Still wanted, from another membership: keep it until that one gives the access.
        if (wanted === null) continue; // who the person is in Kisi is being looked up
        const replacement = [...wanted].find(([, g]) => g === lease.groupId)?.[0];
        const r = replacement ? d.leases[replacement] : undefined;
        if (!r || (r.state !== 'applied' && r.state !== 'failed')) continue;
      }
      // Ended by its window with Kisi holding exactly that window: Kisi closed the door itself.
      const confirm = !(natural && lease.state === 'applied' && sameWindow(lease.window, d.spec.window));
      lease.state = confirm ? 'releasing' : 'released';
      plans.push({ membershipId: id, legacy: lease.kisiUserId === null, ret: { leaseId: this.grantId, requestSeq: lease.requestSeq, confirm } });
    }
    return plans;
  }

  /** A return could not be delivered (the membership is gone): nothing is held there. */
  returnUndeliverable(membershipId: string): void {
    const lease = this.data.leases[membershipId];
    if (lease) lease.state = 'released';
  }

  /** Whether everything is given back (or confirmed gone). */
  allReturned(): boolean {
    return Object.values(this.data.leases).every((l) => l.state === 'released');
  }

  /** Whether nothing is held any more or still being given back (a cancellation's wait). */
  nothingHeld(): boolean {
    return Object.values(this.data.leases).every((l) => l.state === 'released' || l.state === 'release-failed');
  }

  /** The grant is over: its record ended or its window passed (or it waits, cancelled, for a window that passed), and nothing is held. */
  done(now: number): boolean {
    return windowOver(this.data.spec, now) && this.allReturned();
  }

  /** When to wake without a signal: the end of the window, the automatic retry. */
  nextWake(now: number): number | undefined {
    const d = this.data;
    const times: number[] = [];
    const until = d.spec.window?.until;
    if (!windowOver(d.spec, now) && until !== null && until !== undefined) times.push(until);
    if (d.acquireError?.retryAt != null) times.push(d.acquireError.retryAt);
    return times.length ? Math.min(...times) : undefined;
  }

  /** The automatic retry is due. */
  autoRetryDue(now: number): boolean {
    const at = this.data.acquireError?.retryAt;
    return at !== null && at !== undefined && at <= now;
  }

  state(now: number): GrantState {
    const d = this.data;
    if (d.operatorCancel) return 'cancelled';
    if (d.finished) return 'revoked';
    const leases = Object.values(d.leases);
    if (d.acquireError || leases.some((l) => l.state === 'failed' || l.state === 'release-failed')) return 'needs-attention';
    const holdsAccess = leases.some((l) => l.state === 'applied' || l.state === 'releasing');
    const groups = this.wantedGroups(now);
    if (groups.length > 0) {
      const wanted = this.wantedLeaseIds(now);
      if (wanted === null) return holdsAccess ? 'granted' : 'scheduled';
      return [...wanted.keys()].every((id) => d.leases[id]?.state === 'applied') ? 'granted' : 'scheduled';
    }
    // Nothing wanted: access stays until Kisi confirms the removal.
    if (holdsAccess) return 'granted';
    if (recordWants(d.spec, now) && !this.customerMayEnter()) return 'suspended';
    return 'scheduled';
  }

  /** The search attribute values for `state` (the email as the person's key once known). */
  attributes(state: GrantState): GrantAttributeValues {
    const d = this.data;
    const values = grantAttributeValues(d.spec, state, d.openStart);
    return { ...values, customerEmail: d.person?.emailKey ?? values.customerEmail };
  }

  lastError(): string | null {
    const d = this.data;
    return d.acquireError?.error ?? Object.values(d.leases).find((l) => l.error)?.error ?? null;
  }

  status(now: number): GrantStatus {
    const d = this.data;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    const spec = d.spec;
    const byGroup: Record<string, GroupLeaseState> = {};
    // The lease of the current person first: an old one being given back shows only if it is the only one.
    for (const l of Object.values(d.leases)) if (byGroup[l.groupId] === undefined || l.kisiUserId === d.person?.kisiUserId) byGroup[String(l.groupId)] = l.state;
    return {
      workflowId: this.grantId,
      kind: this.kind,
      sourceId: spec.sourceId,
      customerId: spec.customerId,
      customerEmail: d.person?.email ?? d.facts?.email ?? normalizeEmail(spec.customerEmail),
      label: spec.label,
      state: this.state(now),
      lifecycle: spec.lifecycle,
      endedReason: spec.endedReason,
      window: spec.window ? { from: iso(spec.window.from), until: iso(spec.window.until) } : null,
      groups: [...spec.groups],
      groupStates: byGroup,
      kisiUserId: d.person?.kisiUserId ?? null,
      grantedAt: iso(d.grantedAt),
      revokedAt: iso(d.revokedAt),
      lastError: this.lastError(),
      sourceVersion: iso(spec.version),
      customerActive: this.customerMayEnter(),
      memberships: Object.fromEntries(Object.entries(d.leases).map(([id, l]) => [id, l.state])),
      operatorCancelled: d.operatorCancel ? { at: iso(d.operatorCancel.at)!, sourceVersion: iso(d.operatorCancel.version) } : null,
    };
  }
}

/** The legacy membership id a legacy update names. */
export function legacyLeaseId(customerId: number, groupId: number): string {
  return legacyMembershipWorkflowId(customerId, groupId);
}

/** Whether a window is over or empty at `now` (a lease for it grants nothing more). */
export function windowEnded(w: AccessWindow | null, now: number): boolean {
  return w === null || endOf(w) <= now;
}
