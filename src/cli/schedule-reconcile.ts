/**
 * `npm run schedule-reconcile [-- --every 10m] [--drift report|remove] [--delete]`
 *
 * Creates the `reconcile` Temporal Schedule (or brings an existing one in line) on the deployment
 * TEMPORAL_* points at: one reconcileWorkflow every RECONCILE_EVERY on TEMPORAL_TASK_QUEUE, drift
 * per KISI_DRIFT (the flags override both). `npm start` does the same for the local stack; run
 * this in production once, and again after changing RECONCILE_EVERY or KISI_DRIFT.
 * `--delete` removes the schedule (running reconciles finish).
 */
import { ScheduleNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config/env';
import { isDuration, parseDuration, formatDuration } from '../domain/duration';
import { RECONCILE_SCHEDULE_ID } from '../domain/ids';
import { ensureReconcileSchedule, scheduleOptionsFromEnv } from '../reconcile/schedule';
import { temporalAddress } from '../temporal/connection';
import { connectOrExplain, parseWith, runCli } from './ops-cli';

const USAGE = 'usage: npm run schedule-reconcile [-- --every <duration>] [--drift report|remove] [--delete]';

const argsSchema = z.object({
  every: z
    .string()
    .refine(isDuration, { message: '--every: expected a duration such as 10m or 90s' })
    .transform(parseDuration)
    .refine((ms) => ms >= 1_000, { message: '--every: at least 1s' })
    .optional(),
  drift: z.enum(['report', 'remove'], { message: '--drift: expected report or remove' }).optional(),
  delete: z.boolean(),
});

async function main(argv: string[]): Promise<number> {
  const args = parseWith(argv, { every: { type: 'string' }, drift: { type: 'string' }, delete: { type: 'boolean' } }, argsSchema, ({ values }) => ({
    every: values.every,
    drift: values.drift,
    delete: values.delete === true,
  }));
  const env = loadEnv();
  const { client, connection } = await connectOrExplain(env);
  try {
    if (args.delete) {
      try {
        await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).delete();
        process.stdout.write(`schedule '${RECONCILE_SCHEDULE_ID}' deleted\n`);
      } catch (error) {
        if (!(error instanceof ScheduleNotFoundError)) throw error;
        process.stdout.write(`schedule '${RECONCILE_SCHEDULE_ID}' does not exist\n`);
      }
      return 0;
    }
    const options = { ...scheduleOptionsFromEnv(env), ...(args.every !== undefined ? { everyMs: args.every } : {}), ...(args.drift ? { driftPolicy: args.drift } : {}) };
    const outcome = await ensureReconcileSchedule(client, options);
    process.stdout.write(
      `schedule '${RECONCILE_SCHEDULE_ID}' ${outcome} on ${temporalAddress(env)} (namespace ${env.TEMPORAL_NAMESPACE}): ` +
        `reconcileWorkflow every ${formatDuration(options.everyMs)} on task queue ${options.taskQueue}, KISI_DRIFT=${options.driftPolicy}, overlap SKIP\n`,
    );
    return 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

runCli('schedule-reconcile', USAGE, main);
