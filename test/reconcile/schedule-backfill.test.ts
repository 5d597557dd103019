/**
 * How reconcile is run and read: the `reconcile` schedule (interval, overlap SKIP, starts the
 * workflow), `GET /reports/reconcile` (the latest completed report, through the ingress app), and
 * `npm run backfill` (its arguments, a window of its own, dry run, progress on stderr; the
 * command itself runs once as a child process against the same dev server and worker).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { ScheduleNotFoundError } from '@temporalio/client';
import { createApp } from '../../src/ingress/app';
import { grantWorkflowId, RECONCILE_SCHEDULE_ID } from '../../src/domain/ids';
import { ensureReconcileSchedule } from '../../src/reconcile/schedule';
import { literal, reconcileRunsQuery } from '../../src/temporal/visibility-queries';
import type { ReconcileReport } from '../../src/domain/reconcile-report';
import { parseBackfillArgs, runBackfill } from '../../src/cli/backfill';
import { UsageError } from '../../src/cli/ops-cli';
import { ADA, DAY, HOUR, ROOM_THAMES, iso } from '../helpers/grant-harness';
import { eventually, resetSuite, runReconcile, startSuite, stopSuite, type ReconcileSuite } from './helpers';

jest.setTimeout(90_000);

let s: ReconcileSuite;
beforeAll(async () => {
  s = await startSuite();
});
afterAll(async () => {
  await s?.h.client.schedule
    .getHandle(RECONCILE_SCHEDULE_ID)
    .delete()
    .catch(() => undefined);
  await stopSuite(s);
});

const TOKEN = 'schedule-test-token-0123456789';
/** The ingress app with the operator token (reports are behind it); a new one per request: no cached report. */
const app = () => createApp({ logger: pino({ level: 'silent' }), isTemporalReachable: async () => true, reconcileReport: { client: s.h.client, taskQueue: s.h.taskQueue }, operatorAccess: { mode: 'token', token: TOKEN } });
const report = () => request(app()).get('/reports/reconcile').set('Authorization', `Bearer ${TOKEN}`);

describe('schedule and report', () => {
  beforeAll(() => resetSuite(s));

  test('GET /reports/reconcile is 404 before any reconcile completed', async () => {
    const response = await report();
    expect(response.status).toBe(404);
    expect(response.body.error).toMatch(/no reconcile has completed yet/);
  });

  test('the schedule exists with the configured interval, overlap SKIP, and starts the workflow; the report route shows its result', async () => {
    const { h } = s;
    try {
      await scheduleAndReport();
    } finally {
      // A schedule left behind would keep reconciling under the next tests.
      await h.client.schedule
        .getHandle(RECONCILE_SCHEDULE_ID)
        .delete()
        .catch(() => undefined);
    }
    await expect(h.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });

  async function scheduleAndReport(): Promise<void> {
    const { h } = s;
    expect(await ensureReconcileSchedule(h.client, { taskQueue: h.taskQueue, everyMs: 5_000, driftPolicy: 'report' })).toBe('created');
    const described = await h.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
    expect(described.spec.intervals).toMatchObject([{ every: 5_000 }]);
    expect(described.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 60_000 });
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'reconcileWorkflow', taskQueue: h.taskQueue, args: [{ trigger: 'schedule', driftPolicy: 'report' }] });

    // The schedule's own run, found through visibility, completes with a report.
    const query = `${reconcileRunsQuery(h.taskQueue, { completed: true })} AND TemporalScheduledById = ${literal(RECONCILE_SCHEDULE_ID)}`;
    let workflowId: string | undefined;
    await eventually(
      async () => {
        for await (const info of h.client.workflow.list({ query })) workflowId ??= info.workflowId;
        return workflowId !== undefined;
      },
      'a scheduled reconcile to complete',
      30_000,
    );
    expect(workflowId).toMatch(/^reconcile-/);
    const result = (await h.client.workflow.getHandle(workflowId!).result()) as ReconcileReport;
    expect(result).toMatchObject({ trigger: 'schedule', driftPolicy: 'report', dryRun: false });
    expect(result.phases.map((p) => p.phase)).toEqual(['kisi', 'customers', 'bookings', 'contracts', 'passes', 'webhooks']);

    const response = await report();
    expect(response.status).toBe(200);
    expect(response.body.workflowId).toMatch(/^reconcile-/);
    expect(response.body.report).toMatchObject({ trigger: 'schedule', counts: expect.objectContaining({ errors: 0 }) });
    expect(response.body.summary).toMatch(/^reconcile .* checked \d+, created \d+/);

    // Run again with other settings: the schedule is brought in line, not duplicated.
    expect(await ensureReconcileSchedule(h.client, { taskQueue: h.taskQueue, everyMs: 7_000, driftPolicy: 'remove' })).toBe('updated');
    const updated = await h.client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
    expect(updated.spec.intervals).toMatchObject([{ every: 7_000 }]);
    expect(updated.action).toMatchObject({ args: [{ trigger: 'schedule', driftPolicy: 'remove' }] });
  }
});

