/**
 * The lease protocol's messages: what a grant asks of a membership (`membership-user-<kisiUserId>-
 * <groupId>`, the only writer of one Kisi user's assignment in one group) and what the membership
 * answers. Pure types: the ledgers (./grant-ledger.ts, ./membership-ledger.ts) reason about them,
 * and src/contract/membership.ts puts them on the wire as signals and queries.
 */
import type { AccessWindow } from './grant-spec';

/** One grant's claim on the membership, as the grant asks for it. */
export interface LeaseRequest {
  /** The holder: the grant's workflow id (one lease per grant and membership). */
  leaseId: string;
  /** The Nexudus customer the holder grants for (two customers may share one Kisi user). */
  customerId: number;
  window: AccessWindow;
  /**
   * Increases with every request of this lease, across runs of one grant id too (a run numbers
   * from its start time in ms), so a late copy of an old request is recognised and ignored.
   */
  requestSeq: number;
  /**
   * KISI_MAX_VALIDITY in ms at the time of the request (0: unbounded). Every assignment the
   * membership writes ends at most this far ahead and is renewed before it lapses.
   */
  maxValidityMs: number;
  /**
   * The membership writes an assignment of its own for this lease even when one it did not create
   * already covers it: set while the holder moves off a legacy membership whose assignment is about
   * to be removed.
   */
  ownWrite?: boolean;
}

/** The holder gives its lease back. */
export interface LeaseReturn {
  leaseId: string;
  requestSeq: number;
  /**
   * Whether the holder waits for a `released` update. A grant whose window ended by itself does
   * not (Kisi already closed the door at valid_until); one ended early (deleted, cancelled,
   * customer suspended) does.
   */
  confirm: boolean;
}

export type LeaseUpdateStatus = 'applied' | 'waiting' | 'released' | 'failed';

/** What became of a lease (membership -> grant). */
export interface LeaseUpdate {
  membershipId: string;
  kisiUserId: number;
  groupId: number;
  leaseId: string;
  /**
   * applied: Kisi gives the access (an assignment of ours, or one already there that covers the
   * lease); waiting: an earlier span of another lease is served first; released: the lease is gone
   * and Kisi reflects it; failed: Kisi refused.
   */
  status: LeaseUpdateStatus;
  /** The lease window the update is about (an update for an older window is ignored). */
  window: AccessWindow | null;
  error: string | null;
  requestSeq: number;
}

/** What serves the membership's current span in Kisi. */
export interface KisiHolding {
  /** own: an assignment this membership created (it alone moves and deletes it); relied: one it did not create that already gives the access. */
  kind: 'own' | 'relied';
  assignmentId: number;
  /** The window Kisi holds (for own: what we wrote, capped at KISI_MAX_VALIDITY). Null bounds are open. */
  from: number | null;
  until: number | null;
  /** The span of leases it serves (uncapped). */
  span: AccessWindow;
  /** When an own, capped assignment is renewed (less than a third of its validity left). */
  renewAt: number | null;
}

export interface MembershipStatus {
  v: 2;
  kisiUserId: number;
  groupId: number;
  leases: Record<string, { customerId: number; from: string | null; until: string | null; requestSeq: number }>;
  holding: { kind: 'own' | 'relied'; assignmentId: number; from: string | null; until: string | null; renewAt: string | null } | null;
  needsAttention: boolean;
  lastError: string | null;
}

