/**
 * The comparisons reconcile makes, case by case: a record's spec against its grant's search
 * attributes, what a membership holds against Kisi, a Kisi assignment against the memberships that
 * could explain it, a customer record against their grants, a webhook against its last snapshot,
 * and the report's bounded tally.
 */
import type { GrantSpec } from '../../src/domain/grant-spec';
import { differsFrom } from '../../activities/customers';
import type { NexudusCoworker } from '../../src/domain/nexudus-entities';
import {
  compareWithGrant,
  deliveryEffect,
  holdsWindow,
  judgeAssignment,
  judgeHolding,
  servedSpan,
  stateOfCurrent,
  stateOfLegacy,
  wantsGrant,
  type HeldAssignment,
  type MembershipState,
  type MembershipView,
  type RunningGrant,
  type SeenAssignment,
} from '../../src/reconcile/compare';
import { disagreement } from '../../src/reconcile/customer-phase';
import { withDesks } from '../../src/reconcile/nexudus-phase';
import { MAX_CHANGES, MAX_ERRORS, Tally, isQuiet, emptyCounts } from '../../src/domain/reconcile-report';
import { isOurWebhook, webhookProblems } from '../../src/reconcile/webhook-phase';
import type { WebhookSnapshot } from '../../src/domain/reconcile-report';

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

describe('what a membership holds against Kisi', () => {
  const until = new Date(NOW + 2 * H).toISOString();
  const seen = (over: Partial<SeenAssignment> = {}): SeenAssignment => ({ id: 500, userId: 9, groupId: 103, validFrom: null, validUntil: until, createdAt: NOW - 2 * H, ...over });
  const state = (held: HeldAssignment | null, leases: MembershipState['leases'] = { 'booking-7': { from: new Date(NOW + H).toISOString(), until, requestSeq: 1 } }): MembershipState => ({ leases, held, needsAttention: false, lastError: null });
  const own = (over: Partial<HeldAssignment> = {}): HeldAssignment => ({ kind: 'own', assignmentId: 500, from: null, until, ...over });
  const relied = (over: Partial<HeldAssignment> = {}): HeldAssignment => ({ kind: 'relied', assignmentId: 500, from: null, until: null, ...over });

  test('own: there with the window written is fine; missing or another window asks for a repair', () => {
    expect(judgeHolding(own(), state(own()), seen(), NOW)).toEqual({ verdict: 'ok' });
    expect(judgeHolding(own(), state(own()), undefined, NOW)).toEqual({ verdict: 'repair', why: 'its own Kisi assignment 500 is missing' });
    const moved = judgeHolding(own(), state(own()), seen({ validUntil: new Date(NOW + 10 * H).toISOString() }), NOW);
    expect(moved).toMatchObject({ verdict: 'repair', why: expect.stringContaining('instead of') });
  });

  test('own windows: Kisi keeps whole seconds; a start already passed is the same as an open one', () => {
    const capped = new Date(NOW + 7 * 24 * H + 123).toISOString(); // a capped write carries milliseconds
    expect(holdsWindow(seen({ validUntil: new Date(NOW + 7 * 24 * H).toISOString() }), { from: null, until: capped }, NOW)).toBe(true);
    expect(holdsWindow(seen({ validUntil: new Date(NOW + 7 * 24 * H + 1000).toISOString() }), { from: null, until: capped }, NOW)).toBe(false);
    expect(holdsWindow(seen({ validFrom: null }), { from: new Date(NOW - H).toISOString(), until }, NOW)).toBe(true);
    expect(holdsWindow(seen({ validFrom: null }), { from: new Date(NOW + H).toISOString(), until }, NOW)).toBe(false);
    expect(holdsWindow(seen({ validFrom: null, validUntil: null }), { from: null, until }, NOW)).toBe(false);
    expect(holdsWindow(seen({ validFrom: '2026-06-01T13:00:00.000Z' }), { from: '2026-06-01T13:00:00.000Z', until }, NOW)).toBe(true);
  });

  test('relied on: fine while it covers the live span of leases; gone or narrowed asks the membership to write its own', () => {
    expect(judgeHolding(relied(), state(relied()), seen({ validFrom: null, validUntil: null }), NOW)).toEqual({ verdict: 'ok' });
    expect(judgeHolding(relied(), state(relied()), seen({ validFrom: null, validUntil: new Date(NOW + 5 * H).toISOString() }), NOW)).toEqual({ verdict: 'ok' });
    expect(judgeHolding(relied(), state(relied()), undefined, NOW)).toEqual({ verdict: 'repair', why: 'the Kisi assignment 500 it relies on (not ours) is gone' });
    const narrowed = judgeHolding(relied(), state(relied()), seen({ validFrom: null, validUntil: new Date(NOW + H + 60_000).toISOString() }), NOW);
    expect(narrowed).toMatchObject({ verdict: 'repair', why: expect.stringContaining('less than its leases need') });
    // A start in the past is open either way: a relied-on assignment from later than that but before now covers.
    const started = state(relied(), { 'pass-1': { from: new Date(NOW - 5 * H).toISOString(), until: null, requestSeq: 1 } });
    expect(judgeHolding(relied(), started, seen({ validFrom: new Date(NOW - H).toISOString(), validUntil: null }), NOW)).toEqual({ verdict: 'ok' });
    expect(judgeHolding(relied(), started, seen({ validFrom: new Date(NOW - H).toISOString(), validUntil: until }), NOW)).toMatchObject({ verdict: 'repair' });
  });

  test('a legacy status reads as an own assignment; a current one keeps own or relied', () => {
    const legacy = stateOfLegacy({ customerId: 42, groupId: 103, kisiUserId: 9, leases: { 'booking-7': { from: null, until, requestSeq: 3 } }, assignment: { id: 500, from: null, until }, needsAttention: false, lastError: null });
    expect(legacy).toEqual({ leases: { 'booking-7': { from: null, until, requestSeq: 3 } }, held: { kind: 'own', assignmentId: 500, from: null, until }, needsAttention: false, lastError: null });
    // A worker from before request numbers answered without them.
    expect(stateOfLegacy({ customerId: 42, groupId: 103, kisiUserId: 9, leases: { 'booking-7': { from: null, until } } as never, assignment: null, needsAttention: false, lastError: null }).leases['booking-7']!.requestSeq).toBe(0);
    const current = stateOfCurrent({ v: 2, kisiUserId: 9, groupId: 103, leases: { 'booking-7': { customerId: 42, from: null, until, requestSeq: 3 } }, holding: { kind: 'relied', assignmentId: 77, from: null, until: null, renewAt: null }, needsAttention: false, lastError: null });
    expect(current.held).toEqual({ kind: 'relied', assignmentId: 77, from: null, until: null });
    expect(current.leases['booking-7']).toEqual({ from: null, until, requestSeq: 3 });
  });

  test('the span served is the earliest live one', () => {
    const leases = { a: { from: new Date(NOW - 3 * H).toISOString(), until: new Date(NOW - H).toISOString(), requestSeq: 1 }, b: { from: new Date(NOW + H).toISOString(), until, requestSeq: 1 } };
    expect(servedSpan(state(null, leases), NOW)).toEqual({ from: NOW + H, until: NOW + 2 * H });
    expect(servedSpan(state(null, {}), NOW)).toBeNull();
  });
});

