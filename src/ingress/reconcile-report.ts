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
import { summaryLine } from '../reconcile/report';
import { latestReconcileReport } from '../reconcile/visibility';

export interface ReconcileReportDeps {
  client: Client;
  /** Only reconciles of this task queue (one deployment per queue); default any. */
  taskQueue?: string;
}

export function reconcileReportRouter(deps: ReconcileReportDeps): Router {
  const router = Router();
  router.get('/reports/reconcile', async (_req, res) => {
    let latest: Awaited<ReturnType<typeof latestReconcileReport>>;
    try {
      latest = await latestReconcileReport(deps.client, { taskQueue: deps.taskQueue });
    } catch (error) {
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
