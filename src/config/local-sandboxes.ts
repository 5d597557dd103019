/**
 * What the product knows of the sandboxes the local stack runs in place of an API without
 * credentials (`npm start`, `npm run sandbox`; the sandboxes and the rest of their settings are
 * development tooling in dev/):
 *   - the credentials they accept, so the ingress can tell a real Kisi or Nexudus from them and
 *     hold development with real credentials to production's rules (hasRealCredentials);
 *   - where they listen and what points a client at each, so `npm run access-map` can use running
 *     sandboxes with no configuration (src/link/connect.ts), exactly as npm start points the worker.
 * KISI_SANDBOX_PORT and NEXUDUS_SANDBOX_PORT are read by those two tools only: the worker's and the
 * ingress' schema (./env.ts) does not know them.
 */
import { z } from 'zod';
import { hasKisiCredentials, hasNexudusCredentials, parseWith, port, type Env } from './env';

/**
 * Credentials of the sandboxes, given to the sandbox and the worker alike so they agree (the Kisi
 * sandbox takes any non-empty key; the Nexudus one accepts the user it is started with).
 */
export const SANDBOX_CREDENTIALS = { KISI_API_KEY: 'sandbox-api-key', NEXUDUS_USERNAME: 'sandbox@nexudus.invalid', NEXUDUS_PASSWORD: 'sandbox-password' };

type Credentials = Pick<Env, 'KISI_API_KEY' | 'NEXUDUS_USERNAME' | 'NEXUDUS_PASSWORD'>;

/**
 * True when credentials for a real Kisi or Nexudus are configured (a Kisi key, or Nexudus
 * credentials, other than the sandboxes'). Development is then held to production's rules
 * (webhook secrets required): unsigned webhooks could open real doors.
 */
export function hasRealCredentials(env: Credentials): boolean {
  const realKisi = hasKisiCredentials(env) && env.KISI_API_KEY !== SANDBOX_CREDENTIALS.KISI_API_KEY;
  const realNexudus =
    hasNexudusCredentials(env) && (env.NEXUDUS_USERNAME !== SANDBOX_CREDENTIALS.NEXUDUS_USERNAME || env.NEXUDUS_PASSWORD !== SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD);
  return realKisi || realNexudus;
}

/** Where the sandboxes listen (127.0.0.1). */
export const sandboxPortsSchema = z.object({
  KISI_SANDBOX_PORT: port.default(4010),
  NEXUDUS_SANDBOX_PORT: port.default(4020),
});

export type SandboxPorts = z.output<typeof sandboxPortsSchema>;

export function parseSandboxPorts(source: Record<string, string | undefined>): SandboxPorts {
  return parseWith(sandboxPortsSchema, source);
}

export interface LocalSandbox {
  name: 'kisi-sandbox' | 'nexudus-sandbox';
  /** No credentials are configured for its API, so the local stack runs (or uses) the sandbox. */
  needed: boolean;
  port: number;
  /** What points the product's client at the sandbox: the worker's environment under npm start. */
  clientEnv: Record<string, string>;
  /** The variables that, when set, make the real API be used instead. */
  real: string;
}

/** The sandbox of each API, for this configuration. */
export function localSandboxes(env: Credentials, ports: SandboxPorts): [LocalSandbox, LocalSandbox] {
  return [
    {
      name: 'kisi-sandbox',
      needed: !hasKisiCredentials(env),
      port: ports.KISI_SANDBOX_PORT,
      clientEnv: { KISI_BASE_URL: `http://localhost:${ports.KISI_SANDBOX_PORT}`, KISI_API_KEY: SANDBOX_CREDENTIALS.KISI_API_KEY },
      real: 'KISI_API_KEY',
    },
    {
      name: 'nexudus-sandbox',
      needed: !hasNexudusCredentials(env),
      port: ports.NEXUDUS_SANDBOX_PORT,
      clientEnv: {
        NEXUDUS_BASE_URL: `http://localhost:${ports.NEXUDUS_SANDBOX_PORT}/api`,
        NEXUDUS_USERNAME: SANDBOX_CREDENTIALS.NEXUDUS_USERNAME,
        NEXUDUS_PASSWORD: SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD,
      },
      real: 'NEXUDUS_USERNAME and NEXUDUS_PASSWORD',
    },
  ];
}
