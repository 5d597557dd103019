/**
 * The sandboxes as `npm start` runs them: module, port, the variables that point a client at
 * each, and whether a configuration needs it. One place, so that `npm start`, `npm run sandbox`
 * and `npm run link` use the very same ports, URLs and credentials.
 */
import { hasKisiCredentials, hasNexudusCredentials, type Env } from '../config/env';

/**
 * Credentials for the sandboxes, given to the sandbox and the worker alike so they agree (the Kisi
 * sandbox takes any non-empty key; the Nexudus one accepts the user it is started with).
 */
export const SANDBOX_CREDENTIALS = { KISI_API_KEY: 'sandbox-api-key', NEXUDUS_USERNAME: 'sandbox@nexudus.invalid', NEXUDUS_PASSWORD: 'sandbox-password' };

/** Each sandbox for this configuration (`needed`: its API has no credentials configured). */
export function sandboxSpecs(env: Env) {
  return [
    {
      name: 'kisi-sandbox',
      needed: !hasKisiCredentials(env),
      entry: 'src/sandbox/kisi.ts',
      port: env.KISI_SANDBOX_PORT,
      workerEnv: { KISI_BASE_URL: `http://localhost:${env.KISI_SANDBOX_PORT}`, KISI_API_KEY: SANDBOX_CREDENTIALS.KISI_API_KEY },
      usage: [`  Kisi sandbox      http://localhost:${env.KISI_SANDBOX_PORT}  (faults: POST /__sandbox/faults)`],
      real: 'KISI_API_KEY',
    },
    {
      name: 'nexudus-sandbox',
      needed: !hasNexudusCredentials(env),
      entry: 'src/sandbox/nexudus.ts',
      port: env.NEXUDUS_SANDBOX_PORT,
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

