/**
 * The grant workflows' contract (booking-<Id>, pass-<Id>, contract-<Id>): their inputs, signals,
 * query and result, and the one vocabulary of grant states. Workflow-safe: workflows, activities,
 * the ingress, reconcile and the CLI import it.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CustomerFacts } from '../domain/customer';
import type { GrantSpec } from '../domain/grant-spec';
import type { GrantState, GrantStatus } from '../domain/grant-state';
import type { GrantKind } from '../domain/ids';

export { GRANT_STATES, type GrantState, type GrantStatus, type GroupLeaseState } from '../domain/grant-state';

export const GRANT_WORKFLOW_TYPE: Record<GrantKind, string> = {
  booking: 'bookingGrant',
  pass: 'passGrant',
  contract: 'contractGrant',
};

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
