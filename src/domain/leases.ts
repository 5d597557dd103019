/**
 * Lease arithmetic for one (customer, Kisi group) membership. Pure and deterministic: the
 * membership workflow runs it, reconcile and tests reuse it.
 *
 * Kisi holds at most one role assignment per user and group (we never rely on two), so the
 * assignment always serves the earliest span of touching leases that has not ended yet; later
 * spans follow when it ends.
 */
import type { AccessWindow } from './grant-spec';

export interface Lease {
  window: AccessWindow;
}

export interface Span extends AccessWindow {
  leaseIds: string[];
}

const startOf = (w: AccessWindow) => (w.from === null ? -Infinity : w.from);
const endOf = (w: AccessWindow) => (w.until === null ? Infinity : w.until);

/** Merges lease windows that overlap or touch into spans, in time order; empty windows are ignored. */
export function spansOf(leases: Record<string, Lease>): Span[] {
  const items = Object.entries(leases)
    .filter(([, l]) => endOf(l.window) > startOf(l.window))
    .sort(([ia, a], [ib, b]) => startOf(a.window) - startOf(b.window) || endOf(a.window) - endOf(b.window) || (ia < ib ? -1 : 1));
  const spans: Span[] = [];
  for (const [id, lease] of items) {
    const last = spans[spans.length - 1];
    if (last && startOf(lease.window) <= endOf(last)) {
      if (endOf(lease.window) > endOf(last)) last.until = lease.window.until;
      last.leaseIds.push(id);
    } else {
      spans.push({ from: lease.window.from, until: lease.window.until, leaseIds: [id] });
    }
  }
  return spans;
}

/** The spans that have not ended at `now`, earliest first: Kisi should hold the first. */
export function liveSpans(leases: Record<string, Lease>, now: number): Span[] {
  return spansOf(leases).filter((s) => endOf(s) > now);
}

/**
 * Whether an applied Kisi window already does what `desired` asks at `now`: same end, and the
 * same start unless both starts are already in the past (then the door is open either way and a
 * Kisi call would change nothing anyone can observe).
 */
export function sameEffect(applied: AccessWindow | null, desired: AccessWindow | null, now: number): boolean {
  if (applied === null || desired === null) return applied === desired;
  if (applied.until !== desired.until) return false;
  if (applied.from === desired.from) return true;
  return startOf(applied) <= now && startOf(desired) <= now;
}

/** Whether a lease's whole window lies inside a span (the lease is served by it). */
export function covers(span: AccessWindow, window: AccessWindow): boolean {
  return startOf(span) <= startOf(window) && endOf(span) >= endOf(window);
}

export function sameWindow(a: AccessWindow | null, b: AccessWindow | null): boolean {
  if (a === null || b === null) return a === b;
  return a.from === b.from && a.until === b.until;
}
