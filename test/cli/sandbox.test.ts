/**
 * `npm run sandbox` as a real process on free ports: both sandboxes come up with the ports and
 * credentials its banner prints (real clients and `npm run access-map` use them), and every process of
 * the tree is gone after SIGTERM to npm or a Ctrl-C to the terminal's process group; a port that
 * is already taken is refused without leaving anything behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { KisiClient } from '../../src/clients/kisi';
import { NexudusClient } from '../../src/clients/nexudus';
import { canConnect, freePort } from '../../dev/lib/ports';
import { alive, descendants } from '../helpers/process-tree';

const root = path.join(__dirname, '../..');

interface Started {
  child: ChildProcess;
  output: () => string;
  ports: { PORT: number; KISI_SANDBOX_PORT: number; NEXUDUS_SANDBOX_PORT: number };
  env: NodeJS.ProcessEnv;
}

/** The environment of a clean checkout: no credentials, only our ports. */
function cleanEnv(ports: Record<string, number>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['NODE_ENV', 'KISI_API_KEY', 'KISI_BASE_URL', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD', 'NEXUDUS_BASE_URL']) delete env[name];
  for (const [name, value] of Object.entries(ports)) env[name] = String(value);
  return env;
}

async function startSandbox(ports?: Started['ports']): Promise<Started> {
  const chosen = ports ?? { PORT: await freePort(), KISI_SANDBOX_PORT: await freePort(), NEXUDUS_SANDBOX_PORT: await freePort() };
  const env = cleanEnv(chosen);
  // detached: its own process group, as a terminal would run it, so "Ctrl-C" can go to the group.
  const child = spawn('npm', ['run', 'sandbox'], { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { child, output: () => output, ports: chosen, env };
}

async function waitUntil(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} within ${timeoutMs} ms`);
}

/**
 * Processes started with this exact KISI_SANDBOX_PORT (each test has its own), wherever they were
 * re-parented to: catches survivors even after npm, their original ancestor, is gone.
 */
function processesWithPort(port: number): number[] {
  const marker = `KISI_SANDBOX_PORT=${port}\0`;
  return fs
    .readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .filter((entry) => {
      try {
        return alive(Number(entry)) && `${fs.readFileSync(`/proc/${entry}/environ`, 'latin1')}\0`.includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}


async function status(url: string): Promise<number> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status;
  } catch {
    return 0;
  }
}

async function waitForUp(started: Started): Promise<void> {
  await waitUntil('the banner', 60_000, () => {
    if (started.child.exitCode !== null) throw new Error(`npm run sandbox exited early:\n${started.output()}`);
    return started.output().includes('[sandbox] Ctrl-C stops both.');
  });
}

/** Stops the tree with `signal` and checks that nothing of it is left, ports included. */
async function expectCleanStop(started: Started, signal: () => void): Promise<void> {
  const tree = descendants(started.child.pid!);
  // sh (when npm keeps one), the supervisor, and per sandbox a guard and the sandbox itself.
  expect(tree.length).toBeGreaterThanOrEqual(5);
  signal();
  await waitUntil('npm exits', 15_000, () => started.child.exitCode !== null || started.child.signalCode !== null);
  await waitUntil('every process of the tree gone', 10_000, () => tree.every((pid) => !alive(pid)));
  expect(processesWithPort(started.ports.KISI_SANDBOX_PORT)).toEqual([]);
  expect(await canConnect(started.ports.KISI_SANDBOX_PORT)).toBe(false);
  expect(await canConnect(started.ports.NEXUDUS_SANDBOX_PORT)).toBe(false);
  expect(started.output()).toContain('[sandbox] stopped');
}

describe('npm run sandbox', () => {
  let started: Started | undefined;
  afterEach(() => {
    // Never leave a stray tree behind a failed test.
    if (started?.child.pid) {
      for (const pid of [started.child.pid, ...descendants(started.child.pid)]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    started = undefined;
  });

  test('both sandboxes come up with the printed URLs and credentials, and SIGTERM to npm leaves no process', async () => {
    started = await startSandbox();
    const { ports } = started;
    await waitForUp(started);
    const output = started.output();
    expect(output).toContain(`[kisi-sandbox] kisi sandbox listening on http://127.0.0.1:${ports.KISI_SANDBOX_PORT}`);
    expect(output).toMatch(/\[nexudus-sandbox\] Nexudus sandbox on http:\/\/127\.0\.0\.1:\d+\/api/);
    expect(output).toContain(`curl http://localhost:${ports.KISI_SANDBOX_PORT}/__sandbox/state`);
    expect(output).toContain(`/__sandbox/unlock`);
    expect(output).toContain(`a signed lock.unlock webhook to http://localhost:${ports.PORT}/webhooks/kisi`);
    expect(output).toContain(`curl -X POST http://localhost:${ports.NEXUDUS_SANDBOX_PORT}/__sandbox/emit`);
    expect(output).toContain('/__sandbox/faults');
    // The marker the clean-stop check relies on does find the running tree.
    expect(processesWithPort(ports.KISI_SANDBOX_PORT).length).toBeGreaterThanOrEqual(5);
    expect(await status(`http://127.0.0.1:${ports.KISI_SANDBOX_PORT}/__sandbox/state`)).toBe(200);
    expect(await status(`http://127.0.0.1:${ports.NEXUDUS_SANDBOX_PORT}/__sandbox/state`)).toBe(200);

    // The printed env lines are what a client needs: take the values from the output itself.
    const value = (name: string) => new RegExp(`${name}=(\\S+)`).exec(output)?.[1] ?? `(no ${name} in the banner)`;
    const kisi = new KisiClient({ apiKey: value('KISI_API_KEY'), baseUrl: value('KISI_BASE_URL') });
    expect((await kisi.listPlaces()).map((p) => p.name)).toEqual(['Sandbox Coworking Main Street', 'Sandbox Coworking Riverside']);
    // Spaced well past the sandbox's 100 ms rule: arrival jitter on a busy machine is not under test here.
    const nexudus = new NexudusClient({
      baseUrl: value('NEXUDUS_BASE_URL'),
      username: value('NEXUDUS_USERNAME'),
      password: value('NEXUDUS_PASSWORD'),
      rateLimit: { minIntervalMs: 300, perMinute: 100 },
    });
    expect((await nexudus.listBusinesses()).map((b) => b.Name)).toEqual(['Riverside Coworking London']);

    // npm run access-map, with no credentials configured, finds and uses them.
    const linked = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const run = spawn('npm', ['run', '-s', 'link', '--', '--check'], { cwd: root, env: { ...started!.env, ACCESS_MAP: 'config/access-map.json' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      run.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      run.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      run.on('close', (code) => resolve({ code, out }));
    });
    expect(linked.out).toContain(`using the kisi-sandbox on port ${ports.KISI_SANDBOX_PORT}`);
    expect(linked.out).toContain('0 error(s), 2 warning(s)');
    expect(linked.code).toBe(0);

    await expectCleanStop(started, () => process.kill(started!.child.pid!, 'SIGTERM'));
  });

  test('Ctrl-C (SIGINT to the foreground process group) stops both and leaves no process', async () => {
    started = await startSandbox();
    await waitForUp(started);
    await expectCleanStop(started, () => process.kill(-started!.child.pid!, 'SIGINT'));
  });

  test('a port already in use is refused up front, and nothing is left running', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const taken = (blocker.address() as net.AddressInfo).port;
      started = await startSandbox({ PORT: await freePort(), KISI_SANDBOX_PORT: await freePort(), NEXUDUS_SANDBOX_PORT: taken });
      const { child } = started;
      await waitUntil('npm exits', 30_000, () => child.exitCode !== null);
      expect(child.exitCode).not.toBe(0);
      expect(started.output()).toContain(`port ${taken} (nexudus-sandbox) is already in use`);
      expect(started.output()).toContain('NEXUDUS_SANDBOX_PORT');
      expect(processesWithPort(started.ports.KISI_SANDBOX_PORT)).toEqual([]);
      expect(await canConnect(started.ports.KISI_SANDBOX_PORT)).toBe(false);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
