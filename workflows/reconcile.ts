/**
 * reconcileWorkflow: webhooks make grants fast, this makes them complete. Run by the `reconcile`
 * schedule every RECONCILE_EVERY (overlap SKIP), and by `npm run backfill` over a chosen window.
 *
 * Phases, one activity each, in this order:
 *   kisi      Kisi assignments of every mapped group against the memberships: repairs, orphaned
 *             leases, grants on legacy memberships woken, drift (reported, then removed). First, so
 *             that grants this run starts cannot race it: their memberships would be writing Kisi
 *             while it reads.
 *   customers Nexudus customers (email, active) against their running grants: a customer sync for
 *             each that disagrees (an email change or a deactivation whose webhook was lost).
 *             Second: a door that must close (deactivation) or move (email) comes before
 *             background completeness.
 *   bookings, contracts, passes
 *             Nexudus records against the running grants: missing grants started, changed ones
 *             told, gone ones ended.
 *   webhooks  Nexudus webhooks of ours that are disabled or failing, reported loudly.
 * A phase that fails (after its retries) is counted as an error and the others still run.
 *
 * The heavy lifting and all lists stay in the activities; the workflow keeps only counts and a
 * bounded list of changes, so its history stays small however large the space is.
 */
import { ActivityFailure, ApplicationFailure, isCancellation, log, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  emptyCounts,
  PHASES,
  Tally,
  summaryLine,
  type DriftPolicy,
  type PhaseName,
  type PhaseResult,
  type ReconcileReport,
  type WebhookSnapshot,
} from '../src/domain/reconcile-report';
import {
  DEFAULT_DRIFT_GRACE_MS,
  DEFAULT_LOOK_AHEAD_MS,
  DEFAULT_LOOK_BEHIND_MS,
  reconcileProgressQuery,
  type ReconcileInput,
  type ReconcileProgress,
} from '../src/contract/reconcile';
import { temporalPriority } from '../src/domain/lanes';

/**
 * Runs started before the customers phase existed schedule `bookings` right after `kisi`: replayed,
 * they must not see the new phase (their histories have no marker), new runs do.
 */
export const CUSTOMERS_PHASE_PATCH = 'reconcile-customers-phase';

/**
 * Long paged activities: they heartbeat every few seconds (also while queued behind the API
 * pacers), so a dead worker is noticed within the heartbeat timeout while a slow but live phase
 * may take its time. Retries resume from the last heartbeat.
 */
const acts = proxyActivities<Activities>({
  // Background work: its activity tasks wait in Temporal behind live and scheduled ones (the
  // schedule's start cannot carry a priority in this SDK; a backfill's start does).
  priority: temporalPriority('background'),
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

export async function reconcileWorkflow(input: ReconcileInput = {}): Promise<ReconcileReport> {
  const info = workflowInfo();
  const startedAt = Date.now();
  const window = {
    from: input.from ?? new Date(startedAt - (input.lookBehindMs ?? DEFAULT_LOOK_BEHIND_MS)).toISOString(),
    to: input.to ?? new Date(startedAt + (input.lookAheadMs ?? DEFAULT_LOOK_AHEAD_MS)).toISOString(),
  };
  const fromMs = Date.parse(window.from);
  const toMs = Date.parse(window.to);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs) || toMs <= fromMs) {
    throw ApplicationFailure.nonRetryable(`reconcile: invalid window ${window.from} → ${window.to}`, 'InvalidWindow');
  }
  const dryRun = input.dryRun === true;
  const driftPolicy: DriftPolicy = input.driftPolicy ?? 'report';
  const withCustomers = patched(CUSTOMERS_PHASE_PATCH);
  const phases = PHASES.filter((p) => (!input.phases || input.phases.includes(p)) && (p !== 'customers' || withCustomers));

  // The phases' tallies added up, within the same caps as each phase's (counts stay exact).
  const tally = new Tally();
  const counts = tally.counts;
  let webhooks: WebhookSnapshot[] = [];
  const phaseReports: ReconcileReport['phases'] = [];
  const progress: ReconcileProgress = { phase: 'starting', finished: 0, phases: [...phases], counts, window, dryRun, startedAt: new Date(startedAt).toISOString() };
  setHandler(reconcileProgressQuery, () => progress);

  for (const phase of phases) {
    progress.phase = phase;
    const phaseStarted = Date.now();
    try {
      const result = await runPhase(phase);
      tally.absorb(result);
      if (result.webhooks) webhooks = result.webhooks;
      phaseReports.push({ phase, durationMs: result.durationMs, counts: result.counts, failed: false });
    } catch (error) {
      if (isCancellation(error)) throw error; // an operator (or Ctrl-C in backfill) stopped the run
      // Listed under the phase's name: errors read "<phase>: phase failed: <cause>".
      const text = `phase failed: ${describe(error)}`;
      tally.error(phase, text);
      phaseReports.push({ phase, durationMs: Date.now() - phaseStarted, counts: emptyCounts(), failed: true });
      log.error(`reconcile: ${phase} ${text}`, { phase });
    }
    progress.finished++;
  }
  progress.phase = 'done';

  const finishedAt = Date.now();
  const report: ReconcileReport = {
    workflowId: info.workflowId,
    trigger: input.trigger ?? 'manual',
    dryRun,
    driftPolicy,
    window,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - startedAt,
    counts,
    phases: phaseReports,
    changes: tally.changes,
    droppedChanges: tally.droppedChanges,
    errors: tally.errors,
    webhooks,
  };
  const line = summaryLine(report);
  if (counts.webhookProblems > 0 || counts.errors > 0) log.error(line, { counts, errors: tally.errors.slice(0, 10) });
  else log.info(line, { counts });
  return report;

  function runPhase(phase: PhaseName): Promise<PhaseResult> {
    switch (phase) {
      case 'kisi':
        return acts.reconcileKisiGroups({ dryRun, driftPolicy, driftGraceMs: input.driftGraceMs ?? DEFAULT_DRIFT_GRACE_MS });
      case 'customers':
        return acts.reconcileCustomers({ dryRun });
      case 'bookings':
        return acts.reconcileBookings({ dryRun, window: { from: fromMs, to: toMs } });
      case 'contracts':
        return acts.reconcileContracts({ dryRun, window: { from: fromMs, to: toMs } });
      case 'passes':
        return acts.reconcilePasses({ dryRun, window: { from: fromMs, to: toMs } });
      case 'webhooks':
        return acts.reconcileWebhooks({ currentWorkflowId: info.workflowId });
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof ActivityFailure && error.cause) return error.cause.message || error.cause.name;
  return error instanceof Error ? error.message : String(error);
}
