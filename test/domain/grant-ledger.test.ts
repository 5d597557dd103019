/**
 * The grant side of the lease protocol as plain code: who the customer is in Kisi, which leases the
 * grant asks for and gives back, and the state it shows. Table-driven cases per rule and a
 * randomized property over customer changes and membership answers.
 */
import fc from 'fast-check';
import type { CustomerFacts } from '../../src/domain/customer';
import { GrantLedger, liftsCancellation, supersedes, type Person, type RequestPlan } from '../../src/domain/grant-ledger';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { membershipWorkflowId } from '../../src/domain/ids';

const H = 3_600_000;
const NOW = Date.UTC(2026, 11, 5, 9);

const spec = (over: Partial<GrantSpec> = {}): GrantSpec => ({
  kind: 'booking',
  sourceId: 1,
  customerId: 42,
  customerName: 'Ada',
  customerEmail: null,
  version: NOW - H,
  lifecycle: 'active',
  endedReason: null,
  window: { from: NOW + H, until: NOW + 2 * H },
  groups: [103],
  label: 'Room',
  ...over,
});
const person = (kisiUserId: number, email: string, version: number | null = NOW - H): Person => ({ customerId: 42, kisiUserId, email, emailKey: email, name: 'Ada', version });
const facts = (over: Partial<CustomerFacts> = {}): CustomerFacts => ({ customerId: 42, email: 'ada@example.com', name: 'Ada', active: true, version: NOW, ...over });

/** The request activity as it would answer: the user of the facts' email (or `user`), every group asked. */
function answer(l: GrantLedger, plan: RequestPlan, user: Person, active = true): void {
  const p = plan.resolve ? user : plan.person!;
  l.requested(plan, { person: active ? p : null, active, facts: plan.facts, leases: active ? plan.groups.map((g) => ({ groupId: g.groupId, membershipId: membershipWorkflowId(p.kisiUserId, g.groupId) })) : [] });
}

function applied(l: GrantLedger, membershipId: string): void {
  const lease = l.data.leases[membershipId]!;
  l.leaseUpdate({ membershipId, kisiUserId: lease.kisiUserId, groupId: lease.groupId, leaseId: 'booking-1', status: 'applied', window: lease.window, error: null, requestSeq: lease.requestSeq });
}

function fresh(s: GrantSpec = spec()): GrantLedger {
  return GrantLedger.fresh('booking-1', 'booking', s, 1000, NOW);
}

