/**
 * `npm run register-search-attributes`: registers the product's custom search attributes on the
 * configured Temporal (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE) through the OperatorService. Safe to
 * run on every deploy: registered attributes are left alone; a type conflict exits 1 naming it.
 *
 * Not needed for `npm start` (the dev server registers them at start) nor for the compose stack
 * (its temporal-setup container does). On Temporal Cloud add them in the Cloud UI or with `tcld`
 * if the OperatorService call is refused there (the error says so: PermissionDenied / Unimplemented).
 */
import { loadEnv } from '../config/env';
import { searchAttributeCliPairs } from '../domain/search-attributes';
import { registerSearchAttributes } from '../ops/search-attributes';
import { connectOrExplain, parseWith, runCli } from './ops-cli';
import { z } from 'zod';
import { temporalAddress } from '../temporal/connection';

const USAGE = `usage: npm run register-search-attributes [-- --json]

  Registers on TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE: ${searchAttributeCliPairs().join(' ')}`;

async function main(argv: string[]): Promise<number> {
  const args = parseWith(argv, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, z.strictObject({ json: z.boolean(), help: z.boolean() }), ({ values }) => ({
    json: values.json === true,
    help: values.help === true,
  }));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const env = loadEnv();
  const { connection } = await connectOrExplain(env);
  try {
    const result = await registerSearchAttributes(connection, env.TEMPORAL_NAMESPACE);
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ address: temporalAddress(env), ...result }, null, 2)}\n`);
    } else {
      const where = `${temporalAddress(env)}, namespace ${result.namespace}`;
      if (result.created.length) process.stdout.write(`created on ${where}: ${result.created.join(', ')}\n`);
      if (result.alreadyRegistered.length) process.stdout.write(`already registered on ${where}: ${result.alreadyRegistered.join(', ')}\n`);
    }
    return 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

runCli('register-search-attributes', USAGE, main);
