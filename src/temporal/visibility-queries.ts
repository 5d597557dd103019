/**
 * Every visibility query the product sends, built here and nowhere else.
 *
 * A namespace may hold several deployments (staging beside production, two coworking spaces),
 * each with its own task queue (TEMPORAL_TASK_QUEUE) and its own workers, Kisi organization and
 * Nexudus tenant. A query that forgets the task queue reads, and then acts on, another
 * deployment's workflows: reconcile would end its grants, customer sync would signal them, the
 * grants CLI would offer to cancel them. So every builder takes the task queue first and every
 * query it returns starts with `TaskQueue = '<task queue>'`; there is no unscoped builder.
 *
 * Workflow type names come from src/contract/ (never written here as strings); values go through
 * `literal`, the one escaping function. The grammar is Temporal's SQL-like list filter; the
 * callers iterate and read the results (src/reconcile/visibility.ts, src/ops/grant-commands.ts,
 * src/ingress/failed-checkins.ts, src/ops/replay.ts).
 */
import { CHECKIN_WORKFLOW_TYPE } from '../contract/checkin';
import { GRANT_WORKFLOW_TYPE, type GrantState } from '../contract/grant';
import { MEMBERSHIP_WORKFLOW_TYPE } from '../contract/membership';
import { RECONCILE_WORKFLOW_TYPE } from '../contract/reconcile';
import { GRANT_KINDS, type GrantKind } from '../domain/ids';
import { AccessEndsAt, AccessStartsAt, CustomerEmail, GrantKind as GrantKindKey, GrantState as GrantStateKey, KisiGroupIds, NexudusCustomerId } from '../domain/search-attributes';

/**
 * A string literal of the query language: single quotes, with backslash and single quote escaped
 * by a backslash (Temporal's parser reads `\\` and `\'` inside a quoted string). Any value is safe
 * in it: a quote in a task queue name or an email ends no literal and adds no clause.
 */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function inList(values: readonly string[]): string {
  if (values.length === 0) throw new Error('a visibility IN list needs at least one value');
  return `(${values.map(literal).join(', ')})`;
}

/** The one way a query is put together: this deployment's task queue first, then the clauses. */
function scoped(taskQueue: string, clauses: Array<string | false | undefined>): string {
  if (taskQueue.length === 0) throw new Error('a visibility query needs the deployment\'s task queue');
  return [`TaskQueue = ${literal(taskQueue)}`, ...clauses.filter((c): c is string => typeof c === 'string')].join(' AND ');
}

const RUNNING = `ExecutionStatus = ${literal('Running')}`;
const COMPLETED = `ExecutionStatus = ${literal('Completed')}`;

/** The workflow type names of grants of these kinds (bookingGrant, passGrant, contractGrant). */
function grantTypes(kinds: readonly GrantKind[]): string[] {
  return kinds.map((k) => GRANT_WORKFLOW_TYPE[k]);
}

// ---------------------------------------------------------------------------------------------
// reconcile, customer sync, pass watch

/** Running grants (of some kinds, of one customer): reconcile, customer sync and the pass watch. */
export function runningGrantsQuery(taskQueue: string, options: { kinds?: readonly GrantKind[]; customerId?: number } = {}): string {
  return scoped(taskQueue, [
    RUNNING,
    `WorkflowType IN ${inList(grantTypes(options.kinds ?? GRANT_KINDS))}`,
    options.customerId !== undefined && `${NexudusCustomerId.name} = ${literal(String(options.customerId))}`,
  ]);
}

/** Running memberships, current and legacy (one workflow type), optionally of one Kisi group. */
export function runningMembershipsQuery(taskQueue: string, options: { groupId?: number } = {}): string {
  return scoped(taskQueue, [
    RUNNING,
    `WorkflowType = ${literal(MEMBERSHIP_WORKFLOW_TYPE)}`,
    options.groupId !== undefined && `${KisiGroupIds.name} = ${literal(String(options.groupId))}`,
  ]);
}

/** Reconcile runs (scheduled, backfill, manual); `completed`: only those that completed (their result is a report). */
export function reconcileRunsQuery(taskQueue: string, options: { completed?: boolean } = {}): string {
  return scoped(taskQueue, [`WorkflowType = ${literal(RECONCILE_WORKFLOW_TYPE)}`, options.completed && COMPLETED]);
}

