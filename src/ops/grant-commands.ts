/**
 * What an operator does to grants, as functions over a Temporal client (and, for `show`, a Kisi
 * client): list this deployment's grants through visibility (its task queue's only), inspect one
 * grant and what Kisi holds for its customer, cancel (which revokes), send the retry signal, ask
 * for a customer sync. `npm run grants` (src/cli/grants.ts) parses arguments and prints; tests call
 * these directly.
 *
 * Never terminate: a grant gives its Kisi access back in its cancellation cleanup, and terminate
 * skips all workflow code. Nothing here offers it.
 */
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Client, WorkflowExecutionInfo, WorkflowHandle } from '@temporalio/client';
import type { KisiClient } from '../clients/kisi';
import { errorMessage } from '../clients/errors';
import { customerSyncWorkflowId, idFromText, legacyMembershipWorkflowId, parseGrantWorkflowId, parseMembershipWorkflowId } from '../domain/ids';
import {
  AccessEndsAt,
  AccessStartsAt,
  CustomerEmail,
  GrantKind,
  GrantState,
  KisiGroupIds,
  NexudusCustomerId,
} from '../domain/search-attributes';
import { requestCustomerSync } from '../temporal/starters';
import { GRANT_STATES, grantStatusQuery, retrySignal, type GrantStatus } from '../contract/grant';
import { grantListQuery, LISTABLE_KINDS, type GrantListFilter, type ListableKind } from '../temporal/visibility-queries';
import { membershipStatusQuery } from '../contract/membership';
import { membershipStatusQuery as legacyMembershipStatusQuery } from '../contract/legacy';
import { isHashedEmail, payloadKeysOf, searchableEmailQueryValues } from '../temporal/payload-codec';

export { GRANT_STATES, LISTABLE_KINDS, type ListableKind };

/**
 * A query is answered by a worker replaying the workflow: bounded, so a missing worker makes
 * `show` say so instead of hanging.
 */
const QUERY_DEADLINE_MS = 5_000;

/** The grant does not exist (never started, or its history is past retention). */
export class GrantNotFoundError extends Error {
  constructor(readonly workflowId: string) {
    super(`no grant ${workflowId}`);
    this.name = 'GrantNotFoundError';
  }
}

/** The command needs a running grant. */
export class GrantClosedError extends Error {
  constructor(
    readonly workflowId: string,
    readonly executionStatus: string,
    action: string,
  ) {
    super(`${workflowId} is already closed (${executionStatus}): nothing to ${action}`);
    this.name = 'GrantClosedError';
  }
}

// ---------------------------------------------------------------------------------------------
// list

export interface ListFilter extends GrantListFilter {
  /** The customer's email: matched as CustomerEmail holds it (a keyed hash with payload keys). */
  email?: string;
  limit: number;
}

export interface GrantRow {
  workflowId: string;
  type: string;
  executionStatus: string;
  kind: string | null;
  state: string | null;
  customerId: string | null;
  customerEmail: string | null;
  groups: string[];
  accessStartsAt: string | null;
  accessEndsAt: string | null;
  startTime: string;
  closeTime: string | null;
}

export interface GrantList {
  query: string;
  grants: GrantRow[];
  /** More matched than `limit`. */
  truncated: boolean;
}

/** The grants of this deployment (its task queue: TEMPORAL_TASK_QUEUE, as the worker polls) that match the filter. */
export async function listGrants(client: Client, taskQueue: string, filter: ListFilter): Promise<GrantList> {
  // With payload keys the query names hashes only: a visibility query travels and is logged in clear.
  const emailValues = filter.email === undefined ? undefined : searchableEmailQueryValues(payloadKeysOf(client), filter.email);
  const query = grantListQuery(taskQueue, filter, emailValues);
  const grants: GrantRow[] = [];
  let truncated = false;
  for await (const info of client.workflow.list({ query, pageSize: Math.min(filter.limit + 1, 1000) })) {
    if (grants.length === filter.limit) {
      truncated = true;
      break;
    }
    grants.push(grantRow(info));
  }
  return { query, grants, truncated };
}

