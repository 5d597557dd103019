/**
 * A stateful fake of the Kisi API for development, tests and drills: Kisi's paths, bodies, status
 * codes and paging (dev/sandbox/kisi-api.ts), its authentication and 5-per-second limit, plus
 * faults on demand and a few `/__sandbox` control routes:
 *   GET  /__sandbox/state     users, role assignments (with validity now), history, cards, counts
 *   POST /__sandbox/reset     back to the seed the sandbox started with
 *   POST /__sandbox/seed      replace everything with the posted seed
 *   GET/POST /__sandbox/faults   read / set the fault rules (FaultConfig)
 *   POST /__sandbox/rate_limit   {enabled} switch Kisi's rate limit
 *   POST /__sandbox/unlock    {lockId, userId, success?} send a signed lock.unlock webhook
 * Run directly (`node --import tsx dev/sandbox/kisi.ts`) it listens on KISI_SANDBOX_PORT.
 */
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { loadSandboxEnv } from './env';
import { type FaultConfig, FaultInjector, ServerRateLimit, faultConfigSchema } from './faults';
import { KISI_ERROR_CODES, kisiApiRouter, kisiError, type KisiApiOptions } from './kisi-api';
import { type KisiSeed, KisiState, isValidAt, kisiSeedSchema, loadKisiSeed, serializeCard, serializeCardAssignment, serializeUser } from './kisi-state';
import { buildUnlockEvent, deliverEvent, type Delivery } from './kisi-webhook';

export { isMemberAt, KisiState, loadKisiSeed, kisiSeedSchema, type KisiSeed } from './kisi-state';
export { signKisiBody, buildUnlockEvent, type UnlockEvent } from './kisi-webhook';

/** One request the sandbox answered, as its `validateResponses` hook sees it. */
export interface SandboxExchange {
  method: string;
  path: string;
  query: Record<string, string>;
  requestHeaders: Record<string, string>;
  requestBody: unknown;
  status: number;
  responseHeaders: Record<string, string>;
  responseBody: unknown;
}

export interface SandboxRequestRecord {
  /** Arrival time (ms since epoch). */
  at: number;
  method: string;
  /** Route with ids folded (`/role_assignments/{id}`). */
  route: string;
  /** Set when the answer has been sent. */
  status?: number;
}

const REQUEST_LOG_SIZE = 10_000;

export interface KisiSandboxOptions {
  /** A seed object or the path of a JSON seed; default config/sandbox/kisi-seed.json. */
  seed?: KisiSeed | string;
  /** Accepted API keys; default the seed's `api_keys`, and when both are empty any non-empty key. */
  apiKeys?: string[];
  faults?: FaultConfig;
  /** Kisi's limit per API key; default 5 per second; false starts it switched off. */
  rateLimit?: { perSecond: number } | false;
  webhookUrl?: string;
  webhookSecret?: string;
  duplicateAssignments?: 'allow' | 'reject';
  /** Called after every Kisi (non-control) answer; what it throws is collected in `violations`. */
  validateResponses?: (exchange: SandboxExchange) => void;
}

export interface KisiSandbox {
  app: Express;
  state: KisiState;
  faults: FaultInjector;
  rateLimit: ServerRateLimit;
  /** Messages thrown by `validateResponses`; tests assert it stays empty. */
  violations: string[];
  /** Kisi requests in arrival order (the last 10,000), with arrival time and final status. */
  requests: SandboxRequestRecord[];
  listen(port?: number): Promise<{ url: string; port: number; close(): Promise<void> }>;
}

export const DEFAULT_KISI_SEED_FILE = 'config/sandbox/kisi-seed.json';

function defaultSeedPath(): string {
  // From the working directory (npm scripts run in the repo root), else from dev/sandbox in the checkout.
  const candidates = [resolve(process.cwd(), DEFAULT_KISI_SEED_FILE), resolve(__dirname, '../..', DEFAULT_KISI_SEED_FILE)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`kisi sandbox: no seed given and ${DEFAULT_KISI_SEED_FILE} not found`);
  return found;
}

const unlockSchema = z.object({ lockId: z.number().int().positive(), userId: z.number().int().positive(), success: z.boolean().optional() });
const rateLimitSchema = z.object({ enabled: z.boolean() });

