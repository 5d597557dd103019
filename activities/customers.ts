/**
 * The customer workflow's activities: everything Nexudus says about one customer, brought to the
 * grants, to Kisi's cards, and to the door check-ins.
 *
 *   syncCustomerRecord  reads the customer; re-delivers their passes (Nexudus has no pass webhook:
 *                       this is how pass grants start, change and end), contracts and bookings,
 *                       each only when it differs from its running grant; tells the grants whose
 *                       idea of the customer is out of date; converges the cards.
 *   endCustomer         CoworkerDelete: every running grant ends, the cards go back.
 *   tellCustomerGrants  the facts to grants that disagree (also on a timer after a change).
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { NexudusClient } from '../src/clients/nexudus';
import type { AccessMap } from '../src/config/access-map';
import { customerChangedSignal } from '../src/contract/grant';
import { customerSyncRequestsReceivedQuery, type CardProblem, type OwnedCard } from '../src/contract/customer';
import { mayEnter, type CustomerFacts } from '../src/domain/customer';
import type { GrantSpec } from '../src/domain/grant-spec';
import { grantWorkflowId, parseGrantWorkflowId } from '../src/domain/ids';
import { deliverSpec, type DeliveryOutcome } from '../src/temporal/starters';
import { goneSpec, type SpecSource } from '../src/clients/nexudus-grant-specs';
import { compareWithGrant, wantsGrant, type RunningGrant } from '../src/reconcile/compare';
import { listRunningGrants } from '../src/reconcile/visibility';
import { syncCards, type CardDeps } from './cards';
import { activityNow } from './clock';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface CustomerActivityDeps {
  nexudus: Pick<NexudusClient, 'getCoworker' | 'listCoworkerTimePasses' | 'listContracts' | 'getContract' | 'listBookings' | 'findCoworkersByEmail'>;
  kisi: CardDeps['kisi'];
  temporal: Client;
  taskQueue: string;
  kisiUsers: KisiUsers;
  specs: SpecSource;
  accessMap: () => AccessMap;
}

export interface CustomerSyncSummary {
  customerId: number;
  passes: number;
  contracts: number;
  bookings: number;
  /** Grants ended because their record is gone. */
  ended: number;
  outcomes: Partial<Record<DeliveryOutcome, number>>;
  kisiUserId: number | null;
  cards: { added: number; removed: number } | null;
}

export interface SyncCustomerInput {
  customerId: number;
  /** Only the cards (a Kisi user was just created): no re-delivery of records. */
  cardsOnly: boolean;
  owned: OwnedCard[];
}

export type SyncCustomerResult = (
  | { deleted: true; owned: OwnedCard[]; ended: number }
  | {
      deleted: false;
      facts: CustomerFacts;
      /** Grants told new facts (0 when every grant already knew them). */
      told: number;
      kisiUser: { kisiUserId: number; email: string } | null;
      owned: OwnedCard[];
      problems: CardProblem[];
      summary: CustomerSyncSummary;
    }
) & {
  /**
   * How many sync requests the customer workflow (this run) had received just before the customer
   * was read from Nexudus: they are all answered by this sync. Undefined when unknown.
   */
  answersRequestsUpTo?: number;
};

/** How long a sync waits for its workflow to say how many requests it has received. */
const REQUESTS_QUERY_TIMEOUT_MS = 2_000;

/** Bookings re-delivered by a sync: from a day back (ones still open) to this far ahead. */
const BOOKING_HORIZON_MS = 90 * 24 * 3_600_000;

