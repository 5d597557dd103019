/**
 * `npm start` end to end on free ports: everything comes up (ingress /healthz, Web UI, the CLI
 * can list workflows), and afterwards no process of the tree is left, both when asked to stop
 * (SIGTERM to npm) and when the supervisor itself is SIGKILLed.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binLinkPath } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { alive, descendants } from '../helpers/process-tree';

const root = path.join(__dirname, '../..');

interface Started {
  child: ChildProcess;
  dataDir: string;
  output: () => string;
  ports: Record<string, number>;
}

async function startSupervisor(command: string, args: string[]): Promise<Started> {
  const ports = {
    PORT: await freePort(),
    TEMPORAL_PORT: await freePort(),
    TEMPORAL_UI_PORT: await freePort(),
    WORKER_METRICS_PORT: await freePort(),
    KISI_SANDBOX_PORT: await freePort(),
    NEXUDUS_SANDBOX_PORT: await freePort(),
  };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'start-e2e-'));
  // The supervisor is under test here, not the access map: a minimal valid one keeps the worker up
  // whether or not the checkout has config/access-map.json.
  const accessMap = path.join(dataDir, 'access-map.json');
  fs.writeFileSync(accessMap, JSON.stringify({ kisiPlaceId: 1 }));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'info', ACCESS_MAP: accessMap };
  for (const name of ['NODE_ENV', 'TEMPORAL_ADDRESS', 'KISI_API_KEY', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD']) delete env[name];
  for (const [name, value] of Object.entries(ports)) env[name] = String(value);
  // detached: its own process group, so the test's signals reach only what it means to signal.
  const child = spawn(command, args, { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, dataDir, output: () => output, ports };
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return 0;
  }
}

function describeProcesses(pids: number[]): string {
  return pids.map((pid) => `${pid}: ${fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').slice(0, 120) : '?'}`).join('\n');
}

async function waitForUp(started: Started): Promise<void> {
  const { ports } = started;
  await waitUntil('/healthz 200', 90_000, async () => {
    if (started.child.exitCode !== null) throw new Error(`npm start exited early:\n${started.output()}`);
    return (await status(`http://127.0.0.1:${ports.PORT}/healthz`)) === 200;
  });
  await waitUntil('the supervisor reports up', 30_000, () => started.output().includes('[start] up in'));
  // The worker bundles the workflows first (seconds), then polls.
  await waitUntil('the worker polls', 60_000, () => /\[worker\] .*worker polling/.test(started.output()));
}

/**
 * Starts the supervisor and waits until it is up. A free port can be taken by another test
 * process between picking it and listening on it: such a start (port taken, the supervisor then
 * stops everything) is tried again on new ports; any other early exit fails the test.
 */
// Node says EADDRINUSE; the worker's metrics exporter (Rust, in the core bridge) says
// "Address already in use (os error 98)".
const PORT_TAKEN = /EADDRINUSE|Address already in use/;

async function startUp(command: string, args: string[]): Promise<Started> {
  for (let attempt = 1; ; attempt++) {
    const started = await startSupervisor(command, args);
    try {
      await waitForUp(started);
      return started;
    } catch (error) {
      const raced = started.child.exitCode !== null && PORT_TAKEN.test(started.output());
      if (started.child.pid) for (const pid of [started.child.pid, ...descendants(started.child.pid)]) killQuietly(pid);
      fs.rmSync(started.dataDir, { recursive: true, force: true });
      if (!raced || attempt === 3) throw error;
    }
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

test('npm start with real credentials and no webhook secrets refuses to start (exit 78), before anything runs', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'start-e2e-real-'));
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, KISI_API_KEY: 'a-real-kisi-key', TEMPORAL_PORT: String(await freePort()) };
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'dev/local/start.ts'], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('start: real credentials are configured, so the ingress is held to production\'s rules');
    expect(result.stderr).toContain('KISI_WEBHOOK_SECRET: required when NODE_ENV=development with real Kisi or Nexudus credentials configured');
    expect(result.stdout).not.toContain('[temporal]');
    expect(result.stderr + result.stdout).not.toContain('a-real-kisi-key');
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}, 90_000);

describe('npm start', () => {
  let started: Started | undefined;
  afterEach(() => {
    // Belt and braces: never leave a stray tree behind a failed test.
    if (started?.child.pid) {
      for (const pid of [started.child.pid, ...descendants(started.child.pid)]) killQuietly(pid);
    }
    if (started) fs.rmSync(started.dataDir, { recursive: true, force: true });
  });

  test('comes up on the configured ports and SIGTERM to npm leaves no process behind', async () => {
    started = await startUp('npm', ['start']);
    const { ports, child } = started;

    expect(await status(`http://127.0.0.1:${ports.TEMPORAL_UI_PORT}/`)).toBe(200);
    expect(await status(`http://127.0.0.1:${ports.PORT}/readyz`)).toBe(200);
    const list = execFileSync(binLinkPath('cli', root), ['workflow', 'list', '--address', `127.0.0.1:${ports.TEMPORAL_PORT}`, '--output', 'json'], {
      encoding: 'utf8',
    });
    expect(list.trim().startsWith('[') || list.trim() === '').toBe(true);
    const output = started.output();
    for (const prefix of ['[temporal]', '[worker]', '[ingress]', '[start]']) expect(output).toContain(prefix);
    expect(output).toContain('NODE_ENV=development');
    // Development binds loopback only; the operator endpoints answer loopback clients (no OPS_TOKEN).
    expect(output).toMatch(/\[start\] {3}Ingress {11}http:\/\/127\.0\.0\.1:\d+ .*listening on 127\.0\.0\.1/);
    expect(await status(`http://127.0.0.1:${ports.PORT}/reports/dead-events`)).toBe(200);
    // The sandboxes sign with their own per-run secrets, which the ingress checks: unsigned is 401.
    const unsigned = await fetch(`http://127.0.0.1:${ports.PORT}/webhooks/nexudus/BookingCreate`, { method: 'POST', body: '[{"Id":1}]' });
    expect(unsigned.status).toBe(401);

    const tree = descendants(child.pid!);
    expect(tree.length).toBeGreaterThanOrEqual(6); // sh, supervisor, guards and roles
    const stopAt = Date.now();
    process.kill(child.pid!, 'SIGTERM');
    await waitUntil('npm exits', 15_000, () => child.exitCode !== null || child.signalCode !== null);
    await waitUntil(`every process of the tree gone\n${describeProcesses(tree.filter(alive))}`, 12_000, () => tree.every((pid) => !alive(pid)));
    expect(Date.now() - stopAt).toBeLessThan(12_000);
    expect(started.output()).toContain('[start] stopped');
  }, 150_000);

  test('a SIGKILLed supervisor takes its children with it', async () => {
    started = await startUp(process.execPath, ['--import', 'tsx', 'dev/local/start.ts']);
    const { child } = started;
    const tree = descendants(child.pid!);
    expect(tree.length).toBeGreaterThanOrEqual(5);
    process.kill(child.pid!, 'SIGKILL');
    await waitUntil(`the guards stop their children\n${describeProcesses(tree.filter(alive))}`, 15_000, () => tree.every((pid) => !alive(pid)));
  }, 150_000);
});
