/**
 * The comparisons reconcile makes, case by case: a record's spec against its grant's search
 * attributes, a Kisi assignment against its membership, a webhook against its last snapshot, and
 * the report's bounded tally.
 */
import type { GrantSpec } from '../../src/domain/grant-spec';
import { assignmentMatches, compareWithGrant, deliveryEffect, judgeAssignment, wantsGrant, type MembershipView, type RunningGrant, type SeenAssignment } from '../../src/reconcile/compare';
import { withDesks } from '../../src/reconcile/nexudus-phase';
import { MAX_CHANGES, MAX_ERRORS, Tally, isQuiet, emptyCounts } from '../../src/reconcile/report';
import { isOurWebhook, webhookProblems } from '../../src/reconcile/webhook-phase';
import type { WebhookSnapshot } from '../../src/reconcile/report';

const NOW = Date.parse('2026-06-01T12:00:00Z');

function hook(over: Partial<WebhookSnapshot>): WebhookSnapshot {
  return { id: 1, name: 'bookings', action: '6', url: 'https://access.example.com/webhooks/nexudus/BookingCreate', active: true, errorCount: 0, lastError: null, lastTrigger: null, ...over };
}
const H = 3_600_000;

function spec(over: Partial<GrantSpec> = {}): GrantSpec {
  return {
    kind: 'booking',
    sourceId: 7,
    customerId: 42,
    customerName: null,
    customerEmail: null,
    version: null,
    lifecycle: 'active',
    endedReason: null,
    window: { from: NOW + H, until: NOW + 2 * H },
    groups: [103],
    label: 'Room',
    ...over,
  };
}

function grant(over: Partial<RunningGrant> = {}): RunningGrant {
  return { workflowId: 'booking-7', kind: 'booking', sourceId: 7, customerId: 42, customerEmail: 'a@x', groups: [103], state: 'granted', startsAt: NOW + H, endsAt: NOW + 2 * H, ...over };
}

describe('records against grants', () => {
  test('a record wants a grant while it maps to Kisi and its window is not over', () => {
    expect(wantsGrant(spec(), NOW)).toBe(true);
    expect(wantsGrant(spec({ groups: [] }), NOW)).toBe(false);
    expect(wantsGrant(spec({ window: { from: NOW - 3 * H, until: NOW - H } }), NOW)).toBe(false);
    expect(wantsGrant(spec({ lifecycle: 'ended', window: null }), NOW)).toBe(false);
    expect(wantsGrant(spec({ lifecycle: 'tentative' }), NOW)).toBe(true);
    expect(wantsGrant(spec({ window: { from: null, until: null } }), NOW)).toBe(true);
  });

  test('same customer, groups and window (to the second): same', () => {
    expect(compareWithGrant(spec(), grant())).toEqual({ verdict: 'same' });
    expect(compareWithGrant(spec(), grant({ startsAt: NOW + H + 400, groups: [103, 103] }))).toEqual({ verdict: 'same' });
  });

  test.each([
    ['ended record', spec({ lifecycle: 'ended', endedReason: 'deleted', window: null }), grant(), /record deleted/],
    ['other customer', spec({ customerId: 43 }), grant(), /customer 42 → 43/],
    ['other groups', spec({ groups: [101, 103] }), grant(), /groups \[103\] → \[101,103\]/],
    ['later end', spec({ window: { from: NOW + H, until: NOW + 3 * H } }), grant(), /^ends /],
    ['end now open', spec({ window: { from: NOW + H, until: null } }), grant(), /→ open$/],
    ['earlier start', spec({ window: { from: NOW, until: NOW + 2 * H } }), grant(), /^starts /],
    ['became tentative', spec({ lifecycle: 'tentative' }), grant({ state: 'granted' }), /tentative/],
  ])('%s: differs', (_name, s, g, why) => {
    const result = compareWithGrant(s, g);
    expect(result.verdict).toBe('differs');
    expect(result.verdict === 'differs' && result.why).toMatch(why);
  });

  test('an open start is not compared (the grant publishes its own start time for it)', () => {
    expect(compareWithGrant(spec({ kind: 'pass', window: { from: null, until: NOW + 2 * H } }), grant({ startsAt: NOW - 5 * H }))).toEqual({ verdict: 'same' });
  });

  test("a grant still 'scheduled' is asked whether it waits for a tentative booking", () => {
    expect(compareWithGrant(spec(), grant({ state: 'scheduled' }))).toEqual({ verdict: 'ask-lifecycle' });
    expect(compareWithGrant(spec({ lifecycle: 'tentative' }), grant({ state: 'scheduled' }))).toEqual({ verdict: 'ask-lifecycle' });
    expect(compareWithGrant(spec(), grant({ state: 'needs-attention' }))).toEqual({ verdict: 'same' });
  });

  test('a delivery that leaves nothing to grant counts as ended', () => {
    expect(deliveryEffect(spec({ lifecycle: 'ended', window: null }), NOW)).toBe('ended');
    expect(deliveryEffect(spec({ window: { from: NOW - 5 * H, until: NOW - H } }), NOW)).toBe('ended');
    expect(deliveryEffect(spec({ window: { from: NOW - 5 * H, until: NOW + H } }), NOW)).toBe('updated');
  });

  test('contract desks: those the record carries plus those the floor plan names, once', () => {
    const c = { Id: 1, CoworkerId: 2, StartDate: '2026-01-01T00:00:00Z', Desks: [{ Id: 10, Name: 'D' }, 11] };
    expect(withDesks(c, [11, 12]).Desks).toEqual([10, 11, 12]);
    expect(withDesks({ ...c, Desks: undefined }, [12]).Desks).toEqual([12]);
  });
});

