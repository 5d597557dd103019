/**
 * The ingress entry point (src/main/ingress.ts) as a process: it refuses to start without webhook
 * secrets outside development, answers a webhook from the inbox while Temporal is unreachable,
 * finishes that request when SIGTERM arrives mid-flight, exits 0 with the event safe on disk, and
 * a second ingress on the same DATA_DIR is refused (one writer per inbox).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Inbox } from '../../src/ingress/inbox';
import { signNexudusBody } from '../../dev/sandbox/nexudus';
import { freePort } from '../../dev/lib/ports';

jest.setTimeout(90_000);

const root = path.join(__dirname, '../..');
let dir: string;
let children: ChildProcess[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingress-entry-'));
  fs.writeFileSync(path.join(dir, 'access-map.json'), JSON.stringify({ kisiPlaceId: 1, resources: { 3000001: { groups: [103] } } }));
});
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dir, ACCESS_MAP: path.join(dir, 'access-map.json'), LOG_LEVEL: 'warn', ...extra };
}

test('outside development, no NEXUDUS_WEBHOOK_SECRET: exit 78 with a message naming it', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/ingress.ts'], {
    cwd: root,
    env: baseEnv({ NODE_ENV: 'production', PORT: '1', NEXUDUS_USERNAME: 'u', NEXUDUS_PASSWORD: 'p-do-not-print' }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(result.status).toBe(78);
  expect(result.stderr).toContain('ingress: invalid configuration');
  expect(result.stderr).toContain('NEXUDUS_WEBHOOK_SECRET: required when NODE_ENV=production');
  expect(result.stderr + result.stdout).not.toContain('p-do-not-print');
});

test('development with a real Kisi key or real Nexudus credentials is held to production\'s rules: exit 78 without the secrets', () => {
  const realCredentials: Array<Record<string, string>> = [{ KISI_API_KEY: 'a-real-kisi-key' }, { NEXUDUS_USERNAME: 'ops@space.example', NEXUDUS_PASSWORD: 'real-password' }];
  for (const extra of realCredentials) {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/ingress.ts'], {
      cwd: root,
      env: baseEnv({ NODE_ENV: 'development', PORT: '1', ...extra }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('NEXUDUS_WEBHOOK_SECRET: required when NODE_ENV=development with real Kisi or Nexudus credentials configured');
  }
});

test('production refuses http:// API base URLs (loopback excepted): exit 78 naming the variable', () => {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/ingress.ts'], {
    cwd: root,
    env: baseEnv({ NODE_ENV: 'production', PORT: '1', NEXUDUS_BASE_URL: 'http://spaces.nexudus.com/api' }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(result.status).toBe(78);
  expect(result.stderr).toContain('NEXUDUS_BASE_URL: expected an https:// URL when NODE_ENV=production');
});

function start(env: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/ingress.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForHealth(url: string, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer /healthz`);
}

test('Temporal unreachable: the webhook is queued (202); SIGTERM mid-request still answers it, exits 0, the event stays in the inbox; a second ingress on the same DATA_DIR is refused', async () => {
  const port = await freePort();
  const secret = 'entry-test-secret';
  const env = baseEnv({ NODE_ENV: 'development', PORT: String(port), TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`, NEXUDUS_WEBHOOK_SECRET: secret });
  const first = start(env);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url);

  const second = start({ ...env, PORT: String(await freePort()) });
  expect(await second.exited).toBe(78);
  expect(second.output()).toContain('is held by another ingress process');

  // In development the ingress binds loopback only (HOST unset): another interface of this machine finds nothing.
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (external) await expect(fetch(`http://${external.address}:${port}/healthz`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();

  const record = { Id: 7100001, ResourceId: 3000001, CoworkerId: 2000001, FromTime: '2030-01-07T10:00:00Z', ToTime: '2030-01-07T11:00:00Z', AccessPincode: '4711' };
  const body = JSON.stringify([record]);
  // The first delivery waits up to the hot-path deadline for Temporal: SIGTERM arrives meanwhile.
  let answeredAt = 0;
  const answer = fetch(`${url}/webhooks/nexudus/BookingCreate`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Nexudus-Hook-Signature': signNexudusBody(body, secret, 'utf8') },
    body,
  }).then((r) => ((answeredAt = Date.now()), r));
  await new Promise((r) => setTimeout(r, 300));
  const killedAt = Date.now();
  first.child.kill('SIGTERM');
  const res = await answer;
  // Mid-request for real: the answer came after the signal, from a process already shutting down.
  expect(answeredAt).toBeGreaterThanOrEqual(killedAt);
  expect(res.status).toBe(202);
  expect(await res.json()).toMatchObject({ result: 'queued', entityKey: 'booking-7100001' });
  expect(await first.exited).toBe(0);
  // Closed connections: nothing listens any more.
  await expect(fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) })).rejects.toThrow();

  const inbox = Inbox.open(path.join(dir, 'inbox.db'), { lockTimeoutMs: 0 });
  try {
    expect(inbox.stats().backlog).toBe(1);
    // Only the fields the product reads are kept: not the PIN.
    const { AccessPincode: _pin, ...kept } = record;
    expect(inbox.dueHeads(Date.now() + 3_600_000, 10)[0]).toMatchObject({ entityKey: 'booking-7100001', action: 'BookingCreate', body: JSON.stringify(kept) });
  } finally {
    inbox.close();
  }
});
