/**
 * The lane and the cancellation of the API calls made inside a piece of work, carried by
 * AsyncLocalStorage so that a client's `send()` reads them without every method taking them as
 * arguments. `asActivity(body, { lane })` (activities/failures.ts) sets it around an activity body
 * with the activity's cancellation signal; the ingress and CLIs may set it with `withCallContext`.
 *
 * Outside any context a call goes in DEFAULT_LANE with no signal. `scheduled` because an
 * unannotated caller must neither overtake the door (live) nor wait behind the reconcile
 * (background). In the ingress that is the re-read of a record whose webhook body did not suffice
 * and the failed-check-ins report; in a CLI (its own process, its own gates) the lane only orders
 * that CLI's own calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { setMaxListeners } from 'node:events';
import type { Lane } from '../domain/lanes';

export interface CallContext {
  lane: Lane;
  /** Aborts queued calls (they leave the gate's queue, unsent) and in-flight ones (axios). */
  signal?: AbortSignal;
  /** Calls of this context (and the contexts inside it) that ended cancelled: see noteCancelledCall. */
  readonly cancelled: { calls: number };
}

export const DEFAULT_LANE: Lane = 'scheduled';

const storage = new AsyncLocalStorage<CallContext>();

/** The context of the calling code, or the default (DEFAULT_LANE, no signal). */
export function currentCallContext(): CallContext {
  return storage.getStore() ?? { lane: DEFAULT_LANE, cancelled: { calls: 0 } };
}

/**
 * The clients call this when a call ends cancelled. Code that catches a call's failure and goes on
 * (a reconcile counting per-record errors) could otherwise turn a cancelled attempt into a success
 * built on calls that never ran: asActivity refuses that success when the count is above 0.
 */
export function noteCancelledCall(): void {
  const store = storage.getStore();
  if (store) store.cancelled.calls++;
}

/**
 * Runs `fn` with calls in `context.lane` (else the surrounding lane) and cancelled by
 * `context.signal` or by the surrounding signal, whichever fires first.
 */
export function withCallContext<T>(context: { lane?: Lane; signal?: AbortSignal }, fn: () => T): T {
  const outer = storage.getStore();
  const signal = anySignal([outer?.signal, context.signal]);
  return storage.run({ lane: context.lane ?? outer?.lane ?? DEFAULT_LANE, signal, cancelled: outer?.cancelled ?? { calls: 0 } }, fn);
}

/**
 * A signal that fires when any of `signals` fires (undefined when none is given). Every queued or
 * in-flight call listens on it (the gate, axios), so a body with many calls at once would pass
 * Node's default of 10 listeners and warn of a leak: the limit is lifted on the signals made here.
 */
export function anySignal(signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  if (given.length <= 1) return given[0];
  const signal = AbortSignal.any(given);
  setMaxListeners(0, signal);
  return signal;
}
