/**
 * Ingress entry point: `npm run ingress` (node dist/src/ingress.js) in production, a child of
 * `npm start` in development. Serves the app from src/ingress/app.ts on PORT.
 *
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (up to
 * SHUTDOWN_GRACE_MS), then close the Temporal connection and exit 0.
 */
import { type Server } from 'node:http';
import { loadEnvOrExit } from './cli/bootstrap';
import { createLogger } from './logger';
import { connectClient, isTemporalReachable, temporalAddress } from './temporal/connection';
import { createApp } from './ingress/app';

const SHUTDOWN_GRACE_MS = 7_000;

function main(): void {
  const env = loadEnvOrExit('ingress');
  const logger = createLogger(env, 'ingress');
  const { client, connection } = connectClient(env);
  const app = createApp({ logger, client, isTemporalReachable: () => isTemporalReachable(connection) });

  const server: Server = app.listen(env.PORT, () => {
    logger.info({ port: env.PORT, temporal: temporalAddress(env), namespace: env.TEMPORAL_NAMESPACE }, `ingress listening on http://localhost:${env.PORT}`);
  });
  server.on('error', (error) => {
    logger.fatal({ err: error }, 'ingress cannot listen');
    process.exit(1);
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'ingress stopping: no new connections, finishing in-flight requests');
    const force = setTimeout(() => {
      logger.warn('ingress: in-flight requests still open at the deadline; closing them');
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      connection
        .close()
        .catch(() => undefined)
        .finally(() => {
          logger.info('ingress stopped');
          process.exit(0);
        });
    });
    // Keep-alive sockets with no request in flight would otherwise hold close() open.
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
