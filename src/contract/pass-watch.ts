/**
 * The pass watcher's contract: `pass-watch-<taskQueue>` is one workflow per deployment that looks
 * for passes changed in Nexudus (bought or used at the desk: Nexudus has no pass webhook) and
 * brings them to their grants in the live lane, so a day pass does not wait for its customer's
 * sync behind a 9:00 burst of `AccessControlUpdate`. The ingress pokes it (signal-with-start, at
 * most once a second per process) on each `AccessControlUpdate`; pokes that arrive while it looks
 * make one more look. Workflow-safe.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export const PASS_WATCH_WORKFLOW_TYPE = 'passWatchWorkflow';

/** One watcher per deployment: its task queue names it. */
export function passWatchWorkflowId(taskQueue: string): string {
  return `pass-watch-${taskQueue}`;
}

export interface PassWatchInput {
  /**
   * Epoch ms up to which passes have been looked at (the activity's time at its last read), carried
   * over continue-as-new. Absent in a new run: its first look goes back PASS_WATCH_FIRST_LOOK_MS.
   */
  checkedUpTo?: number;
  /** A poke arrived that no look has answered yet (carried over continue-as-new). */
  pending?: boolean;
  /** Continue as new at this history length (tests set a small one; Temporal's suggestion always counts). */
  historyLimit?: number;
  /** End after this long without a poke (ms, default PASS_WATCH_IDLE_MS; the next poke starts a new run). */
  idleMs?: number;
}

/** A run ends after this long without a poke. */
export const PASS_WATCH_IDLE_MS = 10 * 60_000;

/**
 * A new run's first look covers this much of the past: more than the idle time that ended the
 * previous run, so nothing changed since its last look is missed (older changes reach their grants
 * through the customer sync and reconcile, as before the watcher).
 */
export const PASS_WATCH_FIRST_LOOK_MS = 15 * 60_000;

/**
 * Each look reads from this long before the mark: Nexudus' UpdatedOn has whole seconds (the filter
 * whole minutes) and its clock is not ours. Passes seen twice send nothing the second time.
 */
export const PASS_WATCH_OVERLAP_MS = 2 * 60_000;

/** "Passes may have changed": an `AccessControlUpdate` arrived. Carries nothing. */
export const passesMayHaveChangedSignal = defineSignal<[]>('passWatchPoke');

export interface PassWatchStatus {
  /** ISO instant up to which passes have been looked at (null: no look yet in this run). */
  checkedUpTo: string | null;
  /** A look is running. */
  looking: boolean;
  /** A poke is waiting for the next look. */
  pending: boolean;
  /** Pokes and looks of this run. */
  pokes: number;
  looks: number;
  /** Why the last look failed (null: it did not). The next poke tries again from the same mark. */
  lastError: string | null;
}

export const passWatchStatusQuery = defineQuery<PassWatchStatus>('passWatchStatus');

/** What one look did (the activity's answer). */
export interface RecentPassesResult {
  /** The new mark: the activity's time when it read the passes (epoch ms). */
  checkedUpTo: number;
  /** Passes Nexudus listed as changed since `since - overlap`. */
  listed: number;
  /** Of those, delivered to their grants (the others' grants already followed them). */
  delivered: number;
}
