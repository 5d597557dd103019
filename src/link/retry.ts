/**
 * The clients never retry on their own: inside the product, Temporal retries the activity. A
 * one-shot command has no Temporal behind it, so `npm run access-map` retries what ApiError calls
 * retryable (throttling, 5xx, network trouble) a few times itself, waiting what the server asked
 * for (the clients also hold back their own later calls after a 409/429). Anything else (bad key,
 * unknown id) is a person's problem and surfaces at once.
 */
import { isApiError } from '../clients/errors';

export interface RetryOptions {
  attempts: number;
  /** First wait when the answer names none; doubled on each further attempt. */
  baseDelayMs: number;
  sleep: (ms: number) => Promise<void>;
}

const MAX_DELAY_MS = 10_000;

export const DEFAULT_RETRY: RetryOptions = {
  attempts: 4,
  baseDelayMs: 500,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export async function retrying<T>(call: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isApiError(error) || !error.retryable || attempt >= options.attempts) throw error;
      await options.sleep(Math.min(error.retryAfterMs ?? options.baseDelayMs * 2 ** (attempt - 1), MAX_DELAY_MS));
    }
  }
}
