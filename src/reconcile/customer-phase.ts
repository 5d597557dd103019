/**
 * Reconcile from the Nexudus customers: who each customer is now (email, active) against what
 * their running grants hold. This is how reconcile finds a customer whose access sits on the Kisi
 * user of an email they no longer have (a CoworkerUpdate that never arrived), a deactivation or
 * reactivation that was missed, and a customer deleted without its CoworkerDelete.
 *
 *   1. list the running grants of this deployment (visibility: free), grouped by customer;
 *   2. list every Nexudus customer (pages of 1000: a handful of calls), noting each record in the
 *      worker's customer directory so grants starting soon need no Nexudus read;
 *   3. a customer whose grants disagree with the record gets a customer sync (reason `reconcile`):
 *      the customer workflow re-reads them and moves their grants (one function decides, as for a
 *      webhook). Grants agreeing with their customer cost nothing.
 *
 * A grant "disagrees" when its CustomerEmail attribute holds another email key than the record's
 * (while the customer may enter: an inactive customer holds nothing anywhere), or when it is
 * suspended while the customer may enter, or not suspended while they may not. A grant cancelled
 * by an operator (dormant) or already revoked holds nothing and is not compared; a grant that has
 * not learnt its customer's email yet (no CustomerEmail) is compared on the active state only.
 */
import type { Client } from '@temporalio/client';
import type { NexudusClient } from '../clients/nexudus';
import { customerFacts, mayEnter } from '../domain/customer';
import { UNKNOWN_CUSTOMER } from '../domain/grant-spec';
import type { NexudusCoworker } from '../domain/nexudus-entities';
import { requestCustomerSync } from '../temporal/starters';
import { customerSyncWorkflowId } from '../domain/ids';
import type { RunningGrant } from './compare';
import type { PhaseProgress } from './progress';
import { listRunningGrants } from './visibility';

export interface CustomerPhaseDeps {
  nexudus: Pick<NexudusClient, 'listCoworkers'>;
  temporal: Client;
  taskQueue: string;
  /** What the CustomerEmail search attribute holds for an email (KisiUsers.emailKey). */
  emailKey: (email: string) => string;
  /** The one rule of the customer sync: whether a grant holds another idea of the customer (activities/customers.ts). */
  differsFrom: (grant: RunningGrant, key: string | null, enter: boolean) => boolean;
  /** Keeps each record read (the worker's customer directory). */
  note?: (coworker: NexudusCoworker) => void;
  throwIfCancelled?: () => void;
}

export interface CustomerPhaseInput {
  dryRun: boolean;
}

const CHUNK = 100;

export async function reconcileCustomers(deps: CustomerPhaseDeps, input: CustomerPhaseInput, progress: PhaseProgress): Promise<void> {
  const tally = progress.tally;
  const resumeAfter = progress.cursor === null ? null : Number(progress.cursor);

  // Grants first: a customer with a grant listed here was created before it, so before the
  // customer listing below; a customer missing from that listing is really gone.
  progress.at('listing running grants', 0, 0);
  const byCustomer = new Map<number, RunningGrant[]>();
  for (const grant of (await listRunningGrants(deps.temporal, deps.taskQueue)).values()) {
    if (grant.customerId === null || grant.customerId === UNKNOWN_CUSTOMER) continue; // a visitor's booking: nobody to follow
    byCustomer.set(grant.customerId, [...(byCustomer.get(grant.customerId) ?? []), grant]);
  }

  progress.at('listing Nexudus customers', 0, 0);
  const records = new Map<number, NexudusCoworker>();
  for (const coworker of await deps.nexudus.listCoworkers()) {
    records.set(coworker.Id, coworker);
    deps.note?.(coworker);
  }

  const customers = [...byCustomer.keys()].sort((a, b) => a - b).filter((id) => resumeAfter === null || id > resumeAfter);
  for (let i = 0; i < customers.length; i += CHUNK) {
    deps.throwIfCancelled?.();
    progress.at('comparing customers with their grants', i, customers.length);
    const chunk = customers.slice(i, i + CHUNK);
    for (const customerId of chunk) {
      tally.count('checked');
      const why = disagreement(byCustomer.get(customerId)!, records.get(customerId), deps);
      if (why === null) continue;
      const ref = customerSyncWorkflowId(customerId);
      tally.record('customersSynced', 'customer-sync', ref, `${input.dryRun ? 'would request' : 'requested'} a customer sync: ${why}`);
      if (input.dryRun) continue;
      try {
        await requestCustomerSync(deps.temporal, customerId, { deleted: false, reason: 'reconcile' }, { taskQueue: deps.taskQueue, lane: 'background' });
      } catch (error) {
        tally.error(ref, `cannot request the sync: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    progress.checkpoint(String(chunk[chunk.length - 1]));
  }
  progress.at('customers done', customers.length, customers.length);
}

/** Why the customer's grants disagree with their record, or null when they agree. */
export function disagreement(grants: RunningGrant[], record: NexudusCoworker | undefined, deps: Pick<CustomerPhaseDeps, 'emailKey' | 'differsFrom'>): string | null {
  if (!record) return `not in Nexudus' customer list (deleted?) while ${names(grants)} still run${grants.length === 1 ? 's' : ''}`;
  const facts = customerFacts(record);
  const enter = mayEnter(facts);
  const key = facts.email ? deps.emailKey(facts.email) : null;
  const reasons: string[] = [];
  for (const grant of grants) {
    // Dormant (an operator's cancellation) or ending: holds nothing, shows the email it last had.
    if (grant.state === 'cancelled' || grant.state === 'revoked') continue;
    // The email matters only while the customer may enter, and only once the grant knows one.
    const compareKey = enter && grant.customerEmail !== null ? key : null;
    if (!deps.differsFrom(grant, compareKey, enter)) continue;
    if (compareKey !== null && grant.customerEmail !== compareKey) reasons.push(`${grant.workflowId} holds its access on the Kisi user of another email (the customer's email is now ${facts.email})`);
    else if (enter) reasons.push(`${grant.workflowId} is suspended but the customer is active in Nexudus`);
    else reasons.push(`${grant.workflowId} is ${grant.state ?? 'running'} but the customer is inactive in Nexudus`);
  }
  return reasons.length > 0 ? reasons.join('; ') : null;
}

function names(grants: RunningGrant[]): string {
  const ids = grants.map((g) => g.workflowId);
  return ids.length <= 3 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')} and ${ids.length - 3} more`;
}
