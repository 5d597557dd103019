/**
 * The worker as it runs in production (the real process, src/main/worker.ts) through a booking's
 * whole life against a dev server and the two sandboxes: its Prometheus endpoint serves the SDK's
 * metrics, every log line is JSON from pino with the SDK's workflow / activity metadata, and
 * neither the configured secrets nor the customer's access-card numbers appear anywhere in its
 * output, even at debug level.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newClient } from '../../src/temporal/connection';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { AccessMap } from '../../src/config/access-map';
import { NexudusClient } from '../../src/clients/nexudus';
import { grantWorkflowId } from '../../src/domain/ids';
import type { NexudusBooking } from '../../src/domain/nexudus-entities';
import { deliverSpec } from '../../src/temporal/starters';
import { SpecSource } from '../../src/clients/nexudus-grant-specs';
import { createKisiSandbox } from '../../dev/sandbox/kisi';
import { createNexudusSandbox } from '../../dev/sandbox/nexudus';
import { freePort } from '../../dev/lib/ports';
import { ADA, DEFAULT_MAP, GROUP_ROOM_THAMES, ROOM_THAMES, iso, newSourceId } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const root = path.join(__dirname, '../..');
const SECRETS = {
  KISI_API_KEY: 'kisi-key-3f9a1c7e5b',
  NEXUDUS_PASSWORD: 'nexudus-pw-8d2e4a6c0f',
  NEXUDUS_WEBHOOK_SECRET: 'nexudus-hook-5a1b9c3d7e',
  KISI_WEBHOOK_SECRET: 'kisi-hook-2c4e6a8b0d',
};
const NEXUDUS_USER = 'ops-test@nexudus.invalid';

let env: TestWorkflowEnvironment;
let worker: ChildProcess | undefined;
let output = '';
let metricsPort: number;
let dir: string;
const closers: Array<() => Promise<void>> = [];

/** Ada's access-card and fob numbers, as the seed gives them to Nexudus (they reach Kisi as card tokens). */
function adaCardNumbers(): string[] {
  const seed = JSON.parse(fs.readFileSync(path.join(root, 'config/sandbox/nexudus-seed.json'), 'utf8')) as { coworkers: Array<Record<string, unknown>> };
  const ada = seed.coworkers.find((c) => c.Id === ADA.customerId)!;
  // Not the 5-digit PIN: any 5 digits also occur by chance in timestamps and ids.
  return [ada.AccessCardId, ada.KeyFobNumber].filter((v): v is string => typeof v === 'string' && v.length > 0).flatMap((v) => v.split(','));
}

