/**
 * The grant workflows' contract (booking-<Id>, pass-<Id>, contract-<Id>): their inputs, signals,
 * query and result, and the one vocabulary of grant states. Workflow-safe: workflows, activities,
 * the ingress, reconcile and the CLI import it.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CustomerFacts } from '../domain/customer';
import type { GrantLifecycle, GrantSpec } from '../domain/grant-spec';
import type { GrantKind } from '../domain/ids';

export const GRANT_WORKFLOW_TYPE: Record<GrantKind, string> = {
  booking: 'bookingGrant',
  pass: 'passGrant',
  contract: 'contractGrant',
};

/**
 * Every state a grant shows (status query, `GrantState` search attribute, CLI, console):
 *   scheduled       Kisi does not give the access yet (before the window, or being written)
 *   granted         Kisi gives the access for the window
 *   suspended       the customer is inactive in Nexudus: no door until they are active again
 *   revoked         the grant has ended and Kisi no longer gives the access
 *   needs-attention something failed: see the last error; automatic retry or an operator's
 *   cancelled       an operator cancelled it: nothing is granted until the record changes
 */
export const GRANT_STATES = ['scheduled', 'granted', 'suspended', 'revoked', 'needs-attention', 'cancelled'] as const;
export type GrantState = (typeof GRANT_STATES)[number];

/** The latest state of the Nexudus record behind a grant (create, update and delete alike). */
export const sourceChangedSignal = defineSignal<[GrantSpec]>('sourceChanged');
/**
 * Operator: try again after needs-attention (re-reads Nexudus, the access map and the customer),
 * or lift an operator's cancellation.
 */
export const retrySignal = defineSignal('retry');
/** The customer workflow: the customer's facts changed (email, active). */
export const customerChangedSignal = defineSignal<[CustomerFacts]>('customerChanged');
/** Reconcile: a grant started before the current grant code moves onto it now (see workflows/legacy/). */
export const upgradeGrantSignal = defineSignal('upgradeGrant');

export type GroupLeaseState = 'requested' | 'applied' | 'failed' | 'releasing' | 'released' | 'release-failed';

export interface GrantStatus {
  workflowId: string;
  kind: GrantKind;
  sourceId: number;
  customerId: number;
  customerEmail: string | null;
  label: string;
  state: GrantState;
  lifecycle: GrantLifecycle;
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
  /** The customer may not enter (inactive in Nexudus); absent from grants started before this field. */
  customerActive?: boolean;
  /** Memberships holding this grant's leases, by id. */
  memberships?: Record<string, GroupLeaseState>;
  /** Set while an operator's cancellation holds: lifted by a newer version of the record or `retry`. */
  operatorCancelled?: { at: string; sourceVersion: string | null } | null;
}

export const grantStatusQuery = defineQuery<GrantStatus>('status');

export interface GrantResult {
  state: GrantState;
  reason: 'expired' | 'ended' | 'cancelled';
  grantedAt: string | null;
  revokedAt: string | null;
}

export interface GrantInput {
  /** 2: the current grant code. Grants started without it run the legacy code (workflows/legacy/). */
  v: 2;
  spec: GrantSpec;
  carried?: unknown;
  /** Continue-as-new after this many history events (tests); otherwise when Temporal suggests it. */
  historyLimit?: number;
  /** The AccessStartsAt the starter used for a window without a start (see grantAttributeValues). */
  openStart?: number;
}