export function createKisiSandbox(options: KisiSandboxOptions = {}): KisiSandbox {
  const initialSeed: KisiSeed = typeof options.seed === 'string' ? loadKisiSeed(options.seed) : (options.seed ?? loadKisiSeed(defaultSeedPath()));
  const state = new KisiState(initialSeed);
  const apiOptions: KisiApiOptions = { duplicateAssignments: options.duplicateAssignments ?? 'allow' };
  const webhookUrl = options.webhookUrl ?? (process.env.KISI_SANDBOX_WEBHOOK_URL || `http://localhost:${process.env.PORT || 3000}/webhooks/kisi`);
  // Never KISI_WEBHOOK_SECRET: a sandbox anyone can make unlock must not sign as the real Kisi.
  const webhookSecret = options.webhookSecret ?? (process.env.KISI_SANDBOX_WEBHOOK_SECRET || undefined);
  const violations: string[] = [];
  /** When each request reached the HTTP server (set by `listen`), before express saw it. */
  const arrivals = new WeakMap<IncomingMessage, number>();

  const faults = new FaultInjector(
    429,
    () => kisiError('Too many requests', KISI_ERROR_CODES.tooManyRequests),
    () => kisiError('Internal server error', KISI_ERROR_CODES.serverError),
    options.faults,
  );
  const perSecond = options.rateLimit === false || options.rateLimit === undefined ? 5 : options.rateLimit.perSecond;
  const rateLimit = new ServerRateLimit(
    { perSecond },
    429,
    () => kisiError('Too many requests', KISI_ERROR_CODES.tooManyRequests),
    (req) => apiKeyOf(req) ?? '',
    options.rateLimit !== false,
  );

  const app = express();
  app.disable('x-powered-by');
  // First: arrival times must not include the time later middleware takes (pacing is measured on them).
  const requests: SandboxRequestRecord[] = [];
  app.use((req, res, next) => {
    if (req.path.startsWith('/__sandbox')) return next();
    const record: SandboxRequestRecord = { at: arrivals.get(req) ?? Date.now(), method: req.method, route: routeKey(req.path) };
    state.countRequest(`${record.method} ${record.route}`);
    requests.push(record);
    if (requests.length > REQUEST_LOG_SIZE) requests.splice(0, requests.length - REQUEST_LOG_SIZE);
    res.on('finish', () => (record.status = res.statusCode));
    next();
  });

  app.use(express.json({ limit: '1mb' }));
  app.use(observe(options.validateResponses, violations));

  // ---- control routes (no auth, no limits, no faults) ----------------------------------------
  app.get('/__sandbox/state', (_req, res) => {
    const now = Date.now();
    res.json({
      users: [...state.users.values()].map((u) => serializeUser(state, u)),
      role_assignments: [...state.roleAssignments.values()].map((ra) => ({ ...ra, valid_now: isValidAt(ra, now) })),
      assignment_history: state.history,
      cards: [...state.cards.values()].map((c) => serializeCard(state, c)),
      card_assignments: [...state.cardAssignments.values()].map((ca) => serializeCardAssignment(state, ca)),
      integrations: [...state.integrations.values()].map(({ signature_key: _omit, ...rest }) => rest),
      request_counts: state.requestCounts,
      recent_requests: requests.slice(-100),
      rate_limited: rateLimit.rejected,
      faults: faults.current().stats,
    });
  });
  app.post('/__sandbox/reset', (_req, res) => {
    state.load(initialSeed);
    requests.length = 0;
    if (options.faults) faults.configure(options.faults);
    else faults.clear();
    res.status(204).end();
  });
  app.post('/__sandbox/seed', (req, res) => {
    const parsed = kisiSeedSchema.safeParse(req.body);
    if (!parsed.success) return void res.status(422).json({ errors: zodFieldErrors(parsed.error) });
    try {
      state.load(req.body as KisiSeed);
    } catch (e) {
      return void res.status(422).json({ errors: { seed: [(e as Error).message] } });
    }
    res.status(204).end();
  });
  app.get('/__sandbox/faults', (_req, res) => {
    res.json(faults.current());
  });
  app.post('/__sandbox/faults', (req, res) => {
    const parsed = faultConfigSchema.safeParse(req.body ?? {});
    if (!parsed.success) return void res.status(422).json({ errors: zodFieldErrors(parsed.error) });
    faults.configure(req.body as FaultConfig);
    res.json(faults.current());
  });
  app.post('/__sandbox/rate_limit', (req, res) => {
    const parsed = rateLimitSchema.safeParse(req.body);
    if (!parsed.success) return void res.status(422).json({ errors: zodFieldErrors(parsed.error) });
    rateLimit.enabled = parsed.data.enabled;
    res.json({ enabled: rateLimit.enabled, perSecond });
  });
  app.post('/__sandbox/unlock', async (req, res) => {
    const parsed = unlockSchema.safeParse(req.body);
    if (!parsed.success) return void res.status(422).json({ errors: zodFieldErrors(parsed.error) });
    const { lockId, userId, success } = parsed.data;
    const event = buildUnlockEvent(state, lockId, userId, success);
    if (!event) return void res.status(404).json(kisiError(`lock ${lockId} or user ${userId} not found`, KISI_ERROR_CODES.notFound));
    // Registered event webhooks that want lock.unlock get it, each with its own key; without any,
    // the configured receiver (the product's ingress) does.
    const hooks = [...state.integrations.values()].filter((i) => i.enabled && i.enabled_events.includes('lock.unlock'));
    const targets = hooks.length > 0 ? hooks.map((i) => ({ url: i.url, secret: i.signature_key ?? undefined })) : [{ url: webhookUrl, secret: webhookSecret }];
    const deliveries: Delivery[] = [];
    for (const t of targets) deliveries.push(await deliverEvent(t.url, event, t.secret));
    res.json({ event, status: deliveries[0]?.status ?? null, deliveries });
  });

  // ---- Kisi ------------------------------------------------------------------------------------
  app.use((req, res, next) => {
    const key = apiKeyOf(req);
    const allowed = options.apiKeys ?? state.apiKeys;
    if (key === undefined || (allowed.length > 0 && !allowed.includes(key))) {
      return void res.status(401).json(kisiError('Unauthorized', KISI_ERROR_CODES.unauthorized));
    }
    next();
  });
  app.use(rateLimit.middleware());
  app.use(faults.middleware());
  app.use(kisiApiRouter(() => state, () => apiOptions));
  app.use((_req, res) => {
    res.status(404).json(kisiError('Not found', KISI_ERROR_CODES.notFound));
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    // express.json's parse errors carry a 4xx status; anything else is the sandbox's own bug.
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    res.status(status).json(kisiError(status < 500 ? 'Bad request' : 'Internal server error', status < 500 ? KISI_ERROR_CODES.badRequest : KISI_ERROR_CODES.serverError));
  });

  return {
    app,
    state,
    faults,
    rateLimit,
    violations,
    requests,
    listen: (port = 0) =>
      new Promise((resolveListen, reject) => {
        const server = app.listen(port, '127.0.0.1');
        server.prependListener('request', (req: IncomingMessage) => arrivals.set(req, Date.now()));
        server.once('error', reject);
        server.once('listening', () => {
          const actual = (server.address() as AddressInfo).port;
          resolveListen({
            url: `http://127.0.0.1:${actual}`,
            port: actual,
            close: () =>
              new Promise<void>((done, fail) => {
                server.close((e) => (e ? fail(e) : done()));
                server.closeAllConnections();
              }),
          });
        });
      }),
  };
}

