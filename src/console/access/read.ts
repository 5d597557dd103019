/**
 * Access now's two lists, read from this deployment's grants through visibility only (listGrants,
 * the same query builder as `npm run grants`; no second store): grants whose access window is
 * open now, and grants whose window opens within the horizon. Each row gets the customer's name
 * from the grant's own summary (describe, server calls only) and, when it needs attention, its last
 * error from its status query (answered by a worker): both bounded in number and in concurrency.
 */
import type { Client } from '@temporalio/client';
import pLimit from 'p-limit';
import { errorMessage } from '../../clients/errors';
import { grantStatusQuery } from '../../contract/grant';
import { GRANT_KINDS } from '../../domain/ids';
import { listGrants, withQueryDeadline, type GrantRow, type ListFilter } from '../../ops/grant-commands';
import { customerNameFromSummary } from '../../temporal/starters';
import type { SearchFilter } from './search';

/** "Soon": a window that opens within the next 24 hours. */
export const SOON_HORIZON_MS = 24 * 3_600_000;
/** Rows shown per list. */
export const PAGE_ROWS = 50;
/** A name search reads this many grants per list and keeps those whose customer has the name. */
export const NAME_SCAN_ROWS = 200;
/** At most this many status queries (last errors) per page, this many Temporal calls at once. */
export const MAX_ERROR_QUERIES = 20;
export const CONCURRENT_CALLS = 4;

export interface AccessRow extends GrantRow {
  customerName: string | null;
  /** For needs-attention grants: the status query's last error, or why it is not known. */
  lastError: string | null;
}

export interface AccessList {
  rows: AccessRow[];
  /** How many match in all (visibility's count), when more matched than are shown; null: unknown. */
  total: number | null;
  truncated: boolean;
}

export interface AccessLists {
  now: AccessList;
  soon: AccessList;
  at: Date;
}

export async function readAccessLists(client: Client, taskQueue: string, filter: SearchFilter, now = new Date()): Promise<AccessLists> {
  const at = now.toISOString();
  const until = new Date(now.getTime() + SOON_HORIZON_MS).toISOString();
  const limit = pLimit(CONCURRENT_CALLS);
  const errorBudget: ErrorBudget = { left: MAX_ERROR_QUERIES, unanswered: null };
  const [open, soon] = await Promise.all([
    readList(client, taskQueue, filter, { window: { openAt: at } }, limit, errorBudget),
    readList(client, taskQueue, filter, { window: { startsWithin: { from: at, to: until } } }, limit, errorBudget),
  ]);
  return { now: open, soon, at: now };
}

async function readList(
  client: Client,
  taskQueue: string,
  filter: SearchFilter,
  window: Pick<ListFilter, 'window'>,
  limit: pLimit.Limit,
  errorBudget: ErrorBudget,
): Promise<AccessList> {
  const listFilter: ListFilter = { ...filter.list, ...window, kinds: GRANT_KINDS, includeClosed: false, limit: filter.name ? NAME_SCAN_ROWS : PAGE_ROWS };
  const list = await listGrants(client, taskQueue, listFilter);
  const named = await Promise.all(list.grants.map((row) => limit(() => withName(client, row))));
  const wanted = filter.name?.toLocaleLowerCase();
  const matching = wanted ? named.filter((r) => r.customerName?.toLocaleLowerCase().includes(wanted)) : named;
  const shown = matching.sort(byWindow).slice(0, PAGE_ROWS);
  const rows = await Promise.all(
    shown.map(async (row): Promise<AccessRow> => {
      if (row.state !== 'needs-attention') return { ...row, lastError: null };
      if (errorBudget.left <= 0) return { ...row, lastError: 'not read here (too many on this page): open the grant' };
      errorBudget.left--;
      return { ...row, lastError: await limit(() => lastError(client, row.workflowId, errorBudget)) };
    }),
  );
  const truncated = list.truncated || matching.length > PAGE_ROWS;
  // A name search cannot be counted by visibility: "more" is all it can say.
  const total = truncated && !filter.name ? await client.workflow.count(list.query).then((c) => c.count, () => null) : truncated ? null : rows.length;
  return { rows, total, truncated };
}

/**
 * The customer's name in the grant's summary (null: none). A summary is given at start and not
 * carried by continue-as-new (a cancelled grant, a long contract): then the first run's is read,
 * while that run is within retention.
 */
export async function grantCustomerName(client: Client, workflowId: string): Promise<string | null> {
  try {
    const described = await client.workflow.getHandle(workflowId).describe();
    let summary = await described.staticSummary();
    const firstRunId = described.raw.workflowExecutionInfo?.firstRunId;
    if (!summary && firstRunId && firstRunId !== described.runId) {
      summary = await (await client.workflow.getHandle(workflowId, firstRunId).describe()).staticSummary();
    }
    return customerNameFromSummary(summary);
  } catch {
    return null;
  }
}

async function withName(client: Client, row: GrantRow): Promise<GrantRow & { customerName: string | null }> {
  return { ...row, customerName: await grantCustomerName(client, row.workflowId) };
}

/** Status queries left for this page; once one goes unanswered (no worker?) the rest are not sent. */
interface ErrorBudget {
  left: number;
  unanswered: string | null;
}

async function lastError(client: Client, workflowId: string, budget: ErrorBudget): Promise<string> {
  if (budget.unanswered) return budget.unanswered;
  try {
    const status = await withQueryDeadline(client, () => client.workflow.getHandle(workflowId).query(grantStatusQuery));
    return status.lastError ?? 'none recorded';
  } catch (error) {
    budget.unanswered = `not known: grants are not answering their status query (is a worker running?): ${errorMessage(error)}`;
    return budget.unanswered;
  }
}

function byWindow(a: GrantRow, b: GrantRow): number {
  return (a.accessStartsAt ?? '').localeCompare(b.accessStartsAt ?? '') || a.workflowId.localeCompare(b.workflowId);
}
