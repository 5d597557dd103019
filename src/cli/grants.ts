/**
 * `npm run grants -- <command>`: the operator's view of grants from a terminal (the Web UI shows
 * the same workflows). See GRANTS_USAGE in ./grants-args.ts and docs/operations.md ("The grants CLI").
 *
 * Reads the same environment as the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS / API key,
 * TEMPORAL_TASK_QUEUE: `list` shows this deployment's grants only, `sync-customer` starts on it;
 * KISI_API_KEY and KISI_BASE_URL for the Kisi view of `show`).
 */
import { loadEnv } from '../config/env';
import { kisiClientFromEnv } from '../clients/from-env';
import { formatCancel, formatGrantList, formatGrantView, formatRetry } from '../ops/format';
import { cancelGrant, listGrants, retryGrant, showGrant, syncCustomer, type ShowDeps } from '../ops/grant-commands';
import { GRANTS_USAGE, parseGrantsArgs } from './grants-args';
import { connectOrExplain, runCli } from './ops-cli';

async function main(argv: string[]): Promise<number> {
  const command = parseGrantsArgs(argv);
  if (command.command === 'help') {
    process.stdout.write(`${GRANTS_USAGE}\n`);
    return 0;
  }
  const env = loadEnv();
  const { client, connection } = await connectOrExplain(env);
  const print = (value: unknown, text: () => string) => process.stdout.write(`${command.json ? JSON.stringify(value, null, 2) : text()}\n`);
  try {
    switch (command.command) {
      case 'list': {
        const list = await listGrants(client, env.TEMPORAL_TASK_QUEUE, command);
        print(list, () => formatGrantList(list));
        return 0;
      }
      case 'show': {
        // Kisi is optional here: the grant's own view is still worth showing without credentials.
        const kisi: ShowDeps['kisi'] = env.KISI_API_KEY
          ? kisiClientFromEnv(env)
          : { unavailable: 'KISI_API_KEY is not set (under npm start: KISI_API_KEY=sandbox-api-key KISI_BASE_URL=http://localhost:4010)' };
        const view = await showGrant({ client, kisi }, command.workflowId);
        print(view, () => formatGrantView(view));
        return 0;
      }
      case 'cancel': {
        const outcome = await cancelGrant(client, command.workflowId, { waitMs: command.waitSeconds * 1000 });
        print(outcome, () => formatCancel(outcome));
        // Not closed in time is not a failure: the cancellation is recorded and the cleanup goes on.
        return 0;
      }
      case 'retry': {
        const outcome = await retryGrant(client, command.workflowId);
        print(outcome, () => formatRetry(outcome));
        return 0;
      }
      case 'sync-customer': {
        const outcome = await syncCustomer(client, command.customerId, env.TEMPORAL_TASK_QUEUE);
        print(outcome, () => `customer sync requested: ${outcome.workflowId} (re-reads Nexudus customer ${outcome.customerId} and brings their grants in step)`);
        return 0;
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

runCli('grants', GRANTS_USAGE, main);
