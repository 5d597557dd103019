/**
 * What a reconcile run reports: counts, a bounded list of what changed (or would change, in a dry
 * run), errors and the Nexudus webhooks it saw. Pure data and arithmetic: the workflow, the
 * activities, the CLI and the ingress report route all share it.
 *
 * Everything here travels through Temporal payloads, so lists are capped: a day-one backfill may
 * create thousands of grants, and the report must stay far below the payload limits.
 */

export type DriftPolicy = 'report' | 'remove';
export type ReconcileTrigger = 'schedule' | 'backfill' | 'manual';

export const PHASES = ['kisi', 'customers', 'bookings', 'contracts', 'passes', 'webhooks'] as const;
export type PhaseName = (typeof PHASES)[number];

export interface ReconcileCounts {
  /** Records, grants, memberships and assignments compared. */
  checked: number;
  /** Grants started for a record that should have one and had none. */
  created: number;
  /** Running grants told a newer state of their record (window, groups, customer, lifecycle). */
  updated: number;
  /** Running grants whose record is gone or cancelled (or whose window is over), told so. */
  ended: number;
  /**
   * Memberships asked to compare with Kisi again: their own assignment missing or holding another
   * window, or the assignment they rely on gone or no longer covering their leases.
   */
  repaired: number;
  /** Leases held for grants that no longer run, given back. */
  orphansReleased: number;
  /** Grants holding a lease on a legacy membership (keyed by customer), woken to move onto the current code. */
  upgraded: number;
  /** Customers whose running grants disagree with their Nexudus record (email, active), given a customer sync. */
  customersSynced: number;
  /** Kisi assignments in mapped groups that no membership holds or relies on. */
  driftFound: number;
  /** Of those, removed (KISI_DRIFT=remove, and only those the previous run already reported). */
  driftRemoved: number;
  /** Left alone on purpose: too new to judge, a membership needing attention, a closed grant. */
  skipped: number;
  errors: number;
  /** Nexudus webhooks of ours that are disabled or whose error count rose. */
  webhookProblems: number;
}

export const COUNT_KEYS: readonly (keyof ReconcileCounts)[] = [
  'checked',
  'created',
  'updated',
  'ended',
  'repaired',
  'orphansReleased',
  'upgraded',
  'customersSynced',
  'driftFound',
  'driftRemoved',
  'skipped',
  'errors',
  'webhookProblems',
];

export function emptyCounts(): ReconcileCounts {
  return { checked: 0, created: 0, updated: 0, ended: 0, repaired: 0, orphansReleased: 0, upgraded: 0, customersSynced: 0, driftFound: 0, driftRemoved: 0, skipped: 0, errors: 0, webhookProblems: 0 };
}

export function addCounts(into: ReconcileCounts, more: Partial<ReconcileCounts>): ReconcileCounts {
  for (const key of COUNT_KEYS) into[key] += more[key] ?? 0;
  return into;
}

/** True when the run changed (or, dry, would change) nothing and found nothing to report. */
export function isQuiet(counts: ReconcileCounts): boolean {
  return COUNT_KEYS.every((key) => key === 'checked' || (counts[key] ?? 0) === 0);
}

export type ChangeKind =
  | 'created'
  | 'updated'
  | 'ended'
  | 'repaired'
  | 'orphan-released'
  | 'upgraded'
  | 'customer-sync'
  | 'drift'
  | 'drift-removed'
  | 'skipped'
  | 'webhook-problem'
  | 'error';

/** One line of what happened: `ref` names the thing (grant, membership or customer workflow id, Kisi assignment, webhook). */
export interface ChangeItem {
  kind: ChangeKind;
  ref: string;
  detail: string;
}

export interface WebhookSnapshot {
  id: number;
  name: string | null;
  action: string;
  url: string | null;
  active: boolean;
  errorCount: number;
  lastError: string | null;
  lastTrigger: string | null;
}

