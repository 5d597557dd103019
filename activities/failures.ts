/**
 * How an activity fails, decided once: an ApiError becomes an ApplicationFailure that Temporal
 * retries (with the provider's Retry-After as the next delay) or not, as errors.ts classified it.
 */
import { ApplicationFailure } from '@temporalio/activity';
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

/** Runs an activity body, translating failures. */
export async function asActivity<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw toActivityFailure(error);
  }
}

/** A failure that needs a person (bad data, missing email): never retried. */
export function needsPerson(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}
