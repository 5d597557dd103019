/**
 * A stateful fake of the Nexudus REST API, served under /api so `NEXUDUS_BASE_URL=http://localhost:4020/api`
 * works unchanged. `node --import tsx dev/sandbox/nexudus.ts` listens on NEXUDUS_SANDBOX_PORT.
 *
 * What it plays (details in dev/sandbox/nexudus/*):
 *   auth        POST /api/token (form-encoded password or refresh_token grant), Bearer or Basic on every call
 *   REST        spaces/bookings, spaces/coworkers, billing/coworkertimepasses, billing/coworkercontracts (CRUD);
 *               billing/timepasses, spaces/resources, sys/floorplandesks, sys/businesses (read);
 *               spaces/checkins (read, PUT: check-out by ToTime, POST: refused without a valid pass -> failed check-in);
 *               spaces/failedcheckins (read); sys/webhooks (CRUD). Paging, filters, ranges as Nexudus.
 *   webhooks    fired by writes, signed, retried, disabled after 10 failures (nexudus/webhooks.ts)
 *   limits      1 call per 100 ms and 120 per minute per user -> 409 + Retry-After (switchable)
 *   faults      FaultInjector rules (409 throttling, 5xx, latency), scripted one-off answers
 *   time        `FromTime` as UTC (`utc-z`) or as the wall clock with a fake Z (`local-fake-z`)
 *
 * Helper API for tests in other suites (all typed, all in-process):
 *   const sb = createNexudusSandbox({ webhookSecret: 's', rateLimit: false });
 *   const { apiUrl, close } = await sb.listen(0);            // NexudusClient({ baseUrl: apiUrl, ...DEFAULT_SANDBOX_USER })
 *   sb.state.addBooking({ ResourceId, CoworkerId, FromTime: '2026-11-28T10:00:00Z', ToTime: ... })  // fires BookingCreate
 *   sb.state.updateBooking(id, { ToTime }) / deleteBooking(id); addCoworkerTimePass / updateCoworkerTimePass /
 *   deleteCoworkerTimePass; addContract / updateContract / deleteContract; addCoworker / updateCoworker;
 *   deleteCoworker(id); reissueCard(number, toCoworkerId)
 *   addWebhook({ Name, Action: 'BookingCreate', URL }); createCheckin({ BusinessId, CoworkerId, FromTime, Source: 2 });
 *   updateCheckin(id, { ToTime }) / checkout({ coworkerId } | { checkinId }, at?)
 *   sb.state.checkins() / failedCheckins() / webhooks() / bookings() ...: records as the API renders them
 *   sb.state.tick(at)                                         // AccessControlUpdate 15 min before start / after end
 *   await sb.webhooks.idle();  sb.webhooks.log                // every delivery attempt
 *   sb.script({ method: 'GET', path: '/api/spaces/bookings', status: 503, times: 1 })  // the next matching call answers 503
 *   sb.auth.revokeAccessTokens()                              // the next bearer call gets a 401
 *   sb.config.timeFormat = 'local-fake-z'; sb.reset()
 * Over HTTP (no auth): GET /__sandbox/state, POST /__sandbox/reset, POST /__sandbox/seed (a seed JSON),
 *   GET|POST /__sandbox/faults, POST /__sandbox/emit {action, entity}, POST|DELETE /__sandbox/script,
 *   POST /__sandbox/config {timeFormat?, checkinRefusal?, rateLimit?}, POST /__sandbox/revoke-tokens,
 *   POST /__sandbox/tick {at?} (the access-control clock, see state.tick),
 *   POST /__sandbox/coworkers/{id} {FullName?, Email?, Active?, AccessCardId?, KeyFobNumber?, AccessPincode?}
 *   (change a customer), DELETE /__sandbox/coworkers/{id}, POST /__sandbox/contracts/{id} {Active?, Cancelled?,
 *   CancellationDate?, ...} (change a contract), POST /__sandbox/reissue-card {number, toCoworkerId, field?},
 *   POST /__sandbox/checkout {checkinId} | {coworkerId, businessId?} (+ at?). These change the sandbox as the REST
 *   writes do (same webhooks) without credentials, limits or faults; they answer what they changed.
 */
