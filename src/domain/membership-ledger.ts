/**
 * The membership side of the lease protocol, as plain code: the state of one Kisi user's access to
 * one Kisi group (who holds leases, what Kisi holds for them) and every transition of it. The
 * membership workflow (workflows/membership.ts) only drives it: it feeds in signals and activity
 * results, runs the Kisi sync this ledger plans, and sends the updates it lists. Pure and
 * deterministic (time is always passed in), so it is tested on its own, table by table and with
 * randomized orders of events.
 *
 * Rules it keeps:
 *   - Kisi serves the earliest live span of touching leases (see leases.ts); later spans follow.
 *   - Only assignments this membership created are moved or deleted (`holding.kind === 'own'`). One
 *     it did not create that already gives the access is relied on and never touched.
 *   - Every assignment it writes ends at most `maxValidityMs` ahead and is renewed when less than a
 *     third of that is left, so access outlives our side by at most KISI_MAX_VALIDITY.
 *   - A request older than the latest request or return of its lease is ignored (late copies).
 */
import type { KisiHolding, LeaseRequest, LeaseReturn, LeaseUpdate, LeaseUpdateStatus, MembershipStatus } from './lease-messages';
import type { AccessWindow } from './grant-spec';
import { membershipWorkflowId } from './ids';
import { liveSpans, sameEffect, sameWindow, type Span } from './leases';

export interface HeldLease {
  customerId: number;
  window: AccessWindow;
  requestSeq: number;
  maxValidityMs: number;
  ownWrite: boolean;
  /** What the holder was last told, so each change is announced once. */
  notified: { status: Exclude<LeaseUpdateStatus, 'released'>; window: AccessWindow } | null;
}

export interface PendingReturn {
  requestSeq: number;
  confirm: boolean;
  /** A failure was already reported for it (reported once until a retry). */
  failureReported: boolean;
}

export interface MembershipData {
  kisiUserId: number;
  groupId: number;
  leases: Record<string, HeldLease>;
  /** Highest request number seen in a return, per lease: older requests (late copies) are ignored. */
  returnedSeq: Record<string, number>;
  /** Returns not yet reflected in Kisi and confirmed to their holder. */
  pendingReturns: Record<string, PendingReturn>;
  holding: KisiHolding | null;
  /** Kisi refused or stayed away: no writes until a verify or the automatic retry at `retryAt`. */
  attention: { error: string; retryAt: number | null } | null;
  /** Compare with Kisi before trusting `holding` (reconcile or an operator asked). */
  verify: boolean;
  /**
   * Windows of writes whose outcome is unknown: a sync that failed may have created any of its
   * targets in Kisi before it gave up. The next sync lists and takes back (moves or deletes) an
   * assignment with one of these exact windows, so a lost create is never left behind. Absent in
   * state carried from before this field.
   */
  unknownWrites?: AccessWindow[];
}

/** What the membership asks the Kisi sync activity to do. */
export interface SyncPlan {
  kisiUserId: number;
  groupId: number;
  /** Our assignment as we last wrote it, if any. */
  own: { assignmentId: number; from: number | null; until: number | null } | null;
  /**
   * The live spans, earliest first, each with the window to write for it (capped). The sync writes
   * the first still live when it runs; none live means: remove ours.
   */
  targets: Array<{ span: AccessWindow; write: AccessWindow; renewAt: number | null }>;
  /** Whether an assignment we did not create may stand in for ours. */
  mayRely: boolean;
  /** List before writing even on a first attempt. */
  verify: boolean;
  /**
   * Windows of earlier writes whose outcome is unknown (see MembershipData.unknownWrites): an
   * assignment with one of them is ours. Non-empty means: list first.
   */
  unknown?: AccessWindow[];
}

export interface SyncPlanOptions {
  /**
   * Whether unknown writes alone make a sync needed (their sweep). Asked only when that decides
   * whether to sync, so a workflow can answer with `patched()` there and nowhere else.
   */
  sweepUnknown?: () => boolean;
}

/** What the sync found or did: which assignment now serves `targets[target]`, or nothing. */
export type SyncOutcome =
  | { kind: 'own'; assignmentId: number; target: number }
  | { kind: 'relied'; assignmentId: number; from: number | null; until: number | null; target: number }
  | { kind: 'none' };

