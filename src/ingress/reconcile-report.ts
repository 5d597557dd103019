/**
 * `GET /reports/reconcile`: the result of the latest completed reconcile (scheduled, backfill or
 * manual), read from Temporal's visibility and the run's history. Nothing is stored here.
 *   200 { workflowId, runId, closedAt, summary, report }
 *   404 when no reconcile has completed yet
 *   503 when Temporal cannot be asked
 */
import { Router } from 'express';
import type { Client } from '@temporalio/client';
import { RECONCILE_SCHEDULE_ID } from '../domain/ids';
import { summaryLine } from '../domain/reconcile-report';
import { latestReconcileReport } from '../reconcile/visibility';
import { sendError } from './http-errors';
import { ReportRunner, ReportsBusyError, type ReportResult } from './reports';

export interface ReconcileReportDeps {
  client: Client;
  /** This deployment's task queue: only its own reconciles (another deployment may share the namespace). */
  taskQueue: string;
  /** Shared by every report: one computation at a time, answers cached for a minute. */
  runner?: ReportRunner;
}

export function reconcileReportRouter(deps: ReconcileReportDeps): Router {
  const router = Router();
  const runner = deps.runner ?? new ReportRunner();
  router.get('/reports/reconcile', async (_req, res) => {
    let latest: Awaited<ReturnType<typeof latestReconcileReport>>;
    try {
      latest = (await runLatestReconcileReport({ ...deps, runner })).value;
    } catch (error) {
      if (error instanceof ReportsBusyError) {
        res.setHeader('Retry-After', String(error.retryAfterSeconds));
        sendError(res, 429, 'busy', { reason: error.message });
        return;
      }
      res.status(503).json({ error: `cannot read reconcile reports from Temporal: ${error instanceof Error ? error.message : String(error)}` });
      return;
    }
    if (!latest) {
      res.status(404).json({ error: `no reconcile has completed yet (schedule '${RECONCILE_SCHEDULE_ID}' runs every RECONCILE_EVERY; npm run backfill runs one now)` });
      return;
    }
    res.json({
      workflowId: latest.workflowId,
      runId: latest.runId,
      closedAt: latest.closeTime?.toISOString() ?? null,
      summary: summaryLine(latest.report),
      report: latest.report,
    });
  });
  return router;
}

/**
 * The latest completed reconcile through the reports' runner (one computation at a time, cached a
 * minute): this route and the console's Problems page ask here. Throws ReportsBusyError when too
 * many wait, and Temporal's error when it cannot be asked.
 */
export function runLatestReconcileReport(deps: { client: Client; taskQueue: string; runner: ReportRunner }): Promise<ReportResult<Awaited<ReturnType<typeof latestReconcileReport>>>> {
  return deps.runner.run('reconcile', async () => ({ value: await latestReconcileReport(deps.client, { taskQueue: deps.taskQueue }), cacheable: true }));
}
