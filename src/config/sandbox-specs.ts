/**
 * The sandboxes as `npm start` runs them: module, port, the variables that point a client at
 * each, and whether a configuration needs it. One place, so that `npm start`, `npm run sandbox`
 * and `npm run access-map` use the very same ports, URLs and credentials.
 */
import { randomBytes } from 'node:crypto';
import { hasKisiCredentials, hasNexudusCredentials, type Env } from './env';

/**
 * Credentials for the sandboxes, given to the sandbox and the worker alike so they agree (the Kisi
 * sandbox takes any non-empty key; the Nexudus one accepts the user it is started with).
 */
export const SANDBOX_CREDENTIALS = { KISI_API_KEY: 'sandbox-api-key', NEXUDUS_USERNAME: 'sandbox@nexudus.invalid', NEXUDUS_PASSWORD: 'sandbox-password' };

/**
 * True when credentials for a real Kisi or Nexudus are configured (a Kisi key, or Nexudus
 * credentials, other than the sandboxes'). Development is then held to production's rules
 * (webhook secrets required): unsigned webhooks could open real doors.
 */
export function hasRealCredentials(env: Env): boolean {
  const realKisi = hasKisiCredentials(env) && env.KISI_API_KEY !== SANDBOX_CREDENTIALS.KISI_API_KEY;
  const realNexudus =
    hasNexudusCredentials(env) && (env.NEXUDUS_USERNAME !== SANDBOX_CREDENTIALS.NEXUDUS_USERNAME || env.NEXUDUS_PASSWORD !== SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD);
  return realKisi || realNexudus;
}

/**
 * What the sandboxes sign their webhooks with: NEXUDUS_SANDBOX_WEBHOOK_SECRET / KISI_SANDBOX_WEBHOOK_SECRET
 * when set, else a random one per run. Never the real NEXUDUS_WEBHOOK_SECRET / KISI_WEBHOOK_SECRET:
 * a sandbox that anyone on the machine can make emit would sign forged webhooks for a real ingress.
 */
export function sandboxWebhookSecrets(env: Pick<Env, 'NEXUDUS_SANDBOX_WEBHOOK_SECRET' | 'KISI_SANDBOX_WEBHOOK_SECRET'>): { nexudus: string; kisi: string } {
  return {
    nexudus: env.NEXUDUS_SANDBOX_WEBHOOK_SECRET ?? randomBytes(24).toString('hex'),
    kisi: env.KISI_SANDBOX_WEBHOOK_SECRET ?? randomBytes(24).toString('hex'),
  };
}

/**
 * Each sandbox for this configuration (`needed`: its API has no credentials configured), with
 * the environment its process gets (`sandboxEnv`), what points the worker at it (`workerEnv`), and
 * the webhook secret the ingress verifies its webhooks with (`ingressEnv`).
 */
export function sandboxSpecs(env: Env, secrets = sandboxWebhookSecrets(env)) {
  return [
    {
      name: 'kisi-sandbox',
      needed: !hasKisiCredentials(env),
      entry: 'dev/sandbox/kisi.ts',
      port: env.KISI_SANDBOX_PORT,
      sandboxEnv: { KISI_SANDBOX_WEBHOOK_SECRET: secrets.kisi },
      ingressEnv: { KISI_WEBHOOK_SECRET: secrets.kisi },
      workerEnv: { KISI_BASE_URL: `http://localhost:${env.KISI_SANDBOX_PORT}`, KISI_API_KEY: SANDBOX_CREDENTIALS.KISI_API_KEY },
      usage: [`  Kisi sandbox      http://localhost:${env.KISI_SANDBOX_PORT}  (faults: POST /__sandbox/faults)`],
      real: 'KISI_API_KEY',
    },
    {
      name: 'nexudus-sandbox',
      needed: !hasNexudusCredentials(env),
      entry: 'dev/sandbox/nexudus.ts',
      port: env.NEXUDUS_SANDBOX_PORT,
      sandboxEnv: { NEXUDUS_SANDBOX_WEBHOOK_SECRET: secrets.nexudus },
      ingressEnv: { NEXUDUS_WEBHOOK_SECRET: secrets.nexudus },
      workerEnv: {
        NEXUDUS_BASE_URL: `http://localhost:${env.NEXUDUS_SANDBOX_PORT}/api`,
        NEXUDUS_USERNAME: SANDBOX_CREDENTIALS.NEXUDUS_USERNAME,
        NEXUDUS_PASSWORD: SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD,
      },
      usage: [
        `  Nexudus sandbox   http://localhost:${env.NEXUDUS_SANDBOX_PORT}/api  (emit a webhook to the ingress: POST /__sandbox/emit; faults: POST /__sandbox/faults)`,
      ],
      real: 'NEXUDUS_USERNAME and NEXUDUS_PASSWORD',
    },
  ];
}