export interface OutgoingUpdate {
  holder: string;
  update: LeaseUpdate;
  /** True when a failed delivery means the holder is gone (its lease must not keep the door open). */
  dropLeaseIfHolderGone: boolean;
}

export const AUTO_RETRY_AFTER_MS = 10 * 60_000;

const endOf = (w: AccessWindow) => (w.until === null ? Infinity : w.until);
const startOf = (w: AccessWindow) => (w.from === null ? -Infinity : w.from);

/** The window to write for a span at `now`: its end, capped `maxValidityMs` ahead (0: uncapped). */
export function cappedWrite(span: AccessWindow, now: number, maxValidityMs: number): { write: AccessWindow; renewAt: number | null } {
  if (maxValidityMs <= 0) return { write: { from: span.from, until: span.until }, renewAt: null };
  // Whole seconds, as Kisi keeps them: a retried write then holds exactly the window it asked for.
  const base = Math.max(now, startOf(span));
  const cap = Math.floor((base + maxValidityMs) / 1000) * 1000;
  if (endOf(span) <= cap) return { write: { from: span.from, until: span.until }, renewAt: null };
  // Renew when less than a third of the validity is left.
  return { write: { from: span.from, until: cap }, renewAt: cap - Math.floor(maxValidityMs / 3) };
}

export class MembershipLedger {
  constructor(readonly data: MembershipData) {}

  static fresh(kisiUserId: number, groupId: number): MembershipLedger {
    return new MembershipLedger({
      kisiUserId,
      groupId,
      leases: {},
      returnedSeq: {},
      pendingReturns: {},
      holding: null,
      attention: null,
      verify: false,
    });
  }

  get id(): string {
    return membershipWorkflowId(this.data.kisiUserId, this.data.groupId);
  }

  // ---- signals ------------------------------------------------------------------------------

  /** A holder asks for (or moves) its lease. False when the request is stale and ignored. */
  request(req: LeaseRequest): boolean {
    const d = this.data;
    if ((d.returnedSeq[req.leaseId] ?? -1) >= req.requestSeq) return false; // a late copy of a request already returned
    const held = d.leases[req.leaseId];
    if (held && held.requestSeq > req.requestSeq) return false;
    const sameAsHeld = held !== undefined && held.requestSeq === req.requestSeq && sameWindow(held.window, req.window);
    d.leases[req.leaseId] = {
      customerId: req.customerId,
      window: req.window,
      requestSeq: req.requestSeq,
      maxValidityMs: Math.max(0, req.maxValidityMs),
      ownWrite: req.ownWrite === true,
      notified: sameAsHeld ? held.notified : null,
    };
    delete d.pendingReturns[req.leaseId];
    d.attention = null; // new facts deserve a new attempt
    return true;
  }

  /** A holder gives its lease back. False when a newer request of that lease makes it stale. */
  giveBack(ret: LeaseReturn): boolean {
    const d = this.data;
    d.returnedSeq[ret.leaseId] = Math.max(d.returnedSeq[ret.leaseId] ?? -1, ret.requestSeq);
    const held = d.leases[ret.leaseId];
    if (held && held.requestSeq > ret.requestSeq) return false; // re-requested since
    delete d.leases[ret.leaseId];
    d.pendingReturns[ret.leaseId] = { requestSeq: ret.requestSeq, confirm: ret.confirm, failureReported: false };
    d.attention = null;
    return true;
  }

  /** Compare with Kisi again and announce everything anew. */
  verify(): void {
    const d = this.data;
    d.verify = true;
    d.attention = null;
    for (const lease of Object.values(d.leases)) lease.notified = null;
    for (const p of Object.values(d.pendingReturns)) p.failureReported = false;
  }

  /** A holder no longer exists (terminated grant): its lease must not keep the door open. */
  holderGone(leaseId: string): void {
    delete this.data.leases[leaseId];
  }

  // ---- Kisi ----------------------------------------------------------------------------------

  live(now: number): Span[] {
    return liveSpans(this.data.leases, now);
  }

  private maxValidity(): number {
    // The newest setting any holder brought; 0 only when every holder asked for unbounded writes.
    const values = Object.values(this.data.leases).map((l) => l.maxValidityMs);
    if (values.length === 0) return 0;
    const bounded = values.filter((v) => v > 0);
    return bounded.length === 0 ? 0 : Math.min(...bounded);
  }

