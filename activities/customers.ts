/**
 * Per-customer sync: everything Nexudus says about one customer, delivered to the grants. Passes
 * have no webhook of their own, so this is how pass grants start, change and end; contracts and
 * bookings are re-delivered too (harmless, and it repairs a lost webhook).
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { isNotFound } from '../src/clients/errors';
import type { NexudusClient } from '../src/clients/nexudus';
import type { AccessMap } from '../src/config/access-map';
import { parseGrantWorkflowId } from '../src/domain/ids';
import { deliverSpec, type DeliveryOutcome } from '../src/grants/deliver';
import { goneSpec, type SpecSource } from '../src/grants/specs';
import { activityNow } from './clock';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface CustomerActivityDeps {
  nexudus: Pick<NexudusClient, 'getCoworker' | 'listCoworkerTimePasses' | 'listContracts' | 'getContract' | 'listBookings'>;
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

/** Bookings re-delivered by a sync: from a day back (ones still open) to this far ahead. */
const BOOKING_HORIZON_MS = 90 * 24 * 3_600_000;

/** Running grants of a customer, from Temporal's visibility (eventually consistent, seconds behind). */
export async function runningGrantsOf(client: Client, customerId: number, kind?: string): Promise<string[]> {
  const query = [`NexudusCustomerId = "${customerId}"`, 'ExecutionStatus = "Running"', kind ? `GrantKind = "${kind}"` : 'GrantKind IN ("booking", "pass", "contract")'].join(' AND ');
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

export function createCustomerActivities(deps: CustomerActivityDeps) {
  const deliver = (spec: Parameters<typeof deliverSpec>[1], startEvenIfUnmapped = false) =>
    deliverSpec(deps.temporal, spec, { taskQueue: deps.taskQueue, timeZone: deps.accessMap().timeZone, now: activityNow(), startEvenIfUnmapped });

  return {
    async syncCustomer(input: { customerId: number }): Promise<CustomerSyncSummary> {
      return asActivity(async () => {
        const summary: CustomerSyncSummary = { customerId: input.customerId, passes: 0, contracts: 0, bookings: 0, ended: 0, outcomes: {}, kisiUserId: null, cards: null };
        const count = (o: DeliveryOutcome) => (summary.outcomes[o] = (summary.outcomes[o] ?? 0) + 1);
        let coworker;
        try {
          coworker = await deps.nexudus.getCoworker(input.customerId);
        } catch (error) {
          if (!isNotFound(error)) throw error;
          summary.ended = await endAll(input.customerId);
          return summary;
        }
        const refreshed = await deps.kisiUsers.refresh(coworker);
        summary.kisiUserId = refreshed.kisiUserId;
        summary.cards = refreshed.cards;

        const passes = await deps.nexudus.listCoworkerTimePasses({ coworkerId: input.customerId });
        const seenPasses = new Set<number>();
        for (const pass of passes) {
          seenPasses.add(pass.Id);
          count(await deliver(await deps.specs.fromPass(pass, { customerName: coworker.FullName ?? null, customerEmail: coworker.Email ?? null })));
          summary.passes++;
          Context.current().heartbeat();
        }
        // A pass grant whose pass is gone from Nexudus (deleted) ends.
        for (const id of await runningGrantsOf(deps.temporal, input.customerId, 'pass')) {
          const parsed = parseGrantWorkflowId(id);
          if (parsed && !seenPasses.has(parsed.sourceId)) {
            count(await deliver(goneSpec('pass', parsed.sourceId, input.customerId)));
            summary.ended++;
          }
        }

        // Lists omit collection fields (a contract's Desks): read each contract by id.
        for (const listed of await deps.nexudus.listContracts({ coworkerId: input.customerId })) {
          const contract = await deps.nexudus.getContract(listed.Id);
          count(await deliver(deps.specs.fromContract(contract)));
          summary.contracts++;
          Context.current().heartbeat();
        }
        const now = activityNow();
        const bookings = await deps.nexudus.listBookings({
          coworkerId: input.customerId,
          from: new Date(now - 24 * 3_600_000).toISOString(),
          to: new Date(now + BOOKING_HORIZON_MS).toISOString(),
        });
        for (const booking of bookings) {
          count(await deliver(deps.specs.fromBooking(booking)));
          summary.bookings++;
        }
        return summary;
      });
    },

    /** CoworkerDelete: every running grant of the customer ends (and gives its access back). */
    async endCustomerGrants(input: { customerId: number }): Promise<{ ended: number }> {
      return asActivity(async () => ({ ended: await endAll(input.customerId) }));
    },
  };

  async function endAll(customerId: number): Promise<number> {
    let ended = 0;
    for (const id of await runningGrantsOf(deps.temporal, customerId)) {
      const parsed = parseGrantWorkflowId(id);
      if (!parsed) continue;
      await deliver(goneSpec(parsed.kind, parsed.sourceId, customerId));
      ended++;
    }
    return ended;
  }
}
