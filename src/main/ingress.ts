/**
 * Ingress entry point: `npm run ingress` (node dist/src/main/ingress.js) in production, a child of
 * `npm start` in development. Serves the app from src/ingress/app.ts on PORT.
 *
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish (up to
 * SHUTDOWN_GRACE_MS), stop the inbox forwarder (its deliveries in flight finish), close the inbox,
 * then close the Temporal connection and exit 0.
 *
 * Dependencies (Temporal client, Nexudus client, access map, inbox, forwarder) come from
 * src/ingress/from-env.ts; a configuration it refuses ends the process with exit status 78 and one
 * line on stderr.
 */
import { type Server } from 'node:http';
import { exitForConfiguration, loadEnvOrExit } from '../process/bootstrap';
import { AccessMapError } from '../config/access-map';
import { ConfigError, isDevelopment } from '../config/env';
import { createLogger } from '../config/logger';
import { temporalAddress } from '../temporal/connection';
import { ingressFromEnv, listenHost, temporalUiUrl } from '../ingress/from-env';
import { consoleFor } from '../console';
import { InboxLockedError } from '../ingress/inbox';

const SHUTDOWN_GRACE_MS = 7_000;

/**
 * HTTP hygiene: a client that trickles its headers or body cannot hold a connection (and a slot of
 * the hot path) for long. Webhook bodies are at most 1 MiB; 30 s is generous for that.
 */
const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 } as const;

function main(): void {
  const env = loadEnvOrExit('ingress');
  const logger = createLogger(env, 'ingress');
  let built: ReturnType<typeof ingressFromEnv>;
  try {
    built = ingressFromEnv(env, logger, {
      console: consoleFor({ secureCookies: !isDevelopment(env), namespace: env.TEMPORAL_NAMESPACE, temporalUiUrl: temporalUiUrl(env) }),
    });
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AccessMapError || error instanceof InboxLockedError) exitForConfiguration('ingress', error);
    throw error;
  }
  const { ingress, connection, accessMap } = built;
  const app = ingress.app;
  // A changed access map reaches the next delivery without a restart; a bad one is refused and logged.
  // Also when the file changes: another ingress replica's Setup may have saved it.
  accessMap.reloadOnSighup().watchFile();

  const host = listenHost(env);
  const server: Server = app.listen({ port: env.PORT, host }, () => {
    logger.info({ port: env.PORT, host: host ?? 'all interfaces', temporal: temporalAddress(env), namespace: env.TEMPORAL_NAMESPACE }, `ingress listening on http://${host ?? 'localhost'}:${env.PORT}`);
  });
  server.headersTimeout = SERVER_TIMEOUTS.headersTimeout;
  server.requestTimeout = SERVER_TIMEOUTS.requestTimeout;
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveTimeout;
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
      ingress
        .close()
        .catch((error: unknown) => logger.error({ err: error }, 'ingress: inbox did not close cleanly'))
        .then(() => connection.close())
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
