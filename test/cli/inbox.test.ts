/**
 * `npm run inbox -- list|show|retry|drop` as a process (through src/cli/run.sh, as operators run
 * it) against a running ingress with OPS_TOKEN, and with --direct on the file of a stopped one:
 * what it prints, what it changes, and its exit statuses (0 done, 1 failed, 2 usage).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { AccessMap } from '../../src/config/access-map';
import { assembleIngress, type Ingress } from '../../src/ingress/assemble';
import { Inbox, type NewInboxEvent } from '../../src/ingress/inbox';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { freePort } from '../../dev/lib/ports';
import { lazyConnection, newClient } from '../../src/temporal/connection';
import { parseInboxArgs } from '../../src/cli/inbox';
import { UsageError } from '../../src/cli/ops-cli';

jest.setTimeout(120_000);

const root = path.join(__dirname, '../..');
const TOKEN = 'inbox-cli-test-token-0123456789';
let dir: string;
let ingress: Ingress;
let server: http.Server;
let port: number;

const event = (entityKey: string): NewInboxEvent => ({ entityKey, source: 'nexudus', action: 'BookingUpdate', body: JSON.stringify({ Id: Number(entityKey.split('-')[1]) }), entityIndex: 0, receivedAt: Date.now(), requestId: 'req-1' });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inbox-cli-'));
  ingress = assembleIngress({
    logger: pino({ level: 'silent' }),
    client: newClient(lazyConnection(`127.0.0.1:${await freePort()}`)),
    isTemporalReachable: async () => false,
    nexudus: undefined,
    accessMap: () => AccessMap.parse({ kisiPlaceId: 1 }),
    taskQueue: 'q',
    inboxFile: path.join(dir, 'inbox.db'),
    secrets: { nexudus: 'n', kisi: 'k', acceptUnsigned: false },
    metrics: createIngressMetrics({ defaultMetrics: false }),
    operatorAccess: { mode: 'token', token: TOKEN },
    // The retried event would be re-read from a Nexudus that is not configured: keep it waiting.
    forwarder: { initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  server = http.createServer(ingress.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await ingress.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the CLI without blocking this process (the ingress it talks to is served from here). */
function inbox(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn('sh', ['src/cli/run.sh', 'inbox', ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), OPS_TOKEN: TOKEN, DATA_DIR: dir, LOG_LEVEL: 'silent', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => child.once('close', (status) => (clearTimeout(timer), resolve({ status, stdout, stderr }))));
}

test('list, show, retry and drop against the running ingress', async () => {
  const invalid = ingress.inbox.enqueueDead(event('booking-41'), 'invalid BookingUpdate body, naming no record: FromTime: expected string', 'invalid-entity');
  const unreadable = ingress.inbox.enqueueDead(event('nexudus-unreadable'), 'the body is not JSON (12 bytes, unreadable at character 3)', 'not-json', { bodyKept: false });

  const listed = await inbox(['list']);
  expect(listed.stderr).toBe('');
  expect(listed.status).toBe(0);
  expect(listed.stdout).toMatch(/^ID +DIED +CAUSE +SOURCE +ACTION +RECORD +REASON/);
  expect(listed.stdout).toMatch(new RegExp(`^${unreadable} .* not-json +nexudus +BookingUpdate +nexudus-unreadable +the body is not JSON`, 'm'));
  expect(listed.stdout).toContain('2 of 2 dead events');
  expect(JSON.parse((await inbox(['list', '--json', '--limit', '1'])).stdout)).toMatchObject({ items: [{ id: unreadable }], next: unreadable, total: 2 });

  const shown = await inbox(['show', String(invalid)]);
  expect(shown.status).toBe(0);
  expect(shown.stdout).toContain(`Dead event   ${invalid} (nexudus BookingUpdate, record booking-41)`);
  expect(shown.stdout).toContain('"Id": 41');
  expect(shown.stdout).toContain(`npm run inbox -- retry ${invalid}`);

  const notRetryable = await inbox(['retry', String(unreadable)]);
  expect(notRetryable.status).toBe(1);
  expect(notRetryable.stdout).toContain('not retried: its body was not kept');
  const retried = await inbox(['retry', String(invalid)]);
  expect(retried.status).toBe(0);
  expect(retried.stdout).toBe(`${invalid}  retried: back in the queue\n`);
  expect(ingress.inbox.hasBacklog('booking-41')).toBe(true);

  const dropped = await inbox(['drop', '--all', '--json']);
  expect(dropped.status).toBe(0);
  expect(JSON.parse(dropped.stdout)).toEqual([{ id: unreadable, outcome: 'dropped' }]);
  expect((await inbox(['list'])).stdout).toBe('no dead events\n');
  const missing = await inbox(['show', '999999']);
  expect(missing.status).toBe(1);
  expect(missing.stderr).toBe('inbox: no dead event 999999\n');
});

test('a wrong token, an ingress that is not there, bad arguments', async () => {
  const refused = await inbox(['list'], { OPS_TOKEN: 'not-the-right-token-000' });
  expect(refused.status).toBe(1);
  expect(refused.stderr).toContain('the ingress refused the token');
  const away = await inbox(['list', '--url', 'http://127.0.0.1:1']);
  expect(away.status).toBe(1);
  expect(away.stderr).toMatch(/cannot reach the ingress at http:\/\/127\.0\.0\.1:1/);
  for (const args of [['retry'], ['remove', '3']]) {
    const bad = await inbox(args);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('usage: npm run inbox');
  }
  // The rest of the argument checks in-process (each refused before anything is asked).
  for (const args of [['retry', '3', '--all'], ['show'], ['list', '--limit', '0'], ['show', 'abc'], ['list', '--direct', '--url', 'http://x'], ['show', '3', '--all'], ['list', 'extra']]) {
    expect(() => parseInboxArgs(args)).toThrow(UsageError);
  }
  expect(parseInboxArgs(['retry', '3', '4'])).toMatchObject({ command: 'retry', ids: [3, 4], all: false });
});

test('--direct works on the file of a stopped ingress and is refused while one holds it', async () => {
  const held = await inbox(['list', '--direct']);
  expect(held.status).toBe(1);
  expect(held.stderr).toContain('held by another ingress process');

  const stopped = fs.mkdtempSync(path.join(os.tmpdir(), 'inbox-cli-stopped-'));
  try {
    const file = Inbox.open(path.join(stopped, 'inbox.db'), { lockTimeoutMs: 0 });
    const id = file.enqueueDead(event('contract-7'), 'contract 7 does not exist in Nexudus (404 on re-read)', 'not-found');
    file.close();
    const listed = await inbox(['list', '--direct'], { DATA_DIR: stopped });
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${id} .* not-found +nexudus +BookingUpdate +contract-7 `, 'm'));
    expect((await inbox(['retry', '--direct', String(id)], { DATA_DIR: stopped })).status).toBe(0);
    const reopened = Inbox.open(path.join(stopped, 'inbox.db'), { lockTimeoutMs: 0 });
    expect(reopened.stats()).toMatchObject({ backlog: 1, dead: 0 });
    reopened.close();
  } finally {
    fs.rmSync(stopped, { recursive: true, force: true });
  }
});