/** The key of `Authorization: KISI-LOGIN <key>`, or undefined. */
function apiKeyOf(req: Request): string | undefined {
  const m = /^KISI-LOGIN\s+(\S.*)$/.exec(req.get('authorization') ?? '');
  return m?.[1]?.trim() || undefined;
}

/** `/role_assignments/12` -> `/role_assignments/{id}`, so counts group by operation. */
function routeKey(path: string): string {
  return path.replace(/\/\d+(?=\/|$)/g, '/{id}');
}

function zodFieldErrors(error: z.ZodError): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const issue of error.issues) (out[issue.path.join('.') || 'body'] ??= []).push(issue.message);
  return out;
}

/** Captures each Kisi answer (status, headers, JSON body) and hands it to the validation hook. */
function observe(validate: KisiSandboxOptions['validateResponses'], violations: string[]) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!validate || req.path.startsWith('/__sandbox')) return next();
    let body: unknown;
    const json = res.json.bind(res);
    res.json = (b: unknown) => {
      body = b;
      return json(b);
    };
    res.on('finish', () => {
      const responseHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.getHeaders())) if (v !== undefined) responseHeaders[k.toLowerCase()] = String(v);
      const requestHeaders: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') requestHeaders[k] = k === 'authorization' ? v.replace(/^(KISI-LOGIN\s+).*/i, '$1[redacted]') : v;
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.query as Record<string, unknown>)) query[k] = Array.isArray(v) ? String(v[0]) : String(v);
      try {
        validate({ method: req.method, path: req.path, query, requestHeaders, requestBody: req.body, status: res.statusCode, responseHeaders, responseBody: body });
      } catch (e) {
        violations.push(`${req.method} ${req.path} -> ${res.statusCode}: ${(e as Error).message}`);
      }
    });
    next();
  };
}

async function main(): Promise<void> {
  const env = loadSandboxEnv();
  const sandbox = createKisiSandbox({
    // KISI_SANDBOX_WEBHOOK_URL is read by createKisiSandbox itself (it is not in the sandbox's schema).
    webhookUrl: process.env.KISI_SANDBOX_WEBHOOK_URL || `http://localhost:${env.PORT}/webhooks/kisi`,
    webhookSecret: env.KISI_SANDBOX_WEBHOOK_SECRET,
  });
  const server = await sandbox.listen(env.KISI_SANDBOX_PORT);
  console.log(`kisi sandbox listening on ${server.url}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
