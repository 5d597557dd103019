/**
 * Who may use the operator endpoints (`/reports/*`, `/ops/*`, `/codec/*`, and every operator
 * endpoint added later): they name customers, emails, doors and unlock times, and can re-send or
 * drop events. The ingress faces the internet (webhooks must reach it), so:
 *
 *   - OPS_TOKEN set: `Authorization: Bearer <OPS_TOKEN>`, compared in constant time; anything
 *     else is 401 JSON (logged with the client's address);
 *   - production without OPS_TOKEN: the endpoints are off (404, as if they did not exist), and the
 *     log says so once, at start;
 *   - development without OPS_TOKEN: loopback clients only (403 for others), so `npm start` works
 *     on one machine without a token.
 *
 * `/healthz`, `/readyz` and `/metrics` stay open: they carry no personal data.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler } from 'express';
import type { Logger } from '../config/logger';
import { safePath, sendError } from './http-errors';

export type OperatorAccess = { mode: 'token'; token: string } | { mode: 'loopback' } | { mode: 'off' };

/** The access rule for a configuration (OPS_TOKEN, and whether this is development). */
export function operatorAccess(token: string | undefined, development: boolean): OperatorAccess {
  if (token !== undefined) return { mode: 'token', token };
  return development ? { mode: 'loopback' } : { mode: 'off' };
}

/** Says once, at start, what the rule is when it is not the token. */
export function announceOperatorAccess(access: OperatorAccess, logger: Logger): void {
  if (access.mode === 'off') logger.warn('OPS_TOKEN is not set: the operator endpoints (/reports/*, /ops/*, /codec/*) are off (404)');
  if (access.mode === 'loopback') logger.warn('OPS_TOKEN is not set: the operator endpoints answer loopback clients only (development)');
}

/**
 * The guard. `pathToken` names a route parameter that may carry the token instead of the header:
 * the codec endpoint's, because the Temporal Web UI cannot send a header of our choosing (the codec
 * protocol routes on the last path segment only, so `/codec/<token>/decode` is a valid endpoint).
 */
export function requireOperator(access: OperatorAccess, logger: Logger, options: { pathToken?: string } = {}): RequestHandler {
  const expected = access.mode === 'token' ? digest(access.token) : undefined;
  return (req, res, next) => {
    if (access.mode === 'off') {
      sendError(res, 404, 'not found', { method: req.method, path: safePath(req) });
      return;
    }
    if (access.mode === 'loopback') {
      if (isLoopback(req.socket.remoteAddress)) {
        next();
        return;
      }
      logger.warn({ clientAddress: clientAddress(req), path: safePath(req) }, 'operator endpoint refused: not a loopback client and OPS_TOKEN is not set');
      sendError(res, 403, 'forbidden', { reason: 'OPS_TOKEN is not set: the operator endpoints answer loopback clients only (development)' });
      return;
    }
    const given = bearer(req.get('authorization')) ?? (options.pathToken ? (req.params as Record<string, string | undefined>)[options.pathToken] : undefined);
    if (given !== undefined && timingSafeEqual(digest(given), expected!)) {
      next();
      return;
    }
    logger.warn({ clientAddress: clientAddress(req), path: safePath(req), reason: given === undefined ? 'missing' : 'mismatch' }, 'operator endpoint refused: missing or wrong token');
    res.setHeader('WWW-Authenticate', 'Bearer realm="operator"');
    sendError(res, 401, 'unauthorized', { reason: given === undefined ? 'Authorization: Bearer <OPS_TOKEN> is required' : 'wrong token' });
  };
}

/** Whether `given` is the operator token (constant time; false unless the rule is the token). */
export function isOperatorToken(access: OperatorAccess, given: string): boolean {
  return access.mode === 'token' && timingSafeEqual(digest(given), digest(access.token));
}

/** Both sides hashed first: equal lengths for timingSafeEqual, and no length leaks. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function bearer(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The peer's address, and what a proxy in front says (both logged; neither is trusted for access). */
export function clientAddress(req: Request): string {
  const forwarded = req.get('x-forwarded-for');
  const peer = req.socket.remoteAddress ?? 'unknown';
  return forwarded ? `${peer} (X-Forwarded-For: ${forwarded.slice(0, 200)})` : peer;
}
