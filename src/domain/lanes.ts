/**
 * Priority lanes of the API request gates (src/clients/request-gate.ts): who waits when the Kisi
 * and Nexudus allowances are short. Pure and free of Node APIs, so workflow code may import it
 * (a workflow can pick the lane of the activity it is about to run).
 *
 * - `live`: a person is (or soon will be) at the door: a change whose access starts within the
 *   next hour or has already begun, an operator's retry, a check-in.
 * - `scheduled`: a change whose access starts later than that: it has time to wait.
 * - `background`: work nobody waits for: reconcile, backfill, reports, syncs that change nothing.
 *
 * Live goes first, scheduled next, background takes what is left; aging in the gate keeps the
 * lower lanes moving (docs/architecture.md "Priority lanes").
 */

export const LANES = ['live', 'scheduled', 'background'] as const;
export type Lane = (typeof LANES)[number];

/**
 * Temporal's task-queue priority of each lane's workflows (`priorityKey`: 1 is dispatched first, 5
 * last, 3 is the server's default). The request gates order API calls inside a worker; this orders
 * the workflow and activity tasks waiting in Temporal before any worker takes them, so a live
 * booking's first workflow task does not queue behind a burst of webhook starts. Activities inherit
 * their workflow's priority. Set when a workflow starts (a signal to a running one keeps its own).
 * Self-hosted servers can turn priorities off with the dynamic config `matching.useNewMatcher=false`.
 */
export const TEMPORAL_PRIORITY_KEY: Readonly<Record<Lane, number>> = { live: 1, scheduled: 3, background: 5 };

/** The `priority` option of a workflow start for work of `lane`. */
export function temporalPriority(lane: Lane): { priorityKey: number } {
  return { priorityKey: TEMPORAL_PRIORITY_KEY[lane] };
}

/** A window starting within this much of now (or already begun) is live. */
export const LIVE_HORIZON_MS = 60 * 60_000;

export function isLane(value: unknown): value is Lane {
  return typeof value === 'string' && (LANES as readonly string[]).includes(value);
}

/** 0 for live, 1 for scheduled, 2 for background: lower goes first. */
export function laneRank(lane: Lane): number {
  return LANES.indexOf(lane);
}

/**
 * The lane of a change to an access window that starts at `from`, decided at `now` (epoch ms).
 * `from` is an ISO 8601 instant or epoch ms; null/undefined means the window has no start (it is
 * open already), which is live. A window that has begun is live too: someone may be at the door.
 * Throws RangeError for a `from` that is not a time (callers pass validated records).
 */
export function laneForWindow(from: string | number | null | undefined, now: number): Lane {
  if (from === null || from === undefined) return 'live';
  const start = typeof from === 'number' ? from : Date.parse(from);
  if (!Number.isFinite(start)) throw new RangeError(`laneForWindow: not a time: ${JSON.stringify(from)}`);
  if (!Number.isFinite(now)) throw new RangeError(`laneForWindow: now is not a time: ${String(now)}`);
  return start - now <= LIVE_HORIZON_MS ? 'live' : 'scheduled';
}
