/**
 * LEGACY messages: the signals and queries of the legacy grant and membership workflows
 * (workflows/legacy/), which keep serving the runs started before memberships followed the Kisi
 * user. Reconcile and the CLI still talk to running legacy memberships through them. What legacy
 * and current grants share is defined once in ./grant.ts. Workflow-safe.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AccessWindow } from '../domain/grant-spec';

// ----------------------------------------------------------------------------------------------
// Grants (booking-*, pass-*, contract-*)

/** From a legacy membership workflow: what became of this grant's lease on one group. */
export const leaseNoticeSignal = defineSignal<[LeaseNotice]>('leaseNotice');

export interface LeaseNotice {
  customerId: number;
  groupId: number;
  leaseId: string;
  /**
   * applied: Kisi holds a window covering the lease; waiting: an earlier span of another lease is
   * served first (Kisi holds one assignment per user and group); released: the lease is gone and
   * Kisi reflects it; failed: Kisi refused.
   */
  status: 'applied' | 'waiting' | 'released' | 'failed';
  /** The lease window the notice is about (a stale notice for an older window is ignored). */
  window: AccessWindow | null;
  error: string | null;
  /** Sequence number of the lease request this answers (ignored when older than the latest). */
  requestSeq: number;
}

// ----------------------------------------------------------------------------------------------
// Legacy memberships (membership-<customer>-<group>).

export interface LeaseRequest {
  /** The grant's workflow id: one lease per grant and group. */
  leaseId: string;
  window: AccessWindow;
  kisiUserId: number;
  /**
   * Increases with every request of this lease, across runs of one grant id too: a fresh run
   * numbers from its start time in ms (see LEASE_SEQ_FROM_RUN_START), so a release numbered with
   * the current time in ms outranks the requests of every run started before it.
   */
  requestSeq: number;
}

export const acquireLeaseSignal = defineSignal<[LeaseRequest]>('acquireLease');
export const releaseLeaseSignal = defineSignal<[{ leaseId: string; requestSeq: number }]>('releaseLease');
/**
 * Operator or reconcile: compare with Kisi again and repair (after a needs-attention state, or
 * when reconcile found the assignment changed or missing in Kisi).
 */
export const retryMembershipSignal = defineSignal('retry');

export interface MembershipStatus {
  customerId: number;
  groupId: number;
  kisiUserId: number | null;
  /** Held leases by id (the grant workflow id), with the request number each was last asked with. */
  leases: Record<string, { from: string | null; until: string | null; requestSeq: number }>;
  /** What Kisi holds, as far as this workflow applied it. */
  assignment: { id: number; from: string | null; until: string | null } | null;
  needsAttention: boolean;
  lastError: string | null;
}

export const membershipStatusQuery = defineQuery<MembershipStatus>('status');

/** What the legacy membership's Kisi write (the syncAssignment activity) left in Kisi. */
export interface AppliedAssignment {
  assignmentId: number;
  from: number | null;
  until: number | null;
}
