/**
 * Progress of a long reconcile phase, sent as heartbeat details: what it is doing, how far it
 * got, and its tally so far. A retried attempt resumes from the last details (the cursor says
 * which items are done, the tally keeps their counts), and the backfill CLI draws its progress
 * bar from them.
 *
 * Heartbeats also go out on a timer, not only at checkpoints (asActivity's keep-alive, which sends
 * `details()`): a phase can wait minutes in the process-wide API pacer behind other activities,
 * and that wait is not a dead worker.
 */
import type { PhaseName, ReconcileCounts, ChangeItem } from '../domain/reconcile-report';
import { Tally } from '../domain/reconcile-report';

export interface PhaseCheckpoint {
  phase: PhaseName;
  /** What is being done, for people (`listing bookings`, `group 103`). */
  step: string;
  done: number;
  total: number;
  /** Opaque resume point: items up to it are finished (phase-specific). */
  cursor: string | null;
  tally: { counts: ReconcileCounts; changes: ChangeItem[]; errors: string[]; droppedChanges: number };
}

export interface HeartbeatPort {
  heartbeat(details: PhaseCheckpoint): void;
  /** Details of the previous attempt's last heartbeat, if this is a retry. */
  previous(): unknown;
}

export class PhaseProgress {
  readonly tally: Tally;
  step = 'starting';
  done = 0;
  total = 0;
  cursor: string | null;

  constructor(
    readonly phase: PhaseName,
    private readonly port: HeartbeatPort | undefined,
  ) {
    const previous = port?.previous() as PhaseCheckpoint | undefined;
    const resumable = previous && previous.phase === phase && previous.tally ? previous : undefined;
    this.tally = new Tally(resumable?.tally);
    this.cursor = resumable?.cursor ?? null;
  }

  /** True when this attempt continues a previous one (for the log). */
  get resumed(): boolean {
    return this.cursor !== null;
  }

  at(step: string, done: number, total: number): void {
    this.step = step;
    this.done = done;
    this.total = total;
  }

  /** Marks everything up to `cursor` finished and says so at once. */
  checkpoint(cursor: string): void {
    this.cursor = cursor;
    this.beat();
  }

  /** What a heartbeat carries now: the resume point and the counts so far. */
  details(): PhaseCheckpoint {
    return { phase: this.phase, step: this.step, done: this.done, total: this.total, cursor: this.cursor, tally: this.tally.snapshot() };
  }

  beat(): void {
    this.port?.heartbeat(this.details());
  }
}
