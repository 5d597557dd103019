/**
 * `GET /reports/failed-checkins?from=<iso>&to=<iso>`: door check-ins that did not happen, from both
 * sides, within at most 31 days (default: the 7 days up to now).
 *   - ours: this deployment's check-in workflows (its task queue's only) that ended needs-attention
 *     (Nexudus refused, or the Kisi user matches no customer), with their result, from Temporal's
 *     visibility (at most 200, read 4 at a time; the query: src/temporal/visibility-queries.ts);
 *   - Nexudus' own failed check-ins (`spaces/failedcheckins`), which also list refusals of other
 *     sources (kiosk, app), paged within the reports' own allowance (src/ingress/reports.ts).
 * Each half is reported with its own error when its source cannot be read; the other still shows.
 * Behind the operator token (src/ingress/operator-auth.ts), like everything under /reports/.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { NexudusClient } from '../clients/nexudus';
import type { Logger } from '../config/logger';
import { decodePayload } from '../temporal/connection';
import { failedCheckinsQuery } from '../temporal/visibility-queries';
import type { CheckinInput, CheckinResult } from '../contract/checkin';
import { describeIssues, sendError } from './http-errors';
import { mapPool } from '../domain/map-pool';
import type { IngressMetrics } from './metrics';
import { CallAllowance, REPORT_MAX_RANGE_MS, REPORT_NEXUDUS_CALLS_PER_MINUTE, REPORT_NEXUDUS_PAGES_PER_REPORT, ReportRunner, ReportsBusyError, type ReportResult } from './reports';

export interface FailedCheckinReportDeps {
  client: Client;
  /** This deployment's task queue (TEMPORAL_TASK_QUEUE): another deployment may share the namespace. */
  taskQueue: string;
  nexudus: Pick<NexudusClient, 'listFailedCheckinsWithin'> | undefined;
  logger: Logger;
  /** Most workflows listed (default 200); `truncated` says when there were more. */
  limit?: number;
  /** Shared by every report: one computation at a time, answers cached (default: a runner of its own). */
  runner?: ReportRunner;
  /** The reports' Nexudus allowance (default: the runner's, REPORT_NEXUDUS_CALLS_PER_MINUTE a minute). */
  nexudusAllowance?: CallAllowance;
  metrics?: IngressMetrics;
}

const DEFAULT_WINDOW_MS = 7 * 24 * 3_600_000;
const isoMessage = 'expected an ISO 8601 date-time such as 2026-11-01T00:00:00Z';

const querySchema = z
  .object({
    from: z.iso.datetime({ offset: true, message: isoMessage }).optional(),
    to: z.iso.datetime({ offset: true, message: isoMessage }).optional(),
  })
  .strict()
  .transform((q, ctx) => {
    // Whole minutes: the same question asked twice within a minute is one cache entry.
    const to = minute(q.to ? Date.parse(q.to) : Date.now(), 'up');
    const from = minute(q.from ? Date.parse(q.from) : to - DEFAULT_WINDOW_MS, 'down');
    if (from >= to) ctx.addIssue({ code: 'custom', path: ['from'], message: 'expected from before to' });
    if (to - from > REPORT_MAX_RANGE_MS) ctx.addIssue({ code: 'custom', path: ['from'], message: 'expected a range of at most 31 days' });
    return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
  });

function minute(ms: number, round: 'up' | 'down'): number {
  return (round === 'up' ? Math.ceil(ms / 60_000) : Math.floor(ms / 60_000)) * 60_000;
}

export interface FailedCheckinReport {
  from: string;
  to: string;
  temporal: { items: TemporalFailedCheckin[]; truncated: boolean } | { error: string };
  nexudus: { items: NexudusFailedCheckinItem[]; truncated: boolean } | { error: string };
}

export interface TemporalFailedCheckin {
  workflowId: string;
  startedAt: string;
  status: string;
  eventUuid: string | null;
  kisiUserId: number | null;
  kisiUserEmail: string | null;
  lockId: number | null;
  lockName: string | null;
  unlockedAt: string | null;
  outcome: CheckinResult['outcome'] | null;
  customerId: number | null;
  reason: string | null;
}

export interface NexudusFailedCheckinItem {
  id: number;
  customerId: number | null;
  customerName: string | null;
  attemptedAt: string | null;
  source: number | null;
  reason: string | null;
}

export function failedCheckinRoutes(deps: FailedCheckinReportDeps): Router {
  const router = Router();
  const shared = { ...deps, runner: deps.runner ?? new ReportRunner() };
  router.get('/reports/failed-checkins', async (req, res) => {
    const range = failedCheckinRange(req.query);
    if (!range.success) {
      sendError(res, 400, 'invalid query', describeIssues(range.error.issues));
      return;
    }
    try {
      const { value: report, computedAt, cached } = await runFailedCheckinReport(shared, range.data);
      const ok = !('error' in report.temporal) || !('error' in report.nexudus);
      res.status(ok ? 200 : 503).json({ ...report, computedAt: new Date(computedAt).toISOString(), cached });
    } catch (error) {
      if (!(error instanceof ReportsBusyError)) throw error;
      res.setHeader('Retry-After', String(error.retryAfterSeconds));
      sendError(res, 429, 'busy', { reason: error.message });
    }
  });
  return router;
}