import type { Server } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { SANDBOX_CREDENTIALS } from '../../src/config/local-sandboxes';
import { nexudusId } from '../../src/domain/nexudus-entities';
import { FaultInjector, ServerRateLimit, type FaultConfig } from './faults';
import { actionId, actionName } from './nexudus/actions';
import { SandboxAuth, type SandboxUser } from './nexudus/auth';
import type { TimeFormat } from './nexudus/clock';
import { contractInput, coworkerInput, NotFoundFailure, ValidationFailure } from './nexudus/inputs';
import { MinIntervalLimit } from './nexudus/limits';
import { answerError, apiRouter, type CheckinRefusal } from './nexudus/routes';
import { defaultSeedPath, loadSeedFile, parseSeed, SeedError, type NexudusSeed, type ParsedSeed } from './nexudus/seed';
import { NexudusSandboxState } from './nexudus/state';
import { WebhookDispatcher, type DeliveryOptions, type SignatureEncoding } from './nexudus/webhooks';
import { loadSandboxEnv } from './env';

export type { NexudusSeed } from './nexudus/seed';
export type { SandboxUser } from './nexudus/auth';
export type { TimeFormat } from './nexudus/clock';
export type { CheckinRefusal } from './nexudus/routes';
export type { DeliveryAttempt, DeliveryOptions, SignatureEncoding } from './nexudus/webhooks';
export { NexudusSandboxState } from './nexudus/state';
export { signNexudusBody } from './nexudus/webhooks';
export { SANDBOX_ACTION_IDS } from './nexudus/actions';

/** Credentials the sandbox accepts when none are given. */
export const DEFAULT_SANDBOX_USER: SandboxUser = { username: SANDBOX_CREDENTIALS.NEXUDUS_USERNAME, password: SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD };

export interface NexudusSandboxOptions {
  /** A seed object, or a path to a seed JSON file (default config/sandbox/nexudus-seed.json). */
  seed?: NexudusSeed | string;
  users?: SandboxUser[];
  faults?: FaultConfig;
  /**
   * Server-side limits (default 120/min and 1 per 100 ms per user); false turns them off.
   * `jitterGraceMs` (default 10) forgives calls that arrive that much early, e.g. paced calls
   * delayed unevenly on a busy machine.
   */
  rateLimit?: { perMinute: number; minIntervalMs?: number; jitterGraceMs?: number } | false;
  /** Where `POST /__sandbox/emit` sends webhooks (default env NEXUDUS_SANDBOX_INGRESS_URL, else http://localhost:$PORT|3000). */
  ingressUrl?: string;
  /**
   * Shared secret for `X-Nexudus-Hook-Signature` (default env NEXUDUS_SANDBOX_WEBHOOK_SECRET; none =
   * unsigned). Never NEXUDUS_WEBHOOK_SECRET: a sandbox anyone can make emit must not sign with the
   * secret a real ingress trusts.
   */
  webhookSecret?: string;
  timeFormat?: TimeFormat;
  delivery?: DeliveryOptions;
  signatureEncoding?: SignatureEncoding;
  /** Access token lifetime (default 604799 s, as Nexudus). */
  tokenTtlSeconds?: number;
  /** How a refused check-in is answered (default 400 with the validation envelope). */
  checkinRefusal?: CheckinRefusal;
}

/** A one-off answer: the next `times` requests matching method and path get this instead. */
export interface ScriptedAnswer {
  method?: string;
  /** Exact path (`/api/spaces/bookings/5`) or a prefix ending in `*`. */
  path: string;
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  times?: number;
}

export interface ListeningSandbox {
  /** http://127.0.0.1:<port> */
  url: string;
  /** url + /api: what NEXUDUS_BASE_URL should be. */
  apiUrl: string;
  port: number;
  close(): Promise<void>;
}

