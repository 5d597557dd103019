/**
 * A grant's states and status, in one place: the grant ledger (./grant-ledger.ts) moves between
 * them, the contract (src/contract/grant.ts) answers them to the status query, the GrantState search
 * attribute and the CLI show them. Pure.
 */
import type { GrantLifecycle } from './grant-spec';
import type { GrantKind } from './ids';

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

