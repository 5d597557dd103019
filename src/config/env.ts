/**
 * The environment, read once and validated. Every variable the product reads is named here,
 * with its default; docs/configuration.md lists every variable (test/docs/configuration.test.ts holds it to this file). The development
 * tooling's own settings (the sandboxes, the Temporal installer) are not the product's: they are
 * read by dev/local/env.ts and dev/sandbox/env.ts.
 */
import { z } from 'zod';
import { MAX_LEASE_TTL_MS } from '../domain/activity-lease';
import { isDuration, parseDuration } from '../domain/duration';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
export const port = z.coerce.number({ message: 'expected a TCP port number' }).int().min(1).max(65535);
const duration = z
  .string()
  .refine(isDuration, { message: 'expected a duration such as 10m, 90s or 1h' })
  .transform(parseDuration);
/** KISI_MAX_VALIDITY's default: a week. */
export const DEFAULT_MAX_VALIDITY_MS = 7 * 86_400_000;

export const url = z.url({ message: 'expected an absolute URL' });
/** Unset and empty (or blank) are the same: undefined. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('production'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().default('.data'),

  // Temporal
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /**
   * The deployment's task queue, which also scopes every visibility query (one namespace may hold
   * several deployments). No `"` or `\`: Temporal's SQL visibility (the dev server's SQLite, at
   * least, server 1.32) matches no value holding them, so the deployment would find none of its
   * own workflows.
   */
  TEMPORAL_TASK_QUEUE: z
    .string()
    .min(1)
    .refine((v) => !/["\\]/.test(v), { message: 'expected a name without " or \\ (Temporal\'s SQL visibility cannot match them)' })
    .default('access-grants'),
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS_CERT_PATH: optionalString,
  TEMPORAL_TLS_KEY_PATH: optionalString,
  TEMPORAL_TLS_CA_PATH: optionalString,
  /** gRPC port of the local dev server `npm start` runs (ignored when TEMPORAL_ADDRESS is set). */
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  WORKER_METRICS_PORT: port.default(9464),
  /**
   * Workflows the worker keeps in memory between tasks. Grants sleep for days: a bounded cache
   * keeps a worker with 10,000 of them under 1 GiB; an evicted one is replayed (a few dozen events)
   * when it wakes. The SDK's default grows with the heap (about 2,300 on a 24 GiB machine).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(1000),
  /**
   * Activities the worker runs at once. Most of them wait in the Kisi/Nexudus request gates, which
   * order them by lane; with too few slots a live change waits for a slot behind a burst of
   * background work before its lane counts (the SDK's default is 100).
   */
  WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(100_000).default(2000),
  /**
   * Workflow tasks the worker runs at once. Temporal hands tasks out by priority (live first), but
   * a worker holding many slots takes a whole burst off the queue and runs it in arrival order
   * inside itself, so a live change's task waits behind the burst's there instead. Few slots keep
   * the queue, and its order, in Temporal. The SDK's default is 40.
   */
  WORKER_MAX_WORKFLOW_TASKS: z.coerce.number().int().min(2).max(1_000).default(8),
  /**
   * The activity lease (src/domain/activity-lease.ts): one worker at a time runs the activities, so
   * the Kisi and Nexudus allowances hold with any number of workers. A holder that stops renewing is
   * replaced within this long. 0: no lease, every worker runs activities (one worker only).
   */
  WORKER_ACTIVITY_LEASE: duration
    // At least 15 s: the holder renews every sixth of it and must leave room for the 5 s drain.
    .refine((ms) => ms === 0 || (ms >= 15_000 && ms <= MAX_LEASE_TTL_MS), { message: `expected 0 (off) or a duration from 15s to ${MAX_LEASE_TTL_MS / 60_000}m` })
    .default(60_000),

  // Ingress
  PORT: port.default(3000),
  /** Interface the ingress binds; unset: 127.0.0.1 in development, every interface otherwise. */
  HOST: optionalString,
  NEXUDUS_WEBHOOK_SECRET: optionalString,
  KISI_WEBHOOK_SECRET: optionalString,
  /**
   * Bearer token of the operator endpoints (`/reports/*`, `/ops/*`, `/codec/*`). Unset: they are
   * off in production (404) and answer loopback clients only in development.
   */
  OPS_TOKEN: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : v))
    .refine((v) => v === undefined || v.length >= 16, { message: 'expected at least 16 characters (a long random token, e.g. openssl rand -hex 32)' }),
  /** /healthz fails while the oldest event waiting in the inbox is older than this. */
  INBOX_MAX_AGE: duration.default(600_000),
  /** Dead events (kept for operators) are deleted this long after they died. */
  INBOX_DEAD_RETENTION: duration.default(30 * 86_400_000),
  /** Origins (comma-separated) of Web UIs allowed to call the codec endpoint from a browser. */
  CODEC_CORS_ORIGINS: optionalString,
  /**
   * Where operators open the Temporal Web UI (the console links each grant to its workflow there).
   * Unset: the dev server's UI in development, no links in production.
   */
  TEMPORAL_UI_URL: url.optional(),

  // Payload encryption (worker, ingress, CLIs)
  /** AES-256 keys (base64 of 32 bytes), comma-separated, newest first: encrypt with the first, decrypt with any. */
  TEMPORAL_PAYLOAD_KEY: optionalString,
  /** A file holding the keys instead, one per line, newest first (`#` comments). */
  TEMPORAL_PAYLOAD_KEY_FILE: optionalString,

  // Both APIs
  /**
   * `off`: the Kisi and Nexudus request gates ignore lanes: every call waits in one queue in arrival
   * order, with no aging (the allowance is kept all the same). The counter-check of
   * `npm run bench:live` and an escape hatch should lanes ever misjudge. Default `on`.
   */
  API_PRIORITIES: z.enum(['on', 'off']).default('on'),

  // Kisi
  KISI_API_KEY: optionalString,
  KISI_BASE_URL: url.default('https://api.kisi.io'),
  KISI_SEND_EMAILS: bool.default(true),
  KISI_TIMEOUT: duration.default(10_000),
  KISI_MAX_RPS: z.coerce.number().positive().default(5),
  KISI_DRIFT: z.enum(['report', 'remove']).default('report'),
  /**
   * How far ahead any Kisi assignment the product writes may end: open-ended grants are renewed
   * before it lapses, so no door stays open longer than this after our side stops. 0: no bound.
   */
  KISI_MAX_VALIDITY: duration.default(DEFAULT_MAX_VALIDITY_MS),

  // Nexudus
  NEXUDUS_BASE_URL: url.default('https://spaces.nexudus.com/api'),
  NEXUDUS_USERNAME: optionalString,
  NEXUDUS_PASSWORD: optionalString,
  NEXUDUS_AUTH: z.enum(['bearer', 'basic']).default('bearer'),
  NEXUDUS_TIMEOUT: duration.default(15_000),

  // Mapping and reconcile
  ACCESS_MAP: z.string().default('config/access-map.json'),
  RECONCILE_EVERY: duration.default(600_000),
});

