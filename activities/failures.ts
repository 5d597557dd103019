/**
 * How an activity fails, decided once: an ApiError becomes an ApplicationFailure that Temporal
 * retries (with the provider's Retry-After as the next delay) or not, as errors.ts classified it.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import { isApiError } from '../src/clients/errors';

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

/**
 * Runs an activity body, translating failures, and heartbeats while it runs: a worker that dies
 * (SIGKILL, lost host) or cannot report back is noticed within the heartbeat timeout and the
 * activity retried elsewhere, instead of after its start-to-close timeout. Long waits in the API
 * pacers are normal and keep heartbeating.
 */
export async function asActivity<T>(body: () => Promise<T>, options: { details?: () => unknown } = {}): Promise<T> {
  const ctx = currentContext();
  // Temporal keeps only the latest heartbeat's details: an activity that resumes from them (a
  // reconcile phase) passes `details`, or these keep-alive beats would erase its checkpoint.
  const beat = ctx ? setInterval(() => ctx.heartbeat(options.details?.()), HEARTBEAT_EVERY_MS) : undefined;
  try {
    return await body();
  } catch (error) {
    throw toActivityFailure(error);
  } finally {
    if (beat) clearInterval(beat);
  }
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
