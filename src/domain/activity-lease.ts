/**
 * The activity lease: which worker process runs the product's activities, and so spends the Kisi
 * and Nexudus allowances. Kisi allows 5 requests a second per API key and Nexudus one call at a time
 * per user; a gate per process keeps them only while one process calls. With the lease, any number
 * of workers run workflows, and exactly one of them at a time (the holder) polls activity tasks.
 *
 * Pure and free of Node APIs: the lease workflow (workflows/activity-lease.ts) applies these
 * transitions with workflow time, and the holder's side (src/temporal/activity-lease.ts) keeps its
 * own, shorter, deadline measured from when it asked (see `holderDeadline`).
 */

export interface LeaseState {
  /** Who holds the lease (a worker's identity), or null. */
  holder: string | null;
  /** Epoch ms (workflow time) after which the holder's lease is void. */
  until: number;
  /** Increases with every new holder: tells a holder's two tenures apart in logs and status. */
  fence: number;
}

export interface LeaseClaim {
  /** The claiming worker's identity: unique per process run. */
  holder: string;
  /** How long the lease lasts from the moment the claim is applied. */
  ttlMs: number;
  /**
   * A holder the claimant knows to be dead (an earlier process on its own host: src/temporal/
   * worker-identity.ts). Its lease is taken over at once instead of after it runs out.
   */
  replaces?: string;
}

export interface LeaseAnswer {
  /** True: the claimant holds the lease until `until` (workflow time). */
  held: boolean;
  /** The holder after the claim (the claimant, or whoever still holds it). */
  holder: string | null;
  until: number;
  fence: number;
  /** True when this claim started a new tenure (not a renewal of a lease still running). */
  acquired: boolean;
  /** When the claim was applied (workflow time): `until - at` is how long the lease still runs. */
  at: number;
}

export const NO_LEASE: LeaseState = { holder: null, until: 0, fence: 0 };

/** Lease lengths outside this range are refused: too short to renew in time, or too long to fail over. */
export const MIN_LEASE_TTL_MS = 3_000;
export const MAX_LEASE_TTL_MS = 10 * 60_000;

/** A reason the claim is refused before it is applied (the update validator), or null. */
export function claimProblem(claim: unknown): string | null {
  if (typeof claim !== 'object' || claim === null) return 'expected { holder, ttlMs }';
  const { holder, ttlMs, replaces } = claim as Partial<LeaseClaim>;
  if (typeof holder !== 'string' || holder.length === 0 || holder.length > 200) return 'holder must be a non-empty string of at most 200 characters';
  if (replaces !== undefined && (typeof replaces !== 'string' || replaces.length === 0 || replaces === holder)) return 'replaces must name another holder';
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < MIN_LEASE_TTL_MS || ttlMs > MAX_LEASE_TTL_MS) {
    return `ttlMs must be an integer from ${MIN_LEASE_TTL_MS} to ${MAX_LEASE_TTL_MS}`;
  }
  return null;
}

/**
 * Applies a claim at `now` (workflow time). The holder renews a running lease; anyone takes a lease
 * that is free or has run out; a lease someone else holds and has not run out is not taken, unless
 * the claim names that holder as dead (`replaces`).
 */
export function claimLease(state: LeaseState, claim: LeaseClaim, now: number): { state: LeaseState; answer: LeaseAnswer } {
  const takenOver = state.holder !== null && state.holder === claim.replaces;
  const running = state.holder !== null && now <= state.until && !takenOver;
  if (running && state.holder !== claim.holder) {
    return { state, answer: { held: false, holder: state.holder, until: state.until, fence: state.fence, acquired: false, at: now } };
  }
  const renewal = running; // and the holder is the claimant
  const next: LeaseState = { holder: claim.holder, until: now + claim.ttlMs, fence: renewal ? state.fence : state.fence + 1 };
  return { state: next, answer: { held: true, holder: next.holder, until: next.until, fence: next.fence, acquired: !renewal, at: now } };
}

/** The holder gives the lease back (a worker shutting down): the next claim takes it at once. */
export function releaseLease(state: LeaseState, holder: string): LeaseState {
  return state.holder === holder ? { holder: null, until: 0, fence: state.fence } : state;
}

/**
 * When the holder must have stopped calling the APIs, on its own monotonic clock: `ttlMs` after it
 * *sent* the claim, less a margin for the two clocks' drift. The lease workflow applied the claim
 * after it was sent, so its `until` is later than this in real time: by the time anyone else can
 * take the lease, the holder has stopped.
 */
export function holderDeadline(sentAt: number, ttlMs: number, marginMs: number): number {
  return sentAt + ttlMs - marginMs;
}
