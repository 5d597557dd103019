/**
 * Start-up shared by the entry points: configuration is read once, and a bad value ends the
 * process with the variable's name and what it expects (never the value: it may be a secret).
 */
import { ConfigError, loadEnv, type Env } from '../config/env';
import { EXIT_CONFIG } from './exit';

export function loadEnvOrExit(role: string): Env {
  try {
    return loadEnv();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${role}: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}
