/**
 * The ingress HTTP app as a factory: dependencies come in, an Express app comes out, nothing
 * listens here (src/main/ingress.ts owns the port and the lifecycle), so tests drive it with supertest.
 * Webhook, report and metrics routes are mounted when their dependencies are given
 * (src/ingress/assemble.ts builds them all).
 *
 * Open to anyone: the webhooks (signed), `/healthz`, `/readyz` and `/metrics` (no personal data).
 * Behind the operator guard (src/ingress/operator-auth.ts): everything under `/reports/` and
 * `/ops/`, and the codec endpoint. The console (`/console`, src/console/router.ts) signs operators
 * in with the same token and keeps them in a session.
 */
import express, { type Express, type Router } from 'express';
import type { PayloadCodec } from '@temporalio/common';
import { type Logger } from '../config/logger';
import { codecRoutes } from './codec-endpoint';
import { deadEventRoutes, type DeadEventDeps } from './dead-events';
import { failedCheckinRoutes, type FailedCheckinReportDeps } from './failed-checkins';
import { errorHandler, notFound } from './http-errors';
import type { Inbox } from './inbox';
import { kisiWebhookRoutes, type KisiWebhookDeps } from './kisi-webhooks';
import type { IngressMetrics } from './metrics';
import { nexudusWebhookRoutes, type NexudusWebhookDeps } from './nexudus-webhooks';
import { requireOperator, type OperatorAccess } from './operator-auth';
import { reconcileReportRouter, type ReconcileReportDeps } from './reconcile-report';
import { ReportRunner } from './reports';
import { requestContext } from './request-context';
import type { TemporalBreaker } from './temporal-breaker';

export interface AppDeps {
  logger: Logger;
  /** Resolves true when Temporal answers within a short deadline (see isTemporalReachable). */
  isTemporalReachable: () => Promise<boolean>;
  /** Who may use the operator endpoints (default: nobody, as in production without OPS_TOKEN). */
  operatorAccess?: OperatorAccess;
  /** What is wrong with the process now (/healthz fails while this is not empty). */
  health?: () => string[];
  /** `GET /reports/reconcile`: this deployment's latest reconcile (its task queue's only). */
  reconcileReport?: Omit<ReconcileReportDeps, 'runner'>;
  /** `GET /metrics`, and request latencies. */
  metrics?: IngressMetrics;
  /** Its backlog and dead events appear in /readyz. */
  inbox?: Inbox;
  breaker?: TemporalBreaker;
  nexudusWebhooks?: NexudusWebhookDeps;
  kisiWebhooks?: KisiWebhookDeps;
  failedCheckins?: FailedCheckinReportDeps;
  deadEvents?: DeadEventDeps;
  /** How long a report is answered from the cache (ms, default a minute). */
  reportCacheMs?: number;
  /** Computes and caches the reports (default: one of its own, caching reportCacheMs). */
  reportRunner?: ReportRunner;
  /** The codec endpoint for the Web UI (mounted when given). */
  codec?: { codec: PayloadCodec | undefined; corsOrigins: string[] };
  /** The operator console's routes, all under /console (src/console/; mounted when given). */
  console?: Router;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(requestContext(deps.logger, deps.metrics));

  // Liveness: the process serves HTTP *and* its inbox moves. Deliberately independent of
  // Temporal's reachability (an orchestrator must not restart the ingress because Temporal is
  // briefly away), but not of a forwarder that stopped or an event waiting past INBOX_MAX_AGE.
  app.get('/healthz', (_req, res) => {
    const problems = deps.health?.() ?? [];
    if (problems.length > 0) deps.logger.warn({ problems }, 'healthz: unhealthy');
    res.status(problems.length > 0 ? 503 : 200).json(problems.length > 0 ? { status: 'unhealthy', problems } : { status: 'ok' });
  });

  // Readiness: only send webhooks here when they can be turned into workflows. While Temporal is
  // away the ingress still accepts webhooks into its inbox; the backlog says how much waits.
  app.get('/readyz', async (_req, res) => {
    const temporal = await deps.isTemporalReachable().catch(() => false);
    if (!temporal) deps.logger.warn('readyz: Temporal is not reachable');
    const body: Record<string, unknown> = { status: temporal ? 'ready' : 'not-ready', temporal: temporal ? 'reachable' : 'unreachable' };
    if (deps.inbox && !deps.inbox.isClosed) {
      const stats = deps.inbox.stats();
      // Counts only: which events died and why is operator data (GET /reports/dead-events).
      body.inbox = {
        backlog: stats.backlog,
        entities: stats.entities,
        oldestAgeSeconds: stats.oldestReceivedAt === null ? null : Math.max(0, Math.round((Date.now() - stats.oldestReceivedAt) / 100) / 10),
        dead: stats.dead,
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

  // Operator endpoints: one guard in front of every path under /reports/ and /ops/ (endpoints
  // added there later are covered without a second thought), and the codec's own.
  const access = deps.operatorAccess ?? { mode: 'off' };
  const guard = requireOperator(access, deps.logger);
  app.use('/reports', guard);
  app.use('/ops', guard);
  const runner = deps.reportRunner ?? new ReportRunner({ cacheMs: deps.reportCacheMs });
  if (deps.failedCheckins) app.use(failedCheckinRoutes({ runner, metrics: deps.metrics, ...deps.failedCheckins }));
  if (deps.reconcileReport) app.use(reconcileReportRouter({ ...deps.reconcileReport, runner }));
  if (deps.deadEvents) app.use(deadEventRoutes(deps.deadEvents));
  if (deps.console) app.use(deps.console);
  if (deps.codec) app.use(codecRoutes({ ...deps.codec, guard: requireOperator(access, deps.logger, { pathToken: 'token' }), logger: deps.logger }));

  app.use(notFound);
  app.use(errorHandler(deps.logger));
  return app;
}
