/**
 * The grant workflows' activities (`createGrantActivities`): ask the memberships of the customer's Kisi user for leases (finding
 * or creating the Kisi user first when the grant does not know it), and re-read a grant's record on
 * a retry. The legacy `acquireLeases` serves grants still running the legacy code for the moment
 * between a deploy and their move onto the current code.
 */
import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { MEMBERSHIP_WORKFLOW_TYPE, requestLeaseSignal, type LeaseRequest, type MembershipInput } from '../src/contract/membership';
import type { CustomerFacts } from '../src/domain/customer';
import type { AccessWindow, GrantSpec } from '../src/domain/grant-spec';
import type { Person, RequestResult } from '../src/domain/grant-ledger';
import { legacyMembershipWorkflowId, membershipWorkflowId, type GrantKind } from '../src/domain/ids';
import { cardValues, type NexudusCoworker } from '../src/domain/nexudus-entities';
import { errorMessage } from '../src/clients/errors';
import { cardsAssignedSignal, CUSTOMER_WORKFLOW_TYPE, type CardsAssigned, type CustomerWorkflowInput } from '../src/contract/customer';
import { customerSyncWorkflowId } from '../src/domain/ids';
import { syncCards, type CardDeps } from './cards';
import { CustomerEmail, KisiGroupIds, NexudusCustomerId } from '../src/domain/search-attributes';
import { fitSummary } from '../src/domain/temporal-limits';
import { requestCustomerSync } from '../src/temporal/starters';
import type { SpecSource } from '../src/clients/nexudus-grant-specs';
import { acquireLeaseSignal, type LeaseRequest as LegacyLeaseRequest } from '../src/contract/legacy';
import { laneForWindow, temporalPriority, type Lane } from '../src/domain/lanes';
import { activityNow } from './clock';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface GrantActivityDeps {
  temporal: Client;
  taskQueue: string;
  kisiUsers: KisiUsers;
  specs: SpecSource;
  /** KISI_MAX_VALIDITY in ms (0: assignments without an end, as before). */
  maxValidityMs: number;
  cards: CardDeps;
}

export interface RequestLeasesInput {
  grantId: string;
  customerId: number;
  customerName: string | null;
  /** The email the record carried (contracts do), a hint when the grant knows no facts. */
  specEmail: string | null;
  groups: Array<{ groupId: number; ownWrite: boolean }>;
  window: AccessWindow;
  requestSeq: number;
  /** Find (or create) the customer's Kisi user first; otherwise `person` is current. */
  resolve: boolean;
  /** Ignore every kept answer (operator retry, a stale person). */
  fresh: boolean;
  person: Person | null;
  /** The newest customer facts the grant heard (they win over older kept records). */
  facts: CustomerFacts | null;
}

/** Legacy input (grants started before memberships followed the Kisi user). */
export interface AcquireLeasesInput {
  grantId: string;
  customerId: number;
  customerEmail: string | null;
  customerName: string | null;
  groupIds: number[];
  window: AccessWindow;
  requestSeq: number;
  refreshUser?: boolean;
}