export type Env = z.output<typeof envSchema>;

/**
 * Rules across variables. In production an API base URL must be https (credentials and personal
 * data must not cross a network in clear); plain http stays allowed for a loopback host (a local
 * proxy or the sandboxes), which no network carries.
 */
function crossFieldProblems(env: Env): string[] {
  const problems: string[] = [];
  if (env.NODE_ENV === 'production') {
    for (const name of ['KISI_BASE_URL', 'NEXUDUS_BASE_URL'] as const) {
      if (!isSecureOrLoopback(env[name])) problems.push(`${name}: expected an https:// URL when NODE_ENV=production (plain http is allowed for localhost only)`);
    }
  }
  if (env.TEMPORAL_PAYLOAD_KEY !== undefined && env.TEMPORAL_PAYLOAD_KEY_FILE !== undefined) {
    problems.push('TEMPORAL_PAYLOAD_KEY and TEMPORAL_PAYLOAD_KEY_FILE: expected one of them, not both');
  }
  return problems;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isSecureOrLoopback(url: string): boolean {
  const parsed = new URL(url);
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && (LOOPBACK_HOSTS.has(parsed.hostname) || /^127\.\d+\.\d+\.\d+$/.test(parsed.hostname));
}

/** Names of variables whose values must never appear in logs. */
export const SECRET_ENV_NAMES = [
  'TEMPORAL_API_KEY',
  'NEXUDUS_WEBHOOK_SECRET',
  'KISI_WEBHOOK_SECRET',
  'KISI_API_KEY',
  'NEXUDUS_PASSWORD',
  'OPS_TOKEN',
  'TEMPORAL_PAYLOAD_KEY',
] as const;

/** Thrown by every reader of configuration (this schema, the access-map tool's and the dev tooling's own). */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Validates `source` against `schema`; the error names each bad variable and what it expects (never its value). */
export function parseWith<S extends z.ZodType>(schema: S, source: Record<string, string | undefined>): z.output<S> {
  const result = schema.safeParse(source);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return result.data;
}

/** Validates an environment; the error names each bad variable and what it expects (never its value). */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const data = parseWith(envSchema, source);
  const problems = crossFieldProblems(data);
  if (problems.length > 0) throw new ConfigError(problems);
  return data;
}

let cached: Env | undefined;

/** Adds the variables of a `.env` file in the working directory to process.env (set ones win). */
export function loadDotEnv(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('dotenv').config({ quiet: true });
}

/** The process environment (plus an optional `.env` file), validated once and cached. */
export function loadEnv(): Env {
  if (cached) return cached;
  loadDotEnv();
  cached = parseEnv(process.env);
  return cached;
}

/** True when Kisi credentials are configured; otherwise the embedded default uses the sandbox. */
export function hasKisiCredentials(env: Pick<Env, 'KISI_API_KEY'>): boolean {
  return env.KISI_API_KEY !== undefined;
}

/** True when Nexudus credentials are configured; otherwise the embedded default uses the sandbox. */
export function hasNexudusCredentials(env: Pick<Env, 'NEXUDUS_USERNAME' | 'NEXUDUS_PASSWORD'>): boolean {
  return env.NEXUDUS_USERNAME !== undefined && env.NEXUDUS_PASSWORD !== undefined;
}

/** True in development and test, where `npm start` runs the product on one machine. */
export function isDevelopment(env: Pick<Env, 'NODE_ENV'>): boolean {
  return env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
}
