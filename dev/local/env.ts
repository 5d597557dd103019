/**
 * What the local stack (`npm start`, `npm run sandbox`) reads besides the product's settings:
 * the sandboxes' (../sandbox/env.ts) and the Temporal executables to use instead of installing
 * them (read by ../temporal-binaries; named here so they are validated and documented in one place).
 */
import type { z } from 'zod';
import { ConfigError, loadDotEnv, optionalString, parseWith } from '../../src/config/env';
import { EXIT_CONFIG } from '../../src/process/exit';
import { sandboxEnvSchema } from '../sandbox/env';

export const localEnvSchema = sandboxEnvSchema.extend({
  /** Use this `temporal` CLI executable instead of installing one. */
  TEMPORAL_CLI_PATH: optionalString,
  /** Use this time-skipping test server executable instead of installing one. */
  TEMPORAL_TEST_SERVER_PATH: optionalString,
});

export type LocalEnv = z.output<typeof localEnvSchema>;

/** The process environment (plus `.env`) validated; a bad value ends the process with 78, naming the variable, as the product's entry points do. */
export function loadLocalEnvOrExit(role: string): LocalEnv {
  try {
    loadDotEnv();
    return parseWith(localEnvSchema, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${role}: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}