describe('grant ledger', () => {
  test('first request resolves the person; applied leases make it granted', () => {
    const l = fresh();
    expect(l.state(NOW)).toBe('scheduled');
    const plan = l.requestPlan(NOW)!;
    expect(plan).toMatchObject({ requestSeq: 1001, resolve: true, fresh: false, groups: [{ groupId: 103, ownWrite: false }] });
    answer(l, plan, person(7, 'ada@example.com'));
    expect(l.requestPlan(NOW)).toBeNull();
    expect(l.state(NOW)).toBe('scheduled');
    applied(l, 'membership-user-7-103');
    expect(l.state(NOW)).toBe('granted');
    expect(l.attributes('granted').customerEmail).toBe('ada@example.com');
  });

  test('the window ending by itself: the lease goes back without waiting for a confirmation', () => {
    const l = fresh();
    answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
    applied(l, 'membership-user-7-103');
    const end = NOW + 2 * H;
    expect(l.nextWake(NOW)).toBe(end);
    expect(l.returnPlans(end)).toEqual([{ membershipId: 'membership-user-7-103', legacy: false, ret: { leaseId: 'booking-1', requestSeq: 1001, confirm: false } }]);
    expect(l.done(end)).toBe(true);
  });

  test('deleted early: the return waits for Kisi to confirm; the grant is done once it has', () => {
    const l = fresh();
    answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
    applied(l, 'membership-user-7-103');
    l.sourceChanged(spec({ lifecycle: 'ended', endedReason: 'deleted', window: null, version: NOW }));
    expect(l.returnPlans(NOW)[0]!.ret.confirm).toBe(true);
    expect(l.done(NOW)).toBe(false);
    expect(l.state(NOW)).toBe('granted'); // Kisi still gives the access until it confirms
    l.leaseUpdate({ membershipId: 'membership-user-7-103', kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: 'released', window: null, error: null, requestSeq: 1001 });
    expect(l.done(NOW)).toBe(true);
  });

  describe('access follows the person', () => {
    test('email change: the new Kisi user is asked first; the old lease goes back once the new one is applied', () => {
      const l = fresh();
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      applied(l, 'membership-user-7-103');
      expect(l.customerChanged(facts({ email: 'ada@new.example' }))).toBe(true);
      expect(l.personStale()).toBe(true);
      const plan = l.requestPlan(NOW)!;
      expect(plan).toMatchObject({ resolve: true, fresh: true });
      // Who the person is now is being looked up: the old lease stays.
      expect(l.returnPlans(NOW)).toEqual([]);
      answer(l, plan, person(8, 'ada@new.example', NOW));
      expect(l.returnPlans(NOW)).toEqual([]); // the new one is not applied yet: no gap
      expect(l.state(NOW)).toBe('scheduled');
      applied(l, 'membership-user-8-103');
      expect(l.returnPlans(NOW)).toEqual([expect.objectContaining({ membershipId: 'membership-user-7-103', ret: expect.objectContaining({ confirm: true }) })]);
      expect(l.status(NOW)).toMatchObject({ customerEmail: 'ada@new.example', kisiUserId: 8, state: 'granted' });
      expect(l.attributes('granted').customerEmail).toBe('ada@new.example');
    });

    test('older facts than the person do not move it', () => {
      const l = fresh();
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com', NOW));
      expect(l.customerChanged(facts({ email: 'old@example.com', version: NOW - 2 * H }))).toBe(false);
      expect(l.personStale()).toBe(false);
    });

    test('suspended: every lease goes back at once and the grant shows suspended; reactivated, it asks again', () => {
      const l = fresh(spec({ window: { from: NOW - H, until: NOW + 5 * H } }));
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      applied(l, 'membership-user-7-103');
      l.customerChanged(facts({ active: false }));
      expect(l.wantedGroups(NOW)).toEqual([]);
      const [ret] = l.returnPlans(NOW);
      expect(ret).toMatchObject({ membershipId: 'membership-user-7-103', ret: { confirm: true } });
      expect(l.state(NOW)).toBe('granted');
      l.leaseUpdate({ membershipId: 'membership-user-7-103', kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: 'released', window: null, error: null, requestSeq: 1001 });
      expect(l.state(NOW)).toBe('suspended');
      expect(l.done(NOW)).toBe(false);
      l.customerChanged(facts({ active: true, version: NOW + 1000 }));
      expect(l.requestPlan(NOW)).toMatchObject({ resolve: false, groups: [{ groupId: 103, ownWrite: false }] });
    });

    test('Nexudus says inactive at resolution: nothing asked, suspended', () => {
      const l = fresh(spec({ window: { from: NOW - H, until: NOW + H } }));
      const plan = l.requestPlan(NOW)!;
      l.requested(plan, { person: null, active: false, facts: facts({ active: false }), leases: [] });
      expect(l.requestPlan(NOW)).toBeNull();
      expect(l.state(NOW)).toBe('suspended');
    });

    test('a booking moved to another customer resolves the new customer', () => {
      const l = fresh();
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      l.sourceChanged(spec({ customerId: 43, version: NOW }));
      expect(l.personStale()).toBe(true);
    });
  });

  describe('status tells the truth', () => {
    test('a lease that failed and then was applied by the membership\'s own retry: granted again', () => {
      const l = fresh();
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      const lease = l.data.leases['membership-user-7-103']!;
      l.leaseUpdate({ membershipId: 'membership-user-7-103', kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: 'failed', window: lease.window, error: 'Kisi away', requestSeq: lease.requestSeq });
      expect(l.state(NOW)).toBe('needs-attention');
      applied(l, 'membership-user-7-103');
      expect(l.state(NOW)).toBe('granted');
      expect(l.lastError()).toBeNull();
    });

    test('a lease the grant does not know it holds (a lost answer) is given back', () => {
      const l = fresh();
      l.leaseUpdate({ membershipId: 'membership-user-9-103', kisiUserId: 9, groupId: 103, leaseId: 'booking-1', status: 'applied', window: { from: NOW, until: NOW + H }, error: null, requestSeq: 5 });
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      applied(l, 'membership-user-7-103');
      expect(l.returnPlans(NOW).map((p) => p.membershipId)).toEqual(['membership-user-9-103']);
    });
  });

  describe('operator decisions stick', () => {
    test('cancelled: everything goes back; the same version keeps it cancelled, a newer one lifts it', () => {
      const l = fresh();
      answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
      applied(l, 'membership-user-7-103');
      l.operatorCancelled(NOW);
      expect(l.returnPlans(NOW).map((p) => p.ret.confirm)).toEqual([true]);
      expect(l.state(NOW)).toBe('cancelled');
      l.sourceChanged(spec());
      expect(l.state(NOW)).toBe('cancelled');
      expect(l.requestPlan(NOW)).toBeNull();
      l.sourceChanged(spec({ version: NOW }));
      expect(l.data.operatorCancel).toBeNull();
      expect(l.requestPlan(NOW)).not.toBeNull();
    });

    test.each([
      ['newer version', NOW - H, spec({ version: NOW }), true],
      ['same version', NOW - H, spec(), false],
      ['no versions, same record', null, spec({ version: null }), false],
      ['no versions, moved', null, spec({ version: null, window: { from: NOW, until: NOW + H } }), true],
    ])('a cancellation is lifted by: %s', (_label, version, next, lifts) => {
      expect(liftsCancellation({ version, spec: spec({ version }) }, next)).toBe(lifts);
    });

    test('an operator\'s retry lifts it too', () => {
      const l = fresh();
      l.operatorCancelled(NOW);
      l.retry();
      expect(l.state(NOW)).toBe('scheduled');
    });
  });

  test('moving off a legacy membership: the new lease writes its own; the legacy lease goes back after it is applied', () => {
    const l = fresh(spec({ window: { from: NOW - H, until: null }, kind: 'contract' }));
    l.data.leases['membership-42-103'] = { groupId: 103, kisiUserId: null, legacyCustomerId: 42, state: 'applied', window: { from: NOW - H, until: null }, requestSeq: 3, error: null };
    l.data.person = person(7, 'ada@example.com');
    const plan = l.requestPlan(NOW)!;
    expect(plan.groups).toEqual([{ groupId: 103, ownWrite: true }]);
    answer(l, plan, person(7, 'ada@example.com'));
    expect(l.returnPlans(NOW)).toEqual([]);
    applied(l, 'membership-user-7-103');
    expect(l.returnPlans(NOW)).toEqual([{ membershipId: 'membership-42-103', legacy: true, ret: { leaseId: 'booking-1', requestSeq: 3, confirm: true } }]);
  });

  test('the newest record wins, deletion is final', () => {
    expect(supersedes(spec({ version: 10 }), spec({ version: 9 }))).toBe(false);
    expect(supersedes(spec({ version: 10 }), spec({ version: 10 }))).toBe(true);
    expect(supersedes(spec({ lifecycle: 'ended', window: null }), spec({ version: 99 }))).toBe(false);
    expect(supersedes(spec(), spec({ kind: 'pass' }))).toBe(false);
  });
});

