/**
 * The sandboxes as `npm start` runs them: module, port, the variables that point a client at
 * each, and whether a configuration needs it. One place, so that `npm start` and `npm run sandbox`
 * use the very same ports, URLs and credentials (and `npm run access-map` too: ports, URLs and
 * credentials come from the product's src/config/local-sandboxes.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Env } from '../../src/config/env';
import { localSandboxes } from '../../src/config/local-sandboxes';
import type { LocalEnv } from './env';

/**
 * What the sandboxes sign their webhooks with: NEXUDUS_SANDBOX_WEBHOOK_SECRET / KISI_SANDBOX_WEBHOOK_SECRET
 * when set, else a random one per run. Never the real NEXUDUS_WEBHOOK_SECRET / KISI_WEBHOOK_SECRET:
 * a sandbox that anyone on the machine can make emit would sign forged webhooks for a real ingress.
 */
export function sandboxWebhookSecrets(env: Pick<LocalEnv, 'NEXUDUS_SANDBOX_WEBHOOK_SECRET' | 'KISI_SANDBOX_WEBHOOK_SECRET'>): { nexudus: string; kisi: string } {
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
export function sandboxSpecs(env: Env, local: LocalEnv, secrets = sandboxWebhookSecrets(local)) {
  const [kisi, nexudus] = localSandboxes(env, local);
  return [
    {
      ...kisi,
      entry: 'dev/sandbox/kisi.ts',
      sandboxEnv: { KISI_SANDBOX_WEBHOOK_SECRET: secrets.kisi },
      ingressEnv: { KISI_WEBHOOK_SECRET: secrets.kisi },
      workerEnv: kisi.clientEnv,
      usage: [`  Kisi sandbox      http://localhost:${kisi.port}  (faults: POST /__sandbox/faults)`],
    },
    {
      ...nexudus,
      entry: 'dev/sandbox/nexudus.ts',
      sandboxEnv: { NEXUDUS_SANDBOX_WEBHOOK_SECRET: secrets.nexudus },
      ingressEnv: { NEXUDUS_WEBHOOK_SECRET: secrets.nexudus },
      workerEnv: nexudus.clientEnv,
      usage: [
        `  Nexudus sandbox   http://localhost:${nexudus.port}/api  (emit a webhook to the ingress: POST /__sandbox/emit; faults: POST /__sandbox/faults)`,
      ],
    },
  ];
}
