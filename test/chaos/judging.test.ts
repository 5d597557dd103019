/**
 * The fault drill judges the product with its own model (bench/chaos/model.ts) and checker
 * (bench/chaos/checker.ts). These tests hold that judge to account on made-up Kisi states: it must
 * pass a correct product, tolerate only what its stated tolerance allows, and catch each kind of
 * wrong state the drill exists to find.
 */
import { KisiState } from '../../dev/sandbox/kisi-state';
import { Checker, type Pair } from '../../bench/chaos/checker';
import { ExpectedAccess, settleDeadline, type DisruptionWindow } from '../../bench/chaos/model';
import { buildScenario, DEFAULT_SCENARIO } from '../../bench/chaos/scenario';

const S = 1_000;
const T0 = Date.parse('2026-11-28T10:00:00Z');
const at = (seconds: number) => T0 + seconds * S;
const iso = (ms: number) => new Date(ms).toISOString();
const LEAD = 3 * S;
const LAG = 3 * S;
const PAIR: Pair = { customer: 0, room: 0, userId: 1, groupId: 101 };

function kisiState(): KisiState {
  return new KisiState({ places: [{ id: 1, name: 'P' }], groups: [{ id: 101, name: 'G', place_id: 1 }], users: [{ id: 1, email: 'a@example.com' }] });
}

let nextId = 1;
function assign(state: KisiState, from: number | null, until: number | null): number {
  const id = nextId++;
  const stamp = iso(T0);
  state.roleAssignments.set(id, { id, role_id: 'group_basic', user_id: 1, group_id: 101, notify: false, valid_from: from === null ? null : iso(from), valid_until: until === null ? null : iso(until), created_at: stamp, updated_at: stamp });
  return id;
}

function judge(model: ExpectedAccess, state: KisiState, disruptions: DisruptionWindow[] = []) {
  return new Checker(model, state, [PAIR], { t0: T0, settleMs: 20 * S, edgeMs: 1 * S, disruptions: () => disruptions });
}

/** A booking of customer 0 in room 0 made at `made` s for [from, to] s (lead and lag added by the model). */
function book(model: ExpectedAccess, booking: number, made: number, from: number, to: number, room = 0) {
  model.record(booking, 0, { appliedAt: at(made), deleted: false, room, from: at(from), to: at(to) });
}

describe('scenario', () => {
  test('the same seed gives the same scenario; edits of one booking stay 2 s apart', () => {
    const a = buildScenario(DEFAULT_SCENARIO);
    expect(buildScenario(DEFAULT_SCENARIO)).toEqual(a);
    expect(buildScenario({ ...DEFAULT_SCENARIO, seed: DEFAULT_SCENARIO.seed + 1 }).steps).not.toEqual(a.steps);
    expect(a.bookings).toHaveLength(200);
    for (const b of a.bookings) {
      const steps = a.steps.filter((s) => s.booking === b.index);
      expect(steps[0]!.kind).toBe('create');
      for (let i = 1; i < steps.length; i++) expect(steps[i]!.at - steps[i - 1]!.at).toBeGreaterThanOrEqual(2 * S);
    }
    expect(a.steps.map((s) => s.at)).toEqual([...a.steps.map((s) => s.at)].sort((x, y) => x - y));
    expect(a.disruptions.map((d) => d.kind)).toEqual(['kisi-faults-on', 'kill-worker', 'restart-temporal', 'kill-worker', 'partition', 'kisi-faults-off']);
  });
});

describe('model', () => {
  test('windows carry lead and lag; touching windows form one span; deletion and room changes count from when they were made', () => {
    const model = new ExpectedAccess(LEAD, LAG);
    book(model, 1, 0, 40, 50); // window 37..53
    book(model, 2, 0, 56, 60); // window 53..63: touches the first
    book(model, 3, 0, 90, 95); // window 87..98: a later span
    expect(model.spans(0, 0, at(1))).toEqual([{ from: at(37), until: at(63) }, { from: at(87), until: at(98) }]);
    expect(model.rollovers(0, 0, at(1))).toEqual([at(63)]);
    expect(model.member(0, 0, at(36.9))).toBe(false);
    expect(model.member(0, 0, at(37))).toBe(true);
    expect(model.member(0, 0, at(62.9))).toBe(true);
    expect(model.member(0, 0, at(63))).toBe(false);
    model.record(2, 0, { appliedAt: at(45), deleted: true, room: -1, from: 0, to: 0 });
    model.record(3, 0, { appliedAt: at(46), deleted: false, room: 1, from: at(90), to: at(95) });
    expect(model.member(0, 0, at(55))).toBe(false);
    expect(model.memberAsOf(0, 0, at(44), at(55))).toBe(true);
    expect(model.member(0, 1, at(88))).toBe(true);
    expect(model.firstLiveSpan(0, 0, at(50))).toEqual({ from: at(37), until: at(53) });
    expect(model.firstLiveSpan(0, 0, at(54))).toBeNull();
  });

  test('a deadline moves past every disruption that overlaps it, plus its recovery', () => {
    const faults = { kind: 'kisi-faults', from: at(10), until: at(130), recoveryMs: 70 * S };
    const partition = { kind: 'partition', from: at(150), until: at(170), recoveryMs: 40 * S };
    expect(settleDeadline(at(5), 20 * S, [])).toBe(at(25));
    expect(settleDeadline(at(5), 20 * S, [faults])).toBe(at(200));
    expect(settleDeadline(at(135), 20 * S, [faults, partition])).toBe(at(210));
    expect(settleDeadline(at(300), 20 * S, [faults, partition])).toBe(at(320));
    expect(settleDeadline(at(5), 20 * S, [{ ...faults, until: Infinity }])).toBe(Infinity);
  });
});

