/**
 * Signals and queries, defined once and shared by workflows, the ingress, the CLI and tests.
 * Pure definitions: safe to import from client code.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AccessWindow, GrantSpec } from '../src/domain/grant-spec';
import type { GrantKind } from '../src/domain/ids';

// ----------------------------------------------------------------------------------------------
// Grants (booking-*, pass-*, contract-*)

export type GrantState = 'scheduled' | 'granted' | 'revoked' | 'needs-attention' | 'cancelled';

/** The latest state of the Nexudus record behind a grant (create, update and delete alike). */
export const sourceChangedSignal = defineSignal<[GrantSpec]>('sourceChanged');
/** Operator: try again after a needs-attention state (re-reads Nexudus and the access map). */
export const retrySignal = defineSignal('retry');
/** From a membership workflow: what became of this grant's lease on one group. */
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

export type GroupLeaseState = 'requested' | 'applied' | 'failed' | 'releasing' | 'released' | 'release-failed';

export interface GrantStatus {
  workflowId: string;
  kind: GrantKind;
  sourceId: number;
  customerId: number;
  customerEmail: string | null;
  label: string;
  state: GrantState;
  lifecycle: GrantSpec['lifecycle'];
  endedReason: string | null;
  /** ISO instants; null bounds are open. */
  window: { from: string | null; until: string | null } | null;
  groups: number[];
  groupStates: Record<string, GroupLeaseState>;
  kisiUserId: number | null;
  grantedAt: string | null;
  revokedAt: string | null;
  lastError: string | null;
  sourceVersion: string | null;
}

export const grantStatusQuery = defineQuery<GrantStatus>('status');

export interface GrantResult {
  state: GrantState;
  reason: 'expired' | 'ended' | 'cancelled';
  grantedAt: string | null;
  revokedAt: string | null;
}

// ----------------------------------------------------------------------------------------------
// Memberships (membership-<customer>-<group>): the one place that changes Kisi group membership.

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

// ----------------------------------------------------------------------------------------------
// Customer sync (customer-sync-<customer>)

export interface CustomerSyncRequest {
  /** CoworkerDelete: end every grant of the customer. */
  deleted: boolean;
  /** Which webhook asked, for the record. */
  reason: string;
}

export const customerSyncRequestedSignal = defineSignal<[CustomerSyncRequest]>('syncRequested');
