/**
 * `npm run replay` catches an incompatible workflow change: real grants and memberships run on a
 * dev server, then their histories are replayed, as a process, against this checkout's workflows
 * (all ok, exit 0) and against a copy of them with one extra timer at the start of a booking
 * grant (NON-DETERMINISTIC, exit 1).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../dev/lib/ports';
import type { ReplaySummary } from '../../src/ops/replay';
import { replayCandidatesQuery } from '../../src/temporal/visibility-queries';
import { GROUP_ROOM_THAMES, GrantHarness, HOUR, iso, newSourceId } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(180_000);

const root = path.join(__dirname, '../..');
let env: TestWorkflowEnvironment;
let port: number;
let h: GrantHarness;
let tree: string;
const booking = newSourceId();

beforeAll(async () => {
  port = await freePort();
  env = await createDevServerEnv({ port });
  h = await GrantHarness.start({ env });
  const start = Math.ceil(Date.now() / HOUR) * HOUR + 24 * HOUR;
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', booking, 'granted');
  tree = incompatibleCopy();
});
afterAll(async () => {
  await h?.close();
  await env?.teardown();
  if (tree) fs.rmSync(tree, { recursive: true, force: true });
});

/**
 * The workflows copied outside the project, with a timer added before a booking grant's first
 * activity: what a careless edit without patched() does. What they import from the rest of the
 * project (src/, activity types) is pointed at this checkout.
 */
function incompatibleCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'replay-incompatible-'));
  fs.cpSync(path.join(root, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  for (const name of fs.readdirSync(path.join(dir, 'workflows'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'))) {
    const file = path.join(dir, 'workflows', name);
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/from '(?:\.\.\/)+(src|activities)\b/g, (_m, sub: string) => `from '${root}/${sub}`));
  }
  const file = path.join(dir, 'workflows', 'grant.ts');
  const original = fs.readFileSync(file, 'utf8');
  const call = "return dispatch('booking', input);";
  // Fails loudly when grant.ts changes shape, rather than testing an unmodified copy.
  expect(original).toContain(call);
  const changed = `import { sleep as extraTimer } from '@temporalio/workflow';\n${original.replace(call, `await extraTimer(1);\n  ${call}`)}`;
  fs.writeFileSync(file, changed);
  return dir;
}

function replay(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['src/cli/run.sh', 'replay', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_TASK_QUEUE: h.taskQueue },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('against the working tree: every running grant and membership replays, exit 0', async () => {
  const result = await replay(['--json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  const summary = JSON.parse(result.stdout) as ReplaySummary;
  expect(summary.query).toBe(replayCandidatesQuery(h.taskQueue));
  expect(summary.outcomes.map((o) => [o.workflowId, o.type, o.verdict]).sort()).toEqual([
    [`booking-${booking}`, 'bookingGrant', 'ok'],
    [expect.stringMatching(new RegExp(`^membership-user-\\d+-${GROUP_ROOM_THAMES}$`)), 'membershipWorkflow', 'ok'],
  ]);
  expect(summary.outcomes.every((o) => o.events > 5)).toBe(true);
  expect(summary).toMatchObject({ ok: 2, nonDeterministic: 0, failed: 0, truncated: false });
});

test('against a copy with an extra timer: NON-DETERMINISTIC for the grant, exit 1', async () => {
  const result = await replay(['--workflows', path.join(tree, 'workflows')]);
  expect(result.code).toBe(1);
  // The verdicts are the report; the SDK's own warnings about the failing tasks are not printed.
  expect(result.stderr).toBe('');
  const lines = result.stdout.trim().split('\n');
  expect(lines).toEqual(
    expect.arrayContaining([
      expect.stringMatching(new RegExp(`^NON-DETERMINISTIC\\s+booking-${booking}\\s+bookingGrant\\s+\\d+ events\\s+\\[TMPRL1100\\] Nondeterminism error: .*(Timer|patch marker)`)),
      expect.stringMatching(new RegExp(`^ok\\s+membership-user-\\d+-${GROUP_ROOM_THAMES}\\s+membershipWorkflow\\s+\\d+ events$`)),
      expect.stringMatching(/^replayed 2 workflows against .*: 1 ok, 1 non-deterministic, 0 failed$/),
      'NOT safe to deploy: guard the change with patched() (docs/operations.md: Changing workflow code safely)',
    ]),
  );
});

test('a query that matches nothing replays nothing and succeeds; a bad query fails with the server\'s reason', async () => {
  const none = await replay(['--query', 'WorkflowType = "noSuchWorkflow"']);
  expect(none.code).toBe(0);
  expect(none.stdout).toContain('no workflows match WorkflowType = "noSuchWorkflow"');
  const bad = await replay(['--query', 'NoSuchAttribute = "x"']);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/^replay: .*NoSuchAttribute/m);
});
