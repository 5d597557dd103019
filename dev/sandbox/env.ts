/**
 * The sandboxes' settings, read when one runs as a process (`node --import tsx dev/sandbox/kisi.ts`,
 * as npm start and npm run sandbox run them). The product's schema (src/config/env.ts) does not
 * know these; the names are documented (docs/configuration.md) and kept.
 */
import { z } from 'zod';
import { envSchema, loadDotEnv, optionalString, parseWith, url } from '../../src/config/env';
import { sandboxPortsSchema } from '../../src/config/local-sandboxes';

export const sandboxEnvSchema = envSchema
  // PORT: where the ingress listens, so where webhooks go; the Nexudus sandbox accepts the configured Nexudus user.
  .pick({ PORT: true, NEXUDUS_USERNAME: true, NEXUDUS_PASSWORD: true })
  .extend(sandboxPortsSchema.shape)
  .extend({
    /** Where the Nexudus sandbox's `POST /__sandbox/emit` sends webhooks (default http://localhost:$PORT). */
    NEXUDUS_SANDBOX_INGRESS_URL: url.optional(),
    /** Seed file for the Nexudus sandbox (default config/sandbox/nexudus-seed.json). */
    NEXUDUS_SANDBOX_SEED: optionalString,
    /** How the Nexudus sandbox writes `FromTime`: UTC with Z, or the wall clock with a fake Z. */
    NEXUDUS_SANDBOX_TIME_FORMAT: z.enum(['utc-z', 'local-fake-z']).default('utc-z'),
    /** Fault rules for the Nexudus sandbox as JSON (`{"rules":[...]}`, see ./faults.ts). */
    NEXUDUS_SANDBOX_FAULTS: optionalString,
    /**
     * What the sandboxes sign their webhooks with. Never the real NEXUDUS_WEBHOOK_SECRET /
     * KISI_WEBHOOK_SECRET: a sandbox that anyone on the machine can make emit would otherwise be a
     * signing oracle for the real ingress. `npm start` and `npm run sandbox` set a random one per run.
     */
    NEXUDUS_SANDBOX_WEBHOOK_SECRET: optionalString,
    KISI_SANDBOX_WEBHOOK_SECRET: optionalString,
  });

export type SandboxEnv = z.output<typeof sandboxEnvSchema>;

/** Validates an environment; a ConfigError names each bad variable (never its value). */
export function parseSandboxEnv(source: Record<string, string | undefined>): SandboxEnv {
  return parseWith(sandboxEnvSchema, source);
}

/** The process environment (plus an optional `.env` file), validated. */
export function loadSandboxEnv(): SandboxEnv {
  loadDotEnv();
  return parseSandboxEnv(process.env);
}
