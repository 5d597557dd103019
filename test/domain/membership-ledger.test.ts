/**
 * The membership side of the lease protocol as plain code: table-driven cases for each rule, and
 * randomized orders of events (fast-check) for the invariants: no lease lost, no stale request
 * applied, and Kisi serving exactly the earliest live span of the leases (within KISI_MAX_VALIDITY).
 */
import fc from 'fast-check';
import type { LeaseRequest } from '../../src/contract/membership';
import { cappedWrite, covers, MembershipLedger, type SyncOutcome, type SyncPlan } from '../../src/domain/membership-ledger';
import { liveSpans, sameEffect } from '../../src/domain/leases';

const H = 3_600_000;
const DAY = 24 * H;
const NOW = Date.UTC(2026, 11, 5, 9);
const WEEK = 7 * DAY;

const req = (leaseId: string, from: number | null, until: number | null, requestSeq = 1, over: Partial<LeaseRequest> = {}): LeaseRequest => ({
  leaseId,
  customerId: 42,
  window: { from, until },
  requestSeq,
  maxValidityMs: WEEK,
  ...over,
});

/** Runs the plan against a Kisi that does what is asked, as the activity would. */
function kisiDoes(l: MembershipLedger, now: number, outcome?: (plan: SyncPlan) => SyncOutcome): SyncPlan | null {
  const plan = l.syncPlan(now);
  if (!plan) return null;
  const index = plan.targets.findIndex((t) => t.span.until === null || t.span.until > now);
  l.synced(plan, outcome ? outcome(plan) : index < 0 ? { kind: 'none' } : { kind: 'own', assignmentId: plan.own?.assignmentId ?? 900, target: index });
  return plan;
}