/** What one phase (one activity) returns. */
export interface PhaseResult {
  phase: PhaseName;
  counts: ReconcileCounts;
  changes: ChangeItem[];
  /** Changes beyond the cap, counted but not listed. */
  droppedChanges: number;
  errors: string[];
  /** Only the webhook phase: every webhook of ours, for the next run's comparison. */
  webhooks?: WebhookSnapshot[];
  durationMs: number;
}

export interface ReconcileWindow {
  /** ISO instants. */
  from: string;
  to: string;
}

export interface ReconcileReport {
  workflowId: string;
  trigger: ReconcileTrigger;
  dryRun: boolean;
  driftPolicy: DriftPolicy;
  window: ReconcileWindow;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: ReconcileCounts;
  phases: Array<{ phase: PhaseName; durationMs: number; counts: ReconcileCounts; failed: boolean }>;
  changes: ChangeItem[];
  droppedChanges: number;
  errors: string[];
  webhooks: WebhookSnapshot[];
}

/** At most this many change lines per phase and per report (counts stay exact). */
export const MAX_CHANGES = 200;
export const MAX_ERRORS = 50;

export interface TallySnapshot {
  counts: ReconcileCounts;
  changes: ChangeItem[];
  errors: string[];
  droppedChanges: number;
}

/** A running tally (a phase's, a whole run's): exact counts, bounded lists. */
export class Tally {
  readonly counts = emptyCounts();
  readonly changes: ChangeItem[] = [];
  readonly errors: string[] = [];
  droppedChanges = 0;

  constructor(restored?: TallySnapshot) {
    if (restored) this.absorb(restored);
  }

  /** Adds another tally (a resumed attempt's, a phase's result): counts exactly, lists within the caps. */
  absorb(other: TallySnapshot): void {
    addCounts(this.counts, other.counts);
    for (const change of other.changes) {
      if (this.changes.length < MAX_CHANGES) this.changes.push(change);
      else this.droppedChanges += 1;
    }
    this.droppedChanges += other.droppedChanges;
    this.errors.push(...other.errors.slice(0, Math.max(0, MAX_ERRORS - this.errors.length)));
  }

  count(key: keyof ReconcileCounts, n = 1): void {
    this.counts[key] += n;
  }

  /** Counts `key` and lists the change. */
  record(key: keyof ReconcileCounts, kind: ChangeKind, ref: string, detail: string): void {
    this.counts[key] += 1;
    this.note(kind, ref, detail);
  }

  /** Lists a change without counting it (a second line about a thing already counted). */
  note(kind: ChangeKind, ref: string, detail: string): void {
    if (this.changes.length < MAX_CHANGES) this.changes.push({ kind, ref, detail });
    else this.droppedChanges += 1;
  }

  error(ref: string, message: string): void {
    this.counts.errors += 1;
    if (this.errors.length < MAX_ERRORS) this.errors.push(`${ref}: ${message}`);
    this.note('error', ref, message);
  }

  snapshot(): TallySnapshot {
    return { counts: { ...this.counts }, changes: [...this.changes], errors: [...this.errors], droppedChanges: this.droppedChanges };
  }
}

/** The log line and CLI summary: every count, the window, the mode. */
export function summaryLine(report: Pick<ReconcileReport, 'counts' | 'durationMs' | 'window' | 'dryRun' | 'driftPolicy'>): string {
  // Reports written before a count existed lack it (the ingress shows the latest report, whatever its age).
  const c = { ...emptyCounts(), ...report.counts };
  return (
    `reconcile${report.dryRun ? ' (dry run)' : ''} ${report.window.from} → ${report.window.to} in ${(report.durationMs / 1000).toFixed(1)} s: ` +
    `checked ${c.checked}, created ${c.created}, updated ${c.updated}, ended ${c.ended}, repaired ${c.repaired}, ` +
    `orphans released ${c.orphansReleased}, upgraded ${c.upgraded}, customers synced ${c.customersSynced}, ` +
    `drift found ${c.driftFound}, drift removed ${c.driftRemoved} (policy ${report.driftPolicy}), ` +
    `skipped ${c.skipped}, errors ${c.errors}, webhook problems ${c.webhookProblems}`
  );
}
