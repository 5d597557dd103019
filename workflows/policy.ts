/**
 * Timeouts, retries and failure wording shared by the grant and membership workflows.
 */
import { RetryState } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, CancellationScope, sleep, TimeoutFailure, workflowInfo, type ActivityOptions } from '@temporalio/workflow';

/**
 * Retryable Kisi/Nexudus errors (5xx, 429, 409 throttling, network) retry with backoff for up to an
 * hour; non-retryable ones (bad key, unknown group, validation) fail at once and put the workflow
 * in needs-attention. Activities pace themselves under the providers' rate limits, which can mean
 * queueing: hence the generous start-to-close.
 */
export const ACTIVITY_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  // Activities heartbeat every 5 s while they run (activities/failures.ts asActivity): a worker
  // killed mid-activity is noticed after this, not after the start-to-close timeout.
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 hour',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/** After an hour of a retryable outage the workflow shows needs-attention and tries again this often by itself. */
export const AUTO_RETRY_AFTER_MS = 10 * 60_000;

/**
 * True when the failure was an outage that outlasted the retries (worth trying again later
 * unattended). LEGACY reading, kept for the legacy workflows' replay: it misses the common case
 * where the retries ran out of time between attempts (see isOutage).
 */
export function isAutoRetryable(error: unknown): boolean {
  return error instanceof ActivityFailure && error.cause instanceof TimeoutFailure;
}

/**
 * True when retrying stopped because time ran out (the schedule-to-close timeout), whether during
 * an attempt (a TimeoutFailure) or between attempts (retry state TIMEOUT, the last attempt's error
 * as the cause): an outage, not a refusal, so the workflow tries again later on its own.
 */
export function isOutage(error: unknown): boolean {
  if (!(error instanceof ActivityFailure)) return false;
  return error.cause instanceof TimeoutFailure || error.retryState === RetryState.TIMEOUT;
}

/** One line for operators: the provider's message, status and code, without stack traces. */
export function describeFailure(error: unknown): string {
  if (error instanceof ActivityFailure) {
    const cause = error.cause;
    if (error.retryState === RetryState.TIMEOUT && !(cause instanceof TimeoutFailure)) {
      return `gave up after retrying for ${ACTIVITY_OPTIONS.scheduleToCloseTimeout} (last error: ${cause?.message ?? error.message}); retrying every ${AUTO_RETRY_AFTER_MS / 60_000} minutes`;
    }
    if (cause instanceof ApplicationFailure) return cause.message || cause.type || 'activity failed';
    if (cause instanceof TimeoutFailure) return `gave up after retrying for ${ACTIVITY_OPTIONS.scheduleToCloseTimeout} (${cause.message || cause.timeoutType}); retrying every ${AUTO_RETRY_AFTER_MS / 60_000} minutes`;
    return cause?.message ?? error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Continue-as-new when Temporal suggests it, or past an explicit history limit (tests). */
export function shouldContinueAsNew(historyLimit: number | undefined): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || (historyLimit !== undefined && info.historyLength >= historyLimit);
}

/**
 * One durable timer towards a deadline, kept across loop iterations: a workflow that wakes for a
 * signal and goes back to waiting for the same moment must not start (and pay for) a new timer.
 */
export class Deadline {
  private at: number | undefined;
  private scope: CancellationScope | undefined;
  private fired = false;

  constructor(private readonly summary: string) {}

  /** Aims the timer at `at` (epoch ms), or disarms it with undefined. Same target: nothing changes. */
  set(at: number | undefined): void {
    if (at === this.at && (this.fired || this.scope)) return;
    this.scope?.cancel();
    this.scope = undefined;
    this.at = at;
    this.fired = false;
    if (at === undefined) return;
    const scope = new CancellationScope();
    this.scope = scope;
    scope
      .run(() => sleep(Math.max(1, at - Date.now()), { summary: this.summary }))
      .then(
        () => {
          if (this.scope === scope) this.fired = true;
        },
        () => undefined, // cancelled: a newer deadline replaced it
      );
  }

  /** True once the armed deadline has passed (until it is re-aimed). */
  get passed(): boolean {
    return this.fired;
  }
}