// ---------------------------------------------------------------------------------------------
// operators: npm run replay, npm run grants, GET /reports/failed-checkins

/** What a deploy would have to pick up mid-flight: every running grant and membership (`npm run replay`'s default). */
export function replayCandidatesQuery(taskQueue: string): string {
  return scoped(taskQueue, [RUNNING, `WorkflowType IN ${inList([...grantTypes(GRANT_KINDS), MEMBERSHIP_WORKFLOW_TYPE])}`]);
}

/**
 * What the GrantKind search attribute holds: a grant's kind, `checkin` on door check-ins, and
 * `customer` on a customer sync while it has a problem to show (its card problems).
 */
export type ListableKind = GrantKind | 'checkin' | 'customer';
export const LISTABLE_KINDS: readonly ListableKind[] = [...GRANT_KINDS, 'checkin', 'customer'];
/** What `npm run grants -- list` shows without --kind: grants and customers (check-ins only when asked). */
const DEFAULT_LISTED_KINDS: readonly ListableKind[] = [...GRANT_KINDS, 'customer'];

export interface GrantListFilter {
  customerId?: number;
  kind?: ListableKind;
  /** Several kinds (ignored when `kind` is given). */
  kinds?: readonly ListableKind[];
  state?: GrantState;
  /** Any of these states (with `state`, both must hold). */
  states?: readonly GrantState[];
  /** Grants holding every one of these Kisi groups. */
  groupIds?: readonly number[];
  /**
   * By the access window (AccessStartsAt, AccessEndsAt; ISO instants): `openAt` a window that has
   * begun at that instant and has not ended (no end: open-ended); `startsWithin` one that starts
   * after `from`, at `to` at the latest.
   */
  window?: { openAt: string } | { startsWithin: { from: string; to: string } };
  /** false: running workflows only. */
  includeClosed: boolean;
}

/**
 * `npm run grants -- list` and the console's Access now. `emailValues`: what CustomerEmail may hold for the email asked for (the
 * email, or its keyed hashes with payload keys); undefined: no email filter.
 */
export function grantListQuery(taskQueue: string, filter: GrantListFilter, emailValues?: readonly string[]): string {
  const w = filter.window;
  return scoped(taskQueue, [
    filter.kind ? `${GrantKindKey.name} = ${literal(filter.kind)}` : `${GrantKindKey.name} IN ${inList(filter.kinds ?? DEFAULT_LISTED_KINDS)}`,
    filter.customerId !== undefined && `${NexudusCustomerId.name} = ${literal(String(filter.customerId))}`,
    emailValues !== undefined && `${CustomerEmail.name} IN ${inList(emailValues)}`,
    filter.state && `${GrantStateKey.name} = ${literal(filter.state)}`,
    filter.states && `${GrantStateKey.name} IN ${inList(filter.states)}`,
    // A keyword list matches `=` when it holds the value: one clause per group is "holds them all".
    ...(filter.groupIds ?? []).map((g) => `${KisiGroupIds.name} = ${literal(String(g))}`),
    w && 'openAt' in w && `${AccessStartsAt.name} <= ${literal(w.openAt)}`,
    w && 'openAt' in w && `(${AccessEndsAt.name} > ${literal(w.openAt)} OR ${AccessEndsAt.name} IS NULL)`,
    w && 'startsWithin' in w && `${AccessStartsAt.name} > ${literal(w.startsWithin.from)}`,
    w && 'startsWithin' in w && `${AccessStartsAt.name} <= ${literal(w.startsWithin.to)}`,
    !filter.includeClosed && RUNNING,
  ]);
}

/** Check-ins that ended needs-attention, started within [from, to) (ISO instants). */
export function failedCheckinsQuery(taskQueue: string, range: { from: string; to: string }): string {
  return scoped(taskQueue, [
    `WorkflowType = ${literal(CHECKIN_WORKFLOW_TYPE)}`,
    `${GrantStateKey.name} = ${literal('needs-attention' satisfies GrantState)}`,
    `StartTime >= ${literal(range.from)}`,
    `StartTime < ${literal(range.to)}`,
  ]);
}
