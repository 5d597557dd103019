/**
 * Text for people: the backfill progress bar and the final summary (with, for a dry run, the
 * list of what would change). Pure, so the CLI stays thin and the text is tested.
 */
import type { PhaseCheckpoint } from './progress';
import { COUNT_KEYS, emptyCounts, isQuiet, summaryLine, type ChangeKind, type ReconcileReport } from '../domain/reconcile-report';
import type { ReconcileProgress } from '../contract/reconcile';

const BAR_WIDTH = 24;

function bar(fraction: number): string {
  const clamped = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(clamped * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}]`;
}

/**
 * One line: overall position by phase, and inside the running phase what its last heartbeat
 * said (`bookings 1200/5000 comparing bookings with their grants`).
 */
export function renderProgress(progress: ReconcileProgress, running: PhaseCheckpoint | undefined, elapsedMs: number): string {
  const total = Math.max(1, progress.phases.length);
  const inPhase = running && running.phase === progress.phase && running.total > 0 ? running.done / running.total : 0;
  const overall = progress.phase === 'done' ? 1 : (progress.finished + inPhase) / total;
  const counts = running && running.phase === progress.phase ? addTally(progress, running) : progress.counts;
  const phaseText =
    progress.phase === 'done'
      ? 'done'
      : `${progress.phase} (${Math.min(progress.finished + 1, total)}/${total})${running && running.phase === progress.phase ? `: ${running.step}${running.total > 0 ? ` ${running.done}/${running.total}` : ''}` : ''}`;
  const tallies = `created ${counts.created}, updated ${counts.updated}, ended ${counts.ended}, repaired ${counts.repaired}, customers synced ${counts.customersSynced}, drift ${counts.driftFound}, errors ${counts.errors}`;
  return `${bar(overall)} ${Math.round(overall * 100)
    .toString()
    .padStart(3)}% ${formatElapsed(elapsedMs)} ${phaseText} | ${tallies}`;
}

function addTally(progress: ReconcileProgress, running: PhaseCheckpoint) {
  const out = { ...emptyCounts(), ...progress.counts };
  for (const key of COUNT_KEYS) out[key] += running.tally.counts[key] ?? 0;
  return out;
}

function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

const HEADINGS: Array<[ChangeKind, string, string]> = [
  ['created', 'Grants started', 'Grants that would be started'],
  ['updated', 'Grants told a changed record', 'Grants that would be told a changed record'],
  ['ended', 'Grants ended', 'Grants that would be ended'],
  ['repaired', 'Memberships asked to compare with Kisi again', 'Memberships that would be asked to compare with Kisi again'],
  ['orphan-released', 'Orphaned leases given back', 'Orphaned leases that would be given back'],
  ['upgraded', 'Grants on legacy memberships woken to move onto the current code', 'Grants on legacy memberships that would be woken'],
  ['customer-sync', 'Customers synced (their grants disagreed with their record)', 'Customers that would be synced (their grants disagree with their record)'],
  ['drift', 'Drift in Kisi (no membership holds or relies on it)', 'Drift in Kisi (no membership holds or relies on it)'],
  ['drift-removed', 'Drift removed', 'Drift that would be removed'],
  ['webhook-problem', 'Nexudus webhook problems', 'Nexudus webhook problems'],
  ['skipped', 'Left alone', 'Left alone'],
  ['error', 'Errors', 'Errors'],
];

/** The final summary: the counts line, then every listed change grouped by kind. */
export function formatReport(report: ReconcileReport): string {
  const lines = [summaryLine(report), `workflow ${report.workflowId} (${report.trigger}, KISI_DRIFT=${report.driftPolicy})`];
  for (const [kind, done, dry] of HEADINGS) {
    const items = report.changes.filter((c) => c.kind === kind);
    if (items.length === 0) continue;
    lines.push('', `${report.dryRun ? dry : done} (${items.length}):`);
    for (const item of items) lines.push(`  ${item.ref}: ${item.detail}`);
  }
  if (report.droppedChanges > 0) lines.push('', `... and ${report.droppedChanges} more changes not listed (the counts above are exact)`);
  if (isQuiet(report.counts)) lines.push('', `In step: Nexudus, the grants and Kisi agree (${report.counts.checked} checked)${report.dryRun ? '; nothing would change' : ''}.`);
  else if (report.dryRun) lines.push('', 'Dry run: nothing was started, signalled or removed.');
  return lines.join('\n');
}
