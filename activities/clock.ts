/**
 * "Now" for activity code. In production the wall clock; under the time-skipping test server the
 * server's virtual clock, which the attempt's scheduled timestamp carries (virtual time only runs
 * ahead of the wall clock, so the later of the two is right in both worlds).
 */
import { Context } from '@temporalio/activity';

export function activityNow(): number {
  let scheduled = 0;
  try {
    scheduled = Context.current().info.currentAttemptScheduledTimestampMs;
  } catch {
    // not inside an activity (ingress, CLI): the wall clock
  }
  return Math.max(Date.now(), scheduled);
}