function grantRow(info: Pick<WorkflowExecutionInfo, 'workflowId' | 'type' | 'status' | 'typedSearchAttributes' | 'startTime' | 'closeTime'>): GrantRow {
  const sa = info.typedSearchAttributes;
  return {
    workflowId: info.workflowId,
    type: info.type,
    executionStatus: info.status.name,
    kind: sa.get(GrantKind) ?? null,
    state: sa.get(GrantState) ?? null,
    customerId: sa.get(NexudusCustomerId) ?? null,
    customerEmail: sa.get(CustomerEmail) ?? null,
    groups: sa.get(KisiGroupIds) ?? [],
    accessStartsAt: sa.get(AccessStartsAt)?.toISOString() ?? null,
    accessEndsAt: sa.get(AccessEndsAt)?.toISOString() ?? null,
    startTime: info.startTime.toISOString(),
    closeTime: info.closeTime?.toISOString() ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// show

/** What `show` needs from Kisi; KisiClient from the environment in production. */
export type KisiReader = Pick<KisiClient, 'findUserByEmail' | 'getUser' | 'listGroupRoleAssignments'>;

export interface KisiAssignmentView {
  id: number;
  groupId: number;
  role: string;
  validFrom: string | null;
  validUntil: string | null;
  /** The window includes the moment `show` ran. */
  activeNow: boolean;
  /** One of the grant's groups. */
  grantGroup: boolean;
}

export type KisiView =
  | { available: false; reason: string }
  | { available: true; email: string; user: { id: number; name: string | null } | null; assignments: KisiAssignmentView[] };

/** A membership's status as `show` prints it (current and legacy memberships alike). */
export interface MembershipSummary {
  leases: string[];
  /** What serves the lease in Kisi: ours (created by this membership) or one it relies on. */
  assignment: { id: number; from: string | null; until: string | null; ours: boolean } | null;
  needsAttention: boolean;
  lastError: string | null;
}

export interface MembershipView {
  workflowId: string;
  groupId: number;
  /** null: no such workflow (never started, or gone past retention). */
  executionStatus: string | null;
  status: MembershipSummary | null;
  error: string | null;
}

export interface GrantView {
  workflowId: string;
  type: string;
  executionStatus: string;
  startTime: string;
  closeTime: string | null;
  historyLength: number;
  summary: string | null;
  /** The grant's own answer to the `status` query; null when it could not answer (see statusError). */
  status: GrantStatus | null;
  statusError: string | null;
  /** The search attributes, which the grant keeps current (the fallback when the query fails). */
  attributes: Omit<GrantRow, 'workflowId' | 'type' | 'executionStatus' | 'startTime' | 'closeTime'>;
  memberships: MembershipView[];
  kisi: KisiView;
}

export interface ShowDeps {
  client: Client;
  /** A Kisi client, or why there is none (no KISI_API_KEY). */
  kisi: KisiReader | { unavailable: string };
  now?: () => number;
}

export async function showGrant(deps: ShowDeps, workflowId: string): Promise<GrantView> {
  const handle = deps.client.workflow.getHandle(workflowId);
  const described = await describeGrant(handle, workflowId);
  const row = grantRow(described);
  const { workflowId: _id, type: _type, executionStatus: _status, startTime: _start, closeTime: _close, ...attributes } = row;

  let status: GrantStatus | null = null;
  let statusError: string | null = null;
  try {
    status = await withQueryDeadline(deps.client, () => handle.query(grantStatusQuery));
  } catch (error) {
    statusError = `the status query was not answered (${errorMessage(error)}); ${
      described.status.name === 'RUNNING' ? 'is a worker polling the task queue?' : 'a closed grant is answered by replay on a running worker'
    }`;
  }

  const customerId = status?.customerId ?? idFromText(row.customerId);
  const email = status?.customerEmail ?? row.customerEmail;
  const groups = status?.groups.length ? status.groups : row.groups.map(Number).filter(Number.isFinite);
  const groupIds = [...new Set([...groups, ...Object.keys(status?.groupStates ?? {}).map(Number)])].sort((a, b) => a - b);

  // The memberships the grant holds leases on; a legacy grant (no list in its status) those of its customer.
  const membershipIds = status?.memberships ? Object.keys(status.memberships) : customerId === null ? [] : groupIds.map((g) => legacyMembershipWorkflowId(customerId, g));
  const memberships = await Promise.all(membershipIds.map((id) => membershipView(deps.client, id)));
  const kisi = await kisiView(deps, email, status?.kisiUserId ?? null, groupIds);

  return {
    workflowId,
    type: described.type,
    executionStatus: described.status.name,
    startTime: row.startTime,
    closeTime: row.closeTime,
    historyLength: described.historyLength,
    summary: (await described.staticSummary().catch(() => undefined)) ?? null,
    status,
    statusError,
    attributes,
    memberships,
    kisi,
  };
}

async function membershipView(client: Client, workflowId: string): Promise<MembershipView> {
  const current = parseMembershipWorkflowId(workflowId);
  const groupId = current?.groupId ?? Number(/-(\d+)$/.exec(workflowId)?.[1]);
  const handle = client.workflow.getHandle(workflowId);
  try {
    const described = await handle.describe();
    if (described.status.name !== 'RUNNING') return { workflowId, groupId, executionStatus: described.status.name, status: null, error: null };
    let status: MembershipSummary;
    if (current) {
      const s = await withQueryDeadline(client, () => handle.query(membershipStatusQuery));
      const h = s.holding;
      status = { leases: Object.keys(s.leases), assignment: h ? { id: h.assignmentId, from: h.from, until: h.until, ours: h.kind === 'own' } : null, needsAttention: s.needsAttention, lastError: s.lastError };
    } else {
      const s = await withQueryDeadline(client, () => handle.query(legacyMembershipStatusQuery));
      status = { leases: Object.keys(s.leases), assignment: s.assignment ? { ...s.assignment, ours: true } : null, needsAttention: s.needsAttention, lastError: s.lastError };
    }
    return { workflowId, groupId, executionStatus: described.status.name, status, error: null };
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) return { workflowId, groupId, executionStatus: null, status: null, error: null };
    return { workflowId, groupId, executionStatus: null, status: null, error: errorMessage(error) };
  }
}

/**
 * What Kisi holds for the grant's customer: the user found by email, or by the Kisi user id the
 * grant recorded when its CustomerEmail is a keyed hash (payload encryption on).
 */
async function kisiView(deps: ShowDeps, attributeEmail: string | null, kisiUserId: number | null, grantGroups: number[]): Promise<KisiView> {
  if ('unavailable' in deps.kisi) return { available: false, reason: deps.kisi.unavailable };
  const byId = attributeEmail === null || isHashedEmail(attributeEmail);
  if (byId && kisiUserId === null) return { available: false, reason: 'the grant has no customer email or Kisi user yet (Kisi users are found by email)' };
  const now = (deps.now ?? Date.now)();
  try {
    const found = byId ? await deps.kisi.getUser(kisiUserId!) : await deps.kisi.findUserByEmail(attributeEmail!);
    const email = byId ? (found?.email ?? `Kisi user ${kisiUserId}`) : attributeEmail!;
    const user = found ? { id: found.id, name: found.name ?? null } : null;
    if (!user) return { available: true, email, user: null, assignments: [] };
    const assignments = await deps.kisi.listGroupRoleAssignments({ userId: user.id });
    return {
      available: true,
      email,
      user,
      assignments: assignments
        .map((a) => ({
          id: a.id,
          groupId: a.group_id,
          role: a.role_id,
          validFrom: a.valid_from,
          validUntil: a.valid_until,
          activeNow: (a.valid_from === null || Date.parse(a.valid_from) <= now) && (a.valid_until === null || Date.parse(a.valid_until) > now),
          grantGroup: grantGroups.includes(a.group_id),
        }))
        .sort((a, b) => a.groupId - b.groupId || a.id - b.id),
    };
  } catch (error) {
    return { available: false, reason: `Kisi did not answer: ${errorMessage(error)}` };
  }
}

// ---------------------------------------------------------------------------------------------
// cancel, retry, sync-customer

export interface CancelOutcome {
  workflowId: string;
  /**
   * Whether the grant confirmed within the wait that it holds nothing: it shows `cancelled` with
   * every lease released (the decision then stays with the running grant), or it closed.
   */
  settled: boolean;
  executionStatus: string;
  state: string | null;
  /** Per Kisi group, what became of the grant's lease (from its status query). */
  groupStates: Record<string, string> | null;
  lastError: string | null;
}

/**
 * Requests cancellation and waits (up to `waitMs`) for the grant to give everything back. Its
 * non-cancellable cleanup returns the leases and the memberships remove the Kisi access; the
 * grant then keeps running in state `cancelled`, holding nothing, until a newer version of its
 * record (or `retry`) lifts the decision; a grant whose window is over closes instead.
 */
export async function cancelGrant(client: Client, workflowId: string, options: { waitMs: number; pollMs?: number }): Promise<CancelOutcome> {
  const handle = client.workflow.getHandle(workflowId);
  const described = await describeGrant(handle, workflowId);
  if (described.status.name !== 'RUNNING') throw new GrantClosedError(workflowId, described.status.name, 'cancel');
  const before = await withQueryDeadline(client, () => handle.query(grantStatusQuery)).catch(() => null);
  if (before?.state === 'cancelled') throw new GrantClosedError(workflowId, 'CANCELLED BY AN OPERATOR', 'cancel');
  await handle.cancel();

  const deadline = Date.now() + options.waitMs;
  let executionStatus = 'RUNNING';
  let status: GrantStatus | null = null;
  for (;;) {
    executionStatus = (await handle.describe()).status.name;
    status = await withQueryDeadline(client, () => handle.query(grantStatusQuery)).catch(() => status);
    const holdsNothing = status !== null && Object.values(status.groupStates).every((g) => g === 'released' || g === 'release-failed');
    if (executionStatus !== 'RUNNING' || (status?.state === 'cancelled' && holdsNothing && status.revokedAt !== null) || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
  }
  const settled = executionStatus !== 'RUNNING' || (status?.state === 'cancelled' && Object.values(status.groupStates).every((g) => g === 'released' || g === 'release-failed'));
  return { workflowId, settled, executionStatus, state: status?.state ?? null, groupStates: status?.groupStates ?? null, lastError: status?.lastError ?? null };
}

export interface RetryOutcome {
  workflowId: string;
  /** The grant's state when the signal was sent (null: it did not answer the query). */
  stateBefore: string | null;
  lastError: string | null;
}

export async function retryGrant(client: Client, workflowId: string): Promise<RetryOutcome> {
  const handle = client.workflow.getHandle(workflowId);
  const described = await describeGrant(handle, workflowId);
  if (described.status.name !== 'RUNNING') throw new GrantClosedError(workflowId, described.status.name, 'retry');
  const before = await withQueryDeadline(client, () => handle.query(grantStatusQuery)).catch(() => null);
  await handle.signal(retrySignal);
  return { workflowId, stateBefore: before?.state ?? null, lastError: before?.lastError ?? null };
}

export async function syncCustomer(client: Client, customerId: number, taskQueue: string): Promise<{ workflowId: string; customerId: number }> {
  await requestCustomerSync(client, customerId, { deleted: false, reason: 'operator (npm run grants -- sync-customer)' }, { taskQueue, lane: 'live' });
  return { workflowId: customerSyncWorkflowId(customerId), customerId };
}

// ---------------------------------------------------------------------------------------------

/** True for booking-<id>, pass-<id>, contract-<id>. */
export function isGrantWorkflowId(workflowId: string): boolean {
  return parseGrantWorkflowId(workflowId) !== undefined;
}

async function describeGrant(handle: WorkflowHandle, workflowId: string) {
  try {
    return await handle.describe();
  } catch (error) {
    if (error instanceof WorkflowNotFoundError) throw new GrantNotFoundError(workflowId);
    throw error;
  }
}

/** A Temporal call bounded by QUERY_DEADLINE_MS: a missing worker or server is an error, not a hang. */
export function withQueryDeadline<T>(client: Client, fn: () => Promise<T>): Promise<T> {
  return client.connection.withDeadline(Date.now() + QUERY_DEADLINE_MS, fn);
}


