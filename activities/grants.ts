/**
 * Activities of grant workflows: take leases on the customer's memberships (creating the Kisi user
 * first), and re-read a grant's record on an operator's retry.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { AccessWindow, GrantSpec } from '../src/domain/grant-spec';
import { membershipWorkflowId, type GrantKind } from '../src/domain/ids';
import { CustomerEmail, KisiGroupIds, NexudusCustomerId } from '../src/domain/search-attributes';
import { fitSummary } from '../src/domain/temporal-limits';
import { payloadKeysOf, searchableEmail } from '../src/temporal/payload-codec';
import type { SpecSource } from '../src/grants/specs';
import type { membershipWorkflow } from '../workflows/membership';
import { acquireLeaseSignal, type LeaseRequest } from '../workflows/messages';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface GrantActivityDeps {
  temporal: Client;
  taskQueue: string;
  kisiUsers: KisiUsers;
  specs: SpecSource;
}

export interface AcquireLeasesInput {
  grantId: string;
  customerId: number;
  customerEmail: string | null;
  customerName: string | null;
  groupIds: number[];
  window: AccessWindow;
  requestSeq: number;
  /** Set on an operator's retry: look the Kisi user up again instead of trusting the cache. */
  refreshUser?: boolean;
}

export function createGrantActivities(deps: GrantActivityDeps) {
  return {
    /**
     * Ensures the Kisi user, then signals (starting when needed) each group's membership workflow
     * with the lease. Idempotent: a repeated request with the same sequence changes nothing.
     */
    async acquireLeases(input: AcquireLeasesInput): Promise<{ kisiUserId: number; customerEmail: string }> {
      return asActivity(async () => {
        const user = await deps.kisiUsers.ensure({ customerId: input.customerId, email: input.customerEmail, name: input.customerName }, input.refreshUser === true);
        // What CustomerEmail holds: the email, or its keyed hash when payloads are encrypted.
        const emailAttribute = searchableEmail(payloadKeysOf(deps.temporal), user.email);
        for (const groupId of input.groupIds) {
          Context.current().heartbeat(groupId);
          await deps.temporal.workflow.signalWithStart<typeof membershipWorkflow, [LeaseRequest]>(
            'membershipWorkflow',
            {
              workflowId: membershipWorkflowId(input.customerId, groupId),
              taskQueue: deps.taskQueue,
              args: [{ customerId: input.customerId, groupId }],
              signal: acquireLeaseSignal,
              signalArgs: [{ leaseId: input.grantId, window: input.window, kisiUserId: user.kisiUserId, requestSeq: input.requestSeq }],
              staticSummary: fitSummary(`Kisi group ${groupId} membership of Nexudus customer ${input.customerId} (${user.email})`),
              // Reconcile and operators find memberships by customer and group.
              typedSearchAttributes: [
                { key: NexudusCustomerId, value: String(input.customerId) },
                { key: CustomerEmail, value: emailAttribute },
                { key: KisiGroupIds, value: [String(groupId)] },
              ],
            },
          );
        }
        // The grant upserts this as its CustomerEmail: the searchable value, not the plain email.
        return { kisiUserId: user.kisiUserId, customerEmail: emailAttribute };
      });
    },

    /** The record behind a grant as Nexudus has it now, mapped with the current access map. */
    async refreshGrantSpec(input: { kind: GrantKind; sourceId: number; customerId: number }): Promise<GrantSpec> {
      return asActivity(() => deps.specs.load(input.kind, input.sourceId, input.customerId));
    },
  };
}
