/**
 * The reconcile workflow itself, on the time-skipping server with phase activities that answer as
 * told: phases run in their fixed order, a phase that fails for good is reported under its name
 * and the run goes on, and the run's lists keep the same caps as a phase's while counts stay exact.
 * (What the phases do against the sandboxes is test/reconcile/.)
 */
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { MAX_CHANGES, Tally, emptyCounts, type PhaseName, type PhaseResult, type ReconcileReport } from '../../src/reconcile/report';
import type { ReconcileInput } from '../../workflows/reconcile';
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
      reconcileBookings: phase('bookings'),
      reconcileContracts: phase('contracts'),
      reconcilePasses: phase('passes'),
      reconcileWebhooks: phase('webhooks'),
    },
  });
  const report = await worker.runUntil(
    env.client.workflow.execute('reconcileWorkflow', { taskQueue, workflowId: `reconcile-test-${taskQueue}`, args: [{ trigger: 'manual', ...input }] }),
  );
  return { report: report as ReconcileReport, order };
}

test('a phase that fails for good is reported under its name; the phases after it still run', async () => {
  const { report, order } = await run({
    bookings: async () => created('bookings', 2),
    contracts: async () => {
      throw ApplicationFailure.nonRetryable('nexudus GET /api/billing/coworkercontracts: 403', 'ApiError');
    },
  });
  expect(order).toEqual(['kisi', 'bookings', 'contracts', 'passes', 'webhooks']);
  expect(report.counts).toMatchObject({ created: 2, errors: 1 });
  expect(report.errors).toEqual(['contracts: phase failed: nexudus GET /api/billing/coworkercontracts: 403']);
  expect(report.changes).toContainEqual({ kind: 'error', ref: 'contracts', detail: 'phase failed: nexudus GET /api/billing/coworkercontracts: 403' });
  expect(report.phases.map((p) => [p.phase, p.failed])).toEqual([
    ['kisi', false],
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
