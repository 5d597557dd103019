/**
 * What reconcile (and customer sync, the pass watch, /reports/reconcile) reads from Temporal's
 * visibility: the running grants and memberships of this deployment (its task queue), and the
 * latest finished reconcile report. The queries come from src/temporal/visibility-queries.ts;
 * listing is paged by the SDK; nothing here touches Kisi or Nexudus.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { GRANT_KINDS, idFromText, parseGrantWorkflowId, parseLegacyMembershipWorkflowId, parseMembershipWorkflowId, type GrantKind } from '../domain/ids';
import { AccessEndsAt, AccessStartsAt, CustomerEmail, GrantState, KisiGroupIds, NexudusCustomerId } from '../domain/search-attributes';
import { reconcileRunsQuery, runningGrantsQuery, runningMembershipsQuery } from '../temporal/visibility-queries';
import type { RunningGrant } from './compare';
import type { ReconcileReport } from '../domain/reconcile-report';

const PAGE_SIZE = 1000;

function toRunningGrant(info: WorkflowExecutionInfo): RunningGrant | undefined {
  const parsed = parseGrantWorkflowId(info.workflowId);
  if (!parsed) return undefined;
  const sa = info.typedSearchAttributes;
  const starts = sa.get(AccessStartsAt);
  const ends = sa.get(AccessEndsAt);
  return {
    workflowId: info.workflowId,
    kind: parsed.kind,
    sourceId: parsed.sourceId,
    customerId: idFromText(sa.get(NexudusCustomerId)),
    customerEmail: sa.get(CustomerEmail)?.toLowerCase() ?? null,
    groups: (sa.get(KisiGroupIds) ?? []).map(Number).filter((n) => Number.isInteger(n)),
    state: sa.get(GrantState) ?? null,
    startsAt: starts ? starts.getTime() : null,
    endsAt: ends ? ends.getTime() : null,
  };
}

/** Running grants of this task queue (optionally of some kinds, of one customer), keyed by workflow id (`booking-12`). */
export async function listRunningGrants(client: Client, taskQueue: string, kinds: readonly GrantKind[] = GRANT_KINDS, customerId?: number): Promise<Map<string, RunningGrant>> {
  const query = runningGrantsQuery(taskQueue, { kinds, customerId });
  const out = new Map<string, RunningGrant>();
  for await (const info of client.workflow.list({ query, pageSize: PAGE_SIZE })) {
    const grant = toRunningGrant(info);
    if (grant) out.set(grant.workflowId, grant);
  }
  return out;
}

export interface RunningMembership {
  workflowId: string;
  groupId: number;
  /** The Kisi user it writes for; null for a legacy membership (keyed by customer, see workflows/legacy/). */
  kisiUserId: number | null;
  /** A legacy membership's customer. */
  legacyCustomerId: number | null;
  /** The Kisi user's email key as the membership was started with (CustomerEmail). */
  email: string | null;
}

/** Running memberships of this task queue (current and legacy), optionally of one Kisi group. */
export async function listRunningMemberships(client: Client, taskQueue: string, groupId?: number): Promise<RunningMembership[]> {
  const query = runningMembershipsQuery(taskQueue, { groupId });
  const out: RunningMembership[] = [];
  for await (const info of client.workflow.list({ query, pageSize: PAGE_SIZE })) {
    const email = info.typedSearchAttributes.get(CustomerEmail)?.toLowerCase() ?? null;
    const current = parseMembershipWorkflowId(info.workflowId);
    const legacy = current ? undefined : parseLegacyMembershipWorkflowId(info.workflowId);
    const group = current?.groupId ?? legacy?.groupId;
    if (group === undefined || (groupId !== undefined && group !== groupId)) continue;
    out.push({ workflowId: info.workflowId, groupId: group, kisiUserId: current?.kisiUserId ?? null, legacyCustomerId: legacy?.customerId ?? null, email });
  }
  return out;
}


/**
 * The result of the most recently closed, completed reconcile (scheduled, backfill or manual) of
 * this task queue, or undefined when none has completed. `excludeWorkflowId` leaves out a run (the
 * current one); `accept` skips reports that do not serve the caller (looking at up to `scan` runs).
 */
export async function latestReconcileReport(
  client: Client,
  options: { taskQueue: string; excludeWorkflowId?: string; scan?: number; accept?: (report: ReconcileReport) => boolean },
): Promise<{ workflowId: string; runId: string; closeTime: Date | undefined; report: ReconcileReport } | undefined> {
  const query = reconcileRunsQuery(options.taskQueue, { completed: true });
  // Visibility does not promise an order by close time on every store: take a page and sort.
  const scan = options.scan ?? 50;
  const infos: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query, pageSize: scan })) {
    if (info.workflowId !== options.excludeWorkflowId) infos.push(info);
    if (infos.length >= scan) break;
  }
  infos.sort((a, b) => (b.closeTime?.getTime() ?? 0) - (a.closeTime?.getTime() ?? 0));
  // Results are read one by one (a history read each), newest first, until one is accepted.
  for (const info of infos.slice(0, options.accept ? 10 : 1)) {
    const report = (await client.workflow.getHandle(info.workflowId, info.runId, { followRuns: false }).result()) as ReconcileReport;
    if (!options.accept || options.accept(report)) return { workflowId: info.workflowId, runId: info.runId, closeTime: info.closeTime, report };
  }
  return undefined;
}