  private mayRely(): boolean {
    return !Object.values(this.data.leases).some((l) => l.ownWrite);
  }

  /**
   * Brings the holding in line without Kisi where no call is needed: a relied-on assignment that
   * also covers a changed span keeps serving it. Returns whether anything changed.
   */
  adjust(now: number): boolean {
    const d = this.data;
    const span = this.live(now)[0];
    const h = d.holding;
    if (!span || !h || h.kind !== 'relied' || d.verify || d.attention) return false;
    if (sameEffect(h.span, span, now)) return false;
    if (!this.mayRely() || !covers(h, span, now)) return false;
    d.holding = { ...h, span: { from: span.from, until: span.until } };
    return true;
  }

  /** The Kisi sync to run now, or null when Kisi already does what the leases ask. */
  syncPlan(now: number, options: SyncPlanOptions = {}): SyncPlan | null {
    const d = this.data;
    if (d.attention) return null;
    const live = this.live(now);
    const span = live[0] ?? null;
    const h = d.holding;
    let needed = d.verify;
    if (!needed) {
      if (span === null) needed = h !== null;
      else if (h === null) needed = true;
      else if (!sameEffect(h.span, span, now)) needed = true;
      else if (h.kind === 'own' && h.renewAt !== null && h.renewAt <= now) needed = true;
      else if (h.kind === 'relied' && !this.mayRely()) needed = true;
    }
    const unknown = d.unknownWrites ?? [];
    if (!needed && unknown.length > 0 && options.sweepUnknown?.()) needed = true;
    if (!needed) return null;
    const maxValidity = this.maxValidity();
    const targets = live.map((s) => {
      const { write, renewAt } = cappedWrite(s, now, maxValidity);
      return { span: { from: s.from, until: s.until }, write, renewAt };
    });
    return {
      kisiUserId: d.kisiUserId,
      groupId: d.groupId,
      own: h && h.kind === 'own' ? { assignmentId: h.assignmentId, from: h.from, until: h.until } : null,
      targets,
      mayRely: this.mayRely(),
      verify: d.verify,
      ...(unknown.length ? { unknown: unknown.map((w) => ({ from: w.from, until: w.until })) } : {}),
    };
  }

  /** The sync's outcome for `plan`. */
  synced(plan: SyncPlan, outcome: SyncOutcome): void {
    const d = this.data;
    d.verify = false;
    d.attention = null;
    // The sync listed and took back every assignment with one of the plan's unknown windows.
    if (plan.unknown?.length && d.unknownWrites) {
      const swept = plan.unknown;
      d.unknownWrites = d.unknownWrites.filter((w) => !swept.some((u) => sameWindow(u, w)));
    }
    if (outcome.kind === 'none') {
      d.holding = null;
      return;
    }
    const target = plan.targets[outcome.target]!;
    if (outcome.kind === 'own') {
      d.holding = { kind: 'own', assignmentId: outcome.assignmentId, from: target.write.from, until: target.write.until, span: target.span, renewAt: target.renewAt };
    } else {
      d.holding = { kind: 'relied', assignmentId: outcome.assignmentId, from: outcome.from, until: outcome.until, span: target.span, renewAt: null };
    }
  }

  /**
   * The sync failed. With `mayHaveWritten` (an outage: retries ran out), it may still have created
   * one of that plan's targets in Kisi (a create carried out whose answer was lost): their windows
   * are remembered as unknown writes, for the next sync to take back.
   */
  syncFailed(error: string, retryAt: number | null, mayHaveWritten?: SyncPlan): void {
    const d = this.data;
    d.attention = { error, retryAt };
    d.verify = false;
    if (!mayHaveWritten) return;
    const unknown = d.unknownWrites ?? [];
    for (const t of mayHaveWritten.targets) {
      if (t.write.until === null) continue; // an open-ended window cannot be told from one made by hand
      if (!unknown.some((w) => sameWindow(w, t.write))) unknown.push({ from: t.write.from, until: t.write.until });
    }
    if (unknown.length) d.unknownWrites = unknown;
  }

