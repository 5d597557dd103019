/**
 * `npm run replay -- [--query '<visibility query>'] [--limit N] [--workflows DIR] [--json]`
 *
 * Fetches the histories of the matching workflows from the configured Temporal (default: every
 * running grant and membership of this deployment, on TEMPORAL_TASK_QUEUE) and replays them against the workflow code of this checkout (or
 * of the build, from dist/), one line per workflow and a summary. Exit status 1 when any replay is
 * non-deterministic or fails: run it against production's histories before deploying a workflow
 * change, and guard incompatible changes with `patched()` (docs/operations.md: Changing workflow code safely).
 */
import path from 'node:path';
import { Runtime, DefaultLogger, makeTelemetryFilterString } from '@temporalio/worker';
import { z } from 'zod';
import { loadEnv } from '../config/env';
import { conciseReplayError, replayWorkflows, type ReplayOutcome } from '../ops/replay';
import { replayCandidatesQuery } from '../temporal/visibility-queries';
import { EXIT_FAILED, connectOrExplain, parseWith, runCli } from './ops-cli';

const USAGE = `usage: npm run replay -- [--query '<visibility query>'] [--limit N] [--workflows DIR] [--json]

  --query      which workflows, a visibility query sent AS WRITTEN: it is not limited to this
               deployment's task queue (add TaskQueue = '...' yourself in a shared namespace)
               default: every running grant and membership on TEMPORAL_TASK_QUEUE, that is
               ${replayCandidatesQuery('$TEMPORAL_TASK_QUEUE')}
  --limit      at most N workflows (default 1000)
  --workflows  the workflows module to replay against (default: this checkout's workflows/)
  --json       one JSON document with every result`;

const schema = z.strictObject({
  help: z.boolean(),
  json: z.boolean(),
  query: z.string().trim().min(1, { message: 'expected a visibility query' }).optional(),
  limit: z.coerce.number({ message: 'expected a number' }).int().min(1).max(100_000).default(1000),
  workflows: z.string().min(1).optional(),
});

async function main(argv: string[]): Promise<number> {
  const args = parseWith(
    argv,
    { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' }, query: { type: 'string' }, limit: { type: 'string' }, workflows: { type: 'string' } },
    schema,
    ({ values }) => ({ ...values, help: values.help === true, json: values.json === true }),
  );
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const env = loadEnv();
  // The replay worker's own log lines would drown the report; real errors come back as results.
  // Core's own warnings about the failing workflow tasks are forwarded here and dropped with them.
  Runtime.install({
    logger: new DefaultLogger('ERROR', (entry) => process.stderr.write(`replay: ${entry.message}\n`)),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), forward: {} } },
  });
  // From src/cli (tsx) or dist/src/cli (built): the sibling workflows/ of the same tree.
  const workflowsPath = args.workflows ? require.resolve(path.resolve(process.env.INIT_CWD ?? process.cwd(), args.workflows)) : require.resolve('../../workflows');

  const { client, connection } = await connectOrExplain(env);
  try {
    const summary = await replayWorkflows(client, {
      select: args.query === undefined ? { taskQueue: env.TEMPORAL_TASK_QUEUE } : { query: args.query },
      limit: args.limit,
      code: { workflowsPath },
      onOutcome: args.json ? undefined : (o) => process.stdout.write(`${line(o)}\n`),
    });
    const failing = summary.nonDeterministic + summary.failed;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ ...summary, workflowsPath }, null, 2)}\n`);
    } else {
      const total = summary.outcomes.length;
      if (total === 0) process.stdout.write(`no workflows match ${summary.query}\n`);
      process.stdout.write(
        `replayed ${total} workflow${total === 1 ? '' : 's'} against ${path.relative(process.cwd(), workflowsPath) || workflowsPath}: ` +
          `${summary.ok} ok, ${summary.nonDeterministic} non-deterministic, ${summary.failed} failed` +
          `${summary.truncated ? ` (more matched: raise --limit)` : ''}\n`,
      );
      if (failing) process.stdout.write('NOT safe to deploy: guard the change with patched() (docs/operations.md: Changing workflow code safely)\n');
    }
    return failing ? EXIT_FAILED : 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

function line(o: ReplayOutcome): string {
  const verdict = { ok: 'ok', 'non-deterministic': 'NON-DETERMINISTIC', failed: 'FAILED' }[o.verdict];
  const message = o.message ? `  ${conciseReplayError(o.message)}` : '';
  return `${verdict.padEnd(17)}  ${o.workflowId.padEnd(24)}  ${o.type.padEnd(18)}  ${String(o.events).padStart(5)} events${message}`;
}

runCli('replay', USAGE, main);
