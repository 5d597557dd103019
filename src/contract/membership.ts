/**
 * The membership workflow's contract: `membership-user-<kisiUserId>-<groupId>` is the only writer of
 * one Kisi user's role assignment(s) in one Kisi group. Grants hold leases on it; it tells them
 * what Kisi does for each lease. Workflow-safe: workflows, activities, reconcile and the CLI import it.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { LeaseRequest, LeaseReturn, LeaseUpdate, MembershipStatus } from '../domain/lease-messages';

export type { KisiHolding, LeaseRequest, LeaseReturn, LeaseUpdate, LeaseUpdateStatus, MembershipStatus } from '../domain/lease-messages';

export const MEMBERSHIP_WORKFLOW_TYPE = 'membershipWorkflow';

export const requestLeaseSignal = defineSignal<[LeaseRequest]>('requestLease');
export const returnLeaseSignal = defineSignal<[LeaseReturn]>('returnLease');
/** Reconcile or an operator: compare with Kisi again now and repair (also clears needs-attention). */
export const verifyMembershipSignal = defineSignal('verifyMembership');
export const leaseUpdateSignal = defineSignal<[LeaseUpdate]>('leaseUpdate');

export interface MembershipInput {
  v: 2;
  kisiUserId: number;
  groupId: number;
  /** The Kisi user's email (a Kisi user's email never changes), for the summary and details. */
  email: string | null;
  carried?: unknown;
  /** Continue-as-new after this many history events (tests); otherwise when Temporal suggests it. */
  historyLimit?: number;
}

export const membershipStatusQuery = defineQuery<MembershipStatus>('membershipStatus');