export function createGrantActivities(deps: GrantActivityDeps) {
  /**
   * A new Kisi user gets the customer's cards at once, from its first door on; the customer
   * workflow records them as its own (only those are ever taken back). A card problem never
   * delays the door: anything that goes wrong here is left to the customer workflow's own sync.
   */
  async function giveCards(customerId: number, kisiUserId: number, coworker: NexudusCoworker): Promise<void> {
    try {
      const cards = await syncCards(deps.cards, { customerId, coworker, kisiUserId, owned: [] });
      const assigned: CardsAssigned = { kisiUserId, owned: cards.owned, problems: cards.problems };
      await deps.temporal.workflow.signalWithStart(CUSTOMER_WORKFLOW_TYPE, {
        workflowId: customerSyncWorkflowId(customerId),
        taskQueue: deps.taskQueue,
        args: [{ v: 2, customerId } satisfies CustomerWorkflowInput],
        signal: cardsAssignedSignal,
        signalArgs: [assigned],
        typedSearchAttributes: [{ key: NexudusCustomerId, value: String(customerId) }],
        staticSummary: `Nexudus customer ${customerId}`,
      });
    } catch (error) {
      log.warn('cards not assigned with the new Kisi user: the customer sync assigns them', { customerId, error: errorMessage(error) });
      await requestCustomerSync(deps.temporal, customerId, { deleted: false, reason: 'kisi-user-created', cardsOnly: true }, { taskQueue: deps.taskQueue });
    }
  }

  return {
    /**
     * Resolves who the customer is in Kisi when asked, then signals (starting when needed) the
     * membership of that Kisi user for each group with the lease. Idempotent: a repeated request
     * with the same number changes nothing. An inactive customer gets no lease at all.
     */
    async requestLeases(input: RequestLeasesInput): Promise<RequestResult> {
      // A person at the door now, or an operator waiting, goes first.
      const lane: Lane = input.fresh ? 'live' : laneForWindow(input.window.from, activityNow());
      return asActivity(async () => {
        let person = input.person;
        let facts = input.facts;
        /** A Kisi user created just now gets the customer's cards, after its doors (they come first). */
        let newUserCards: NexudusCoworker | null = null;
        if (input.resolve || person === null) {
          const resolution = await deps.kisiUsers.resolve({ customerId: input.customerId, name: input.customerName, known: input.facts }, input.fresh);
          facts = resolution.facts;
          if (!resolution.active || !resolution.person) return { person: null, active: false, facts, leases: [] };
          person = resolution.person;
          if (resolution.created && resolution.coworker && cardValues(resolution.coworker).length > 0) newUserCards = resolution.coworker;
        }
        const leases: RequestResult['leases'] = [];
        const priority = temporalPriority(lane); // of a membership started now (a running one keeps its own)
        for (const { groupId, ownWrite } of input.groups) {
          Context.current().heartbeat(groupId);
          const membershipId = membershipWorkflowId(person.kisiUserId, groupId);
          const args: MembershipInput = { v: 2, kisiUserId: person.kisiUserId, groupId, email: person.email };
          const request: LeaseRequest = { leaseId: input.grantId, customerId: input.customerId, window: input.window, requestSeq: input.requestSeq, maxValidityMs: deps.maxValidityMs, ...(ownWrite ? { ownWrite } : {}) };
          await deps.temporal.workflow.signalWithStart(MEMBERSHIP_WORKFLOW_TYPE, {
            workflowId: membershipId,
            taskQueue: deps.taskQueue,
            args: [args],
            signal: requestLeaseSignal,
            signalArgs: [request],
            staticSummary: fitSummary(`Kisi group ${groupId} membership of Kisi user ${person.kisiUserId} (${person.email})`),
            priority,
            // Reconcile and operators find memberships by group and email; the customer is the first holder's.
            typedSearchAttributes: [
              { key: NexudusCustomerId, value: String(input.customerId) },
              { key: CustomerEmail, value: person.emailKey },
              { key: KisiGroupIds, value: [String(groupId)] },
            ],
          });
          leases.push({ groupId, membershipId });
        }
        if (newUserCards) await giveCards(input.customerId, person.kisiUserId, newUserCards);
        return { person, active: true, facts, leases };
      }, { lane });
    },

    /** LEGACY: leases on memberships keyed by customer, for grants still on the legacy code. */
    async acquireLeases(input: AcquireLeasesInput): Promise<{ kisiUserId: number; customerEmail: string }> {
      return asActivity(async () => {
        const user = await deps.kisiUsers.ensure({ customerId: input.customerId, email: input.customerEmail, name: input.customerName }, input.refreshUser === true);
        for (const groupId of input.groupIds) {
          Context.current().heartbeat(groupId);
          await deps.temporal.workflow.signalWithStart<(arg: { customerId: number; groupId: number }) => Promise<void>, [LegacyLeaseRequest]>(MEMBERSHIP_WORKFLOW_TYPE, {
            workflowId: legacyMembershipWorkflowId(input.customerId, groupId),
            taskQueue: deps.taskQueue,
            args: [{ customerId: input.customerId, groupId }],
            signal: acquireLeaseSignal,
            signalArgs: [{ leaseId: input.grantId, window: input.window, kisiUserId: user.kisiUserId, requestSeq: input.requestSeq }],
            staticSummary: fitSummary(`Kisi group ${groupId} membership of Nexudus customer ${input.customerId} (${user.email})`),
            typedSearchAttributes: [
              { key: NexudusCustomerId, value: String(input.customerId) },
              { key: CustomerEmail, value: deps.kisiUsers.emailKey(user.email) },
              { key: KisiGroupIds, value: [String(groupId)] },
            ],
          });
        }
        return { kisiUserId: user.kisiUserId, customerEmail: deps.kisiUsers.emailKey(user.email) };
      }, { lane: laneForWindow(input.window.from, activityNow()) });
    },

    /** The record behind a grant as Nexudus has it now, mapped with the current access map. */
    async refreshGrantSpec(input: { kind: GrantKind; sourceId: number; customerId: number }): Promise<GrantSpec> {
      return asActivity(() => deps.specs.load(input.kind, input.sourceId, input.customerId), { lane: 'live' }); // an operator's retry
    },
  };
}
