/**
 * pass-watch-<taskQueue>: one per deployment. Nexudus has no pass webhook, so a pass bought at the
 * desk surfaces only through its customer's `AccessControlUpdate`; the customer's sync
 * (workflows/customer-sync.ts) reads it too, but in the scheduled lane behind every other sync of
 * a 9:00 burst. The ingress pokes this workflow (signal-with-start, at most once per 500 ms per
 * ingress process) on each `AccessControlUpdate`; each poke asks for one look: one activity, in the
 * live lane, that lists the passes changed since the last look and delivers those whose grant does
 * not follow them yet (activities/passes.ts).
 *
 * - Pokes that arrive while a look runs are coalesced into one more look (the running look may have
 *   read before their pass was saved).
 * - The mark (`checkedUpTo`) is the activity's time at its read; the next look reads from a little
 *   before it (PASS_WATCH_OVERLAP_MS). A failed look (after its retries) keeps the mark: the next
 *   poke looks again from there. Nothing is lost meanwhile: the customer syncs still read passes,
 *   and reconcile repairs.
 * - It continues as new when its history grows (carrying the mark and whether a look is pending),
 *   and ends after PASS_WATCH_IDLE_MS without a poke: the next poke starts a new run, whose first
 *   look reaches back PASS_WATCH_FIRST_LOOK_MS (longer than the idle time).
 */
import { allHandlersFinished, condition, continueAsNew, isCancellation, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { PASS_WATCH_IDLE_MS, passesMayHaveChangedSignal, passWatchStatusQuery, type PassWatchInput } from '../src/contract/pass-watch';
import { ACTIVITY_OPTIONS, describeFailure, shouldContinueAsNew } from './policy';

/**
 * A look that keeps failing gives up within minutes: the next poke looks again from the same mark,
 * and pokes queued meanwhile need only one look.
 */
const { deliverRecentPasses } = proxyActivities<Activities>({ ...ACTIVITY_OPTIONS, startToCloseTimeout: '2 minutes', scheduleToCloseTimeout: '5 minutes' });

export async function passWatchWorkflow(input: PassWatchInput = {}): Promise<void> {
  let checkedUpTo = input.checkedUpTo;
  let pending = input.pending ?? false;
  let looking = false;
  let pokes = 0;
  let looks = 0;
  let lastError: string | null = null;
  const idleMs = input.idleMs ?? PASS_WATCH_IDLE_MS;

  setHandler(passesMayHaveChangedSignal, () => {
    pending = true;
    pokes++;
  });
  setHandler(passWatchStatusQuery, () => ({
    checkedUpTo: checkedUpTo === undefined ? null : new Date(checkedUpTo).toISOString(),
    looking,
    pending,
    pokes,
    looks,
    lastError,
  }));

  for (;;) {
    if (shouldContinueAsNew(input.historyLimit) && !looking) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof passWatchWorkflow>({ checkedUpTo, pending, historyLimit: input.historyLimit, idleMs: input.idleMs });
    }
    if (!pending) {
      // A run starts with its poke (signal-with-start), applied once the workflow yields: this wait
      // sees it. Without a poke for idleMs, end; a poke delivered just then is seen below.
      if (await condition(() => pending, idleMs)) continue;
      await condition(allHandlersFinished);
      if (!pending) return;
      continue;
    }
    pending = false;
    looking = true;
    try {
      const result = await deliverRecentPasses({ since: checkedUpTo });
      checkedUpTo = result.checkedUpTo;
      lastError = null;
    } catch (error) {
      if (isCancellation(error)) throw error;
      lastError = describeFailure(error);
    } finally {
      looking = false;
      looks++;
    }
  }
}
