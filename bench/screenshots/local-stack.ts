/**
 * `npm start` on free ports for the screenshot scripts: the sandboxes, the dev server, the worker
 * and the ingress, up and polling, and stopped (with its data directory) afterwards; plus the
 * headless Chromium they photograph with (playwright-core driving Debian's `chromium`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { freePort } from '../../dev/lib/ports';
import { projectRoot } from '../../src/process/project-root';

export const root = projectRoot();
const BROWSER = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface LocalStack {
  ports: Record<'PORT' | 'TEMPORAL_PORT' | 'TEMPORAL_UI_PORT' | 'WORKER_METRICS_PORT' | 'KISI_SANDBOX_PORT' | 'NEXUDUS_SANDBOX_PORT', number>;
  dataDir: string;
  log: () => string;
  /** The Nexudus sandbox emits a signed webhook for one of its records. */
  emit(action: string, entity: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** `npm start` with the sandboxes and `extraEnv` (real credentials removed), up and polling. */
export async function startLocalStack(prefix: string, extraEnv: Record<string, string> = {}): Promise<LocalStack> {
  const ports = { PORT: await freePort(), TEMPORAL_PORT: await freePort(), TEMPORAL_UI_PORT: await freePort(), WORKER_METRICS_PORT: await freePort(), KISI_SANDBOX_PORT: await freePort(), NEXUDUS_SANDBOX_PORT: await freePort() };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info', ...extraEnv };
  for (const name of ['NODE_ENV', 'TEMPORAL_ADDRESS', 'KISI_API_KEY', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD']) delete env[name];
  if (!('OPS_TOKEN' in extraEnv)) delete env.OPS_TOKEN;
  for (const [name, value] of Object.entries(ports)) env[name] = String(value);
  const start: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'dev/local/start.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  start.stdout!.on('data', (c: Buffer) => (log += c.toString()));
  start.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  const stop = async () => {
    if (start.exitCode === null) {
      start.kill('SIGTERM');
      await new Promise((r) => start.once('exit', r));
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitUntil('npm start to come up', 120_000, () => {
      if (start.exitCode !== null) throw new Error(`npm start exited:\n${log}`);
      return log.includes('[start] up in') && /\[worker\] .*worker polling/.test(log);
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    ports,
    dataDir,
    log: () => log,
    async emit(action, entity) {
      const emitted = await fetch(`http://127.0.0.1:${ports.NEXUDUS_SANDBOX_PORT}/__sandbox/emit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ action, entity }),
      });
      if (!emitted.ok) throw new Error(`emit: HTTP ${emitted.status} ${await emitted.text()}`);
    },
    stop,
  };
}

export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(BROWSER)) throw new Error(`${BROWSER} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  return chromium.launch({
    executablePath: BROWSER,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
