/**
 * `npm run register-search-attributes` on a real server whose namespaces start without the
 * product's attributes: it creates them, a second run changes nothing, and an attribute of the
 * wrong type is a named conflict that adds nothing at all.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { registerSearchAttributes, SearchAttributeConflictError, wantedSearchAttributes } from '../../src/ops/search-attributes';

jest.setTimeout(120_000);

const root = path.join(__dirname, '../..');
const names = SEARCH_ATTRIBUTE_KEYS.map((k) => k.name);
let env: TestWorkflowEnvironment;
let port: number;

beforeAll(async () => {
  const executable = await resolveExecutable('cli');
  if (executable.type !== 'existing-path') throw new Error('the CLI must be installed for this test (npm run provision)');
  port = await freePort();
  // No searchAttributes: the namespaces start bare, as on a freshly set-up cluster.
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: executable.path },
      port,
      extraArgs: ['--namespace', 'fresh', '--namespace', 'conflict', '--namespace', 'by-process'],
      log: { format: 'pretty', level: 'error' },
    },
  });
});
afterAll(async () => {
  await env?.teardown();
});

async function custom(namespace: string): Promise<Record<string, number>> {
  return (await env.connection.operatorService.listSearchAttributes({ namespace })).customAttributes as Record<string, number>;
}

test('creates what is missing, then is a no-op', async () => {
  expect(Object.keys(await custom('fresh'))).not.toContain('GrantState');
  const first = await registerSearchAttributes(env.connection, 'fresh');
  expect(first).toEqual({ namespace: 'fresh', created: names, alreadyRegistered: [] });
  expect(await custom('fresh')).toMatchObject(wantedSearchAttributes());

  const second = await registerSearchAttributes(env.connection, 'fresh');
  expect(second).toEqual({ namespace: 'fresh', created: [], alreadyRegistered: names });
});

test('a type conflict is named and nothing is added', async () => {
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'conflict',
    searchAttributes: { GrantState: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT },
  });
  const error = await registerSearchAttributes(env.connection, 'conflict').catch((e: unknown) => e);
  expect(error).toBeInstanceOf(SearchAttributeConflictError);
  expect((error as Error).message).toContain('GrantState: registered as Text, this product needs Keyword');
  expect(Object.keys(await custom('conflict'))).not.toContain('NexudusCustomerId');
});

test('the process: grants list says what is missing; exit 0 and what it created; exit 1 on a conflict', () => {
  const run = (namespace: string, command = ['register-search-attributes']) =>
    spawnSync('sh', ['src/cli/run.sh', ...command], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: namespace },
    });
  const before = run('by-process', ['grants', 'list']);
  expect(before.status).toBe(1);
  expect(before.stderr).toContain('invalid search attribute');
  expect(before.stderr).toContain('npm run register-search-attributes');

  const created = run('by-process');
  expect(created.stderr).toBe('');
  expect(created.status).toBe(0);
  expect(created.stdout).toBe(`created on 127.0.0.1:${port}, namespace by-process: ${names.join(', ')}\n`);

  const conflict = run('conflict');
  expect(conflict.status).toBe(1);
  expect(conflict.stderr).toContain('register-search-attributes: search attributes registered with another type in namespace conflict');
});
