/**
 * How workflows are started from outside them, in one place (the ingress, the inbox forwarder,
 * customer sync, reconcile, the pass watch and the grants CLI use it): `deliverSpec` hands the
 * latest state of a Nexudus record to its grant workflow, `requestCustomerSync`, `startCheckin`
 * and `pokePassWatch` start or signal the others.
 *
 * A grant is signal-with-started, so create, update and delete work in any order and any number of
 * times.
 *
 * A closed grant is final (REJECT_DUPLICATE): a webhook retried after its grant finished, or a
 * create that arrives after the delete, starts nothing. The single exception: a grant that ended
 * because its window passed comes back when the record now asks for access in the future (a
 * booking moved after it ended, a contract whose cancellation was withdrawn).
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type SearchAttributePair } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { grantsAnythingAfter, type GrantSpec } from '../domain/grant-spec';
import { checkinWorkflowId, customerSyncWorkflowId, grantWorkflowId } from '../domain/ids';
import { CustomerEmail, GrantKind as GrantKindKey, GrantState, NexudusCustomerId, grantAttributePairs, grantAttributeValues } from '../domain/search-attributes';
import { laneForWindow, temporalPriority, type Lane } from '../domain/lanes';
import { fitSummary } from '../domain/temporal-limits';
import { CHECKIN_WORKFLOW_TYPE, type CheckinInput } from '../contract/checkin';
import { CUSTOMER_WORKFLOW_TYPE, customerSyncRequestedSignal, type CustomerSyncRequest, type CustomerWorkflowInput } from '../contract/customer';
import { GRANT_WORKFLOW_TYPE, sourceChangedSignal, type GrantInput, type GrantResult } from '../contract/grant';
import { PASS_WATCH_WORKFLOW_TYPE, passesMayHaveChangedSignal, passWatchWorkflowId, type PassWatchInput } from '../contract/pass-watch';
import { payloadKeysOf, searchableEmail } from './payload-codec';

export { GRANT_WORKFLOW_TYPE };

export type DeliveryOutcome =
  /** signalled a running grant or started a new one */
  | 'delivered'
  /** the grant had finished: nothing to do */
  | 'closed'
  /** the grant had expired and the record asks for access again: a new run started */
  | 'revived'
  /** nothing maps to Kisi and no grant exists: nothing to do */
  | 'unmapped';

export interface DeliverOptions {
  taskQueue: string;
  /**
   * Start a grant even when the spec maps to no Kisi group. Deletions whose record does not say
   * what was booked use it, so a late create cannot resurrect a deleted record.
   */
  startEvenIfUnmapped?: boolean;
  /** Label for the UI summary in the location's zone. */
  timeZone?: string;
  now?: number;
}

export async function deliverSpec(client: Client, spec: GrantSpec, options: DeliverOptions): Promise<DeliveryOutcome> {
  const workflowId = grantWorkflowId(spec.kind, spec.sourceId);
  const now = options.now ?? Date.now();
  const mapped = spec.groups.length > 0;

  if (!mapped && !options.startEvenIfUnmapped) {
    // An unmapped record needs no grant, but a running one (resource changed to an unmapped one) must hear of it.
    try {
      await client.workflow.getHandle(workflowId).signal(sourceChangedSignal, spec);
      return 'delivered';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'unmapped';
      throw error;
    }
  }

  try {
    await startOrSignal(client, spec, options, now, 'REJECT_DUPLICATE');
    return 'delivered';
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }

  // A closed run with this id exists.
  const handle = client.workflow.getHandle(workflowId);
  if ((await closedGrantVerdict(handle, spec, now)) === 'closed') return 'closed';
  try {
    await startOrSignal(client, spec, options, now, 'ALLOW_DUPLICATE');
  } catch (error) {
    // Another delivery revived it first: our signal went to that run... or it did not; signal now.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    await handle.signal(sourceChangedSignal, spec);
  }
  return 'revived';
}

/**
 * For a grant id whose last run has closed: may a new run start, or is the grant final? Only a
 * grant that ended by itself at the end of its window ('expired') comes back, and only for a
 * record that still grants something; cancelled, terminated and ended (deleted) ones are final.
 * Shared with reconcile's dry run, which must predict exactly what a delivery would do.
 */
export async function closedGrantVerdict(handle: WorkflowHandle, spec: GrantSpec, now: number): Promise<'revive' | 'closed'> {
  if (!grantsAnythingAfter(spec, now)) return 'closed';
  const described = await handle.describe();
  if (described.status.name !== 'COMPLETED') return 'closed'; // cancelled or terminated by an operator: final
  const result = (await handle.result()) as GrantResult;
  return result.reason === 'expired' ? 'revive' : 'closed';
}

