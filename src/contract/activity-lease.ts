/**
 * The activity lease's contract: `activity-lease-<taskQueue>` decides which worker process of a
 * deployment runs its activities (src/domain/activity-lease.ts says why). Workflow-safe.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { LeaseAnswer, LeaseClaim, LeaseState } from '../domain/activity-lease';

export type { LeaseAnswer, LeaseClaim, LeaseState } from '../domain/activity-lease';

export const ACTIVITY_LEASE_WORKFLOW_TYPE = 'activityLeaseWorkflow';

/** One lease per deployment: its task queue names it. */
export function activityLeaseWorkflowId(taskQueue: string): string {
  return `activity-lease-${taskQueue}`;
}

export interface ActivityLeaseInput {
  /** The lease carried over continue-as-new (absent at the first start: nobody holds it). */
  state?: LeaseState;
  /** Claims and releases per run before continuing as new (default CLAIMS_PER_RUN; tests set fewer). */
  claimsPerRun?: number;
}

/** Take or renew the lease; answers who holds it now. */
export const claimActivityLeaseUpdate = defineUpdate<LeaseAnswer, [LeaseClaim]>('claimActivityLease');
/** Give the lease back (a holder shutting down): the next claim takes it at once. */
export const releaseActivityLeaseUpdate = defineUpdate<void, [{ holder: string }]>('releaseActivityLease');
/** Who holds the lease, until when (workflow time) and in which tenure. */
export const activityLeaseStatusQuery = defineQuery<LeaseState>('activityLeaseStatus');
