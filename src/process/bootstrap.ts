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
    if (error instanceof ConfigError) exitForConfiguration(role, error);
    throw error;
  }
}

/**
 * Ends the process on a configuration it cannot run with: one line on stderr, `<role>: <what is
 * wrong>`, no stack trace (the cause is the configuration, not the code), and exit status 78
 * (EX_CONFIG), so a supervisor knows a restart will not help. Log collectors keep it as one entry.
 */
export function exitForConfiguration(role: string, error: Error): never {
  process.stderr.write(`${role}: ${oneLine(error.message)}\n`);
  process.exit(EXIT_CONFIG);
}

/** A message listing problems on indented lines ("invalid configuration:\n  A\n  B") as one line ("invalid configuration: A; B"). */
export function oneLine(message: string): string {
  return message
    .trim()
    .replace(/:[ \t]*\r?\n\s*/, ': ')
    .replace(/\s*\r?\n\s*/g, '; ');
}