describe('Kisi assignments against memberships', () => {
  const seen = (over: Partial<SeenAssignment> = {}): SeenAssignment => ({ id: 500, userId: 9, groupId: 103, validFrom: null, validUntil: null, createdAt: NOW - 2 * H, ...over });
  const lease = { 'booking-7': { from: null, until: new Date(NOW + 2 * H).toISOString(), requestSeq: 1 } };
  const view = (held: HeldAssignment | null, over: Partial<MembershipState> = {}, id = 'membership-user-9-103'): MembershipView => ({
    workflowId: id,
    legacy: !id.startsWith('membership-user-'),
    groupId: 103,
    kisiUserId: 9,
    state: { leases: lease, held, needsAttention: false, lastError: null, ...over },
  });
  const options = { now: NOW, graceMs: 5 * 60_000 };
  const none = new Set<string>();

  test('held by a membership, own or relied on (a hand-made permanent one serving a booking), current or legacy: explained', () => {
    const ours = view({ kind: 'own', assignmentId: 500, from: null, until: null });
    expect(judgeAssignment(seen(), [ours], [ours], none, options)).toEqual({ verdict: 'explained', by: 'membership-user-9-103' });
    const relying = view({ kind: 'relied', assignmentId: 500, from: null, until: null });
    expect(judgeAssignment(seen(), [relying], [relying], none, options)).toEqual({ verdict: 'explained', by: 'membership-user-9-103' });
    const legacy = view({ kind: 'own', assignmentId: 500, from: null, until: null }, {}, 'membership-42-103');
    expect(judgeAssignment(seen(), [legacy], [legacy], none, options)).toEqual({ verdict: 'explained', by: 'membership-42-103' });
  });

  test('nobody holds it: drift by name of what is missing, unless created within the grace period', () => {
    expect(judgeAssignment(seen(), [], [], none, options)).toMatchObject({ verdict: 'drift', why: 'no-membership' });
    expect(judgeAssignment(seen({ createdAt: NOW - 60_000 }), [], [], none, options)).toMatchObject({ verdict: 'skip' });
    const extra = view({ kind: 'own', assignmentId: 400, from: null, until: null });
    expect(judgeAssignment(seen(), [], [extra], none, options)).toEqual({ verdict: 'drift', why: 'extra', detail: 'extra next to assignment 400 held by membership-user-9-103' });
    const idle = view(null, { leases: {} });
    expect(judgeAssignment(seen(), [], [idle], none, options)).toMatchObject({ verdict: 'drift', why: 'no-lease' });
  });

  test('a membership of that user and group in flux is not second-guessed: it may be about to rely on it', () => {
    const extra = view({ kind: 'own', assignmentId: 400, from: null, until: null });
    expect(judgeAssignment(seen(), [], [extra], new Set([extra.workflowId]), options)).toMatchObject({ verdict: 'skip', why: expect.stringContaining('compares with Kisi again') });
    expect(judgeAssignment(seen(), [], [view(null)], none, options)).toMatchObject({ verdict: 'skip', why: expect.stringContaining('applying its leases') });
    expect(judgeAssignment(seen(), [], [view(null, { needsAttention: true })], none, options)).toMatchObject({ verdict: 'skip', why: expect.stringContaining('needs attention') });
    expect(judgeAssignment(seen(), [], [{ ...view(null), state: null }], none, options)).toMatchObject({ verdict: 'skip', why: expect.stringContaining('status query') });
  });
});

