/**
 * `npm run backfill -- --from <date> --to <date> [--dry-run] [--drift report|remove] [--json]`
 *
 * One reconcile over a chosen window: adopt an existing space on day one, or catch up after an
 * outage. It starts a reconcileWorkflow (run by the worker, like the scheduled ones), draws a
 * progress bar on stderr from the workflow's `progress` query and the running phase's heartbeat,
 * and prints the summary. `--dry-run` lists what would change and changes nothing.
 *
 * Dates: `YYYY-MM-DD` (UTC; --to includes that whole day) or an ISO date-time with Z or an offset.
 * Drift: report unless --drift remove is given (KISI_DRIFT does not apply here: on day one the
 * hand-made members of a space are drift until their grants adopt them).
 * Ctrl-C cancels the reconcile (what it changed so far stays changed).
 * Exit: 0 done, 1 failed or finished with errors, 2 bad arguments, 78 bad configuration, 130 interrupted.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { loadEnv } from '../config/env';
import { connectOrExplain, parseWith, runCli } from './ops-cli';
import { backfillWorkflowId } from '../domain/ids';
import { formatReport, renderProgress } from '../reconcile/format';
import type { PhaseCheckpoint } from '../reconcile/progress';
import type { ReconcileReport } from '../domain/reconcile-report';
import { RECONCILE_WORKFLOW_TYPE, reconcileProgressQuery, type ReconcileInput, type ReconcileProgress } from '../contract/reconcile';
import { temporalPriority } from '../domain/lanes';

export const BACKFILL_USAGE = `usage: npm run backfill -- --from <date> --to <date> [--dry-run] [--drift report|remove] [--json]
  --from, --to   YYYY-MM-DD (UTC; --to includes that day) or ISO date-time with Z or an offset
  --dry-run      show what would change (grants created/updated/ended, drift removed); change nothing
  --drift        what to do with Kisi assignments no lease explains (default report)
  --json         print the report as JSON on stdout (progress still goes to stderr)`;

const DAY_MS = 86_400_000;

function instantArg(name: 'from' | 'to') {
  return z.string({ message: `--${name} is required` }).transform((text, ctx) => {
    const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (day) {
      const ms = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
      if (!Number.isNaN(ms) && new Date(ms).toISOString().startsWith(text)) return name === 'to' ? ms + DAY_MS : ms;
    } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text) && !Number.isNaN(Date.parse(text))) {
      return Date.parse(text);
    }
    ctx.addIssue({ code: 'custom', message: `--${name}: expected YYYY-MM-DD or an ISO date-time with Z or an offset, got ${JSON.stringify(text)}` });
    return z.NEVER;
  });
}

export const backfillArgsSchema = z
  .object({
    from: instantArg('from'),
    to: instantArg('to'),
    dryRun: z.boolean(),
    drift: z.enum(['report', 'remove'], { message: '--drift: expected report or remove' }),
    json: z.boolean(),
  })
  .refine((a) => a.to > a.from, { message: '--to must be after --from' });

export type BackfillArgs = z.output<typeof backfillArgsSchema>;

export function parseBackfillArgs(argv: string[]): BackfillArgs {
  const options = { from: { type: 'string' }, to: { type: 'string' }, 'dry-run': { type: 'boolean' }, drift: { type: 'string' }, json: { type: 'boolean' } } as const;
  return parseWith(argv, options, backfillArgsSchema, ({ values }) => ({ from: values.from, to: values.to, dryRun: values['dry-run'] === true, drift: values.drift ?? 'report', json: values.json === true }));
}

export interface BackfillIo {
  client: Client;
  taskQueue: string;
  stderr: { write(text: string): unknown; isTTY?: boolean };
  /** How often the progress is polled (default 1 s). */
  pollMs?: number;
  workflowId?: string;
  /** Told the workflow once started (the CLI cancels it on Ctrl-C). */
  onStarted?: (handle: WorkflowHandle) => void;
}

/** Starts the reconcile, shows its progress until it finishes, and returns its report. */
export async function runBackfill(args: BackfillArgs, io: BackfillIo): Promise<ReconcileReport> {
  const input: ReconcileInput = {
    from: new Date(args.from).toISOString(),
    to: new Date(args.to).toISOString(),
    dryRun: args.dryRun,
    driftPolicy: args.drift,
    trigger: 'backfill',
  };
  const workflowId = io.workflowId ?? backfillWorkflowId(Date.now());
  const handle = await io.client.workflow.start(RECONCILE_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: io.taskQueue,
    args: [input],
    staticSummary: `Backfill ${input.from} → ${input.to}${args.dryRun ? ' (dry run)' : ''}, drift ${args.drift}`,
    priority: temporalPriority('background'),
  });
  io.stderr.write(`backfill: started ${workflowId} on task queue ${io.taskQueue} (${input.from} → ${input.to}${args.dryRun ? ', dry run' : ''})\n`);
  io.onStarted?.(handle);

  const started = Date.now();
  const tty = io.stderr.isTTY === true;
  let lastLine = '';
  let lastPrinted = 0;
  let finished = false;
  const result = handle.result().finally(() => {
    finished = true;
  }) as Promise<ReconcileReport>;
  while (!finished) {
    const line = await progressLine(handle, started).catch(() => undefined);
    if (line && line !== lastLine && (tty || Date.now() - lastPrinted >= 5_000)) {
      io.stderr.write(tty ? `\r\x1b[2K${line}` : `${line}\n`);
      lastLine = line;
      lastPrinted = Date.now();
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, io.pollMs ?? 1_000))]);
  }
  const report = await result;
  const done = await progressLine(handle, started).catch(() => undefined);
  if (done) io.stderr.write(tty ? `\r\x1b[2K${done}\n` : `${done}\n`);
  else if (tty && lastLine) io.stderr.write('\n');
  return report;
}

async function progressLine(handle: WorkflowHandle, started: number): Promise<string> {
  const [progress, running] = await Promise.all([handle.query(reconcileProgressQuery), runningCheckpoint(handle)]);
  return renderProgress(progress as ReconcileProgress, running, Date.now() - started);
}

/** The running phase's last heartbeat details, from the workflow's pending activity. */
async function runningCheckpoint(handle: WorkflowHandle): Promise<PhaseCheckpoint | undefined> {
  const description = await handle.describe();
  for (const activity of description.raw.pendingActivities ?? []) {
    const payload = activity.heartbeatDetails?.payloads?.[0];
    if (!payload) continue;
    const details = defaultPayloadConverter.fromPayload<PhaseCheckpoint>(payload);
    if (details && typeof details === 'object' && 'phase' in details) return details;
  }
  return undefined;
}

async function main(argv: string[]): Promise<number> {
  const args = parseBackfillArgs(argv);
  const env = loadEnv();
  const { client, connection } = await connectOrExplain(env);
  try {
    // Ctrl-C stops the reconcile too (what it did so far stays done): a backfill nobody watches
    // should not go on by surprise. A second Ctrl-C leaves at once.
    let started: WorkflowHandle | undefined;
    process.once('SIGINT', () => {
      process.stderr.write(`\nbackfill: cancelling ${started?.workflowId ?? 'the reconcile'} (Ctrl-C again to leave it running)\n`);
      process.once('SIGINT', () => process.exit(130));
      void started?.cancel().finally(() => process.exit(130));
      if (!started) process.exit(130);
    });
    const report = await runBackfill(args, { client, taskQueue: env.TEMPORAL_TASK_QUEUE, stderr: process.stderr, onStarted: (h) => (started = h) });
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return report.counts.errors > 0 ? 1 : 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

if (require.main === module) runCli('backfill', BACKFILL_USAGE, main);