/** One API request the sandbox received (control routes excluded). */
export interface NexudusRequestRecord {
  /** Arrival time (ms since epoch), before any middleware (limits, faults) ran. */
  at: number;
  method: string;
  /** Path with ids folded (`/api/spaces/coworkers/{id}`). */
  route: string;
  /** Set when the answer has been sent. */
  status?: number;
}

const REQUEST_LOG_SIZE = 10_000;

export interface NexudusSandbox {
  app: Express;
  /** API requests in arrival order (the last 10,000), with arrival time and final status. */
  requests: NexudusRequestRecord[];
  state: NexudusSandboxState;
  faults: FaultInjector;
  auth: SandboxAuth;
  webhooks: WebhookDispatcher;
  /** Live switches (also settable over POST /__sandbox/config). */
  config: { timeFormat: TimeFormat; checkinRefusal: CheckinRefusal; rateLimit: boolean };
  script(answer: ScriptedAnswer): void;
  /** Back to the seed; clears check-ins, webhook deliveries and scripted answers. */
  reset(): void;
  listen(port?: number, host?: string): Promise<ListeningSandbox>;
}

const THROTTLED = () => ({ Message: 'You must wait before accessing this url again.' });
const SERVER_ERROR = () => ({ Message: 'An error has occurred.' });

const scriptSchema = z.object({
  method: z.string().optional(),
  path: z.string().min(1),
  status: z.number().int().min(100).max(599),
  body: z.unknown().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  times: z.number().int().min(1).default(1),
});

const emitSchema = z.object({ action: z.union([z.string().min(1), z.number().int()]), entity: z.record(z.string(), z.unknown()) });

const reissueSchema = z.object({ number: z.string().trim().min(1), toCoworkerId: z.number().int().positive(), field: z.enum(['AccessCardId', 'KeyFobNumber']).optional() });
const checkoutSchema = z.union([
  z.object({ checkinId: z.number().int().positive(), at: z.iso.datetime({ offset: true }).optional() }).strict(),
  z.object({ coworkerId: z.number().int().positive(), businessId: z.number().int().positive().optional(), at: z.iso.datetime({ offset: true }).optional() }).strict(),
]);

const configSchema = z.object({
  timeFormat: z.enum(['utc-z', 'local-fake-z']).optional(),
  checkinRefusal: z.enum(['http-400', 'http-200']).optional(),
  rateLimit: z.boolean().optional(),
});

function resolveSeed(seed: NexudusSeed | string | undefined): ParsedSeed {
  if (seed === undefined) return loadSeedFile(defaultSeedPath());
  if (typeof seed === 'string') return loadSeedFile(seed);
  return parseSeed(seed);
}

function zodProblems(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
}

