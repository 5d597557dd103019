/**
 * `GET /reports/failed-checkins?from=<iso>`: door check-ins that did not happen, from both sides.
 *   - ours: check-in workflows (`GrantKind = "checkin"`) that ended needs-attention (Nexudus refused,
 *     or the Kisi user matches no customer), with their result, from Temporal's visibility;
 *   - Nexudus' own failed check-ins (`spaces/failedcheckins`), which also list refusals of other
 *     sources (kiosk, app).
 * Each half is reported with its own error when its source cannot be read; the other still shows.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { NexudusClient } from '../clients/nexudus';
import type { Logger } from '../logger';
import type { CheckinInput, CheckinResult } from '../contract/checkin';
import { describeIssues, sendError } from './http-errors';
import { mapPool } from '../domain/map-pool';

export interface FailedCheckinReportDeps {
  client: Client;
  nexudus: Pick<NexudusClient, 'listFailedCheckins'> | undefined;
  logger: Logger;
  /** Most workflows listed (default 500); `truncated` says when there were more. */
  limit?: number;
}

const DEFAULT_WINDOW_MS = 7 * 24 * 3_600_000;

const querySchema = z.object({
  from: z.iso.datetime({ offset: true, message: 'expected an ISO 8601 date-time such as 2026-11-01T00:00:00Z' }).optional(),
});

export interface FailedCheckinReport {
  from: string;
  temporal: { items: TemporalFailedCheckin[]; truncated: boolean } | { error: string };
  nexudus: { items: NexudusFailedCheckinItem[] } | { error: string };
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
  router.get('/reports/failed-checkins', async (req, res) => {
    const query = querySchema.safeParse(req.query);
    if (!query.success) {
      sendError(res, 400, 'invalid query', describeIssues(query.error.issues));
      return;
    }
    const from = new Date(query.data.from ? Date.parse(query.data.from) : Date.now() - DEFAULT_WINDOW_MS).toISOString();
    const report = await buildFailedCheckinReport(deps, from);
    const ok = !('error' in report.temporal) || !('error' in report.nexudus);
    res.status(ok ? 200 : 503).json(report);
  });
  return router;
}

export async function buildFailedCheckinReport(deps: FailedCheckinReportDeps, from: string): Promise<FailedCheckinReport> {
  const [temporal, nexudus] = await Promise.all([ourFailures(deps, from), nexudusFailures(deps, from)]);
  return { from, temporal, nexudus };
}

async function ourFailures(deps: FailedCheckinReportDeps, from: string): Promise<FailedCheckinReport['temporal']> {
  const limit = deps.limit ?? 500;
  try {
    const executions: WorkflowExecutionInfo[] = [];
    let truncated = false;
    const query = `GrantKind = "checkin" AND GrantState = "needs-attention" AND StartTime >= "${from}"`;
    for await (const execution of deps.client.workflow.list({ query })) {
      if (executions.length >= limit) {
        truncated = true;
        break;
      }
      executions.push(execution);
    }
    const items = await mapPool(executions, 8, (execution) => describeCheckin(deps.client, execution));
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
    if (payload) input = client.options.loadedDataConverter.payloadConverter.fromPayload<CheckinInput>(payload);
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

async function nexudusFailures(deps: FailedCheckinReportDeps, from: string): Promise<FailedCheckinReport['nexudus']> {
  if (!deps.nexudus) return { error: 'Nexudus credentials are not configured' };
  try {
    const records = await deps.nexudus.listFailedCheckins({ from });
    return {
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