// ---- randomized ---------------------------------------------------------------------------------

type Step =
  | { type: 'email'; which: number; version: number }
  | { type: 'active'; active: boolean; version: number }
  | { type: 'memberships'; answer: 'applied' | 'failed' | 'none' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ type: fc.constant('email' as const), which: fc.integer({ min: 0, max: 2 }), version: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ type: fc.constant('active' as const), active: fc.boolean(), version: fc.integer({ min: 0, max: 20 }) }),
  fc.record({ type: fc.constant('memberships' as const), answer: fc.constantFrom('applied' as const, 'failed' as const, 'none' as const) }),
);

test('randomized customer changes: in the end only the current Kisi user holds the access, and only while the customer may enter', () => {
  const users = ['a@example.com', 'b@example.com', 'c@example.com'];
  fc.assert(
    fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
      const l = fresh(spec({ window: { from: NOW - H, until: NOW + 10 * H }, groups: [101, 103] }));
      let newest: CustomerFacts = facts({ email: users[0]!, version: 0 });
      const resolve = (): Person => person(users.indexOf(newest.email!) + 1, newest.email!, newest.version);
      const world = () => {
        const plan = l.requestPlan(NOW);
        if (plan) answer(l, plan, resolve(), newest.active);
        for (const p of l.returnPlans(NOW)) {
          if (p.ret.confirm) l.leaseUpdate({ membershipId: p.membershipId, kisiUserId: null, groupId: 0, leaseId: 'booking-1', status: 'released', window: null, error: null, requestSeq: p.ret.requestSeq });
        }
      };
      for (const s of steps) {
        if (s.type === 'email') {
          const next = facts({ email: users[s.which]!, version: s.version, active: newest.active });
          if (s.version >= (newest.version ?? 0)) newest = next;
          l.customerChanged(next);
        } else if (s.type === 'active') {
          const next = facts({ email: newest.email, version: s.version, active: s.active });
          if (s.version >= (newest.version ?? 0)) newest = next;
          l.customerChanged(next);
        } else {
          for (const [id, lease] of Object.entries(l.data.leases)) {
            if (lease.state !== 'requested' || s.answer === 'none') continue;
            l.leaseUpdate({ membershipId: id, kisiUserId: lease.kisiUserId, groupId: lease.groupId, leaseId: 'booking-1', status: s.answer, window: lease.window, error: s.answer === 'failed' ? 'refused' : null, requestSeq: lease.requestSeq });
          }
          if (s.answer === 'failed') l.retry();
        }
        world();
      }
      // Settle: memberships apply everything asked.
      for (let i = 0; i < 4; i++) {
        world();
        for (const id of Object.keys(l.data.leases)) if (l.data.leases[id]!.state === 'requested') applied(l, id);
        world();
      }
      const held = Object.entries(l.data.leases).filter(([, x]) => x.state === 'applied' || x.state === 'requested' || x.state === 'releasing').map(([id]) => id).sort();
      const expectedUser = users.indexOf(l.data.facts?.email ?? newest.email!) + 1;
      const expected = (l.data.facts ?? newest).active ? [101, 103].map((g) => membershipWorkflowId(expectedUser, g)).sort() : [];
      expect(held).toEqual(expected);
      expect(l.state(NOW)).toBe(expected.length ? 'granted' : 'suspended');
    }),
    { numRuns: 300 },
  );
});

