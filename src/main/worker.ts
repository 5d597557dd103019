/**
 * Worker entry point: `npm run worker` (node dist/src/main/worker.js) in production, a child of
 * `npm start` in development. Polls TEMPORAL_TASK_QUEUE with the workflows in workflows/, and with
 * the activities from activities/index.ts while it holds the activity lease
 * (src/temporal/leased-worker.ts); Prometheus metrics on WORKER_METRICS_PORT.
 *
 * SIGTERM/SIGINT: `worker.shutdown()` stops polling, lets running activities finish (up to the
 * shutdown grace time) and gives the lease back, then the process exits 0. A second signal exits
 * at once.
 */
import { Runtime, DefaultLogger, makeTelemetryFilterString, type LogLevel } from '@temporalio/worker';
import { activityDepsFromEnv, createActivities } from '../../activities';
import { kisiClientFromEnv, nexudusClientFromEnv } from '../clients/from-env';
import { exitForConfiguration, loadEnvOrExit } from '../process/bootstrap';
import { AccessMapError } from '../config/access-map';
import { AccessMapSource } from '../config/access-map-source';
import type { Env } from '../config/env';
import { ConfigError } from '../config/env';
import { createLogger, type Logger } from '../config/logger';
import { connectClient, connectWorker, dataConverterFromEnv, temporalAddress } from '../temporal/connection';
import { LeasedWorker } from '../temporal/leased-worker';

/** Inside the supervisor's 10 s stop budget, with room for the lease's release and the connection to close. */
const SHUTDOWN_GRACE_MS = 5_000;

async function main(): Promise<void> {
  const env = loadEnvOrExit('worker');
  const logger = createLogger(env, 'worker');
  // All of the configuration is read before anything connects: a bad value ends the process at
  // once, not after a minute of retrying a Temporal it may never reach.
  const config = configurationOrExit(env, logger);

  // Signals are handled below, not by the Runtime, so the drain is logged and bounded here.
  Runtime.install({
    logger: new DefaultLogger(sdkLevel(env.LOG_LEVEL), (entry) => logSdk(logger, entry.level, entry.message, entry.meta)),
    telemetryOptions: {
      metrics: { prometheus: { bindAddress: `0.0.0.0:${env.WORKER_METRICS_PORT}` } },
      // SDK Core (native) logs go through the same JSON logger instead of straight to stderr as text.
      logging: { filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }), forward: {} },
    },
    shutdownSignals: [],
  });

  const connection = await connectWorker(env);
  const { client, connection: clientConnection, accessMap } = config;
  const activityDeps = activityDepsFromEnv(env, client, config.apis, accessMap.get);
  const worker = await LeasedWorker.create({
    connection,
    client,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    workflows: { workflowsPath: require.resolve('../../workflows') },
    activities: createActivities(activityDeps),
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
    // One worker at a time runs the activities: the Kisi and Nexudus allowances hold with any number.
    leaseTtlMs: env.WORKER_ACTIVITY_LEASE,
    maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivities: env.WORKER_MAX_ACTIVITIES,
    maxConcurrentWorkflowTasks: env.WORKER_MAX_WORKFLOW_TASKS,
    // The same codec as every client: with TEMPORAL_PAYLOAD_KEY, what the workflows write is encrypted.
    dataConverter: config.dataConverter,
    logger,
  });

  let signals = 0;
  const stop = (signal: string) => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'worker: second signal, exiting without draining');
      process.exit(1);
    }
    logger.info({ signal }, 'worker stopping: no new tasks, draining running activities');
    worker.shutdown();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  logger.info(
    {
      temporal: temporalAddress(env),
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      identity: worker.identity,
      activities: env.WORKER_ACTIVITY_LEASE > 0 ? 'while this worker holds the activity lease' : 'always (WORKER_ACTIVITY_LEASE=0)',
      metrics: `http://localhost:${env.WORKER_METRICS_PORT}/metrics`,
    },
    'worker polling',
  );
  await worker.run();
  accessMap.close();
  await connection.close();
  await clientConnection.close();
  logger.info('worker stopped');
}

/**
 * What the worker is configured with beyond the environment's own schema: the Kisi and Nexudus
 * credentials, the payload keys, the TLS files (read by the lazy client, which connects on first
 * use) and the access map in force, reloaded on SIGHUP and when the file changes. Anything
 * missing or invalid ends the process: exit status 78, one line.
 */
function configurationOrExit(env: Env, logger: Logger) {
  try {
    const apis = { kisi: kisiClientFromEnv(env), nexudus: nexudusClientFromEnv(env) };
    const dataConverter = dataConverterFromEnv(env);
    // Activities signal membership workflows through an ordinary client.
    const { client, connection } = connectClient(env);
    const accessMap = new AccessMapSource(env.ACCESS_MAP, logger);
    // SIGHUP, and the file's own change: the console's Setup saves the map from the ingress, and
    // every worker (on this host or sharing the file) must follow without a signal from it.
    accessMap.reloadOnSighup().watchFile();
    return { apis, dataConverter, client, connection, accessMap };
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AccessMapError) exitForConfiguration('worker', error);
    throw error;
  }
}

function sdkLevel(level: string): LogLevel {
  switch (level) {
    case 'trace':
      return 'TRACE';
    case 'debug':
      return 'DEBUG';
    case 'info':
      return 'INFO';
    case 'warn':
      return 'WARN';
    default:
      return 'ERROR';
  }
}

/** The workflow worker has no activities on purpose (the lease holder's activity worker runs them). */
const EXPECTED_SDK_WARNINGS = new Set(['No activities registered, not polling for activity tasks']);

function logSdk(logger: Logger, level: LogLevel, message: string, meta: Record<string, unknown> | undefined): void {
  if (level === 'WARN' && EXPECTED_SDK_WARNINGS.has(message)) level = 'DEBUG';
  const method = ({ TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const)[level];
  logger[method]({ sdk: true, ...meta }, message);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof ConfigError) exitForConfiguration('worker', error);
    process.stderr.write(`worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
