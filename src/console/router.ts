/**
 * The operator console under `/console`, served by the ingress: sign-in, the pages, sign-out.
 *
 *   - The operator token (OPS_TOKEN) signs an operator in; a session cookie (HttpOnly,
 *     SameSite=Strict, Secure outside development, path /console) carries the sign-in from then
 *     on. Without OPS_TOKEN the console follows the operator endpoints' rule
 *     (src/ingress/operator-auth.ts): off in production (a page says how to turn it on), loopback
 *     clients only in development.
 *   - Every change (any method but GET/HEAD) carries the session's CSRF token (synchroniser token
 *     pattern, csrf-sync): a form field `_csrf` or the header `X-CSRF-Token`.
 *   - Sessions live in this process' memory (bounded, expired when idle): a restart signs operators
 *     out, and several ingress replicas need sticky sessions for the console.
 *   - Headers by helmet: a Content-Security-Policy that allows only this origin's own files (no
 *     inline script or style), no framing, no referrer to other sites.
 */
import { randomBytes } from 'node:crypto';
import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import session from 'express-session';
import createMemoryStore from 'memorystore';
import { csrfSync } from 'csrf-sync';
import helmet from 'helmet';
import { rateLimit } from 'express-rate-limit';
import { clientAddress, isLoopback, isOperatorToken } from '../ingress/operator-auth';
import { assetAt } from './assets';
import type { ConsoleDeps, Notice, PageContext } from './context';
import { html } from './html';
import { sendBarePage, sendPage } from './layout';
import { CONSOLE_PATHS } from './paths';

declare module 'express-session' {
  interface SessionData {
    signedInAt: number;
    notice: Notice;
  }
}

/** A page's routes, added to the console behind sign-in and CSRF protection. */
export type PageRoutes = (router: Router) => void;

const DEFAULT_IDLE_MS = 8 * 3_600_000;
/** However active, a session ends this long after sign-in. */
const MAX_SESSION_MS = 24 * 3_600_000;
const MAX_SESSIONS = 1_000;

export function consoleRouter(deps: ConsoleDeps, pages: PageRoutes[]): Router {
  const router = Router();
  router.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: true,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          // Development serves plain http on loopback: upgrading would break every request there.
          upgradeInsecureRequests: deps.secureCookies ? [] : null,
        },
      },
      strictTransportSecurity: deps.secureCookies,
      referrerPolicy: { policy: 'same-origin' },
    }),
  );

  router.get('/console/assets/:file', (req, res) => {
    const asset = assetAt(req.path);
    if (!asset) {
      sendBarePage(res, 404, 'Not found', html`<h1>Not found</h1>`);
      return;
    }
    res.type(asset.type).setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.send(asset.body);
  });

  if (deps.operatorAccess.mode === 'off') {
    router.use('/console', (_req, res) => sendConsoleOff(res));
    return router;
  }

  const idleMs = deps.sessionIdleMs ?? DEFAULT_IDLE_MS;
  const MemoryStore = createMemoryStore(session);
  router.use(
    '/console',
    session({
      name: 'console.sid',
      // Per process: sessions do not outlive it anyway (they are in its memory).
      secret: randomBytes(32).toString('hex'),
      store: new MemoryStore({ checkPeriod: 10 * 60_000, max: MAX_SESSIONS, ttl: idleMs }),
      resave: false,
      saveUninitialized: false,
      rolling: true,
      // Behind a TLS proxy the connection itself is plain: trust its X-Forwarded-Proto for the Secure flag.
      proxy: deps.secureCookies,
      cookie: { path: '/console', httpOnly: true, sameSite: 'strict', secure: deps.secureCookies, maxAge: idleMs },
    }),
  );
  router.use('/console', express.urlencoded({ extended: false, limit: '256kb' }));

  const csrf = csrfSync({
    getTokenFromRequest: (req) => {
      const field = (req.body as Record<string, unknown> | undefined)?._csrf;
      return typeof field === 'string' ? field : req.get('x-csrf-token');
    },
  });

  router.get('/console/sign-in', (req, res) => {
    if (isSignedIn(req)) {
      res.redirect(303, '/console');
      return;
    }
    sendSignIn(res, deps, 200, req.query['signed-out'] !== undefined ? { kind: 'ok', text: 'You are signed out.' } : undefined);
  });

  router.post(
    '/console/sign-in',
    rateLimit({ windowMs: 15 * 60_000, limit: 20, skipSuccessfulRequests: true, standardHeaders: 'draft-8', legacyHeaders: false, handler: (_req, res) => sendSignIn(res, deps, 429, { kind: 'error', text: 'Too many attempts: wait a quarter of an hour and try again.' }) }),
    (req, res, next) => {
      // Login CSRF: only a form of this origin may sign in (SameSite does not cover a session that does not exist yet).
      if (!sameOrigin(req)) {
        sendSignIn(res, deps, 403, { kind: 'error', text: 'Sign in from the console\u2019s own page.' });
        return;
      }
      const token = (req.body as Record<string, unknown> | undefined)?.token;
      const allowed = deps.operatorAccess.mode === 'loopback' ? isLoopback(req.socket.remoteAddress) : typeof token === 'string' && isOperatorToken(deps.operatorAccess, token);
      if (!allowed) {
        deps.logger.warn({ clientAddress: clientAddress(req) }, 'console: sign-in refused');
        sendSignIn(res, deps, 401, { kind: 'error', text: deps.operatorAccess.mode === 'loopback' ? 'Without OPS_TOKEN only this machine may sign in.' : 'That is not the operator token.' });
        return;
      }
      // A new session id at sign-in: an id planted before cannot be carried into the console.
      req.session.regenerate((error) => {
        if (error) return next(error);
        req.session.signedInAt = Date.now();
        csrf.generateToken(req, true);
        deps.logger.info({ clientAddress: clientAddress(req) }, 'console: operator signed in');
        res.redirect(303, '/console');
      });
    },
  );

  // Everything below needs a session.
  router.use('/console', requireSession);
  router.use('/console', csrf.csrfSynchronisedProtection);

  router.post('/console/sign-out', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error);
      res.clearCookie('console.sid', { path: '/console', httpOnly: true, sameSite: 'strict', secure: deps.secureCookies });
      res.redirect(303, '/console/sign-in?signed-out');
    });
  });

  router.get('/console', (_req, res) => res.redirect(303, CONSOLE_PATHS.access));

  const pagesRouter = Router();
  for (const add of pages) add(pagesRouter);
  router.use(pagesRouter);

  router.use('/console', (req, res) => sendPage(res, pageContext(req), { title: 'Not found', status: 404, body: html`<h1>Not found</h1><p>There is no console page at this address.</p>` }));
  router.use('/console', consoleErrors(deps));
  return router;
}