describe('customers against their grants', () => {
  const coworker = (over: Partial<NexudusCoworker> = {}): NexudusCoworker => ({ Id: 42, FullName: 'Ada', Email: 'Ada@Example.com', Active: true, UpdatedOn: '2026-06-01T10:00:00Z', ...over }) as NexudusCoworker;
  const deps = { emailKey: (e: string) => e, differsFrom };

  test('agreeing grants cost nothing; a dormant cancelled or revoked grant is not compared', () => {
    expect(disagreement([grant({ customerEmail: 'ada@example.com' })], coworker(), deps)).toBeNull();
    expect(disagreement([grant({ customerEmail: 'old@example.com', state: 'cancelled' }), grant({ workflowId: 'booking-8', customerEmail: 'old@example.com', state: 'revoked' })], coworker(), deps)).toBeNull();
  });

  test('another email key: the access sits on the wrong Kisi user', () => {
    expect(disagreement([grant({ customerEmail: 'old@example.com' })], coworker(), deps)).toBe('booking-7 holds its access on the Kisi user of another email (the customer\'s email is now ada@example.com)');
    // Compared as the CustomerEmail attribute holds it (a keyed hash when payloads are keyed).
    const keyed = { emailKey: (e: string) => `k:${e}`, differsFrom };
    expect(disagreement([grant({ customerEmail: 'k:ada@example.com' })], coworker(), keyed)).toBeNull();
    // A grant that has not learnt an email yet is compared on the active state only.
    expect(disagreement([grant({ customerEmail: null })], coworker(), deps)).toBeNull();
  });

  test('deactivated: every grant not suspended disagrees (its email no longer matters); reactivated: a suspended one does', () => {
    expect(disagreement([grant({ customerEmail: 'old@example.com' })], coworker({ Active: false }), deps)).toBe('booking-7 is granted but the customer is inactive in Nexudus');
    expect(disagreement([grant({ state: 'suspended', customerEmail: 'old@example.com' })], coworker({ Active: false }), deps)).toBeNull();
    expect(disagreement([grant({ state: 'suspended', customerEmail: 'ada@example.com' })], coworker(), deps)).toBe('booking-7 is suspended but the customer is active in Nexudus');
  });

  test('a customer Nexudus no longer lists, with grants still running', () => {
    expect(disagreement([grant(), grant({ workflowId: 'contract-3' })], undefined, deps)).toBe("not in Nexudus' customer list (deleted?) while booking-7, contract-3 still run");
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
