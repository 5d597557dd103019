/**
 * Moves a legacy grant run (./grant.ts) onto the current grant code: its state, converted, becomes
 * the input of a continue-as-new. Its leases on legacy memberships (keyed by customer) are kept as
 * legacy leases: the current code asks the Kisi user's memberships for the same access first
 * (writing assignments of their own, `ownWrite`), then gives the legacy leases back, so the door
 * never closes in between.
 */
import type { GrantInput } from '../../src/contract/grant';
import { normalizeEmail } from '../../src/domain/customer';
import { AUTO_RETRY_AFTER_MS, type GrantData, type GrantLease } from '../../src/domain/grant-ledger';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { parseLegacyMembershipWorkflowId, type GrantKind } from '../../src/domain/ids';
import type { GrantCarried } from './grant-carried';

export function legacyGrantToCurrent(_kind: GrantKind, _grantId: string, spec: GrantSpec, c: GrantCarried, now: number, historyLimit: number | undefined): GrantInput {
  const leases: Record<string, GrantLease> = {};
  for (const [id, l] of Object.entries(c.leases)) {
    const parsed = parseLegacyMembershipWorkflowId(id);
    if (!parsed) continue;
    leases[id] = { groupId: l.groupId, kisiUserId: null, legacyCustomerId: parsed.customerId, state: l.state, window: l.window, requestSeq: l.requestSeq, error: l.error };
  }
  const email = normalizeEmail(c.customerEmail);
  const carried: GrantData = {
    spec,
    person:
      c.kisiUserId !== null && email !== null
        ? { customerId: spec.customerId, kisiUserId: c.kisiUserId, email, emailKey: c.published?.customerEmail ?? email, name: spec.customerName, version: null }
        : null,
    facts: null,
    settledSpecEmail: null,
    leases,
    requestSeq: c.requestSeq,
    acquireError: c.acquireError !== null ? { error: c.acquireError, retryAt: c.autoRetry ? now + AUTO_RETRY_AFTER_MS : null } : null,
    retrying: false,
    grantedAt: c.grantedAt,
    revokedAt: c.revokedAt,
    published: c.published,
    openStart: c.openStart,
    operatorCancel: null,
    finished: false,
  };
  return { v: 2, spec, carried, historyLimit };
}
