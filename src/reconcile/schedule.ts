/**
 * The `reconcile` Temporal Schedule: one reconcileWorkflow every RECONCILE_EVERY. Created by
 * `npm start` once the product is up, and by `npm run schedule-reconcile` in production; both
 * create it or bring an existing one in line (interval, task queue, drift policy).
 *
 * Overlap SKIP: a run still going when the next is due means the next is not needed. A small
 * catch-up window: after an outage one run catches up, not one per missed interval.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions, type ScheduleUpdateOptions } from '@temporalio/client';
import { RECONCILE_SCHEDULE_ID } from '../domain/ids';
import { formatDuration } from '../domain/duration';
import type { Env } from '../config/env';
import { connectClient } from '../temporal/connection';
import type { DriftPolicy } from '../domain/reconcile-report';
import { RECONCILE_WORKFLOW_TYPE, type ReconcileInput } from '../contract/reconcile';

export interface ReconcileScheduleOptions {
  taskQueue: string;
  everyMs: number;
  driftPolicy: DriftPolicy;
  /** Default one minute. */
  catchupWindowMs?: number;
  scheduleId?: string;
}

/** A scheduled run that takes longer than this is stuck: it is ended so the schedule goes on. */
const RUN_TIMEOUT = '3 hours';

function scheduleOptions(o: ReconcileScheduleOptions): ScheduleOptions {
  const input: ReconcileInput = { trigger: 'schedule', driftPolicy: o.driftPolicy };
  return {
    scheduleId: o.scheduleId ?? RECONCILE_SCHEDULE_ID,
    spec: { intervals: [{ every: o.everyMs }] },
    action: {
      type: 'startWorkflow',
      workflowType: RECONCILE_WORKFLOW_TYPE,
      // The schedule appends the scheduled time: reconcile-2025-01-01T10:00:00Z.
      workflowId: o.scheduleId ?? RECONCILE_SCHEDULE_ID,
      taskQueue: o.taskQueue,
      args: [input],
      workflowExecutionTimeout: RUN_TIMEOUT,
      staticSummary: `Reconcile Nexudus and Kisi (every ${formatDuration(o.everyMs)}, drift ${o.driftPolicy})`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: o.catchupWindowMs ?? 60_000 },
    state: { note: `every ${formatDuration(o.everyMs)}; KISI_DRIFT=${o.driftPolicy}` },
  };
}

/** Creates the schedule, or updates the existing one to these options. */
export async function ensureReconcileSchedule(client: Client, o: ReconcileScheduleOptions): Promise<'created' | 'updated'> {
  const options = scheduleOptions(o);
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(options.scheduleId).update((previous): ScheduleUpdateOptions => ({
    spec: options.spec,
    action: options.action,
    policies: { ...previous.policies, ...options.policies },
    // Paused by an operator stays paused; the note says what the schedule does.
    state: { ...previous.state, note: options.state?.note },
  }));
  return 'updated';
}

export function scheduleOptionsFromEnv(env: Pick<Env, 'TEMPORAL_TASK_QUEUE' | 'RECONCILE_EVERY' | 'KISI_DRIFT'>): ReconcileScheduleOptions {
  return { taskQueue: env.TEMPORAL_TASK_QUEUE, everyMs: env.RECONCILE_EVERY, driftPolicy: env.KISI_DRIFT };
}

/**
 * For `npm start`: create or update the schedule from the environment and say so. Never throws:
 * the product runs without the schedule (webhooks still work), and the line says why it is missing.
 */
export async function ensureReconcileScheduleFromEnv(env: Env, say: (line: string) => void): Promise<void> {
  const { client, connection } = connectClient(env);
  try {
    const options = scheduleOptionsFromEnv(env);
    const outcome = await ensureReconcileSchedule(client, options);
    say(`reconcile schedule '${RECONCILE_SCHEDULE_ID}' ${outcome}: every ${formatDuration(options.everyMs)}, KISI_DRIFT=${options.driftPolicy} (latest report: GET /reports/reconcile)`);
  } catch (error) {
    say(`reconcile schedule not created: ${error instanceof Error ? error.message : String(error)} (run npm run schedule-reconcile)`);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