export function createCustomerActivities(deps: CustomerActivityDeps) {
  const deliver = (spec: GrantSpec, startEvenIfUnmapped = false) =>
    deliverSpec(deps.temporal, spec, { taskQueue: deps.taskQueue, timeZone: deps.accessMap().timeZone, now: activityNow(), startEvenIfUnmapped });

  /** The count of sync requests the workflow run has received; undefined if it cannot say. */
  async function requestsReceived(execution: { workflowId: string; runId: string } | undefined): Promise<number | undefined> {
    if (!execution) return undefined;
    const { workflowId, runId } = execution;
    try {
      const count = await deps.temporal.withDeadline(Date.now() + REQUESTS_QUERY_TIMEOUT_MS, () => deps.temporal.workflow.getHandle(workflowId, runId).query(customerSyncRequestsReceivedQuery));
      return Number.isInteger(count) && count >= 0 ? count : undefined;
    } catch {
      return undefined; // a worker on older code, a slow answer: nothing is coalesced
    }
  }

  return {
    async syncCustomerRecord(input: SyncCustomerInput): Promise<SyncCustomerResult> {
      return asActivity(async () => {
        // Which of the workflow's sync requests this read answers: those it has received when the
        // request goes out (after the gate's wait, where a 9:00 burst queues). Unknown (nothing
        // coalesced) if the query fails or the read joins one already in flight.
        const execution = Context.current().info.workflowExecution;
        let answersRequestsUpTo: number | undefined;
        const learnAnswered = async () => {
          answersRequestsUpTo = await requestsReceived(execution);
        };
        const entry = await deps.kisiUsers.directory.get(input.customerId, true, learnAnswered);
        if ('gone' in entry) return { deleted: true, ...(await endAll(input.customerId, input.owned)), answersRequestsUpTo };
        const { coworker, facts } = entry;
        const summary: CustomerSyncSummary = { customerId: input.customerId, passes: 0, contracts: 0, bookings: 0, ended: 0, outcomes: {}, kisiUserId: null, cards: null };
        if (!input.cardsOnly) await redeliver(input.customerId, facts, summary);
        const told = await tellGrants(input.customerId, facts);
        // Cards go on the Kisi user of the current email, once Kisi has one (the first grant creates it).
        const kisiUserId = mayEnter(facts) && facts.email ? await deps.kisiUsers.existing(facts.email) : null;
        const cards = await syncCards(deps, { customerId: input.customerId, coworker: mayEnter(facts) ? coworker : null, kisiUserId, owned: input.owned });
        summary.kisiUserId = kisiUserId;
        summary.cards = {
          added: cards.owned.filter((c) => !input.owned.some((o) => o.assignmentId === c.assignmentId)).length,
          removed: input.owned.filter((o) => !cards.owned.some((c) => c.assignmentId === o.assignmentId)).length,
        };
        return { deleted: false, facts, told, kisiUser: kisiUserId !== null && facts.email ? { kisiUserId, email: facts.email } : null, owned: cards.owned, problems: cards.problems, summary, answersRequestsUpTo };
      });
    },

    /** CoworkerDelete: every running grant of the customer ends, and the cards we assigned go back. */
    async endCustomer(input: { customerId: number; owned: OwnedCard[] }): Promise<{ ended: number; owned: OwnedCard[] }> {
      return asActivity(async () => {
        deps.kisiUsers.directory.forget(input.customerId);
        const { ended, owned } = await endAll(input.customerId, input.owned);
        return { ended, owned };
      });
    },

    /** The customer's facts to each running grant whose idea of the customer differs. */
    async tellCustomerGrants(input: { customerId: number; facts: CustomerFacts }): Promise<{ told: number }> {
      return asActivity(async () => ({ told: await tellGrants(input.customerId, input.facts) }));
    },

    // ---- legacy (customer syncs started before the customer workflow) --------------------------

    async syncCustomer(input: { customerId: number }): Promise<CustomerSyncSummary> {
      return asActivity(async () => {
        const summary: CustomerSyncSummary = { customerId: input.customerId, passes: 0, contracts: 0, bookings: 0, ended: 0, outcomes: {}, kisiUserId: null, cards: null };
        const entry = await deps.kisiUsers.directory.get(input.customerId, true);
        if ('gone' in entry) {
          summary.ended = (await endAll(input.customerId, [])).ended;
          return summary;
        }
        await redeliver(input.customerId, entry.facts, summary);
        await tellGrants(input.customerId, entry.facts);
        return summary;
      });
    },

    async endCustomerGrants(input: { customerId: number }): Promise<{ ended: number }> {
      return asActivity(async () => ({ ended: (await endAll(input.customerId, [])).ended }));
    },
  };

  /**
   * Passes, contracts and bookings of the customer to their grants: a record whose grant already
   * follows it is left alone (a sync that changes nothing sends nothing).
   */
  async function redeliver(customerId: number, facts: CustomerFacts, summary: CustomerSyncSummary): Promise<void> {
    const count = (o: DeliveryOutcome) => (summary.outcomes[o] = (summary.outcomes[o] ?? 0) + 1);
    const running = await listRunningGrants(deps.temporal, deps.taskQueue, undefined, customerId);
    const settle = async (spec: GrantSpec) => {
      const grant = running.get(grantWorkflowId(spec.kind, spec.sourceId));
      const now = activityNow();
      if (grant ? compareWithGrant(spec, grant).verdict === 'same' : !wantsGrant(spec, now)) return;
      count(await deliver(spec));
    };

    const passes = await deps.nexudus.listCoworkerTimePasses({ coworkerId: customerId });
    const seenPasses = new Set<number>();
    for (const pass of passes) {
      seenPasses.add(pass.Id);
      await settle(await deps.specs.fromPass(pass, { customerName: facts.name, customerEmail: facts.email }));
      summary.passes++;
      Context.current().heartbeat();
    }
    // A pass grant whose pass is gone from Nexudus (deleted) ends.
    for (const grant of running.values()) {
      if (grant.kind === 'pass' && !seenPasses.has(grant.sourceId)) {
        count(await deliver(goneSpec('pass', grant.sourceId, customerId)));
        summary.ended++;
      }
    }
    // Lists omit collection fields (a contract's Desks): read each contract by id.
    for (const listed of await deps.nexudus.listContracts({ coworkerId: customerId })) {
      await settle(deps.specs.fromContract(await deps.nexudus.getContract(listed.Id)));
      summary.contracts++;
      Context.current().heartbeat();
    }
    const now = activityNow();
    const bookings = await deps.nexudus.listBookings({ coworkerId: customerId, from: new Date(now - 24 * 3_600_000).toISOString(), to: new Date(now + BOOKING_HORIZON_MS).toISOString() });
    for (const booking of bookings) {
      await settle(deps.specs.fromBooking(booking));
      summary.bookings++;
    }
  }

  /**
   * Tells the customer's running grants the facts, where visibility shows they hold another idea of
   * the customer: another email key, or suspended when the customer may enter (and the reverse).
   */
  async function tellGrants(customerId: number, facts: CustomerFacts): Promise<number> {
    const key = facts.email ? deps.kisiUsers.emailKey(facts.email) : null;
    const enter = mayEnter(facts);
    let told = 0;
    for (const grant of (await listRunningGrants(deps.temporal, deps.taskQueue, undefined, customerId)).values()) {
      if (!differsFrom(grant, key, enter)) continue;
      try {
        await deps.temporal.workflow.getHandle(grant.workflowId).signal(customerChangedSignal, facts);
        told++;
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error; // ended since it was listed
      }
    }
    return told;
  }

  async function endAll(customerId: number, owned: OwnedCard[]): Promise<{ ended: number; owned: OwnedCard[] }> {
    let ended = 0;
    for (const grant of (await listRunningGrants(deps.temporal, deps.taskQueue, undefined, customerId)).values()) {
      const parsed = parseGrantWorkflowId(grant.workflowId);
      if (!parsed) continue;
      await deliver(goneSpec(parsed.kind, parsed.sourceId, customerId));
      ended++;
    }
    const cards = await syncCards(deps, { customerId, coworker: null, kisiUserId: null, owned });
    return { ended, owned: cards.owned };
  }
}

/** Whether a grant, as visibility shows it, holds another idea of the customer than `key`/`enter`. */
export function differsFrom(grant: RunningGrant, key: string | null, enter: boolean): boolean {
  if (key !== null && grant.customerEmail !== key) return true;
  return enter ? grant.state === 'suspended' : grant.state !== 'suspended' && grant.state !== 'cancelled' && grant.state !== 'revoked';
}

