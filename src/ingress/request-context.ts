/**
 * Per-request context: a request id (the caller's `X-Request-Id` when it is a sane token, else a
 * new one; echoed in the answer), a child logger carrying it, and the latency observation by route
 * pattern when the answer is sent. Nothing from headers or bodies is logged here: signatures and
 * card numbers never reach the logs.
 */
import { randomUUID } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Logger } from '../config/logger';
import type { IngressMetrics } from './metrics';

const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export interface RequestContext {
  requestId: string;
  log: Logger;
}

export function requestContext(logger: Logger, metrics: IngressMetrics | undefined): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.get('x-request-id');
    const requestId = given !== undefined && SANE_REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.context = { requestId, log: logger.child({ requestId }) } satisfies RequestContext;
    res.setHeader('X-Request-Id', requestId);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      metrics?.latency.observe({ route: routeLabel(req), method: req.method, status: String(res.statusCode) }, seconds);
    });
    next();
  };
}

export function contextOf(res: Response): RequestContext {
  return res.locals.context as RequestContext;
}

/** The route pattern (`/webhooks/nexudus/:action`), never the raw path: bounded label values. */
function routeLabel(req: Request): string {
  const route = (req as Request & { route?: { path?: unknown } }).route;
  return route && typeof route.path === 'string' ? `${req.baseUrl}${route.path}` : 'unmatched';
}
