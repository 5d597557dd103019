/**
 * The reconcile workflow's contract: `reconcileWorkflow`, started by the `reconcile` schedule and
 * by `npm run backfill`; its input, its progress query and (src/domain/reconcile-report.ts) its
 * report. Workflow-safe.
 */
import { defineQuery } from '@temporalio/workflow';
import type { DriftPolicy, PhaseName, ReconcileCounts, ReconcileTrigger } from '../domain/reconcile-report';

export type { ReconcileReport } from '../domain/reconcile-report';

export const RECONCILE_WORKFLOW_TYPE = 'reconcileWorkflow';

export interface ReconcileInput {
  /** ISO instants of the booking window; default from `lookBehindMs` before now to `lookAheadMs` after. */
  from?: string;
  to?: string;
  lookBehindMs?: number;
  lookAheadMs?: number;
  /** Compare and report only: nothing is started, signalled or removed. */
  dryRun?: boolean;
  /** What to do with drift in Kisi (KISI_DRIFT); default report. */
  driftPolicy?: DriftPolicy;
  /** Kisi assignments younger than this are not judged (a membership may be starting). */
  driftGraceMs?: number;
  trigger?: ReconcileTrigger;
  /** Run only these phases (default all, in the fixed order). */
  phases?: PhaseName[];
}

export const DEFAULT_LOOK_BEHIND_MS = 24 * 3_600_000;
export const DEFAULT_LOOK_AHEAD_MS = 48 * 3_600_000;
export const DEFAULT_DRIFT_GRACE_MS = 5 * 60_000;

export interface ReconcileProgress {
  phase: PhaseName | 'starting' | 'done';
  /** Phases finished so far, of `phases`. */
  finished: number;
  phases: PhaseName[];
  counts: ReconcileCounts;
  window: { from: string; to: string };
  dryRun: boolean;
  startedAt: string;
}

/** Where a reconcile is: the backfill CLI polls it (and reads the running activity's heartbeat). */
export const reconcileProgressQuery = defineQuery<ReconcileProgress>('progress');

