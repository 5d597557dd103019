// Test workflows for test/activities/cancellation-temporal.test.ts: one cancels its activity, one
// lets an attempt run into its start-to-close timeout and retries.
import { ActivityCancellationType, CancellationScope, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';

export interface CancellationActivities {
  /** Waits for an answer that never comes (the call stays in flight). */
  waitForPlaces(): Promise<void>;
  /** Attempt 1 waits for an answer that never comes; later attempts are answered. Returns the attempt. */
  slowFirstAttempt(): Promise<number>;
}

const { waitForPlaces } = proxyActivities<CancellationActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: { maximumAttempts: 1 },
  // The workflow waits for the activity to confirm: a failure instead of a confirmation shows here.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

const { slowFirstAttempt } = proxyActivities<CancellationActivities>({
  startToCloseTimeout: '3 seconds',
  retry: { initialInterval: '100 milliseconds', maximumAttempts: 3 },
});

export async function cancelActivityAfter(ms: number): Promise<string> {
  const scope = new CancellationScope();
  const call = scope.run(() => waitForPlaces());
  await sleep(ms);
  scope.cancel();
  try {
    await call;
    return 'completed';
  } catch (error) {
    return isCancellation(error) ? 'cancelled' : `failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

export async function retryPastTimeout(): Promise<number> {
  return slowFirstAttempt();
}