beforeAll(async () => {
  const port = await freePort();
  env = await createDevServerEnv({ port });
  const kisi = createKisiSandbox({ rateLimit: false, apiKeys: [SECRETS.KISI_API_KEY] });
  const nexudus = createNexudusSandbox({ rateLimit: false, users: [{ username: NEXUDUS_USER, password: SECRETS.NEXUDUS_PASSWORD }] });
  const kisiListening = await kisi.listen(0);
  const nexudusListening = await nexudus.listen(0);
  closers.push(kisiListening.close, nexudusListening.close);

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'worker-observability-'));
  // No lead or lag: the booking's whole life fits in seconds of real time.
  const map = { ...DEFAULT_MAP, timing: { lead: '0s', lag: '0s' } };
  fs.writeFileSync(path.join(dir, 'access-map.json'), JSON.stringify(map));
  metricsPort = await freePort();
  const taskQueue = `observability-${process.pid}`;

  worker = spawn(process.execPath, ['--import', 'tsx', 'src/main/worker.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'debug',
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TEMPORAL_TASK_QUEUE: taskQueue,
      WORKER_METRICS_PORT: String(metricsPort),
      ACCESS_MAP: path.join(dir, 'access-map.json'),
      KISI_BASE_URL: kisiListening.url,
      NEXUDUS_BASE_URL: nexudusListening.apiUrl,
      NEXUDUS_USERNAME: NEXUDUS_USER,
      ...SECRETS,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  worker.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until(() => output.includes('worker polling'), 60_000, 'the worker to poll');

  // A booking from a few seconds from now for a few seconds, delivered as the ingress would.
  const client = newClient(env.connection);
  const specs = new SpecSource({
    nexudus: new NexudusClient({ baseUrl: nexudusListening.apiUrl, username: NEXUDUS_USER, password: SECRETS.NEXUDUS_PASSWORD }),
    accessMap: () => AccessMap.parse(map),
  });
  // Seconds of margin: access must be granted (Kisi user, cards, assignment) before the end passes.
  const from = Date.now() + 3_000;
  const id = newSourceId();
  const spec = specs.fromBooking({ Id: id, ResourceId: ROOM_THAMES, CoworkerId: ADA.customerId, FromTime: iso(from), ToTime: iso(from + 6_000) } as NexudusBooking);
  expect(spec.groups).toEqual([GROUP_ROOM_THAMES]);
  await deliverSpec(client, spec, { taskQueue });
  const result = await client.workflow.getHandle(grantWorkflowId('booking', id)).result();
  expect(result).toMatchObject({ state: 'revoked', reason: 'expired', grantedAt: expect.any(String) });
  // The Kisi user was made with the cards: the numbers went through the worker.
  const tokens = [...kisi.state.cards.values()].map((c) => c.token);
  expect(tokens).toEqual(expect.arrayContaining(adaCardNumbers()));

  // A workflow type the worker does not know: SDK Core (native code) logs the failed workflow task
  // itself, which must reach the same JSON log as everything else.
  const unknown = await client.workflow.start('noSuchWorkflowType', { taskQueue, workflowId: `unknown-type-${id}` });
  await until(() => output.includes(`unknown-type-${id}`) || /Failing workflow task/.test(output), 30_000, 'the failed workflow task to be logged');
  await unknown.terminate('test: unknown workflow type');
});

afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const exited = new Promise((resolve) => worker!.once('exit', resolve));
    worker.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 10_000)))]);
    clearTimeout(timer);
    if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
  }
  for (const close of closers) await close();
  await env?.teardown();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${output}`);
    if (worker?.exitCode !== null && worker?.exitCode !== undefined) throw new Error(`the worker exited (${worker.exitCode}):\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('the metrics endpoint serves the SDK\'s worker, workflow and activity metrics', async () => {
  const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  for (const metric of ['temporal_workflow_completed', 'temporal_activity_execution_latency', 'temporal_workflow_task_execution_latency', 'temporal_worker_task_slots_available']) {
    expect(text).toMatch(new RegExp(`^${metric}\\w*\\{[^}]*task_queue="observability-`, 'm'));
  }
});

test('every line is a pino JSON record; SDK lines carry the workflow id and activity type', () => {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length).toBeGreaterThan(5);
  const records = lines.map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`not a JSON log line: ${line}`);
    }
  });
  for (const r of records) expect(r).toEqual(expect.objectContaining({ level: expect.any(Number), time: expect.any(Number), name: 'worker', msg: expect.any(String) }));
  expect(records).toContainEqual(expect.objectContaining({ sdk: true, workflowId: expect.stringMatching(/^booking-\d+$/), workflowType: 'bookingGrant' }));
  expect(records).toContainEqual(expect.objectContaining({ sdk: true, activityType: 'requestLeases', workflowId: expect.stringMatching(/^booking-\d+$/) }));
  expect(records).toContainEqual(expect.objectContaining({ sdk: true, activityType: 'syncMembership', workflowId: expect.stringMatching(new RegExp(`^membership-user-\\d+-${GROUP_ROOM_THAMES}$`)) }));
  // Native (SDK Core) log lines are forwarded into the same logger, not printed beside it.
  expect(records).toContainEqual(expect.objectContaining({ sdk: true, sdkComponent: 'core', msg: expect.stringMatching(/workflow task/i) }));
});

test('no configured secret and no access-card number appears in the output', () => {
  const leaked = [...Object.values(SECRETS), ...adaCardNumbers()].filter((value) => output.includes(value));
  expect(adaCardNumbers().length).toBeGreaterThanOrEqual(2);
  expect(leaked).toEqual([]);
});
