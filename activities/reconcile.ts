/**
 * The reconcile workflow's activities: one per phase (Kisi groups, customers, bookings, contracts,
 * passes, webhooks). Each heartbeats its progress and tally (a retry resumes from them, the backfill CLI
 * draws its progress bar from them) and returns a bounded PhaseResult. Logic lives in
 * src/reconcile/*; this file wires the clients and the activity context in.
 */
import { Context, log } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import type { AccessMap } from '../src/config/access-map';
import { currentCallContext } from '../src/clients/call-context';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import type { GrantKind } from '../src/domain/ids';
import { SpecSource } from '../src/clients/nexudus-grant-specs';
import { reconcileCustomers, type CustomerPhaseInput } from '../src/reconcile/customer-phase';
import { reconcileKisi, type KisiPhaseInput } from '../src/reconcile/kisi-phase';
import { reconcileRecords, type NexudusPhaseInput } from '../src/reconcile/nexudus-phase';
import { PhaseProgress, type HeartbeatPort } from '../src/reconcile/progress';
import type { PhaseName, PhaseResult, ReconcileReport } from '../src/domain/reconcile-report';
import { latestReconcileReport } from '../src/reconcile/visibility';
import { checkWebhooks } from '../src/reconcile/webhook-phase';
import { activityNow } from './clock';
import { differsFrom } from './customers';
import { asActivity } from './failures';
import type { KisiUsers } from './kisi-users';

export interface ReconcileActivityDeps {
  kisi: KisiClient;
  nexudus: NexudusClient;
  temporal: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  /** The worker's customer directory and email keys (the customers phase refreshes the records it reads). */
  kisiUsers: KisiUsers;
  now?: () => number;
}

export type { CustomerPhaseInput, KisiPhaseInput, NexudusPhaseInput };

function heartbeatPort(): HeartbeatPort & { throwIfCancelled: () => void } {
  const ctx = Context.current();
  return {
    heartbeat: (details) => ctx.heartbeat(details),
    previous: () => ctx.info.heartbeatDetails,
    // The calls' signal (asActivity): Temporal's cancellation or the attempt's deadline.
    throwIfCancelled: () => {
      const signal = currentCallContext().signal ?? ctx.cancellationSignal;
      if (signal.aborted) throw signal.reason ?? new Error('cancelled');
    },
  };
}

/**
 * Runs one phase with progress heartbeats; API failures become Temporal failures (retried or not).
 * Background lane: a reconcile never holds up a change someone waits for.
 */
async function runPhase(phase: PhaseName, body: (progress: PhaseProgress, port: ReturnType<typeof heartbeatPort>) => Promise<Partial<Pick<PhaseResult, 'webhooks'>> | void>): Promise<PhaseResult> {
  const started = Date.now();
  const port = heartbeatPort();
  const progress = new PhaseProgress(phase, port);
  progress.beat();
  if (progress.resumed) log.info(`reconcile ${phase}: resuming after ${progress.cursor}`, { phase, cursor: progress.cursor });
  const extra = await asActivity(async () => (await body(progress, port)) ?? {}, { lane: 'background', details: () => progress.details() });
  return { phase, ...progress.tally.snapshot(), ...extra, durationMs: Date.now() - started };
}

export function createReconcileActivities(deps: ReconcileActivityDeps) {
  const now = deps.now ?? activityNow;
  const specs = new SpecSource({ nexudus: deps.nexudus, accessMap: deps.accessMap, now });
  const records = (kind: GrantKind, phase: PhaseName) => (input: NexudusPhaseInput) =>
    runPhase(phase, (progress, port) =>
      reconcileRecords(kind, { nexudus: deps.nexudus, specs, temporal: deps.temporal, taskQueue: deps.taskQueue, accessMap: deps.accessMap, now, throwIfCancelled: port.throwIfCancelled }, input, progress),
    );

  /**
   * The drift the previous completed reconcile of this task queue reported (its Kisi phase ran
   * through): KISI_DRIFT=remove removes only assignments reported there first.
   */
  async function previouslyReportedDrift(): Promise<ReadonlySet<string>> {
    const current = Context.current().info.workflowExecution?.workflowId;
    const accept = (r: ReconcileReport) => r.phases.some((p) => p.phase === 'kisi' && !p.failed);
    const previous = await latestReconcileReport(deps.temporal, { taskQueue: deps.taskQueue, excludeWorkflowId: current, accept });
    return new Set((previous?.report.changes ?? []).filter((c) => c.kind === 'drift').map((c) => c.ref));
  }

  return {
    /** Kisi assignments of every mapped group against the memberships; orphaned leases; legacy holders woken. */
    reconcileKisiGroups(input: KisiPhaseInput): Promise<PhaseResult> {
      return runPhase('kisi', (progress, port) =>
        reconcileKisi(
          { kisi: deps.kisi, temporal: deps.temporal, taskQueue: deps.taskQueue, accessMap: deps.accessMap, now, previouslyReportedDrift, throwIfCancelled: port.throwIfCancelled },
          input,
          progress,
        ),
      );
    },
    /** Nexudus customers (email, active) against their running grants: a customer sync where they disagree. */
    reconcileCustomers(input: CustomerPhaseInput): Promise<PhaseResult> {
      const { kisiUsers } = deps;
      return runPhase('customers', (progress, port) =>
        reconcileCustomers(
          {
            nexudus: deps.nexudus,
            temporal: deps.temporal,
            taskQueue: deps.taskQueue,
            emailKey: (email) => kisiUsers.emailKey(email),
            differsFrom,
            note: (coworker) => kisiUsers.directory.note(coworker),
            throwIfCancelled: port.throwIfCancelled,
          },
          input,
          progress,
        ),
      );
    },
    reconcileBookings: records('booking', 'bookings'),
    reconcileContracts: records('contract', 'contracts'),
    reconcilePasses: records('pass', 'passes'),
    /** Disabled or failing Nexudus webhooks of ours, reported loudly. */
    reconcileWebhooks(input: { currentWorkflowId: string }): Promise<PhaseResult> {
      return runPhase('webhooks', async (progress) => {
        const webhooks = await checkWebhooks(
          {
            nexudus: deps.nexudus,
            temporal: deps.temporal,
            taskQueue: deps.taskQueue,
            alert: (message, details) => log.error(message, details),
            warn: (message, details) => log.warn(message, details),
          },
          input,
          progress,
        );
        return { webhooks };
      });
    },
  };
}
