/**
 * The ingress HTTP app as a factory: dependencies come in, an Express app comes out, nothing
 * listens here (src/ingress.ts owns the port and the lifecycle), so tests drive it with supertest.
 * Webhook routes are added to this factory by their own modules.
 */
import express, { type Express } from 'express';
import { type Client } from '@temporalio/client';
import { type Logger } from '../logger';

export interface AppDeps {
  logger: Logger;
  /** Resolves true when Temporal answers within a short deadline (see isTemporalReachable). */
  isTemporalReachable: () => Promise<boolean>;
  /** For the webhook routes, which start and signal workflows. */
  client?: Client;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');

  // Liveness: the process is up and serving HTTP. Deliberately independent of Temporal, so an
  // orchestrator does not restart the ingress while Temporal is briefly away.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness: only send webhooks here when they can be turned into workflows.
  app.get('/readyz', async (_req, res) => {
    const temporal = await deps.isTemporalReachable().catch(() => false);
    if (!temporal) deps.logger.warn('readyz: Temporal is not reachable');
    res.status(temporal ? 200 : 503).json({ status: temporal ? 'ready' : 'not-ready', temporal: temporal ? 'reachable' : 'unreachable' });
  });

  return app;
}