export function createNexudusSandbox(options: NexudusSandboxOptions = {}): NexudusSandbox {
  const config = {
    timeFormat: options.timeFormat ?? ('utc-z' as TimeFormat),
    checkinRefusal: options.checkinRefusal ?? ('http-400' as CheckinRefusal),
    rateLimit: options.rateLimit !== false,
  };
  const state = new NexudusSandboxState(resolveSeed(options.seed), config.timeFormat);
  const secret = () => options.webhookSecret ?? (process.env.NEXUDUS_SANDBOX_WEBHOOK_SECRET || undefined);
  const webhooks = new WebhookDispatcher(state.store, {
    get secret() {
      return secret();
    },
    signatureEncoding: options.signatureEncoding ?? 'ascii',
    delivery: options.delivery ?? {},
  });
  state.onEvent = (e) => webhooks.fire(e.action, e.entity, e.businessId);
  const auth = new SandboxAuth(options.users ?? [DEFAULT_SANDBOX_USER], options.tokenTtlSeconds);
  const faults = new FaultInjector(409, THROTTLED, SERVER_ERROR, options.faults);
  const limits = options.rateLimit === false ? { perMinute: 120, minIntervalMs: 100 } : { perMinute: options.rateLimit?.perMinute ?? 120, minIntervalMs: options.rateLimit?.minIntervalMs ?? 100 };
  const perMinute = new ServerRateLimit({ perMinute: limits.perMinute }, 409, THROTTLED, (req) => auth.rateKeyOf(req), config.rateLimit);
  const grace = options.rateLimit === false ? undefined : options.rateLimit?.jitterGraceMs;
  const minInterval = new MinIntervalLimit(limits.minIntervalMs, THROTTLED, (req) => auth.rateKeyOf(req), config.rateLimit, grace);
  let scripted: Array<z.output<typeof scriptSchema>> = [];

  const syncSwitches = () => {
    state.timeFormat = config.timeFormat;
    perMinute.enabled = config.rateLimit;
    minInterval.enabled = config.rateLimit;
  };

  const requests: NexudusRequestRecord[] = [];
  const reset = () => {
    requests.length = 0;
    webhooks.clear();
    scripted = [];
    state.reset();
  };

  const app = express();
  app.disable('x-powered-by');
  // First: what arrived when, as Kisi's sandbox logs it (benchmarks read the pacing from it).
  app.use((req, res, next) => {
    if (req.path.startsWith('/__sandbox')) return next();
    const record: NexudusRequestRecord = { at: Date.now(), method: req.method, route: req.path.replace(/\/\d+(?=\/|$)/g, '/{id}') };
    requests.push(record);
    if (requests.length > REQUEST_LOG_SIZE) requests.splice(0, requests.length - REQUEST_LOG_SIZE);
    res.on('finish', () => (record.status = res.statusCode));
    next();
  });
  app.use(express.json({ limit: '1mb' }));
  app.use(express.urlencoded({ extended: false }));

  // ---- control surface (no auth, never throttled or faulted) ----
  const control = express.Router();
  control.get('/state', (_req, res) => {
    res.json({
      counts: state.counts(),
      timeFormat: config.timeFormat,
      checkinRefusal: config.checkinRefusal,
      rateLimit: { enabled: config.rateLimit, rejected: perMinute.rejected + minInterval.rejected },
      businessTimeZone: state.businessTimeZone,
      checkins: state.checkins(),
      failedCheckins: state.failedCheckins(),
      webhooks: state.webhooks().map((w) => ({ ...w, deliveries: webhooks.attemptsFor(w.Id as number) })),
      coworkers: state.coworkers(),
      deliveries: webhooks.log.length,
      auth: auth.stats,
      faults: faults.current(),
    });
  });
  control.post('/reset', (_req, res) => {
    reset();
    res.json({ ok: true, counts: state.counts() });
  });
  control.post('/seed', (req, res) => {
    try {
      const seed = parseSeed(req.body, 'POST /__sandbox/seed');
      webhooks.clear();
      scripted = [];
      state.load(seed);
      res.json({ ok: true, counts: state.counts() });
    } catch (e) {
      res.status(400).json({ error: (e as Error).message });
    }
  });
  control.get('/faults', (_req, res) => {
    res.json(faults.current());
  });
  control.post('/faults', (req, res) => {
    try {
      faults.configure(req.body as FaultConfig);
      res.json(faults.current());
    } catch (e) {
      res.status(400).json({ error: e instanceof z.ZodError ? zodProblems(e) : (e as Error).message });
    }
  });
  control.post('/config', (req, res) => {
    const parsed = configSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    Object.assign(config, Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)));
    syncSwitches();
    res.json(config);
  });
  control.post('/script', (req, res) => {
    const parsed = scriptSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    scripted.push(parsed.data);
    res.json({ queued: scripted.length });
  });
  control.delete('/script', (_req, res) => {
    scripted = [];
    res.json({ queued: 0 });
  });
  control.post('/tick', (req, res) => {
    const parsed = z.object({ at: z.iso.datetime({ offset: true }).optional() }).safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    res.json({ notified: state.tick(parsed.data.at === undefined ? Date.now() : Date.parse(parsed.data.at)) });
  });
  // Changes for end-to-end tests: the state's own operations (same webhooks as the REST writes).
  const change = (res: Response, fn: () => unknown): void => {
    try {
      res.json(fn());
    } catch (e) {
      if (e instanceof NotFoundFailure) res.status(404).json({ error: [e.message] });
      else if (e instanceof ValidationFailure) res.status(400).json({ error: e.errors.map((x) => `${x.PropertyName}: ${x.Message}`) });
      else throw e;
    }
  };
  const pathId = (req: Request, res: Response): number | undefined => {
    const parsed = nexudusId.safeParse(req.params.id);
    if (!parsed.success) res.status(400).json({ error: [`id: expected a positive integer, got ${JSON.stringify(req.params.id)}`] });
    return parsed.success ? parsed.data : undefined;
  };
  /** The body when it is an object naming only fields of `schema` (a misspelt field must not be a silent no-op). */
  const fieldsOf = (req: Request, res: Response, schema: z.ZodObject): Record<string, unknown> | undefined => {
    const body: unknown = req.body ?? {};
    const unknown = body && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter((k) => !(k in schema.shape)) : ['(body)'];
    if (unknown.length === 0) return body as Record<string, unknown>;
    res.status(400).json({ error: unknown.map((k) => `${k}: not a field the sandbox changes (${Object.keys(schema.shape).join(', ')})`) });
    return undefined;
  };
  control.post('/coworkers/:id', (req, res) => {
    const id = pathId(req, res);
    const body = id === undefined ? undefined : fieldsOf(req, res, coworkerInput);
    if (id !== undefined && body) change(res, () => state.updateCoworker(id, body));
  });
  control.delete('/coworkers/:id', (req, res) => {
    const id = pathId(req, res);
    if (id !== undefined) change(res, () => state.deleteCoworker(id));
  });
  control.post('/contracts/:id', (req, res) => {
    const id = pathId(req, res);
    const body = id === undefined ? undefined : fieldsOf(req, res, contractInput);
    if (id !== undefined && body) change(res, () => state.updateContract(id, body));
  });
  control.post('/reissue-card', (req, res) => {
    const parsed = reissueSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    change(res, () => state.reissueCard(parsed.data.number, parsed.data.toCoworkerId, parsed.data.field));
  });
  control.post('/checkout', (req, res) => {
    const parsed = checkoutSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    const { at, ...target } = parsed.data;
    change(res, () => ({ checkins: state.checkout(target, at === undefined ? undefined : Date.parse(at)) }));
  });
  control.post('/revoke-tokens', (_req, res) => {
    auth.revokeAccessTokens();
    res.json({ ok: true });
  });
  control.post('/emit', async (req, res) => {
    const parsed = emitSchema.safeParse(req.body);
    if (!parsed.success) {
      res.status(400).json({ error: zodProblems(parsed.error) });
      return;
    }
    const id = actionId(parsed.data.action);
    if (id === undefined) {
      res.status(400).json({ error: [`action: unknown webhook action ${JSON.stringify(parsed.data.action)}`] });
      return;
    }
    const base = (options.ingressUrl ?? process.env.NEXUDUS_SANDBOX_INGRESS_URL ?? `http://localhost:${process.env.PORT || 3000}`).replace(/\/+$/, '');
    const url = `${base}/webhooks/nexudus/${actionName(id)}`;
    try {
      const answer = await webhooks.sendOnce(url, JSON.stringify([parsed.data.entity]));
      if (answer.status === 204 || answer.status === 304) res.status(answer.status).end();
      else res.status(answer.status).json({ status: answer.status, url, body: answer.data });
    } catch (e) {
      res.status(502).json({ error: `could not deliver to ${url}: ${(e as Error).message}` });
    }
  });
  app.use('/__sandbox', control);

  // ---- the provider's behaviour ----
  app.use(minInterval.middleware());
  app.use(perMinute.middleware());
  app.use(faults.middleware());
  app.use((req, res, next) => {
    const index = scripted.findIndex(
      (s) => (!s.method || s.method.toUpperCase() === req.method) && (s.path.endsWith('*') ? req.path.startsWith(s.path.slice(0, -1)) : req.path === s.path),
    );
    if (index < 0) return next();
    const answer = scripted[index]!;
    answer.times -= 1;
    if (answer.times <= 0) scripted.splice(index, 1);
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    if (answer.body === undefined) res.status(answer.status).end();
    else res.status(answer.status).json(answer.body);
  });

  app.post('/api/token', (req, res) => {
    if (req.is('application/json')) {
      res.status(400).json({ error: 'unsupported_grant_type', error_description: 'Send grant_type, username and password form-encoded, not as JSON.' });
      return;
    }
    const result = auth.grant((req.body ?? {}) as Record<string, unknown>, req.get('client_id') ?? undefined);
    res.setHeader('Cache-Control', 'no-store');
    if (result.ok) res.json(result.answer);
    else res.status(result.status).json({ error: result.error, error_description: result.description });
  });
  app.use('/api', auth.middleware(), apiRouter(state, auth, { checkinRefusal: () => config.checkinRefusal }));
  app.use((_req, res) => {
    res.status(404).json({ Message: 'Not found' });
  });
  // Malformed JSON and other parser failures: Nexudus' validation shape, never an HTML page.
  app.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const status = (err as { status?: number }).status;
    if (status === 400) res.status(400).json({ Status: 400, Message: 'The request is invalid.', Value: null, Errors: null, WasSuccessful: false });
    else answerError(res, err);
  });

  const sandbox: NexudusSandbox = {
    app,
    requests,
    state,
    faults,
    auth,
    webhooks,
    config: new Proxy(config, {
      set(target, key, value) {
        (target as Record<string | symbol, unknown>)[key] = value;
        syncSwitches();
        return true;
      },
    }),
    script(answer) {
      scripted.push(scriptSchema.parse(answer));
    },
    reset,
    listen(port = 0, host) {
      return new Promise((resolve, reject) => {
        const server: Server = host === undefined ? app.listen(port) : app.listen(port, host);
        server.once('error', reject);
        server.once('listening', () => {
          const address = server.address();
          const actual = typeof address === 'object' && address ? address.port : port;
          const url = `http://127.0.0.1:${actual}`;
          resolve({
            url,
            apiUrl: `${url}/api`,
            port: actual,
            close: () =>
              new Promise<void>((done) => {
                webhooks.clear();
                server.close(() => done());
                server.closeAllConnections();
              }),
          });
        });
      });
    },
  };
  return sandbox;
}