describe('membership ledger', () => {
  test('a first lease: one write of its window; the holder hears applied once', () => {
    const l = MembershipLedger.fresh(7, 103);
    expect(l.id).toBe('membership-user-7-103');
    expect(l.request(req('booking-1', NOW + H, NOW + 2 * H))).toBe(true);
    const plan = kisiDoes(l, NOW)!;
    expect(plan).toMatchObject({ kisiUserId: 7, groupId: 103, own: null, mayRely: true, targets: [{ write: { from: NOW + H, until: NOW + 2 * H }, renewAt: null }] });
    expect(l.updates(NOW)).toEqual([expect.objectContaining({ holder: 'booking-1', update: expect.objectContaining({ status: 'applied', membershipId: 'membership-user-7-103', requestSeq: 1 }) })]);
    expect(l.updates(NOW)).toEqual([]);
    expect(l.syncPlan(NOW)).toBeNull();
  });

  test('late copies: a request at or below the last return, or below the held one, is ignored', () => {
    const l = MembershipLedger.fresh(7, 103);
    l.request(req('booking-1', NOW, NOW + H, 5));
    expect(l.request(req('booking-1', NOW, NOW + 3 * H, 4))).toBe(false);
    expect(l.giveBack({ leaseId: 'booking-1', requestSeq: 5, confirm: true })).toBe(true);
    expect(l.request(req('booking-1', NOW, NOW + H, 5))).toBe(false);
    expect(l.request(req('booking-1', NOW, NOW + H, 6))).toBe(true);
    // A return older than the held request does not end it.
    expect(l.giveBack({ leaseId: 'booking-1', requestSeq: 5, confirm: true })).toBe(false);
    expect(Object.keys(l.data.leases)).toEqual(['booking-1']);
  });

  test.each([
    ['confirmed', true, ['released']],
    ['not confirmed (the window ended by itself)', false, []],
  ])('a return, %s: ours is deleted, and what the holder hears follows', (_label, confirm, heard) => {
    const l = MembershipLedger.fresh(7, 103);
    l.request(req('booking-1', NOW - H, NOW + H));
    kisiDoes(l, NOW);
    l.updates(NOW);
    l.giveBack({ leaseId: 'booking-1', requestSeq: 1, confirm });
    const plan = kisiDoes(l, NOW)!;
    expect(plan.targets).toEqual([]);
    expect(plan.own).toMatchObject({ assignmentId: 900 });
    expect(l.updates(NOW).map((u) => u.update.status)).toEqual(heard);
    expect(l.finished()).toBe(true);
  });

  test('touching leases are one span; a later span waits and follows when the first ends', () => {
    const l = MembershipLedger.fresh(7, 103);
    l.request(req('booking-1', NOW + H, NOW + 2 * H));
    l.request(req('booking-2', NOW + 2 * H, NOW + 3 * H));
    l.request(req('booking-3', NOW + 5 * H, NOW + 6 * H));
    kisiDoes(l, NOW);
    expect(l.data.holding?.span).toEqual({ from: NOW + H, until: NOW + 3 * H });
    expect(l.updates(NOW).map((u) => [u.holder, u.update.status])).toEqual([
      ['booking-1', 'applied'],
      ['booking-2', 'applied'],
    ]);
    expect(l.nextWake(NOW)).toBe(NOW + 3 * H);
    const plan = kisiDoes(l, NOW + 3 * H)!;
    expect(plan.own).toMatchObject({ assignmentId: 900 }); // moved, not a second assignment
    expect(l.data.holding?.span).toEqual({ from: NOW + 5 * H, until: NOW + 6 * H });
    expect(l.updates(NOW + 3 * H).map((u) => [u.holder, u.update.status])).toEqual([['booking-3', 'applied']]);
  });

  test('an earlier span arriving displaces the served one: its holders hear waiting', () => {
    const l = MembershipLedger.fresh(7, 103);
    l.request(req('booking-late', NOW + 5 * H, NOW + 6 * H));
    kisiDoes(l, NOW);
    l.updates(NOW);
    l.request(req('booking-early', NOW + H, NOW + 2 * H));
    kisiDoes(l, NOW);
    expect(l.updates(NOW).map((u) => [u.holder, u.update.status])).toEqual([
      ['booking-late', 'waiting'],
      ['booking-early', 'applied'],
    ]);
  });

  describe('assignments we did not create', () => {
    test('one that covers the span serves it, untouched; a changed span it still covers needs no Kisi call', () => {
      const l = MembershipLedger.fresh(7, 101);
      l.request(req('booking-1', NOW + H, NOW + 2 * H));
      const plan = kisiDoes(l, NOW, () => ({ kind: 'relied', assignmentId: 55, from: null, until: null, target: 0 }))!;
      expect(plan.mayRely).toBe(true);
      expect(l.data.holding).toMatchObject({ kind: 'relied', assignmentId: 55 });
      expect(l.updates(NOW).map((u) => u.update.status)).toEqual(['applied']);
      l.request(req('booking-1', NOW + H, NOW + 4 * H, 2));
      expect(l.adjust(NOW)).toBe(true);
      expect(l.syncPlan(NOW)).toBeNull();
      // Given back: nothing to delete, the hand-made one stays.
      l.giveBack({ leaseId: 'booking-1', requestSeq: 2, confirm: true });
      const removal = kisiDoes(l, NOW)!;
      expect(removal.own).toBeNull();
      expect(removal.targets).toEqual([]);
    });

    test('a lease moving off a legacy membership does not rely on one: it asks for its own', () => {
      const l = MembershipLedger.fresh(7, 101);
      l.request(req('contract-1', NOW - DAY, null, 1, { ownWrite: true }));
      expect(l.syncPlan(NOW)!.mayRely).toBe(false);
    });

    test('covers: a start already passed counts as open; an open end is covered only by an open end', () => {
      expect(covers({ from: null, until: null }, { from: NOW + H, until: null }, NOW)).toBe(true);
      expect(covers({ from: NOW - DAY, until: NOW + 3 * H }, { from: NOW - H, until: NOW + 2 * H }, NOW)).toBe(true);
      expect(covers({ from: NOW + 30 * 60_000, until: NOW + 3 * H }, { from: NOW - H, until: NOW + 2 * H }, NOW)).toBe(false);
      expect(covers({ from: null, until: NOW + 3 * H }, { from: NOW, until: null }, NOW)).toBe(false);
    });
  });

  describe('bounded validity', () => {
    test.each([
      ['a short window is written as it is', { from: NOW, until: NOW + 2 * H }, WEEK, { from: NOW, until: NOW + 2 * H }, null],
      ['an open-ended one ends a week ahead, renewed when a third is left', { from: null, until: null }, WEEK, { from: null, until: NOW + WEEK }, NOW + WEEK - Math.floor(WEEK / 3)],
      ['a future start counts from the start', { from: NOW + DAY, until: null }, WEEK, { from: NOW + DAY, until: NOW + DAY + WEEK }, NOW + DAY + WEEK - Math.floor(WEEK / 3)],
      ['0 keeps open-ended writes', { from: null, until: null }, 0, { from: null, until: null }, null],
    ])('%s', (_label, span, max, write, renewAt) => {
      expect(cappedWrite(span, NOW, max)).toEqual({ write, renewAt });
    });

    test('an open-ended lease is renewed at renewAt: same assignment, moved a week on', () => {
      const l = MembershipLedger.fresh(7, 101);
      l.request(req('contract-1', NOW - DAY, null));
      kisiDoes(l, NOW);
      const renewAt = l.data.holding!.renewAt!;
      expect(l.nextWake(NOW)).toBe(renewAt);
      expect(l.syncPlan(renewAt - 1)).toBeNull();
      const plan = kisiDoes(l, renewAt)!;
      expect(plan.own?.assignmentId).toBe(900);
      expect(l.data.holding!.until).toBe(renewAt + WEEK);
      // Holders heard applied once: renewals change nothing they see.
      expect(l.updates(renewAt).filter((u) => u.holder === 'contract-1').map((u) => u.update.status)).toEqual(['applied']);
    });
  });

  describe('failures', () => {
    test('Kisi refusing: holders hear failed once; a return waiting on it hears failed once; verify tries again', () => {
      const l = MembershipLedger.fresh(7, 103);
      l.request(req('booking-1', NOW, NOW + H));
      l.request(req('booking-2', NOW, NOW + H));
      l.giveBack({ leaseId: 'booking-2', requestSeq: 1, confirm: true });
      l.syncPlan(NOW);
      l.syncFailed('kisi POST /role_assignments: HTTP 422', null);
      expect(l.syncPlan(NOW)).toBeNull();
      expect(l.updates(NOW).map((u) => [u.holder, u.update.status])).toEqual([
        ['booking-1', 'failed'],
        ['booking-2', 'failed'],
      ]);
      expect(l.updates(NOW)).toEqual([]);
      expect(l.status().needsAttention).toBe(true);
      l.verify();
      kisiDoes(l, NOW);
      expect(l.updates(NOW).map((u) => [u.holder, u.update.status])).toEqual([
        ['booking-1', 'applied'],
        ['booking-2', 'released'],
      ]);
    });

    test('an outage: the automatic retry at retryAt lists before it writes', () => {
      const l = MembershipLedger.fresh(7, 103);
      l.request(req('booking-1', NOW, NOW + H));
      l.syncPlan(NOW);
      l.syncFailed('gave up after an hour', NOW + 10 * 60_000);
      expect(l.nextWake(NOW)).toBe(NOW + 10 * 60_000);
      expect(l.autoRetry(NOW + 5 * 60_000)).toBe(false);
      expect(l.autoRetry(NOW + 10 * 60_000)).toBe(true);
      expect(l.syncPlan(NOW + 10 * 60_000)?.verify).toBe(true);
    });

    test('a failed sync remembers the windows it may have written; the next sync carries them and clears them', () => {
      const l = MembershipLedger.fresh(7, 103);
      l.request(req('booking-1', NOW + H, NOW + 2 * H));
      l.request(req('booking-2', NOW + 5 * H, NOW + 6 * H));
      l.request(req('contract-3', NOW, null)); // open-ended: never taken back by window
      l.syncPlan(NOW);
      const failed = l.syncPlan(NOW)!;
      l.syncFailed('kisi POST /role_assignments: HTTP 503 (retries ran out)', null, failed);
      expect(l.data.unknownWrites).toEqual([
        { from: NOW, until: NOW + WEEK }, // the open-ended lease's capped write is bounded: ours by window
      ]);
      // The contract given back clears the attention; the next sync lists first and knows the window written.
      l.giveBack({ leaseId: 'contract-3', requestSeq: 1, confirm: true });
      const plan = l.syncPlan(NOW)!;
      expect(plan.unknown).toEqual([{ from: NOW, until: NOW + WEEK }]);
      l.synced(plan, { kind: 'own', assignmentId: 901, target: 0 });
      expect(l.data.unknownWrites).toEqual([]);
      expect(l.syncPlan(NOW)).toBeNull();
    });

    test('unknown writes alone make a sync needed only when the sweep is on (patched)', () => {
      const l = MembershipLedger.fresh(7, 103);
      l.request(req('booking-1', NOW + H, NOW + 2 * H));
      const failed = l.syncPlan(NOW)!;
      l.syncFailed('gave up after an hour', NOW + 10 * 60_000, failed);
      // The booking was cancelled meanwhile: nothing is held, nothing is known in Kisi.
      l.giveBack({ leaseId: 'booking-1', requestSeq: 1, confirm: true });
      let asked = 0;
      expect(l.syncPlan(NOW, { sweepUnknown: () => (asked++, false) })).toBeNull(); // a run from before the patch
      expect(asked).toBe(1);
      const sweep = l.syncPlan(NOW, { sweepUnknown: () => true })!;
      expect(sweep).toMatchObject({ own: null, targets: [], unknown: [{ from: NOW + H, until: NOW + 2 * H }] });
      l.synced(sweep, { kind: 'none' });
      expect(l.syncPlan(NOW, { sweepUnknown: () => true })).toBeNull();
      expect(l.updates(NOW).map((u) => [u.holder, u.update.status])).toEqual([['booking-1', 'released']]);
      expect(l.finished()).toBe(true);
      // Asked only where it decides: a sync needed anyway does not ask.
      asked = 0;
      l.request(req('booking-1', NOW + H, NOW + 3 * H, 2));
      l.syncPlan(NOW, { sweepUnknown: () => (asked++, true) });
      expect(asked).toBe(0);
    });

    test('a holder that no longer exists loses its lease', () => {
      const l = MembershipLedger.fresh(7, 103);
      l.request(req('booking-1', NOW, NOW + H));
      kisiDoes(l, NOW);
      l.holderGone('booking-1');
      expect(kisiDoes(l, NOW)!.targets).toEqual([]);
      expect(l.finished()).toBe(true);
    });
  });
});

