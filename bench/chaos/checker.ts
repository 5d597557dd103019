/**
 * Holds the Kisi sandbox's state against the drill's model at each check point, for every
 * (customer, room) pair. The stated tolerance:
 *
 *   settling    Something the product must act on happened for the pair at `e`: the drill changed
 *               one of the customer's bookings in that room, or one span of windows ended while a
 *               later one waits (Kisi holds one span at a time, so the next one is written then).
 *               Until settleDeadline(e) (settleMs, pushed back past every disruption overlapping
 *               it, plus its recovery allowance), Kisi may still show the state from before `e`.
 *   edges       A check within `edgeMs` of a window edge is not judged.
 *
 * Violations:
 *   access      Kisi lets the customer in (or refuses them) when neither the current bookings nor,
 *               while settling, the bookings as they were before a recent change say so. Refusing a
 *               customer in a span whose predecessor ended recently is settling only if Kisi has not
 *               let them in during that span already (a product that moved on, then back, is wrong).
 *   state       Nothing is settling, yet Kisi does not hold exactly the expected window (one live
 *               assignment with the first span's window, or none).
 *   duplicate   Two assignments of one user in one group at a check point.
 */
import type { KisiState } from '../../dev/sandbox/kisi-state';
import { settleDeadline, type DisruptionWindow, type ExpectedAccess, type Window } from './model';

export interface Pair {
  customer: number;
  room: number;
  userId: number;
  groupId: number;
}

export type ViolationKind = 'access' | 'state' | 'duplicate';

export interface Violation {
  kind: ViolationKind;
  /** Seconds after the drill started. */
  atSeconds: number;
  customer: number;
  room: number;
  detail: string;
  /** The pair's bookings as the drill made them, and Kisi's history for the pair (relative seconds). */
  context: string[];
}

export interface CheckTally {
  checkpoints: number;
  pairChecks: number;
  /** Pair checks where Kisi's access equalled the model's. */
  matching: number;
  /** Differences inside the stated tolerance (settling, or at a window edge). */
  tolerated: number;
  /** Pair checks that broke a rule (a pair stuck for many seconds counts each second). */
  violations: number;
}

interface Assignment {
  valid_from: string | null;
  valid_until: string | null;
}

interface PairState {
  /** The last check point at which Kisi let the customer in. */
  lastGranted: number | undefined;
  /** Change times whose convergence is still to be observed (for the settle-time figure). */
  unobserved: number[];
}

export class Checker {
  readonly tally: CheckTally = { checkpoints: 0, pairChecks: 0, matching: 0, tolerated: 0, violations: 0 };
  readonly violations: Violation[] = [];
  /** ms from each change to the first check point at which Kisi held the expected window. */
  readonly settleTimes: number[] = [];
  private readonly state = new Map<string, PairState>();
  private readonly reported = new Set<string>();

  constructor(
    private readonly model: ExpectedAccess,
    private readonly kisi: KisiState,
    private readonly pairs: Pair[],
    private readonly options: { t0: number; settleMs: number; edgeMs: number; disruptions: () => DisruptionWindow[] },
  ) {}

  check(now = Date.now()): void {
    this.tally.checkpoints++;
    const byPair = new Map<string, Assignment[]>();
    for (const a of this.kisi.roleAssignments.values()) {
      const k = `${a.user_id}:${a.group_id}`;
      const list = byPair.get(k) ?? [];
      list.push(a);
      byPair.set(k, list);
    }
    for (const pair of this.pairs) this.checkPair(pair, byPair.get(`${pair.userId}:${pair.groupId}`) ?? [], now);
  }

  /** Is any event of the pair still within its settling allowance at `now`? */
  settling(pair: Pair, now: number): boolean {
    return this.events(pair, now).some((e) => now <= this.deadline(e));
  }

  private deadline(at: number): number {
    return settleDeadline(at, this.options.settleMs, this.options.disruptions());
  }

  /** Changes made to the customer's bookings in this room, and span ends with a later span waiting. */
  private events(pair: Pair, now: number): number[] {
    return [...this.model.changesOf(pair.customer, pair.room), ...this.model.rollovers(pair.customer, pair.room, now)].filter((at) => at <= now);
  }

  private checkPair(pair: Pair, assignments: Assignment[], now: number): void {
    const key = `${pair.customer}:${pair.room}`;
    const st = this.state.get(key) ?? { lastGranted: undefined, unobserved: [] };
    this.state.set(key, st);
    this.tally.pairChecks++;
    if (assignments.length > 1) this.violate('duplicate', pair, now, `${assignments.length} assignments at once: ${describe(assignments)}`, `dup:${key}`);

    const changes = this.model.changesOf(pair.customer, pair.room).filter((at) => at <= now);
    for (const at of changes) if (!st.unobserved.includes(at) && !this.seen.has(`${key}:${at}`)) st.unobserved.push(at);
    const span = this.model.firstLiveSpan(pair.customer, pair.room, now);
    const live = assignments.filter((a) => a.valid_until === null || Date.parse(a.valid_until) > now);
    const holdsExpected = holds(live, span, now);
    if (holdsExpected) {
      for (const at of st.unobserved) {
        this.settleTimes.push(now - at);
        this.seen.add(`${key}:${at}`);
      }
      st.unobserved = [];
    }
    const settling = this.settling(pair, now);
    if (!settling && !holdsExpected) {
      this.violate('state', pair, now, `Kisi holds ${describe(live)}, expected ${span ? `${iso(span.from)} → ${iso(span.until)}` : 'nothing'}, and nothing has been settling since +${this.rel(Math.max(-Infinity, ...this.events(pair, now).map((e) => this.deadline(e))))} s`, `state:${key}:${JSON.stringify(span)}:${describe(live)}`);
    }

    const actual = assignments.some((a) => valid(a, now));
    const expected = this.model.member(pair.customer, pair.room, now);
    const lastGranted = st.lastGranted;
    if (actual) st.lastGranted = now;
    if (actual === expected) {
      this.tally.matching++;
      return;
    }
    if (this.model.edges(pair.customer, pair.room).some((edge) => Math.abs(now - edge) <= this.options.edgeMs)) {
      this.tally.tolerated++;
      return;
    }
    if (settling && this.explainedByRecentPast(pair, now, actual, lastGranted)) {
      this.tally.tolerated++;
      return;
    }
    const lastChange = Math.max(-Infinity, ...changes);
    this.violate(
      'access',
      pair,
      now,
      actual ? 'Kisi lets the customer in; no booking, current or recently changed, grants access now' : 'Kisi refuses the customer; a booking grants access now and no recent change or span move explains it',
      `access:${key}:${lastChange}:${actual}`,
    );
  }

