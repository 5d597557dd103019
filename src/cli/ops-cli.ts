/**
 * What the operator commands (grants, replay, register-search-attributes) share: one way to end
 * (exit 0 done, 1 failed, 2 bad arguments, 78 bad configuration), errors as one line without a
 * stack, and a Temporal connection that fails early with where it tried to connect.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Client, Connection } from '@temporalio/client';
import type { z } from 'zod';
import { ConfigError, type Env } from '../config/env';
import { connectClient, temporalAddress } from '../temporal/connection';
import { EXIT_FAILED, EXIT_USAGE, UsageError } from '../process/exit';
import { exitForConfiguration } from '../process/bootstrap';

export { EXIT_FAILED, EXIT_USAGE, UsageError } from '../process/exit';

/**
 * Tokenizes argv (node:util parseArgs: unknown options are refused) and validates with zod. A
 * positional argument is refused too, unless the command takes some (`positionals: true`).
 */
export function parseWith<T>(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  schema: z.ZodType<T>,
  shape: (parsed: { values: Record<string, unknown>; positionals: string[] }) => unknown,
  { positionals = false }: { positionals?: boolean } = {},
): T {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!positionals && parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[0])}`);
  const result = schema.safeParse(shape(parsed));
  if (!result.success) {
    // Messages that already name their flag ("--from: ...") stand alone; others get the field's name.
    throw new UsageError(result.error.issues.map((i) => (i.path.length && !i.message.startsWith('--') ? `${i.path.join('.')}: ${i.message}` : i.message)).join('\n'));
  }
  return result.data;
}

/** A connected client, or an error naming the address and namespace it could not reach. */
export async function connectOrExplain(env: Env): Promise<{ client: Client; connection: Connection }> {
  const { client, connection } = connectClient(env);
  try {
    await connection.withDeadline(Date.now() + 10_000, () => connection.workflowService.getSystemInfo({}));
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw new Error(
      `cannot reach Temporal at ${temporalAddress(env)} (namespace ${env.TEMPORAL_NAMESPACE}): ${(error as Error).message}. ` +
        'Set TEMPORAL_ADDRESS (and TEMPORAL_API_KEY or TEMPORAL_TLS_* for Temporal Cloud), or start it: npm start',
    );
  }
  return { client, connection };
}

/**
 * Runs a command's main and exits with its status. Usage errors print the usage text; anything
 * else prints its message only (operators need the cause, not a stack; DEBUG=1 shows it).
 */
export function runCli(name: string, usage: string, main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`${name}: ${error.message}\n\n${usage}\n`);
        process.exit(EXIT_USAGE);
      }
      if (error instanceof ConfigError) exitForConfiguration(name, error);
      const detail = process.env.DEBUG && error instanceof Error ? (error.stack ?? error.message) : describeError(error);
      // The usual cause on a new cluster or namespace: say what to do about it.
      const hint = /invalid search attribute/i.test(detail) ? '\n(the namespace lacks the product\'s search attributes: npm run register-search-attributes)' : '';
      process.stderr.write(`${name}: ${detail}${hint}\n`);
      process.exit(EXIT_FAILED);
    },
  );
}

/** The message with its causes ("Failed to list workflows: 3 INVALID_ARGUMENT: ..."): the cause is what tells the operator. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(': ');
}
