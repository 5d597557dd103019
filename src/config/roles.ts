/**
 * Which settings each role reads, so each gets only its own (least privilege): the ingress never
 * calls Kisi and holds no Kisi key; the worker never takes webhooks and holds neither their secrets
 * nor the operator token. `npm start` gives its children their own environments from these lists,
 * and the compose file's per-service environments are checked against them
 * (test/compose/compose.test.ts). The operator commands run beside a role and read its settings.
 */
import type { Env } from './env';

type Name = keyof Env;

const COMMON = [
  'NODE_ENV',
  'LOG_LEVEL',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_TLS_CERT_PATH',
  'TEMPORAL_TLS_KEY_PATH',
  'TEMPORAL_TLS_CA_PATH',
  'TEMPORAL_PAYLOAD_KEY',
  'TEMPORAL_PAYLOAD_KEY_FILE',
  'ACCESS_MAP',
  'NEXUDUS_BASE_URL',
  'NEXUDUS_USERNAME',
  'NEXUDUS_PASSWORD',
  'NEXUDUS_AUTH',
  'NEXUDUS_TIMEOUT',
  'API_PRIORITIES',
] as const satisfies readonly Name[];

export const ROLE_SETTINGS = {
  worker: [
    ...COMMON,
    'WORKER_METRICS_PORT',
    'WORKER_MAX_CACHED_WORKFLOWS',
    'WORKER_ACTIVITY_LEASE',
    'WORKER_MAX_ACTIVITIES',
    'WORKER_MAX_WORKFLOW_TASKS',
    'KISI_API_KEY',
    'KISI_BASE_URL',
    'KISI_SEND_EMAILS',
    'KISI_TIMEOUT',
    'KISI_MAX_VALIDITY',
    'KISI_MAX_RPS',
    'KISI_DRIFT',
    'RECONCILE_EVERY',
  ],
  ingress: [
    ...COMMON,
    'PORT',
    'HOST',
    'DATA_DIR',
    'NEXUDUS_WEBHOOK_SECRET',
    'KISI_WEBHOOK_SECRET',
    'OPS_TOKEN',
    'INBOX_MAX_AGE',
    'INBOX_DEAD_RETENTION',
    'CODEC_CORS_ORIGINS',
    'TEMPORAL_UI_PORT',
    'TEMPORAL_UI_URL',
  ],
} as const satisfies Record<string, readonly Name[]>;

export type Role = keyof typeof ROLE_SETTINGS;

/** Secrets of one role that the other must not hold. */
export function foreignSecrets(role: Role): Name[] {
  const secrets: Name[] = ['KISI_API_KEY', 'NEXUDUS_WEBHOOK_SECRET', 'KISI_WEBHOOK_SECRET', 'OPS_TOKEN'];
  const own = new Set<string>(ROLE_SETTINGS[role]);
  return secrets.filter((name) => !own.has(name));
}

/**
 * A child's environment without the other role's secrets. They are set to empty rather than
 * removed: a `.env` file read by the child (dotenv) never overrides a variable that is set, and
 * empty means unset to src/config/env.ts.
 */
export function roleEnvironment(role: Role, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of foreignSecrets(role)) out[name] = '';
  return out;
}
