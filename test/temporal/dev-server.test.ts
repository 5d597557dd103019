/**
 * The dev server as `npm start` runs it (src/temporal/dev-server.ts): search attributes
 * registered, data persisted in the db file across a restart with the same flags, Web UI up,
 * and the readiness check used by /readyz.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { startDevServer, devServerArgs, type DevServer } from '../../src/temporal/dev-server';
import { closeSafeInterceptors, isTemporalReachable, newClient } from '../../src/temporal/connection';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';

const lines: string[] = [];

async function start(dbFilename: string, port: number, uiPort: number): Promise<DevServer> {
  const executable = await resolveExecutable('cli');
  if (executable.type !== 'existing-path') throw new Error('the CLI must be installed for this test (npm run provision)');
  return startDevServer({ executable: executable.path, dbFilename, port, uiPort, namespace: 'default', output: (l) => lines.push(l), logLevel: 'error' });
}

test('devServerArgs registers every search attribute and persists to the db file', () => {
  const args = devServerArgs({ executable: 'temporal', dbFilename: '.data/temporal.db', port: 7233, uiPort: 8233, namespace: 'default' });
  expect(args.slice(0, 4)).toEqual(['server', 'start-dev', '--db-filename', '.data/temporal.db']);
  expect(args).toEqual(expect.arrayContaining(['--port', '7233', '--ui-port', '8233', '--namespace', 'default']));
  const registered = args.filter((_, i) => args[i - 1] === '--search-attribute');
  expect(registered.map((pair) => pair.split('=')[0])).toEqual(SEARCH_ATTRIBUTE_KEYS.map((k) => k.name));
  expect(devServerArgs({ executable: 't', dbFilename: 'x', port: 1, uiPort: 2, namespace: 'n', ui: false })).toContain('--headless');
  const fifo = devServerArgs({ executable: 't', dbFilename: 'x', port: 1, uiPort: 2, namespace: 'n', dynamicConfig: { 'matching.useNewMatcher': false } });
  expect(fifo.slice(fifo.indexOf('--dynamic-config-value'), fifo.indexOf('--dynamic-config-value') + 2)).toEqual(['--dynamic-config-value', 'matching.useNewMatcher=false']);
});

test('a workflow and the search attributes survive a restart on the same db file', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-server-test-'));
  const dbFilename = path.join(dir, 'nested', 'temporal.db');
  const [port, uiPort] = [await freePort(), await freePort()];

  let server = await start(dbFilename, port, uiPort);
  try {
    expect(fs.existsSync(dbFilename)).toBe(true);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);
    const connection = await Connection.connect({ address: server.address });
    const client = newClient(connection);
    // No worker polls this queue: the workflow just stays open, which is what a restart must keep.
    await client.workflow.start('neverRuns', { taskQueue: 'nobody-polls', workflowId: 'persisted-1' });
    expect(await isTemporalReachable(connection)).toBe(true);
    await connection.close();
  } finally {
    await server.stop();
  }

  // Same flags again, including the --search-attribute ones the db already has.
  server = await start(dbFilename, port, uiPort);
  try {
    const connection = await Connection.connect({ address: server.address });
    const client = newClient(connection);
    const described = await client.workflow.getHandle('persisted-1').describe();
    expect(described.status.name).toBe('RUNNING');
    const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const key of SEARCH_ATTRIBUTE_KEYS) expect(Object.keys(attributes.customAttributes)).toContain(key.name);
    await connection.close();
  } finally {
    await server.stop();
  }
  expect(server.process.running).toBe(false);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('isTemporalReachable is false within its deadline when nothing listens', async () => {
  const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: closeSafeInterceptors() });
  const started = Date.now();
  expect(await isTemporalReachable(connection, 1_000)).toBe(false);
  expect(Date.now() - started).toBeLessThan(5_000);
  await connection.close().catch(() => undefined);
});
