/**
 * `npm run access-map`: shows how Nexudus items and Kisi groups/locks line up, writes a starter access
 * map (`--write FILE`), and checks an access map against both systems (`--check`). See
 * src/link/args.ts for the options and exit statuses, and docs/operations.md, "Linking Nexudus to
 * Kisi: `npm run access-map`".
 */
import { ConfigError } from '../config/env';
import { loadEnvOrExit } from '../process/bootstrap';
import { EXIT_CONFIG } from '../process/exit';
import { MissingCredentialsError, clientsFromEnv } from '../link/connect';
import { runLink } from '../link/run';

async function main(): Promise<number> {
  const env = loadEnvOrExit('link');
  try {
    return await runLink(process.argv.slice(2), {
      clients: () => clientsFromEnv(process.env, env),
      defaultMap: env.ACCESS_MAP,
      out: (text) => process.stdout.write(`${text}\n`),
      err: (text) => process.stderr.write(`${text}\n`),
      width: process.stdout.isTTY ? process.stdout.columns : undefined,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      // KISI_SANDBOX_PORT / NEXUDUS_SANDBOX_PORT, read only when an API has no credentials.
      process.stderr.write(`link: ${error.message}\n`);
      return EXIT_CONFIG;
    }
    if (error instanceof MissingCredentialsError) {
      process.stderr.write(`link: no way to reach ${error.problems.length === 2 ? 'Kisi or Nexudus' : 'one of the APIs'}:\n  ${error.problems.join('\n  ')}\n`);
      return EXIT_CONFIG;
    }
    throw error;
  }
}

main().then(
  (code) => {
    // exitCode, not exit(): stdout may still be draining into a pipe.
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`link: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