  private readonly seen = new Set<string>();

  /**
   * Kisi shows what the bookings said just before a change still settling, or it has not yet moved
   * on to a span whose predecessor ended recently (the one-span-at-a-time rule) and has not let the
   * customer in during that span yet.
   */
  private explainedByRecentPast(pair: Pair, now: number, actual: boolean, lastGranted: number | undefined): boolean {
    const views = [now, ...this.model.changesOf(pair.customer, pair.room).filter((at) => at <= now && now <= this.deadline(at)).map((at) => at - 1)];
    for (const view of views) {
      const member = this.model.memberAsOf(pair.customer, pair.room, view, now);
      if (member === actual) return true;
      if (actual || !member) continue;
      const spans = this.model.spans(pair.customer, pair.room, view);
      const k = spans.findIndex((s) => s.from <= now && now < s.until);
      if (k < 1) continue;
      const rollover = spans[k - 1]!.until;
      if (now <= this.deadline(rollover) && (lastGranted ?? -Infinity) < Math.max(rollover, spans[k]!.from)) return true;
    }
    return false;
  }

  /** How many pairs are settling now, and the latest deadline of any event so far. */
  settlingSummary(now = Date.now()): { pairs: number; latestDeadline: number } {
    let pairs = 0;
    let latestDeadline = -Infinity;
    for (const pair of this.pairs) {
      const deadlines = this.events(pair, now).map((e) => this.deadline(e));
      if (deadlines.some((d) => now <= d)) pairs++;
      latestDeadline = Math.max(latestDeadline, ...deadlines);
    }
    return { pairs, latestDeadline };
  }

  /** Pairs whose Kisi state differs from the model's now, for the final report. */
  differing(now = Date.now()): Array<{ customer: number; room: number; holds: string; expected: string }> {
    const out: Array<{ customer: number; room: number; holds: string; expected: string }> = [];
    for (const pair of this.pairs) {
      const assignments = [...this.kisi.roleAssignments.values()].filter((a) => a.user_id === pair.userId && a.group_id === pair.groupId);
      const span = this.model.firstLiveSpan(pair.customer, pair.room, now);
      if (!holds(assignments, span, now)) out.push({ customer: pair.customer, room: pair.room, holds: describe(assignments), expected: span ? `${iso(span.from)} → ${iso(span.until)}` : 'nothing' });
    }
    return out;
  }

  private violate(kind: ViolationKind, pair: Pair, now: number, detail: string, onceKey: string): void {
    this.tally.violations++;
    if (this.reported.has(onceKey)) return;
    this.reported.add(onceKey);
    if (this.violations.length >= 500) return;
    const kisiHistory = this.kisi.history
      .filter((e) => e.user_id === pair.userId && e.group_id === pair.groupId)
      .map((e) => `kisi ${e.action} #${e.assignment_id} at +${this.rel(Date.parse(e.at))}: ${this.relOrOpen(e.valid_from)}..${this.relOrOpen(e.valid_until)}`);
    this.violations.push({ kind, atSeconds: this.rel(now), customer: pair.customer, room: pair.room, detail, context: [...this.model.story(pair.customer, pair.room, this.options.t0), ...kisiHistory] });
  }

  private relOrOpen(text: string | null): string {
    return text === null ? 'open' : `+${this.rel(Date.parse(text))}`;
  }

  private rel(at: number): number {
    return Math.round((at - this.options.t0) / 100) / 10;
  }
}

function valid(a: Assignment, t: number): boolean {
  return (a.valid_from === null || Date.parse(a.valid_from) <= t) && (a.valid_until === null || t < Date.parse(a.valid_until));
}

/** Kisi holds exactly the expected span: one assignment, same end, same start (or both starts passed). */
function holds(assignments: Assignment[], span: Window | null, now: number): boolean {
  if (span === null) return assignments.length === 0;
  if (assignments.length !== 1) return false;
  const a = assignments[0]!;
  const from = a.valid_from === null ? -Infinity : Date.parse(a.valid_from);
  const until = a.valid_until === null ? Infinity : Date.parse(a.valid_until);
  return until === span.until && (from === span.from || (from <= now && span.from <= now));
}

function describe(assignments: Assignment[]): string {
  if (assignments.length === 0) return 'nothing';
  return assignments.map((a) => `${a.valid_from ?? 'open'} → ${a.valid_until ?? 'open'}`).join(' and ');
}

const iso = (ms: number) => new Date(ms).toISOString();
