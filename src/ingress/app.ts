/**
 * The ingress HTTP app as a factory: dependencies come in, an Express app comes out, nothing
 * listens here (src/ingress.ts owns the port and the lifecycle), so tests drive it with supertest.
 * Webhook, report and metrics routes are mounted when their dependencies are given
 * (src/ingress/assemble.ts builds them all).
 */
import express, { type Express } from 'express';
import { type Client } from '@temporalio/client';
import { type Logger } from '../logger';
import { failedCheckinRoutes, type FailedCheckinReportDeps } from './failed-checkins';
import { errorHandler, notFound } from './http-errors';
import type { Inbox } from './inbox';
import { kisiWebhookRoutes, type KisiWebhookDeps } from './kisi-webhooks';
import type { IngressMetrics } from './metrics';
import { nexudusWebhookRoutes, type NexudusWebhookDeps } from './nexudus-webhooks';
import { reconcileReportRouter } from './reconcile-report';
import { requestContext } from './request-context';
import type { TemporalBreaker } from './temporal-breaker';

export interface AppDeps {
  logger: Logger;
  /** Resolves true when Temporal answers within a short deadline (see isTemporalReachable). */
  isTemporalReachable: () => Promise<boolean>;
  /** For the webhook routes, which start and signal workflows. */
  client?: Client;
  /** This deployment's task queue: `/reports/reconcile` shows only its own reconciles. */
  taskQueue?: string;
  /** `GET /metrics`, and request latencies. */
  metrics?: IngressMetrics;
  /** Its backlog and dead events appear in /readyz. */
  inbox?: Inbox;
  breaker?: TemporalBreaker;
  nexudusWebhooks?: NexudusWebhookDeps;
  kisiWebhooks?: KisiWebhookDeps;
  failedCheckins?: FailedCheckinReportDeps;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(deps.logger, deps.metrics));

  // Liveness: the process is up and serving HTTP. Deliberately independent of Temporal, so an
  // orchestrator does not restart the ingress while Temporal is briefly away.
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Readiness: only send webhooks here when they can be turned into workflows. While Temporal is
  // away the ingress still accepts webhooks into its inbox; the backlog says how much waits.
  app.get('/readyz', async (_req, res) => {
    const temporal = await deps.isTemporalReachable().catch(() => false);
    if (!temporal) deps.logger.warn('readyz: Temporal is not reachable');
    const body: Record<string, unknown> = { status: temporal ? 'ready' : 'not-ready', temporal: temporal ? 'reachable' : 'unreachable' };
    if (deps.inbox && !deps.inbox.isClosed) {
      const stats = deps.inbox.stats();
      body.inbox = {
        backlog: stats.backlog,
        entities: stats.entities,
        oldestAgeSeconds: stats.oldestReceivedAt === null ? null : Math.max(0, Math.round((Date.now() - stats.oldestReceivedAt) / 100) / 10),
        dead: stats.dead,
        recentDead: stats.dead > 0 ? deps.inbox.recentDead(20) : [],
        temporalBreaker: deps.breaker?.isOpen ? 'open' : 'closed',
      };
    }
    res.status(temporal ? 200 : 503).json(body);
  });

  if (deps.metrics) {
    const { registry } = deps.metrics;
    app.get('/metrics', async (_req, res) => {
      res.setHeader('Content-Type', registry.contentType);
      res.send(await registry.metrics());
    });
  }

  if (deps.nexudusWebhooks) app.use(nexudusWebhookRoutes(deps.nexudusWebhooks));
  if (deps.kisiWebhooks) app.use(kisiWebhookRoutes(deps.kisiWebhooks));
  if (deps.failedCheckins) app.use(failedCheckinRoutes(deps.failedCheckins));
  if (deps.client) app.use(reconcileReportRouter({ client: deps.client, taskQueue: deps.taskQueue }));

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