/** The report's range from a query (`from`, `to`, both optional): whole minutes, default the 7 days up to now. */
export function failedCheckinRange(query: unknown) {
  return querySchema.safeParse(query);
}

/**
 * The report through the runner: one computation at a time, cached when both sources answered.
 * `GET /reports/failed-checkins` and the console's Problems page both ask here, on the one runner
 * (and its Nexudus allowance) the ingress holds. Throws ReportsBusyError when too many wait.
 */
export function runFailedCheckinReport(deps: FailedCheckinReportDeps & { runner: ReportRunner }, range: { from: string; to: string }): Promise<ReportResult<FailedCheckinReport>> {
  const { from, to } = range;
  return deps.runner.run(`failed-checkins ${from} ${to}`, async () => {
    const value = await buildFailedCheckinReport({ ...deps, nexudusAllowance: deps.nexudusAllowance ?? deps.runner.nexudusAllowance }, from, to);
    return { value, cacheable: !('error' in value.temporal) && !('error' in value.nexudus) };
  });
}

export async function buildFailedCheckinReport(deps: FailedCheckinReportDeps, from: string, to: string): Promise<FailedCheckinReport> {
  const [temporal, nexudus] = await Promise.all([ourFailures(deps, from, to), nexudusFailures(deps, from, to)]);
  return { from, to, temporal, nexudus };
}

async function ourFailures(deps: FailedCheckinReportDeps, from: string, to: string): Promise<FailedCheckinReport['temporal']> {
  const limit = deps.limit ?? 200;
  try {
    const executions: WorkflowExecutionInfo[] = [];
    let truncated = false;
    const query = failedCheckinsQuery(deps.taskQueue, { from, to });
    for await (const execution of deps.client.workflow.list({ query })) {
      if (executions.length >= limit) {
        truncated = true;
        break;
      }
      executions.push(execution);
    }
    const items = await mapPool(executions, 4, (execution) => describeCheckin(deps.client, execution));
    items.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
    return { items, truncated };
  } catch (error) {
    deps.logger.warn({ err: error }, 'failed-checkins report: Temporal visibility could not be read');
    return { error: `Temporal: ${(error as Error).message}` };
  }
}

async function describeCheckin(client: Client, execution: WorkflowExecutionInfo): Promise<TemporalFailedCheckin> {
  const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
  let input: CheckinInput | undefined;
  let result: CheckinResult | undefined;
  try {
    // The first history event holds the input (the check-in's who, where and when).
    const history = await handle.fetchHistory();
    const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const payload = started?.input?.payloads?.[0];
    // Through the client's codecs: with payload encryption the input is sealed in the history.
    if (payload) input = await decodePayload<CheckinInput>(client, payload);
    if (execution.status.name === 'COMPLETED') result = (await handle.result()) as CheckinResult;
  } catch {
    // Reported with what visibility knows.
  }
  return {
    workflowId: execution.workflowId,
    startedAt: execution.startTime.toISOString(),
    status: execution.status.name,
    eventUuid: input?.eventUuid ?? null,
    kisiUserId: input?.kisiUserId ?? null,
    kisiUserEmail: input?.kisiUserEmail ?? null,
    lockId: input?.lockId ?? null,
    lockName: input?.lockName ?? null,
    unlockedAt: input?.unlockedAt ?? null,
    outcome: result?.outcome ?? null,
    customerId: result?.customerId ?? null,
    reason: result?.reason ?? null,
  };
}

async function nexudusFailures(deps: FailedCheckinReportDeps, from: string, to: string): Promise<FailedCheckinReport['nexudus']> {
  if (!deps.nexudus) return { error: 'Nexudus credentials are not configured' };
  const allowance = deps.nexudusAllowance ?? new CallAllowance(REPORT_NEXUDUS_CALLS_PER_MINUTE);
  try {
    const { items: records, truncated } = await deps.nexudus.listFailedCheckinsWithin(
      { from, to },
      {
        maxPages: REPORT_NEXUDUS_PAGES_PER_REPORT,
        mayRequest: () => {
          const ok = allowance.take();
          if (ok) deps.metrics?.reportNexudusCalls.inc({ report: 'failed-checkins' });
          return ok;
        },
      },
    );
    return {
      truncated,
      items: records.map((r) => ({
        id: r.Id,
        customerId: r.CoworkerId ?? null,
        customerName: r.CoworkerFullName ?? null,
        attemptedAt: r.CheckinAttemptTime ?? r.CreatedOn ?? null,
        source: r.Source ?? null,
        reason: r.Description ?? r.Reason ?? null,
      })),
    };
  } catch (error) {
    deps.logger.warn({ err: error }, 'failed-checkins report: Nexudus could not be read');
    return { error: `Nexudus: ${(error as Error).message}` };
  }
}
