/**
 * How the ingress says no: every error answer is JSON `{error, details}`, never an HTML page or a
 * stack trace (webhook senders log what we answer; a stack would leak internals into their logs).
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { z } from 'zod';
import type { Logger } from '../config/logger';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendError(res: Response, status: number, error: string, details: unknown = null): void {
  res.status(status).json({ error, details });
}

/**
 * A verified webhook body read as JSON, or why it is not JSON. The reason never quotes the body
 * (JSON.parse's message does: it could carry a PIN into a log or a dead event's reason).
 */
export function readJson(rawBody: Buffer): { ok: true; json: unknown } | { ok: false; reason: string } {
  const text = rawBody.toString('utf8');
  try {
    return { ok: true, json: JSON.parse(text) as unknown };
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    const where = position !== undefined ? ` at character ${position}` : text.trim() === '' ? ' (empty body)' : '';
    return { ok: false, reason: `the body is not JSON (${rawBody.length} bytes, unreadable${where})` };
  }
}

/** zod issues as a webhook sender can read them: where, what, and zod's code. */
export function describeIssues(issues: z.ZodError['issues'], prefix: PropertyKey[] = []): Array<{ path: string; message: string; code: string }> {
  return issues.map((issue) => ({
    path: [...prefix, ...issue.path].map(String).join('.') || '(body)',
    message: issue.message,
    code: issue.code,
  }));
}

/** Unknown routes and methods: JSON 404 (Express' default is an HTML page). */
export const notFound: RequestHandler = (req, res) => {
  sendError(res, 404, 'not found', { method: req.method, path: safePath(req) });
};

/**
 * The last handler. Body-parser failures carry their own status (413 too large, 400 unreadable);
 * anything else is our bug: logged with its stack here, answered as a bare 500.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof HttpError) {
      sendError(res, err.status, err.message, err.details);
      return;
    }
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    const type = (err as { type?: unknown }).type;
    if (status === 413 || type === 'entity.too.large') {
      sendError(res, 413, 'payload too large', { limitBytes: (err as { limit?: number }).limit ?? null });
      return;
    }
    if (status >= 400 && status < 500) {
      sendError(res, status, 'bad request', { reason: typeof type === 'string' ? type : 'unreadable request body' });
      return;
    }
    logger.error({ err, path: safePath(req) }, 'ingress: unexpected error');
    sendError(res, 500, 'internal error');
  };
}

/** The path for logs and answers, without a token that a codec URL may carry. */
export function safePath(req: Request): string {
  return req.path.replace(/^\/codec\/[^/]+\/(decode|encode)$/, '/codec/<token>/$1');
}