async function startOrSignal(
  client: Client,
  spec: GrantSpec,
  options: DeliverOptions,
  now: number,
  workflowIdReusePolicy: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE',
): Promise<void> {
  const input: GrantInput = { v: 2, spec, openStart: now };
  const values = grantAttributeValues(spec, 'scheduled', now);
  // Search attributes are not encrypted: with payload keys the email is stored as its keyed hash.
  values.customerEmail = searchableEmail(payloadKeysOf(client), values.customerEmail);
  const attributes = grantAttributePairs(values).filter(
    (pair) => pair.value !== null && !(Array.isArray(pair.value) && pair.value.length === 0),
  ) as SearchAttributePair[];
  await client.workflow.signalWithStart(GRANT_WORKFLOW_TYPE[spec.kind], {
    workflowId: grantWorkflowId(spec.kind, spec.sourceId),
    taskQueue: options.taskQueue,
    args: [input],
    signal: sourceChangedSignal,
    signalArgs: [spec],
    workflowIdReusePolicy,
    typedSearchAttributes: attributes,
    staticSummary: fitSummary(grantSummary(spec, options.timeZone ?? 'UTC')),
    // Access starting within the hour (or already begun, or taken away) goes ahead of later windows.
    priority: temporalPriority(laneForWindow(spec.window?.from ?? null, now)),
  });
}

/**
 * One line an operator reads in the Web UI: what, for whom, when (in the location's zone). It is
 * fixed at start, so it names the customer, not their email (which can change; the current email
 * is in the grant's details and CustomerEmail attribute).
 */
export function grantSummary(spec: GrantSpec, timeZone: string): string {
  const who = spec.customerName ? `${spec.customerName} (customer ${spec.customerId})` : `customer ${spec.customerId}`;
  const kind = { booking: 'Booking', pass: 'Pass', contract: 'Contract' }[spec.kind];
  return `${kind} ${spec.sourceId}: ${spec.label} for ${who}${spec.window ? `, ${formatWindow(spec.window.from, spec.window.until, timeZone)}` : ''}`;
}

/**
 * The customer's name as grantSummary wrote it (null when the record named none, or the summary
 * was cut before it): the console shows who a grant is for without asking Nexudus.
 */
export function customerNameFromSummary(summary: string | null | undefined): string | null {
  const m = /^(?:Booking|Pass|Contract) \d+: .* for (.+?) \(customer \d+\)/.exec(summary ?? '');
  return m ? m[1]! : null;
}

function formatWindow(from: number | null, until: number | null, timeZone: string): string {
  const f = new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  const start = from === null ? 'now' : f.format(from);
  const end = until === null ? 'open-ended' : f.format(until);
  return `access ${start} → ${end} (${timeZone})`;
}

/**
 * Asks for a per-customer sync (AccessControlUpdate, CoworkerUpdate) or the end of all of a
 * customer's grants (CoworkerDelete). Requests during a running sync are coalesced by it.
 */
export async function requestCustomerSync(
  client: Client,
  customerId: number,
  request: CustomerSyncRequest,
  options: { taskQueue: string; lane?: Lane },
): Promise<void> {
  // A customer's deletion takes access away now; a webhook's sync is mostly one that changes
  // nothing (the grants it finds start with their own priority); reconcile's is background.
  const lane = options.lane ?? (request.deleted ? 'live' : 'scheduled');
  const args: CustomerWorkflowInput = { v: 2, customerId };
  await client.workflow.signalWithStart(CUSTOMER_WORKFLOW_TYPE, {
    workflowId: customerSyncWorkflowId(customerId),
    taskQueue: options.taskQueue,
    args: [args],
    signal: customerSyncRequestedSignal,
    signalArgs: [request],
    typedSearchAttributes: [{ key: NexudusCustomerId, value: String(customerId) }],
    staticSummary: `Nexudus customer ${customerId}`,
    priority: temporalPriority(lane),
  });
}

/**
 * Tells the pass watcher (workflows/pass-watch.ts) that passes may have changed, starting it if it
 * is not running. The ingress sends it throttled (src/ingress/pass-poker.ts).
 */
export async function pokePassWatch(client: Client, options: { taskQueue: string }): Promise<void> {
  const args: PassWatchInput = {};
  await client.workflow.signalWithStart(PASS_WATCH_WORKFLOW_TYPE, {
    workflowId: passWatchWorkflowId(options.taskQueue),
    taskQueue: options.taskQueue,
    args: [args],
    signal: passesMayHaveChangedSignal,
    signalArgs: [],
    staticSummary: 'Pass watcher: passes changed in Nexudus to their grants, in the live lane',
    priority: temporalPriority('live'), // a day pass bought at the desk
  });
}

/**
 * Starts the check-in of one Kisi unlock event. The event uuid is the workflow id and a closed run
 * is never repeated, so Kisi delivering the same event again checks in nobody twice.
 */
export async function startCheckin(client: Client, input: CheckinInput, options: { taskQueue: string }): Promise<'started' | 'duplicate'> {
  const email = searchableEmail(payloadKeysOf(client), input.kisiUserEmail);
  try {
    await client.workflow.start(CHECKIN_WORKFLOW_TYPE, {
      workflowId: checkinWorkflowId(input.eventUuid),
      taskQueue: options.taskQueue,
      args: [{ ...input, v: 2 }],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [
        { key: GrantKindKey, value: 'checkin' },
        { key: GrantState, value: 'scheduled' },
        ...(email ? [{ key: CustomerEmail, value: email }] : []),
      ],
      staticSummary: fitSummary(`Door check-in: ${input.kisiUserEmail ?? `Kisi user ${input.kisiUserId}`} at ${input.lockName ?? `lock ${input.lockId}`}, ${input.unlockedAt}`),
      priority: temporalPriority('live'), // the person is at the door
    });
    return 'started';
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return 'duplicate';
    throw error;
  }
}