export { SeedError };

async function main(): Promise<void> {
  const env = loadSandboxEnv();
  const users = env.NEXUDUS_USERNAME && env.NEXUDUS_PASSWORD ? [{ username: env.NEXUDUS_USERNAME, password: env.NEXUDUS_PASSWORD }] : [DEFAULT_SANDBOX_USER];
  const sandbox = createNexudusSandbox({
    seed: env.NEXUDUS_SANDBOX_SEED,
    users,
    faults: FaultInjector.configFromEnv(env.NEXUDUS_SANDBOX_FAULTS),
    ingressUrl: env.NEXUDUS_SANDBOX_INGRESS_URL ?? `http://localhost:${env.PORT}`,
    webhookSecret: env.NEXUDUS_SANDBOX_WEBHOOK_SECRET,
    timeFormat: env.NEXUDUS_SANDBOX_TIME_FORMAT,
  });
  // Loopback only: its control surface (emit, faults, reset) has no authentication.
  const listening = await sandbox.listen(env.NEXUDUS_SANDBOX_PORT, '127.0.0.1');
  // The user name is not a secret; the password is never printed.
  process.stdout.write(`Nexudus sandbox on ${listening.apiUrl} (user ${users[0]!.username}, ${sandbox.state.counts().bookings} bookings seeded)\n`);
  const stop = () => void listening.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
