/**
 * activity-lease-<taskQueue>: the one place that says which worker runs the deployment's activities
 * (src/domain/activity-lease.ts). Workers claim it by update every few seconds; the holder renews.
 * The lease runs on workflow time, so it needs no clock of its own and survives any worker.
 *
 * Each claim adds a few events: the workflow continues as new well before its history grows large,
 * carrying the lease.
 */
import { allHandlersFinished, condition, continueAsNew, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  activityLeaseStatusQuery,
  claimActivityLeaseUpdate,
  releaseActivityLeaseUpdate,
  type ActivityLeaseInput,
} from '../src/contract/activity-lease';
import { claimLease, claimProblem, NO_LEASE, releaseLease, type LeaseState } from '../src/domain/activity-lease';

/** Claims per run before continuing as new: about 5 events each, so histories stay near 2,500 events. */
export const CLAIMS_PER_RUN = 500;

export async function activityLeaseWorkflow(input: ActivityLeaseInput = {}): Promise<void> {
  let state: LeaseState = input.state ?? NO_LEASE;
  let handled = 0;

  setHandler(
    claimActivityLeaseUpdate,
    (claim) => {
      const applied = claimLease(state, claim, Date.now());
      state = applied.state;
      handled += 1;
      return applied.answer;
    },
    {
      validator: (claim) => {
        const problem = claimProblem(claim);
        if (problem) throw new Error(`claimActivityLease: ${problem}`);
      },
    },
  );
  setHandler(releaseActivityLeaseUpdate, ({ holder }) => {
    state = releaseLease(state, holder);
    handled += 1;
  });
  setHandler(activityLeaseStatusQuery, () => state);

  const claimsPerRun = input.claimsPerRun ?? CLAIMS_PER_RUN;
  await condition(() => handled >= claimsPerRun || workflowInfo().continueAsNewSuggested);
  await condition(allHandlersFinished);
  await continueAsNew<typeof activityLeaseWorkflow>({ state, claimsPerRun: input.claimsPerRun });
}