test('a membership answering before the request activity returns: its answer is kept', () => {
  const l = fresh();
  const plan = l.requestPlan(NOW)!;
  l.leaseUpdate({ membershipId: 'membership-user-7-103', kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: 'applied', window: plan.window, error: null, requestSeq: plan.requestSeq });
  answer(l, plan, person(7, 'ada@example.com'));
  expect(l.data.leases['membership-user-7-103']!.state).toBe('applied');
  expect(l.state(NOW)).toBe('granted');
  expect(l.returnPlans(NOW)).toEqual([]);
});

describe('a membership answering a request before the request activity returns', () => {
  // The membership is signalled inside the request activity and may sync Kisi and answer before
  // that activity's result reaches the grant (Temporal hands the grant the signal first). The
  // membership tells each lease once, so an answer dropped or overwritten here is never repeated.
  const M = 'membership-user-7-103';
  const W1 = { from: NOW + H, until: NOW + 2 * H };
  const W2 = { from: NOW + H, until: NOW + 3 * H };
  type Early = { status: 'applied' | 'waiting' | 'failed' };
  const early = (l: GrantLedger, plan: RequestPlan, { status }: Early) =>
    l.leaseUpdate({ membershipId: M, kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status, window: plan.window, error: status === 'failed' ? 'kisi POST /role_assignments: HTTP 422' : null, requestSeq: plan.requestSeq });

  /** A grant whose lease on M is already recorded, about to ask for it again. */
  const held = (state: 'applied' | 'failed', next: Partial<GrantSpec>): GrantLedger => {
    const l = fresh(spec({ window: W1 }));
    answer(l, l.requestPlan(NOW)!, person(7, 'ada@example.com'));
    const lease = l.data.leases[M]!;
    l.leaseUpdate({ membershipId: M, kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: state, window: lease.window, error: state === 'failed' ? 'refused' : null, requestSeq: lease.requestSeq });
    if (state === 'failed') l.retry();
    else l.sourceChanged(spec({ window: W2, ...next }));
    return l;
  };

  test.each<[string, () => GrantLedger, Early['status'], string, string]>([
    ['first request, Kisi refuses (a 422)', () => fresh(spec({ window: W1 })), 'failed', 'failed', 'needs-attention'],
    ['first request, Kisi gives access', () => fresh(spec({ window: W1 })), 'applied', 'applied', 'granted'],
    ['first request, an earlier span is served first', () => fresh(spec({ window: W1 })), 'waiting', 'requested', 'scheduled'],
    ['the window moved, Kisi gives the new one', () => held('applied', { version: NOW }), 'applied', 'applied', 'granted'],
    ['the window moved, Kisi refuses it', () => held('applied', { version: NOW }), 'failed', 'failed', 'needs-attention'],
    ['an operator retry after a refusal, Kisi now gives access', () => held('failed', {}), 'applied', 'applied', 'granted'],
    ['an operator retry after a refusal, Kisi refuses again', () => held('failed', {}), 'failed', 'failed', 'needs-attention'],
  ])('%s: the answer is kept', (_label, make, status, leaseState, grantState) => {
    const l = make();
    const plan = l.requestPlan(NOW)!;
    expect(plan.groups).toEqual([{ groupId: 103, ownWrite: false }]);
    early(l, plan, { status });
    answer(l, plan, person(7, 'ada@example.com'));
    expect(l.data.leases[M]).toMatchObject({ state: leaseState, requestSeq: plan.requestSeq, window: plan.window });
    expect(l.state(NOW)).toBe(grantState);
    if (status === 'failed') expect(l.lastError()).toMatch(/422/);
    expect(l.returnPlans(NOW)).toEqual([]);
  });

  test('replaying a run from before the rule (keepEarlyAnswer: false): the early refusal is dropped as it was', () => {
    const l = fresh(spec({ window: W1 }));
    const plan = l.requestPlan(NOW)!;
    const refusal = { membershipId: M, kisiUserId: 7, groupId: 103, leaseId: 'booking-1', status: 'failed' as const, window: plan.window, error: 'HTTP 422', requestSeq: plan.requestSeq };
    expect(l.answersUnrecordedRequest(refusal)).toBe(true);
    l.leaseUpdate(refusal, { keepEarlyAnswer: false });
    answer(l, plan, person(7, 'ada@example.com'));
    expect(l.data.leases[M]!.state).toBe('requested');
    // Answers to what the grant has recorded are not early: the marker is not asked for.
    expect(l.answersUnrecordedRequest(refusal)).toBe(false);
    expect(l.answersUnrecordedRequest({ ...refusal, window: null })).toBe(false);
  });
});
