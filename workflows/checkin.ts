/**
 * checkin-<Kisi event uuid>: a customer unlocked a door the access map marks "checkin". The door has
 * opened already; this records the visit in Nexudus (Source 2, door access, at the unlock time),
 * once per visit: the customer's workflow (customer-sync-<customer>) takes the unlocks of one
 * customer one at a time and creates a check-in only when none is open (see checkInOnce), so two
 * unlocks of one visit, retries and crashes make one Nexudus check-in.
 *
 * When Nexudus refuses (no valid pass) or cannot be reached, the failure stays visible: GrantState
 * needs-attention here (GET /reports/failed-checkins lists it), and Nexudus lists its own failed check-in.
 */
import { condition, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { checkinResultSignal, type CheckinInput, type CheckinResult } from '../src/contract/checkin';
import { CustomerEmail, GrantState, NexudusCustomerId, NexudusSourceId } from '../src/domain/search-attributes';
import { fitDetails } from '../src/domain/temporal-limits';
import { legacyCheckinWorkflow } from './legacy/checkin';
import { ACTIVITY_OPTIONS } from './policy';

const { handOverCheckin } = proxyActivities<Activities>(ACTIVITY_OPTIONS);

/** How long to wait for the customer's workflow to answer before asking again (it may have been ending). */
const ANSWER_WAIT = '2 minutes';
const ASKS = 5;

export async function runCheckin(input: CheckinInput): Promise<CheckinResult> {
  let answer: CheckinResult | null = null;
  setHandler(checkinResultSignal, (result) => {
    answer ??= result;
  });
  const door = input.lockName ?? `lock ${input.lockId}`;
  let customer: { customerId: number; emailKey: string | null } | null = null;
  for (let ask = 0; ask < ASKS && answer === null; ask++) {
    customer = await handOverCheckin({ ...input });
    if (!customer) {
      const reason = `Kisi user ${input.kisiUserId}${input.kisiUserEmail ? ` <${input.kisiUserEmail}>` : ''} matches no Nexudus customer`;
      return finish({ outcome: 'unknown-customer', customerId: null, checkinId: null, reason });
    }
    if (await condition(() => answer !== null, ANSWER_WAIT)) break;
  }
  const customerId = customer?.customerId ?? null;
  return finish(answer ?? { outcome: 'failed', customerId, checkinId: null, reason: `no answer from the customer workflow after ${ASKS} requests` });

  function finish(result: CheckinResult): CheckinResult {
    const ok = result.outcome === 'checked-in' || result.outcome === 'already-checked-in';
    // One upsert for the whole outcome (each is billed).
    upsertSearchAttributes([
      ...(customer ? [{ key: NexudusCustomerId, value: String(customer.customerId) }] : []),
      ...(customer?.emailKey ? [{ key: CustomerEmail, value: customer.emailKey }] : []),
      { key: GrantState, value: ok ? 'granted' : 'needs-attention' },
      ...(result.checkinId !== null ? [{ key: NexudusSourceId, value: String(result.checkinId) }] : []),
    ]);
    const text: Record<CheckinResult['outcome'], string> = {
      'checked-in': `Checked in customer ${result.customerId} at ${input.unlockedAt} (${door})`,
      'already-checked-in': `Not checked in again: ${result.reason ?? 'already checked in'} (${door})`,
      refused: `**Check-in refused by Nexudus**: ${result.reason}\n\nThe door opened anyway (${door}).`,
      'unknown-customer': `**Not checked in**: ${result.reason}`,
      failed: `**Check-in failed**: ${result.reason}\n\nThe door opened anyway (${door}).`,
    };
    setCurrentDetails(fitDetails(text[result.outcome]));
    return result;
  }
}

/** Runs the legacy code for check-ins started before `v: 2`. */
export async function checkinWorkflow(input: CheckinInput): Promise<CheckinResult> {
  return input.v === 2 ? runCheckin(input) : legacyCheckinWorkflow(input);
}
