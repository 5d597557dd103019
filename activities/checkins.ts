/**
 * Door check-ins: who unlocked (Kisi user -> Nexudus customer), the hand-over of the unlock to the
 * customer's workflow (which takes one customer's unlocks one at a time), and the check-in itself,
 * counted once per visit. Live lane: the person is at the door now.
 */
import type { Client } from '@temporalio/client';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import type { AccessMap } from '../src/config/access-map';
import type { CheckinInput, CheckinResult } from '../src/contract/checkin';
import { checkinRequestedSignal, CUSTOMER_WORKFLOW_TYPE, type CustomerWorkflowInput } from '../src/contract/customer';
import { normalizeEmail } from '../src/domain/customer';
import { checkinWorkflowId, customerSyncWorkflowId } from '../src/domain/ids';
import { NexudusCustomerId } from '../src/domain/search-attributes';
import { parseUtcInstant, startOfLocalDay } from '../src/domain/time';
import { asActivity, needsPerson } from './failures';

export interface CheckinActivityDeps {
  kisi: Pick<KisiClient, 'getUser'>;
  nexudus: Pick<NexudusClient, 'findCoworkersByEmail' | 'createCheckin' | 'listCheckins'>;
  accessMap: () => AccessMap;
  temporal: Client;
  taskQueue: string;
  emailKey: (email: string) => string;
}

/** Check-in Source 2: door access, what the product records. */
const DOOR_ACCESS = 2;

export function createCheckinActivities(deps: CheckinActivityDeps) {
  /**
   * The Nexudus customer behind a Kisi user: the id we stored in the user's metadata when we
   * created it, else the customer with the user's email (several share it: the one in the
   * metadata, else an active one). Null when nobody matches.
   */
  async function customerOf(kisiUserId: number, fallbackEmail: string | null): Promise<{ customerId: number; email: string | null } | null> {
    const user = await deps.kisi.getUser(kisiUserId);
    const email = normalizeEmail(user.email) ?? normalizeEmail(fallbackEmail);
    const stored = user.metadata?.nexudus_customer_id;
    if (typeof stored === 'number' || (typeof stored === 'string' && /^\d+$/.test(stored))) return { customerId: Number(stored), email };
    if (!email) return null;
    const matches = await deps.nexudus.findCoworkersByEmail(email);
    const chosen = matches.find((c) => c.Active !== false) ?? matches[0];
    return chosen ? { customerId: chosen.Id, email } : null;
  }

  /** One door unlock, counted once per visit (see checkInOnce). */
  async function checkIn(customerId: number, unlockedAt: string): Promise<CheckinResult> {
    const map = deps.accessMap();
    const businessId = map.nexudusBusinessId;
    if (businessId === undefined) throw needsPerson('MapWithoutBusiness', 'the access map has no nexudusBusinessId: check-ins cannot be created');
    const at = parseUtcInstant(unlockedAt);
    const midnight = startOfLocalDay(at, map.timeZone);
    // From a day before midnight: a check-in left open yesterday is still open.
    const recent = await deps.nexudus.listCheckins({ coworkerId: customerId, businessId, from: new Date(midnight - 86_400_000).toISOString() });
    const base = { customerId };
    // An earlier attempt of this unlock may have made it (its answer lost): same instant, door access, still open.
    const ours = recent.find((c) => sameSecond(instantOf(c.FromTime), at) && c.Source === DOOR_ACCESS && !c.ToTime);
    if (ours) return { ...base, outcome: 'checked-in', checkinId: ours.Id ?? null, reason: null };
    // Still in: an open check-in (no ToTime) at this location, whoever made it. A door check-in the
    // product made since local midnight that was not checked out is one of these too; one that was
    // checked out (left and came back) does not stop a new visit.
    const open = recent.find((c) => !c.ToTime);
    if (open) return { ...base, outcome: 'already-checked-in', checkinId: open.Id ?? null, reason: `already checked in since ${open.FromTime}` };
    const answer = await deps.nexudus.createCheckin({ businessId, coworkerId: customerId, fromTime: unlockedAt });
    if (answer.ok) return { ...base, outcome: 'checked-in', checkinId: answer.id, reason: null };
    return { ...base, outcome: 'refused', checkinId: null, reason: answer.reason };
  }

  return {
    /**
     * Finds the customer behind the unlock and hands the unlock to the customer's workflow, which
     * answers the check-in workflow with a `checkinResult` signal. Null: no customer matches.
     */
    async handOverCheckin(input: CheckinInput): Promise<{ customerId: number; emailKey: string | null } | null> {
      return asActivity(async () => {
        const customer = await customerOf(input.kisiUserId, input.kisiUserEmail);
        if (!customer) return null;
        const args: CustomerWorkflowInput = { v: 2, customerId: customer.customerId };
        await deps.temporal.workflow.signalWithStart(CUSTOMER_WORKFLOW_TYPE, {
          workflowId: customerSyncWorkflowId(customer.customerId),
          taskQueue: deps.taskQueue,
          args: [args],
          signal: checkinRequestedSignal,
          signalArgs: [{ eventUuid: input.eventUuid, unlockedAt: input.unlockedAt, lockId: input.lockId, lockName: input.lockName, replyTo: checkinWorkflowId(input.eventUuid) }],
          typedSearchAttributes: [{ key: NexudusCustomerId, value: String(customer.customerId) }],
          staticSummary: `Nexudus customer ${customer.customerId}`,
        });
        return { customerId: customer.customerId, emailKey: customer.email ? deps.emailKey(customer.email) : null };
      }, { lane: 'live' });
    },

    /**
     * One door unlock, counted once per visit: nothing is created while the customer has an open
     * check-in at the location, or one the product made since local midnight that was not checked
     * out. A retried attempt first finds the check-in an earlier attempt may have made (same
     * instant, door access). Nexudus' refusal (no valid pass) is an answer, not an error.
     */
    async checkInOnce(input: { customerId: number; unlockedAt: string }): Promise<CheckinResult> {
      return asActivity(() => checkIn(input.customerId, input.unlockedAt), { lane: 'live' });
    },

    // ---- legacy (check-ins started before they went through the customer workflow) -------------

    async resolveCustomerForKisiUser(input: { kisiUserId: number; email: string | null }): Promise<{ customerId: number; email: string | null } | null> {
      return asActivity(async () => {
        const customer = await customerOf(input.kisiUserId, input.email);
        // The legacy workflow sets CustomerEmail from this: the searchable value.
        return customer && { customerId: customer.customerId, email: customer.email ? deps.emailKey(customer.email) : null };
      }, { lane: 'live' });
    },

    async createDoorCheckin(input: { customerId: number; at: string }): Promise<{ ok: true; id: number | null } | { ok: false; reason: string }> {
      return asActivity(async () => {
        const result = await checkIn(input.customerId, input.at);
        return result.outcome === 'refused' ? { ok: false, reason: result.reason ?? 'refused' } : { ok: true, id: result.checkinId };
      }, { lane: 'live' });
    },
  };
}

function instantOf(text: string | null | undefined): number | null {
  if (!text) return null;
  try {
    return parseUtcInstant(text);
  } catch {
    return null;
  }
}

function sameSecond(a: number | null, b: number): boolean {
  return a !== null && Math.floor(a / 1000) === Math.floor(b / 1000);
}
