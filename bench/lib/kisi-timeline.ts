/**
 * What the Kisi sandbox's state made of a customer over time, read from its assignment history
 * (every create, window change and delete with the moment it happened): when the customer was in a
 * group, and whether two assignments of one user in one group ever existed at once. This is Kisi's
 * side of the story, independent of anything the product reports about itself.
 */
import type { AssignmentHistoryEntry } from '../../dev/sandbox/kisi-state';

export interface Interval {
  from: number;
  /** Exclusive; Infinity when the membership is still open. */
  until: number;
}

interface Version {
  /** When this state of the assignment began (history time). */
  at: number;
  /** undefined: the assignment is deleted from `at` on. */
  window?: { from: number; until: number };
}

const bound = (text: string | null, open: number) => (text === null ? open : Date.parse(text));

/** Per assignment id, its states over time, for one user and group. */
function versionsOf(history: AssignmentHistoryEntry[], userId: number, groupId: number): Map<number, Version[]> {
  const byAssignment = new Map<number, Version[]>();
  for (const e of history) {
    if (e.user_id !== userId || e.group_id !== groupId) continue;
    const list = byAssignment.get(e.assignment_id) ?? [];
    const at = Date.parse(e.at);
    list.push(e.action === 'deleted' ? { at } : { at, window: { from: bound(e.valid_from, -Infinity), until: bound(e.valid_until, Infinity) } });
    byAssignment.set(e.assignment_id, list);
  }
  return byAssignment;
}

function memberAt(assignments: Map<number, Version[]>, t: number): boolean {
  for (const versions of assignments.values()) {
    let current: Version | undefined;
    for (const v of versions) {
      if (v.at <= t) current = v;
      else break;
    }
    if (current?.window && current.window.from <= t && t < current.window.until) return true;
  }
  return false;
}

/**
 * The intervals in which Kisi let the user into the group, from its history: membership can only
 * change at a history event or at a window edge, so it is evaluated at each of those instants.
 */
export function membershipIntervals(history: AssignmentHistoryEntry[], userId: number, groupId: number): Interval[] {
  const assignments = versionsOf(history, userId, groupId);
  const instants = new Set<number>();
  for (const versions of assignments.values()) {
    for (const v of versions) {
      instants.add(v.at);
      if (v.window) {
        if (Number.isFinite(v.window.from)) instants.add(v.window.from);
        if (Number.isFinite(v.window.until)) instants.add(v.window.until);
      }
    }
  }
  const sorted = [...instants].sort((a, b) => a - b);
  const intervals: Interval[] = [];
  let open: number | undefined;
  // Before the first instant nothing existed.
  for (const t of sorted) {
    const member = memberAt(assignments, t);
    if (member && open === undefined) open = t;
    if (!member && open !== undefined) {
      intervals.push({ from: open, until: t });
      open = undefined;
    }
  }
  if (open !== undefined) intervals.push({ from: open, until: Infinity });
  return intervals;
}

/** The most assignments of one user in one group that existed at the same moment, per (user, group). */
export function maxConcurrentAssignments(history: AssignmentHistoryEntry[]): Map<string, number> {
  const live = new Map<string, Set<number>>();
  const max = new Map<string, number>();
  for (const e of history) {
    const key = `${e.user_id}:${e.group_id}`;
    const set = live.get(key) ?? new Set<number>();
    if (e.action === 'deleted') set.delete(e.assignment_id);
    else set.add(e.assignment_id);
    live.set(key, set);
    max.set(key, Math.max(max.get(key) ?? 0, set.size));
  }
  return max;
}