// ---- randomized orders ------------------------------------------------------------------------

type Event = { type: 'request'; lease: number; seq: number; from: number; length: number } | { type: 'return'; lease: number; seq: number } | { type: 'tick'; by: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ type: fc.constant('request' as const), lease: fc.integer({ min: 0, max: 3 }), seq: fc.integer({ min: 1, max: 6 }), from: fc.integer({ min: -4, max: 20 }), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ type: fc.constant('return' as const), lease: fc.integer({ min: 0, max: 3 }), seq: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ type: fc.constant('tick' as const), by: fc.integer({ min: 0, max: 3 }) }),
);

test('randomized orders: no lease lost, no stale request applied, Kisi serves the earliest live span', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(event, fc.boolean()), { maxLength: 40 }), (events) => {
      const l = MembershipLedger.fresh(7, 103);
      let now = NOW;
      // The model: per lease, the newest message by number (a return wins a tie).
      const latest = new Map<string, { kind: 'request' | 'return'; seq: number; window?: { from: number; until: number } }>();
      for (const [e, write] of events) {
        if (e.type === 'tick') {
          now += e.by * H;
        } else {
          const id = `booking-${e.lease}`;
          const known = latest.get(id);
          if (e.type === 'request') {
            const window = { from: NOW + e.from * H, until: NOW + (e.from + e.length) * H };
            l.request(req(id, window.from, window.until, e.seq));
            if (!known || e.seq > known.seq || (e.seq === known.seq && known.kind === 'request')) latest.set(id, { kind: 'request', seq: e.seq, window });
          } else {
            l.giveBack({ leaseId: id, requestSeq: e.seq, confirm: true });
            if (!known || e.seq >= known.seq) latest.set(id, { kind: 'return', seq: e.seq });
          }
        }
        // Kisi is written whenever the ledger asks (it may be asked again later).
        if (write) kisiDoes(l, now);
      }
      while (kisiDoes(l, now)) {
        /* settle */
      }
      l.updates(now);
      // Held leases are exactly the ones whose newest message is a request, with that request's window.
      const held = Object.fromEntries(Object.entries(l.data.leases).map(([id, lease]) => [id, { seq: lease.requestSeq, window: lease.window }]));
      const expected = Object.fromEntries([...latest].filter(([, m]) => m.kind === 'request').map(([id, m]) => [id, { seq: m.seq, window: m.window }]));
      expect(held).toEqual(expected);
      // Kisi holds the earliest live span (capped), or nothing.
      const span = liveSpans(l.data.leases, now)[0];
      if (!span) expect(l.data.holding).toBeNull();
      else {
        expect(sameEffect(l.data.holding!.span, span, now)).toBe(true);
        expect(l.data.holding!.until).not.toBeNull();
        expect(l.data.holding!.until!).toBeLessThanOrEqual(Math.max(now, span.from ?? now) + WEEK);
      }
      expect(Object.keys(l.data.pendingReturns)).toEqual([]);
    }),
    { numRuns: 300 },
  );
});