/** What every page is told: the CSRF token for its forms, where it is, and the last change's notice (once). */
export function pageContext(req: Request): PageContext {
  const notice = req.session.notice;
  if (notice) delete req.session.notice;
  return { csrfToken: req.csrfToken?.() ?? '', path: req.originalUrl.split('?')[0]!, notice };
}

/** After a change: back to a page (303, so a reload does not repeat the change), which shows the notice once. */
export function redirectWithNotice(req: Request, res: Response, to: string, notice: Notice): void {
  req.session.notice = notice;
  req.session.save(() => res.redirect(303, to));
}

function isSignedIn(req: Request): boolean {
  const at = req.session?.signedInAt;
  return typeof at === 'number' && Date.now() - at < MAX_SESSION_MS;
}

const requireSession: RequestHandler = (req, res, next) => {
  if (isSignedIn(req)) {
    next();
    return;
  }
  if (req.method === 'GET' || req.method === 'HEAD') {
    res.redirect(303, '/console/sign-in');
    return;
  }
  sendBarePage(res, 401, 'Signed out', html`<h1>You are not signed in</h1><p>Nothing was changed. <a href="/console/sign-in">Sign in</a> and try again.</p>`);
};

/** Same origin by the browser's own headers: Sec-Fetch-Site, else Origin against Host. */
function sameOrigin(req: Request): boolean {
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.get('origin');
  if (origin === undefined || origin === 'null') return origin === undefined;
  try {
    return new URL(origin).host === req.get('host');
  } catch {
    return false;
  }
}

function sendSignIn(res: Response, deps: ConsoleDeps, status: number, notice?: Notice): void {
  const loopback = deps.operatorAccess.mode === 'loopback';
  sendBarePage(
    res,
    status,
    'Sign in',
    html`
      <h1>Door access console</h1>
      ${notice ? html`<p class=${`notice ${notice.kind}`} role=${notice.kind === 'error' ? 'alert' : 'status'}>${notice.text}</p>` : null}
      <form method="post" action="/console/sign-in">
        ${loopback
          ? html`<p>OPS_TOKEN is not set: in development this machine may sign in without it.</p>`
          : html`<div class="field">
              <label for="token">Operator token</label>
              <input id="token" name="token" type="password" autocomplete="current-password" required />
              <p class="hint">The OPS_TOKEN this deployment was given.</p>
            </div>`}
        <button type="submit">Sign in</button>
      </form>`,
  );
}

function sendConsoleOff(res: Response): void {
  sendBarePage(
    res,
    404,
    'Console off',
    html`
      <h1>The console is off</h1>
      <p>This deployment has no operator token, so the console (and every operator endpoint) is off.</p>
      <p>To turn it on, give the ingress <code>OPS_TOKEN</code> (a long random secret, for example from <code>openssl rand -hex 32</code>) and restart it. See docs/operations.md.</p>`,
  );
}

/** A refused CSRF token, or our own bug, as a page (the rest of the ingress answers JSON). */
function consoleErrors(deps: ConsoleDeps): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const code = (err as { code?: unknown }).code;
    if (code === 'EBADCSRFTOKEN' || (err as { message?: unknown }).message === 'invalid csrf token') {
      deps.logger.warn({ clientAddress: clientAddress(req), path: req.path }, 'console: change refused, missing or wrong CSRF token');
      sendBarePage(res, 403, 'Refused', html`<h1>Refused</h1><p>This change did not come from a console page (its form token is missing or old). Nothing was changed. <a href="/console">Back to the console</a>.</p>`);
      return;
    }
    const status = (err as { status?: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendBarePage(res, status, 'Bad request', html`<h1>Bad request</h1><p>The request could not be read. Nothing was changed.</p>`);
      return;
    }
    deps.logger.error({ err, path: req.path }, 'console: unexpected error');
    sendBarePage(res, 500, 'Error', html`<h1>Something went wrong</h1><p>The error is in the ingress log. Nothing may have changed; check before trying again.</p>`);
  };
}
