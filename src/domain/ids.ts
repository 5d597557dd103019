/**
 * Workflow ids, derived in one place. They come from Nexudus/Kisi ids so that every retry,
 * duplicate webhook and reconcile pass lands on the same workflow.
 */
export type GrantKind = 'booking' | 'pass' | 'contract';
export const GRANT_KINDS: readonly GrantKind[] = ['booking', 'pass', 'contract'];

export function grantWorkflowId(kind: GrantKind, sourceId: number): string {
  return `${kind}-${sourceId}`;
}

export function parseGrantWorkflowId(workflowId: string): { kind: GrantKind; sourceId: number } | undefined {
  const m = /^(booking|pass|contract)-(\d+)$/.exec(workflowId);
  return m ? { kind: m[1] as GrantKind, sourceId: Number(m[2]) } : undefined;
}

/**
 * The serialization point for one Kisi user's membership of one Kisi group: the only writer of
 * that user's role assignments in that group, whichever Nexudus customers (one email, one Kisi
 * user) hold leases on it.
 */
export function membershipWorkflowId(kisiUserId: number, groupId: number): string {
  return `membership-user-${kisiUserId}-${groupId}`;
}

export function parseMembershipWorkflowId(workflowId: string): { kisiUserId: number; groupId: number } | undefined {
  const m = /^membership-user-(\d+)-(\d+)$/.exec(workflowId);
  return m ? { kisiUserId: Number(m[1]), groupId: Number(m[2]) } : undefined;
}

/**
 * Memberships started before memberships followed the Kisi user were keyed by Nexudus customer.
 * Those still running serve the grants that started before then until those grants move on
 * (see workflows/legacy/): recognised by this id.
 */
export function legacyMembershipWorkflowId(customerId: number, groupId: number): string {
  return `membership-${customerId}-${groupId}`;
}

export function parseLegacyMembershipWorkflowId(workflowId: string): { customerId: number; groupId: number } | undefined {
  const m = /^membership-(\d+)-(\d+)$/.exec(workflowId);
  return m ? { customerId: Number(m[1]), groupId: Number(m[2]) } : undefined;
}

export function checkinWorkflowId(kisiEventUuid: string): string {
  return `checkin-${kisiEventUuid}`;
}

export function customerSyncWorkflowId(customerId: number): string {
  return `customer-sync-${customerId}`;
}

export const RECONCILE_SCHEDULE_ID = 'reconcile';

/** A one-off reconcile over a chosen window (`npm run backfill`), named by when it started. */
export function backfillWorkflowId(startedAt: number): string {
  return `reconcile-backfill-${new Date(startedAt).toISOString()}`;
}

/** A Nexudus id kept as text (a Keyword search attribute, a query answer); null when it is not one. */
export function idFromText(text: string | null | undefined): number | null {
  return typeof text === 'string' && /^\d+$/.test(text) ? Number(text) : null;
}