describe('backfill', () => {
  beforeEach(() => resetSuite(s));

  test('arguments: dates, a day-only --to includes that day, bad input is a usage error', () => {
    expect(parseBackfillArgs(['--from', '2026-03-01', '--to', '2026-03-31'])).toEqual({
      from: Date.UTC(2026, 2, 1),
      to: Date.UTC(2026, 3, 1),
      dryRun: false,
      drift: 'report',
      json: false,
    });
    expect(parseBackfillArgs(['--from', '2026-03-01T08:00:00+01:00', '--to', '2026-03-01T20:00Z', '--dry-run', '--drift', 'remove'])).toMatchObject({
      from: Date.parse('2026-03-01T07:00:00Z'),
      to: Date.parse('2026-03-01T20:00:00Z'),
      dryRun: true,
      drift: 'remove',
    });
    expect(() => parseBackfillArgs(['--from', '2026-03-01'])).toThrow(UsageError);
    expect(() => parseBackfillArgs(['--from', '2026-02-30', '--to', '2026-03-01'])).toThrow(/--from: expected YYYY-MM-DD/);
    expect(() => parseBackfillArgs(['--from', '2026-03-01T08:00', '--to', '2026-03-02'])).toThrow(/Z or an offset/);
    expect(() => parseBackfillArgs(['--from', '2026-03-02', '--to', '2026-03-01'])).toThrow(/--to must be after --from/);
    expect(() => parseBackfillArgs(['--from', '2026-03-01', '--to', '2026-03-02', '--drift', 'delete'])).toThrow(/--drift/);
    expect(() => parseBackfillArgs(['--from', '2026-03-01', '--to', '2026-03-02', '--force'])).toThrow(UsageError);
  });

  test('a window of its own (a booking beyond the scheduled window), dry run first, progress on stderr', async () => {
    const { h } = s;
    const start = Math.ceil(Date.now() / HOUR) * HOUR + 10 * DAY;
    const id = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: ADA.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }).Id as number;

    // The scheduled window (1 day back, 2 ahead) does not reach it.
    expect((await runReconcile(h)).counts.created).toBe(0);

    const args = { from: Date.now() - DAY, to: Date.now() + 14 * DAY, drift: 'report' as const, json: false };
    const stderr: string[] = [];
    const io = { client: h.client, taskQueue: h.taskQueue, stderr: { write: (t: string) => stderr.push(t) }, pollMs: 100 };
    const dry = await runBackfill({ ...args, dryRun: true }, io);
    expect(dry).toMatchObject({ trigger: 'backfill', dryRun: true, counts: expect.objectContaining({ created: 1, errors: 0 }) });
    expect(dry.changes).toContainEqual(expect.objectContaining({ kind: 'created', ref: grantWorkflowId('booking', id), detail: expect.stringContaining('would start') }));
    await expect(h.client.workflow.getHandle(grantWorkflowId('booking', id)).describe()).rejects.toThrow();
    expect(stderr.join('')).toMatch(/started reconcile-backfill-/);
    expect(stderr.join('')).toMatch(/\[#+-*\] +100% \d+:\d\d done \| created 1,/);

    const real = await runBackfill({ ...args, dryRun: false }, io);
    expect(real.counts.created).toBe(1);
    await h.waitForState('booking', id, 'granted');
    expect(h.isMember(ADA.email, 103, start)).toBe(true);
  });

  test('npm run backfill as a process: dry-run summary on stdout, progress on stderr, exit 0', async () => {
    const { h } = s;
    const start = Math.ceil(Date.now() / HOUR) * HOUR + 5 * HOUR;
    const id = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: ADA.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }).Id as number;
    const root = path.join(__dirname, '../..');
    const from = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    const to = new Date(Date.now() + 3 * DAY).toISOString().slice(0, 10);
    // Async spawn: the worker that runs the reconcile lives in this process.
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/backfill.ts', '--from', from, '--to', to, '--dry-run'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: `127.0.0.1:${s.port}`, TEMPORAL_TASK_QUEUE: h.taskQueue },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hung CLI must not outlive the test: killed after 60 s (the test then fails on its code).
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve)).finally(() => clearTimeout(killer));
    expect({ code, stderr: stderr.split('\n').filter((l) => !l.includes('%')).join('\n') }).toMatchObject({ code: 0 });
    expect(stderr).toMatch(/backfill: started reconcile-backfill-/);
    expect(stderr).toMatch(/100% .*done/);
    expect(stdout).toMatch(/^reconcile \(dry run\) .* created 1, /);
    expect(stdout).toContain('Grants that would be started (1):');
    expect(stdout).toContain(`${grantWorkflowId('booking', id)}: would start the grant`);
    expect(stdout).toContain('Dry run: nothing was started, signalled or removed.');
  });
});
