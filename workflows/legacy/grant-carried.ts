/**
 * LEGACY, frozen: the state a legacy grant run (./grant.ts) carries across continue-as-new, and
 * which ./upgrade.ts converts for the current grant code. Types only.
 */
import type { GroupLeaseState } from '../../src/contract/grant';
import type { AccessWindow } from '../../src/domain/grant-spec';
import type { GrantAttributeValues } from '../../src/domain/search-attributes';

export interface LeaseOnMembership {
  customerId: number;
  groupId: number;
  state: GroupLeaseState;
  window: AccessWindow | null;
  requestSeq: number;
  error: string | null;
}

export interface GrantCarried {
  /** Keyed by membership workflow id (customer and group: a booking can move to another customer). */
  leases: Record<string, LeaseOnMembership>;
  requestSeq: number;
  kisiUserId: number | null;
  customerEmail: string | null;
  acquireError: string | null;
  autoRetry: boolean;
  grantedAt: number | null;
  revokedAt: number | null;
  published: GrantAttributeValues | null;
  openStart: number;
}

