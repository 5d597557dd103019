/**
 * The reconcile workflow itself, on the time-skipping server with phase activities that answer as
 * told: phases run in their fixed order, a phase that fails for good is reported under its name
 * and the run goes on, and the run's lists keep the same caps as a phase's while counts stay exact.
 * Runs recorded before the customers phase existed still replay (the phase is behind a patch).
 * (What the phases do against the sandboxes is test/reconcile/.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { MAX_CHANGES, Tally, emptyCounts, type PhaseName, type PhaseResult, type ReconcileReport } from '../../src/domain/reconcile-report';
import type { ReconcileInput } from '../../src/contract/reconcile';
import { createTimeSkippingEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await createTimeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** A phase that records `n` created grants (listed up to the cap, like a real phase's tally). */
function created(phase: PhaseName, n: number): PhaseResult {
  const tally = new Tally();
  for (let i = 0; i < n; i++) tally.record('created', 'created', `${phase}-${i}`, 'started the grant');
  return { phase, ...tally.snapshot(), durationMs: 1 };
}

async function run(behaviour: Partial<Record<PhaseName, () => Promise<PhaseResult>>>, input: ReconcileInput = {}) {
  const order: PhaseName[] = [];
  const phase = (name: PhaseName) => async () => {
    order.push(name);
    return (behaviour[name] ?? (async () => ({ phase: name, counts: emptyCounts(), changes: [], errors: [], droppedChanges: 0, durationMs: 1 })))();
  };
  const taskQueue = `reconcile-wf-${Math.random().toString(36).slice(2, 8)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      reconcileKisiGroups: phase('kisi'),
      reconcileCustomers: phase('customers'),
      reconcileBookings: phase('bookings'),
      reconcileContracts: phase('contracts'),
      reconcilePasses: phase('passes'),
      reconcileWebhooks: phase('webhooks'),
    },
  });
  const report = await worker.runUntil(
    env.client.workflow.execute('reconcileWorkflow', { taskQueue, workflowId: `reconcile-test-${taskQueue}`, args: [{ trigger: 'manual', ...input }] }),
  );
  return { report: report as ReconcileReport, order, workflowId: `reconcile-test-${taskQueue}` };
}

test('a phase that fails for good is reported under its name; the phases after it still run', async () => {
  const { report, order } = await run({
    bookings: async () => created('bookings', 2),
    contracts: async () => {
      throw ApplicationFailure.nonRetryable('nexudus GET /api/billing/coworkercontracts: 403', 'ApiError');
    },
  });
  expect(order).toEqual(['kisi', 'customers', 'bookings', 'contracts', 'passes', 'webhooks']);
  expect(report.counts).toMatchObject({ created: 2, errors: 1 });
  expect(report.errors).toEqual(['contracts: phase failed: nexudus GET /api/billing/coworkercontracts: 403']);
  expect(report.changes).toContainEqual({ kind: 'error', ref: 'contracts', detail: 'phase failed: nexudus GET /api/billing/coworkercontracts: 403' });
  expect(report.phases.map((p) => [p.phase, p.failed])).toEqual([
    ['kisi', false],
    ['customers', false],
    ['bookings', false],
    ['contracts', true],
    ['passes', false],
    ['webhooks', false],
  ]);
});

test('the run adds up its phases within the caps: exact counts, the changes that did not fit counted as dropped', async () => {
  const { report } = await run({ bookings: async () => created('bookings', MAX_CHANGES - 1), passes: async () => created('passes', 3) }, { phases: ['bookings', 'passes'] });
  expect(report.counts.created).toBe(MAX_CHANGES + 2);
  expect(report.changes).toHaveLength(MAX_CHANGES);
  expect(report.droppedChanges).toBe(2);
  expect(report.phases.map((p) => p.phase)).toEqual(['bookings', 'passes']);
});

describe('replay: runs started before the customers phase existed', () => {
  const histories = path.join(__dirname, '../reconcile/histories');

  async function replay(file: string): Promise<void> {
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(fs.readFileSync(path.join(histories, file), 'utf8')));
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, 'reconcile-2026-01-01T10:00:00Z');
  }

  test('a run recorded by the code before it (kisi, then bookings) replays: it does not get the new phase', async () => {
    await expect(replay('before-customers-phase.json')).resolves.toBeUndefined();
  });

  test('a run of the current code replays with it', async () => {
    const { workflowId } = await run({});
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId)).resolves.toBeUndefined();
    const events = history.events ?? [];
    expect(events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')).toHaveLength(1);
    expect(events.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean)).toEqual([
      'reconcileKisiGroups',
      'reconcileCustomers',
      'reconcileBookings',
      'reconcileContracts',
      'reconcilePasses',
      'reconcileWebhooks',
    ]);
  });
});
