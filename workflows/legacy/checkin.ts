/**
 * LEGACY check-in code, frozen: check-ins started before they went through the customer workflow
 * (input without `v: 2`). Change nothing here.
 *
 * checkin-<Kisi event uuid>: a customer unlocked a door the access map marks "checkin". The door has
 * opened already; this records the visit in Nexudus (Source 2, door access, at the unlock time).
 * When Nexudus refuses (no valid pass) the refusal stays visible: GrantState needs-attention here,
 * and Nexudus lists its own failed check-in.
 */
import { proxyActivities, setCurrentDetails, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { CustomerEmail, GrantState, NexudusCustomerId, NexudusSourceId } from '../../src/domain/search-attributes';
import { ACTIVITY_OPTIONS } from '../policy';
import type { CheckinInput, CheckinResult } from '../../src/contract/checkin';

const { resolveCustomerForKisiUser, createDoorCheckin } = proxyActivities<Activities>(ACTIVITY_OPTIONS);

export type { CheckinInput, CheckinResult };

export async function legacyCheckinWorkflow(input: CheckinInput): Promise<CheckinResult> {
  const customer = await resolveCustomerForKisiUser({ kisiUserId: input.kisiUserId, email: input.kisiUserEmail });
  if (!customer) {
    const reason = `Kisi user ${input.kisiUserId}${input.kisiUserEmail ? ` <${input.kisiUserEmail}>` : ''} matches no Nexudus customer`;
    upsertSearchAttributes([{ key: GrantState, value: 'needs-attention' }]);
    setCurrentDetails(`**Not checked in**: ${reason}`);
    return { outcome: 'unknown-customer', customerId: null, checkinId: null, reason };
  }
  upsertSearchAttributes([
    { key: NexudusCustomerId, value: String(customer.customerId) },
    { key: CustomerEmail, value: customer.email },
  ]);
  const answer = await createDoorCheckin({ customerId: customer.customerId, at: input.unlockedAt });
  if (answer.ok) {
    upsertSearchAttributes([
      { key: GrantState, value: 'granted' },
      ...(answer.id !== null ? [{ key: NexudusSourceId, value: String(answer.id) }] : []),
    ]);
    setCurrentDetails(`Checked in ${customer.email ?? customer.customerId} at ${input.unlockedAt} (${input.lockName ?? `lock ${input.lockId}`})`);
    return { outcome: 'checked-in', customerId: customer.customerId, checkinId: answer.id, reason: null };
  }
  upsertSearchAttributes([{ key: GrantState, value: 'needs-attention' }]);
  setCurrentDetails(`**Check-in refused by Nexudus**: ${answer.reason}\n\nThe door opened anyway (${input.lockName ?? `lock ${input.lockId}`}).`);
  return { outcome: 'refused', customerId: customer.customerId, checkinId: null, reason: answer.reason };
}
