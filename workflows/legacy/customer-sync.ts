/**
 * LEGACY customer sync, frozen: runs started before the customer workflow (input without
 * `v: 2`). Change nothing here.
 *
 * customer-sync-<customer>: brings everything of one Nexudus customer in line after
 * AccessControlUpdate / CoworkerUpdate (Nexudus has no webhook for passes: they surface only
 * here), or ends everything after CoworkerDelete. Webhooks that arrive while a sync runs are
 * coalesced into one more pass.
 */
import { condition, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { CustomerSyncSummary } from '../../activities/customers';
import { customerSyncRequestedSignal, type CustomerSyncRequest } from '../../src/contract/customer';
import { ACTIVITY_OPTIONS } from '../policy';

const { syncCustomer, endCustomerGrants } = proxyActivities<Activities>(ACTIVITY_OPTIONS);


export interface CustomerSyncResult {
  passes: number;
  syncs: number;
  last: CustomerSyncSummary | null;
  deleted: boolean;
}

export async function legacyCustomerSyncWorkflow(input: { customerId: number }): Promise<CustomerSyncResult> {
  const pending: CustomerSyncRequest[] = [];
  setHandler(customerSyncRequestedSignal, (request) => {
    pending.push(request);
  });
  const result: CustomerSyncResult = { passes: 0, syncs: 0, last: null, deleted: false };
  // The first request arrives with the start (signal-with-start); later ones while we work.
  if (pending.length === 0) await condition(() => pending.length > 0, '1 minute');
  while (pending.length > 0) {
    const batch = pending.splice(0);
    const deleted = batch.some((r) => r.deleted);
    setCurrentDetails(`Syncing Nexudus customer ${input.customerId} (${batch.map((r) => r.reason).join(', ')})`);
    if (deleted) {
      await endCustomerGrants({ customerId: input.customerId });
      result.deleted = true;
    } else {
      result.last = await syncCustomer({ customerId: input.customerId });
      result.passes = result.last.passes;
    }
    result.syncs++;
  }
  return result;
}
