/**
 * How an activity fails, decided once: an ApiError becomes an ApplicationFailure that Temporal
 * retries (with the provider's Retry-After as the next delay) or not, as errors.ts classified it.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import { anySignal, currentCallContext, withCallContext } from '../src/clients/call-context';
import { isApiError } from '../src/clients/errors';
import type { Lane } from '../src/domain/lanes';

export function toActivityFailure(error: unknown): unknown {
  if (error instanceof ApplicationFailure) return error;
  if (isApiError(error)) {
    return ApplicationFailure.create({
      type: `${error.service}:${error.status ?? error.transport ?? 'error'}`,
      message: error.message,
      nonRetryable: !error.retryable,
      nextRetryDelay: error.retryAfterMs,
      details: [error.toJSON()],
    });
  }
  if (error instanceof ZodError) {
    // A record we cannot read will not become readable by asking again.
    return ApplicationFailure.create({
      type: 'InvalidRecord',
      message: `unexpected record shape: ${error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      nonRetryable: true,
    });
  }
  return error;
}

/** How often a running activity tells Temporal it is alive (see HEARTBEAT_TIMEOUT in workflows/policy.ts). */
export const HEARTBEAT_EVERY_MS = 5_000;

/** How long before its start-to-close timeout an attempt stops its API calls (at most a tenth of the timeout). */
export const ATTEMPT_DEADLINE_MARGIN_MS = 5_000;

export interface AsActivityOptions {
  /** The heartbeat details a resuming activity keeps (see below). */
  details?: () => unknown;
  /**
   * The lane of the body's Kisi and Nexudus calls (src/domain/lanes.ts): `live`, `scheduled` or
   * `background`. Unset: the surrounding lane, else DEFAULT_LANE (scheduled; src/clients/call-context.ts).
   * For a grant change: `{ lane: laneForWindow(window.from, now) }`.
   */
  lane?: Lane;
}

/**
 * Runs an activity body, translating failures, and heartbeats while it runs: a worker that dies
 * (SIGKILL, lost host) or cannot report back is noticed within the heartbeat timeout and the
 * activity retried elsewhere, instead of after its start-to-close timeout. Long waits in the API
 * gates are normal and keep heartbeating.
 *
 * The body's API calls go in `options.lane` and carry a signal (src/clients/call-context.ts) that
 * fires on the activity's cancellation or at the attempt's own deadline, whichever comes first:
 * - Temporal's cancellation signal (SDK 1.24; heartbeating is what lets it arrive). It fires when
 *   the workflow cancels the activity (learned from the answer to a heartbeat, which the SDK sends
 *   at most every 0.8 x heartbeat timeout: up to 24 s with our 30 s), when the server no longer
 *   knows the attempt (it timed out or the run closed: NOT_FOUND on a heartbeat), when the SDK's
 *   local timers see the heartbeat or start-to-close timeout passed (5 s after it, TIMED_OUT), and
 *   when the worker shuts down past its grace time (WORKER_SHUTDOWN). The body's failure is then
 *   replaced by that CancelledFailure: the SDK reports it as cancelled, or for a shutdown as a
 *   retryable failure, never as the not-retryable "cancelled" ApiError the clients throw.
 * - The attempt deadline: ATTEMPT_DEADLINE_MARGIN_MS before start-to-close, counted from the start
 *   of the body. The SDK's own timer fires only 5 s *after* the server timed the attempt out, while
 *   the retry may already run; this one fires before, so no call of this attempt starts or stays
 *   in flight once Temporal may have started the next. The attempt then fails retryably
 *   (`AttemptDeadline`).
 * A queued call leaves its gate unsent; an in-flight one is aborted (one that already reached the
 * server may still have been done there: idempotent activities look before they write again).
 */
export async function asActivity<T>(body: () => Promise<T>, options: AsActivityOptions = {}): Promise<T> {
  const ctx = currentContext();
  // Temporal keeps only the latest heartbeat's details: an activity that resumes from them (a
  // reconcile phase) passes `details`, or these keep-alive beats would erase its checkpoint.
  const beat = ctx ? setInterval(() => ctx.heartbeat(options.details?.()), HEARTBEAT_EVERY_MS) : undefined;
  const deadline = ctx ? attemptDeadline(ctx.info.startToCloseTimeoutMs) : undefined;
  const signal = anySignal([ctx?.cancellationSignal, deadline?.signal]);
  let cancelled = { calls: 0 };
  const stopped = (error?: unknown): unknown => {
    if (ctx?.cancellationSignal.aborted) return ctx.cancellationSignal.reason ?? error;
    if (deadline?.signal.aborted) {
      return ApplicationFailure.create({
        type: 'AttemptDeadline',
        message: `stopped ${deadline.marginMs} ms before the start-to-close timeout so that no call of this attempt runs beside its retry`,
        nonRetryable: false,
      });
    }
    return undefined;
  };
  try {
    const result = await withCallContext({ lane: options.lane, signal }, () => {
      cancelled = currentCallContext().cancelled;
      return body();
    });
    // A body that caught a call cancelled by this attempt's signal and carried on must not report
    // success built on it.
    const stop = cancelled.calls > 0 ? stopped() : undefined;
    if (stop !== undefined) throw stop;
    return result;
  } catch (error) {
    throw stopped(error) ?? toActivityFailure(error);
  } finally {
    if (beat) clearInterval(beat);
    deadline?.clear();
  }
}

/** An AbortSignal that fires ATTEMPT_DEADLINE_MARGIN_MS (at most a tenth) before `startToCloseMs` from now. */
function attemptDeadline(startToCloseMs: number): { signal: AbortSignal; marginMs: number; clear: () => void } | undefined {
  if (!(startToCloseMs > 0)) return undefined;
  const controller = new AbortController();
  const marginMs = Math.min(ATTEMPT_DEADLINE_MARGIN_MS, Math.floor(startToCloseMs / 10));
  const timer = setTimeout(() => controller.abort(new Error('attempt deadline')), startToCloseMs - marginMs);
  return { signal: controller.signal, marginMs, clear: () => clearTimeout(timer) };
}

/** The running activity's context, or undefined outside an activity (unit tests of a body). */
export function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** A failure that needs a person (bad data, missing email): never retried. */
export function needsPerson(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
