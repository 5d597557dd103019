/**
 * The report as `npm run backfill` prints it: counts first, then each kind of change under its
 * heading (worded for a dry run when it was one), and one line saying so when nothing differed.
 */
import { formatReport } from '../../src/reconcile/format';
import { emptyCounts, type ReconcileReport } from '../../src/domain/reconcile-report';

function report(over: Partial<ReconcileReport> = {}): ReconcileReport {
  return {
    workflowId: 'reconcile-backfill-1',
    trigger: 'backfill',
    dryRun: false,
    driftPolicy: 'report',
    window: { from: '2026-03-01T00:00:00.000Z', to: '2026-03-02T00:00:00.000Z' },
    startedAt: '2026-03-01T12:00:00.000Z',
    finishedAt: '2026-03-01T12:00:04.000Z',
    durationMs: 4_000,
    counts: { ...emptyCounts(), checked: 12 },
    phases: [],
    changes: [],
    droppedChanges: 0,
    errors: [],
    webhooks: [],
    ...over,
  };
}

test('a run that found everything in step says so, with how much it checked', () => {
  const text = formatReport(report());
  expect(text.split('\n')[0]).toMatch(/^reconcile 2026-03-01T00:00:00.000Z → 2026-03-02T00:00:00.000Z in 4.0 s: checked 12, created 0/);
  expect(text).toContain('In step: Nexudus, the grants and Kisi agree (12 checked).');
  expect(formatReport(report({ dryRun: true }))).toContain('In step: Nexudus, the grants and Kisi agree (12 checked); nothing would change.');
});

test('changes are listed under their heading, worded for a dry run; no "in step" line then', () => {
  const changed = report({ counts: { ...emptyCounts(), checked: 12, created: 1, driftFound: 1 }, changes: [
    { kind: 'created', ref: 'booking-7', detail: 'started the grant' },
    { kind: 'drift', ref: 'kisi assignment 9', detail: 'user 5 in group 2' },
  ] });
  const text = formatReport(changed);
  expect(text).toContain('Grants started (1):\n  booking-7: started the grant');
  expect(text).toContain('Drift in Kisi (no membership holds or relies on it) (1):\n  kisi assignment 9: user 5 in group 2');
  expect(text).not.toContain('In step');
  const dry = formatReport({ ...changed, dryRun: true });
  expect(dry).toContain('Grants that would be started (1):');
  expect(dry).toContain('Dry run: nothing was started, signalled or removed.');
});

test('a skipped record or a webhook problem is not "in step"', () => {
  expect(formatReport(report({ counts: { ...emptyCounts(), checked: 3, skipped: 1 } }))).not.toContain('In step');
  expect(formatReport(report({ counts: { ...emptyCounts(), checked: 3, webhookProblems: 1 } }))).not.toContain('In step');
});

test('a report written before a count existed reads it as 0 (the ingress shows the latest report, whatever its age)', () => {
  const { upgraded: _u, customersSynced: _c, ...older } = { ...emptyCounts(), checked: 4 };
  const text = formatReport(report({ counts: older as never }));
  expect(text).toContain('upgraded 0, customers synced 0,');
  expect(text).toContain('In step: Nexudus, the grants and Kisi agree (4 checked).');
});