  /** The automatic retry after a long outage: clears the attention so the next pass tries again. */
  autoRetry(now: number): boolean {
    const a = this.data.attention;
    if (!a || a.retryAt === null || a.retryAt > now) return false;
    this.data.attention = null;
    this.data.verify = true; // Kisi may have changed meanwhile: list before writing
    for (const p of Object.values(this.data.pendingReturns)) p.failureReported = false;
    return true;
  }

  // ---- updates to holders --------------------------------------------------------------------

  /** The updates holders have not heard yet (marked as sent). */
  updates(now: number): OutgoingUpdate[] {
    const d = this.data;
    const out: OutgoingUpdate[] = [];
    const h = d.holding;
    const served = h ? this.live(now).find((s) => sameEffect(h.span, s, now))?.leaseIds ?? [] : [];
    const base = { membershipId: this.id, kisiUserId: d.kisiUserId, groupId: d.groupId };
    for (const [leaseId, lease] of Object.entries(d.leases)) {
      let status: 'applied' | 'waiting' | 'failed';
      if (d.attention) status = 'failed';
      else if (served.includes(leaseId)) status = 'applied';
      // Displaced by an earlier span. A lease whose window is over is not told (its holder is ending it).
      else if (lease.notified?.status === 'applied' && endOf(lease.window) > now) status = 'waiting';
      else continue;
      if (lease.notified && lease.notified.status === status && sameWindow(lease.notified.window, lease.window)) continue;
      lease.notified = { status, window: lease.window };
      out.push({
        holder: leaseId,
        update: { ...base, leaseId, status, window: lease.window, error: status === 'failed' ? d.attention!.error : null, requestSeq: lease.requestSeq },
        dropLeaseIfHolderGone: true,
      });
    }
    for (const [leaseId, pending] of Object.entries(d.pendingReturns)) {
      if (d.attention) {
        if (pending.failureReported || !pending.confirm) continue;
        pending.failureReported = true;
        out.push({ holder: leaseId, update: { ...base, leaseId, status: 'failed', window: null, error: d.attention.error, requestSeq: pending.requestSeq }, dropLeaseIfHolderGone: false });
        continue;
      }
      // Kisi reflects the return once the holding no longer serves the lease: settled.
      delete d.pendingReturns[leaseId];
      if (!pending.confirm) continue;
      out.push({ holder: leaseId, update: { ...base, leaseId, status: 'released', window: null, error: null, requestSeq: pending.requestSeq }, dropLeaseIfHolderGone: false });
    }
    return out;
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Nothing held, nothing to confirm, nothing in Kisi: the workflow may end. */
  finished(): boolean {
    const d = this.data;
    return Object.keys(d.leases).length === 0 && Object.keys(d.pendingReturns).length === 0 && d.holding === null;
  }

  /** When to wake without a signal: the next span, a renewal, the automatic retry. */
  nextWake(now: number): number | undefined {
    const d = this.data;
    const times: number[] = [];
    if (d.attention) {
      if (d.attention.retryAt !== null) times.push(d.attention.retryAt);
      return times[0];
    }
    const [span, next] = this.live(now);
    if (span && next && span.until !== null) times.push(span.until);
    if (d.holding?.kind === 'own' && d.holding.renewAt !== null) times.push(d.holding.renewAt);
    return times.length ? Math.min(...times) : undefined;
  }

  status(): MembershipStatus {
    const d = this.data;
    const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
    return {
      v: 2,
      kisiUserId: d.kisiUserId,
      groupId: d.groupId,
      leases: Object.fromEntries(Object.entries(d.leases).map(([id, l]) => [id, { customerId: l.customerId, from: iso(l.window.from), until: iso(l.window.until), requestSeq: l.requestSeq }])),
      holding: d.holding ? { kind: d.holding.kind, assignmentId: d.holding.assignmentId, from: iso(d.holding.from), until: iso(d.holding.until), renewAt: iso(d.holding.renewAt) } : null,
      needsAttention: d.attention !== null,
      lastError: d.attention?.error ?? null,
    };
  }
}

/** Whether a Kisi window gives access for the whole of `span` (as of `now`: a start already passed is open). */
export function covers(kisi: { from: number | null; until: number | null }, span: AccessWindow, now: number): boolean {
  const wantFrom = Math.max(startOf(span), now);
  return startOf(kisi) <= wantFrom && endOf(kisi) >= endOf(span);
}