describe('Kisi assignments against memberships', () => {
  const seen = (over: Partial<SeenAssignment> = {}): SeenAssignment => ({ id: 500, userId: 9, groupId: 103, validFrom: null, validUntil: new Date(NOW + 2 * H).toISOString(), createdAt: NOW - 2 * H, ...over });
  const view = (assignment: { id: number; from: string | null; until: string | null } | null, over: Partial<NonNullable<MembershipView['status']>> = {}): MembershipView => ({
    workflowId: 'membership-42-103',
    customerId: 42,
    groupId: 103,
    status: { customerId: 42, groupId: 103, kisiUserId: 9, leases: { 'booking-7': { from: null, until: null, requestSeq: 1 } }, assignment, needsAttention: false, lastError: null, ...over },
  });
  const options = { now: NOW, graceMs: 5 * 60_000 };
  const all = () => true;

  test('the assignment the membership applied is explained', () => {
    expect(judgeAssignment(seen(), view({ id: 500, from: null, until: null }), all, options)).toEqual({ verdict: 'explained' });
  });

  test('no membership: drift, unless created within the grace period', () => {
    expect(judgeAssignment(seen(), undefined, all, options)).toMatchObject({ verdict: 'drift', why: 'no-membership' });
    expect(judgeAssignment(seen({ createdAt: NOW - 60_000 }), undefined, all, options)).toMatchObject({ verdict: 'skip' });
  });

  test('an extra next to the applied one is drift; when the applied one is missing the membership repairs instead', () => {
    expect(judgeAssignment(seen(), view({ id: 400, from: null, until: null }), all, options)).toMatchObject({ verdict: 'drift', why: 'duplicate' });
    expect(judgeAssignment(seen(), view({ id: 400, from: null, until: null }), (id) => id !== 400, options)).toEqual({ verdict: 'membership-repairs' });
  });

  test('a membership in flux or needing attention is not judged', () => {
    expect(judgeAssignment(seen(), view(null), all, options)).toMatchObject({ verdict: 'skip' });
    expect(judgeAssignment(seen(), view({ id: 400, from: null, until: null }, { needsAttention: true }), all, options)).toMatchObject({ verdict: 'skip' });
    expect(judgeAssignment(seen(), { ...view(null), status: null }, all, options)).toMatchObject({ verdict: 'skip' });
    expect(judgeAssignment(seen(), view(null, { leases: {} }), all, options)).toMatchObject({ verdict: 'drift', why: 'no-lease' });
  });

  test('windows: same end, and the same start unless both are already past', () => {
    const until = new Date(NOW + 2 * H).toISOString();
    expect(assignmentMatches(seen({ validFrom: null, validUntil: until }), { id: 500, from: new Date(NOW - H).toISOString(), until }, NOW)).toBe(true);
    expect(assignmentMatches(seen({ validFrom: null, validUntil: until }), { id: 500, from: new Date(NOW + H).toISOString(), until }, NOW)).toBe(false);
    expect(assignmentMatches(seen({ validFrom: null, validUntil: null }), { id: 500, from: null, until }, NOW)).toBe(false);
    expect(assignmentMatches(seen({ validFrom: '2026-06-01T13:00:00.000Z', validUntil: until }), { id: 500, from: '2026-06-01T13:00:00.000Z', until }, NOW)).toBe(true);
  });
});

describe('webhooks and the tally', () => {
  test('ours are the ones pointing at the receiver; disabled and rising error counts are problems', () => {
    expect(isOurWebhook('https://access.example.com/webhooks/nexudus/BookingCreate')).toBe(true);
    expect(isOurWebhook('https://crm.example.com/hooks')).toBe(false);
    const w = hook({ active: true, errorCount: 2 });
    expect(webhookProblems(w, hook({ errorCount: 2 }))).toEqual([]);
    expect(webhookProblems(w, undefined)).toEqual(['ErrorCount rose from 0 to 2']);
    expect(webhookProblems(hook({ active: false, errorCount: 0 }), undefined)).toEqual([expect.stringContaining('disabled')]);
  });

  test('counts stay exact while the listed changes are capped', () => {
    const tally = new Tally();
    for (let i = 0; i < MAX_CHANGES + 5; i++) tally.record('created', 'created', `booking-${i}`, 'x');
    expect(tally.counts.created).toBe(MAX_CHANGES + 5);
    expect(tally.changes).toHaveLength(MAX_CHANGES);
    expect(tally.droppedChanges).toBe(5);
    const resumed = new Tally(tally.snapshot());
    expect(resumed.counts.created).toBe(MAX_CHANGES + 5);
    expect(isQuiet(emptyCounts())).toBe(true);
    expect(isQuiet({ ...emptyCounts(), checked: 9 })).toBe(true);
    expect(isQuiet(resumed.counts)).toBe(false);
  });

  test('a run adds up its phases with the same caps: counts exact, changes capped with the rest counted as dropped, errors capped', () => {
    const phase = (n: number, dropped: number) => {
      const t = new Tally();
      for (let i = 0; i < n; i++) t.error(`booking-${i}`, 'refused');
      t.droppedChanges += dropped;
      return t.snapshot();
    };
    const run = new Tally();
    run.absorb(phase(MAX_CHANGES - 10, 0));
    run.absorb(phase(30, 4));
    expect(run.counts.errors).toBe(MAX_CHANGES + 20);
    expect(run.changes).toHaveLength(MAX_CHANGES);
    // 20 changes of the second phase did not fit, and it had dropped 4 itself.
    expect(run.droppedChanges).toBe(24);
    expect(run.errors).toHaveLength(MAX_ERRORS);
    run.error('kisi', 'phase failed: Kisi refused the key');
    expect(run.counts.errors).toBe(MAX_CHANGES + 21);
    expect(run.errors).toHaveLength(MAX_ERRORS);
  });
});