describe('checker', () => {
  const checkEverySecond = (checker: Checker, from: number, to: number) => {
    for (let s = from; s <= to; s += 1) checker.check(at(s));
  };

  test('a product that wrote the window ahead of time passes every check, edges included', () => {
    const model = new ExpectedAccess(LEAD, LAG);
    const state = kisiState();
    book(model, 1, 0, 40, 50);
    const checker = judge(model, state);
    checker.check(at(0));
    assign(state, at(37), at(53)); // written within a second
    checkEverySecond(checker, 1, 70);
    // The deletion after the window is the product's clean-up.
    state.roleAssignments.clear();
    checkEverySecond(checker, 71, 80);
    expect(checker.violations).toEqual([]);
    expect(checker.tally.matching).toBe(checker.tally.pairChecks);
  });

  test('access nobody booked is a violation, and so is a state that never settles', () => {
    const model = new ExpectedAccess(LEAD, LAG);
    const state = kisiState();
    assign(state, null, at(100));
    const checker = judge(model, state);
    checkEverySecond(checker, 0, 5);
    expect(checker.violations.map((v) => v.kind).sort()).toEqual(['access', 'state']);
  });

  test('two assignments of one user in one group are a violation', () => {
    const model = new ExpectedAccess(LEAD, LAG);
    const state = kisiState();
    book(model, 1, 0, 40, 50);
    assign(state, at(37), at(53));
    assign(state, at(37), at(53));
    const checker = judge(model, state);
    checker.check(at(1));
    expect(checker.violations.map((v) => v.kind)).toContain('duplicate');
  });

  test('a deleted booking keeps access only until its deletion settles', () => {
    const model = new ExpectedAccess(LEAD, LAG);
    const state = kisiState();
    book(model, 1, 0, 40, 80);
    assign(state, at(37), at(83));
    model.record(1, 0, { appliedAt: at(45), deleted: true, room: -1, from: 0, to: 0 });
    const checker = judge(model, state);
    checkEverySecond(checker, 1, 64); // within 20 s of the deletion: tolerated
    expect(checker.violations).toEqual([]);
    checkEverySecond(checker, 65, 70); // past it: the customer still gets in
    expect(checker.violations.map((v) => v.kind).sort()).toEqual(['access', 'state']);
  });

  test('a disruption extends the tolerance; the same delay without one is a violation', () => {
    const make = (disruptions: DisruptionWindow[]) => {
      const model = new ExpectedAccess(LEAD, LAG);
      const state = kisiState();
      book(model, 1, 30, 40, 80); // made 10 s before the window opens
      const checker = judge(model, state, disruptions);
      checkEverySecond(checker, 30, 60); // never written
      return checker;
    };
    expect(make([{ kind: 'partition', from: at(31), until: at(51), recoveryMs: 40 * S }]).violations).toEqual([]);
    expect(make([]).violations.map((v) => v.kind)).toContain('access');
  });

  test('a later span may open late while its predecessor\'s end settles, unless Kisi had let the customer in already', () => {
    const setUp = () => {
      const model = new ExpectedAccess(LEAD, LAG);
      const state = kisiState();
      book(model, 1, 0, 20, 30); // span A 17..33
      book(model, 2, 0, 40, 60); // span B 37..63
      const a = assign(state, at(17), at(33));
      return { model, state, a, checker: judge(model, state) };
    };
    // Kisi holds A and moves on to B only at +45: within 20 s of A's end.
    const late = setUp();
    checkEverySecond(late.checker, 1, 44);
    late.state.roleAssignments.get(late.a)!.valid_from = null;
    late.state.roleAssignments.get(late.a)!.valid_until = iso(at(63));
    checkEverySecond(late.checker, 45, 62);
    expect(late.checker.violations).toEqual([]);

    // Kisi moved on to B, let the customer in, then wrote A's ended window back over it.
    const flap = setUp();
    checkEverySecond(flap.checker, 1, 34);
    flap.state.roleAssignments.get(flap.a)!.valid_from = iso(at(37));
    flap.state.roleAssignments.get(flap.a)!.valid_until = iso(at(63));
    checkEverySecond(flap.checker, 35, 44);
    flap.state.roleAssignments.get(flap.a)!.valid_from = null;
    flap.state.roleAssignments.get(flap.a)!.valid_until = iso(at(33));
    flap.checker.check(at(45));
    expect(flap.checker.violations.map((v) => v.kind)).toEqual(['access']);
    expect(flap.checker.violations[0]!.detail).toMatch(/refuses the customer/);
  });
});
