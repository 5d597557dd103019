/**
 * The check-in workflow's contract: `checkin-<Kisi event uuid>`, one per unlock of a door the
 * access map marks "checkin". Workflow-safe.
 */
import { defineSignal } from '@temporalio/workflow';

export const CHECKIN_WORKFLOW_TYPE = 'checkinWorkflow';

export interface CheckinInput {
  /** 2: the current code (the check-in goes through the customer workflow, one at a time). */
  v?: 2;
  eventUuid: string;
  kisiUserId: number;
  kisiUserEmail: string | null;
  lockId: number;
  lockName: string | null;
  /** ISO instant of the unlock. */
  unlockedAt: string;
}

export interface CheckinResult {
  /**
   * checked-in: Nexudus has the check-in (made now, or by an earlier attempt of this unlock);
   * already-checked-in: the customer is in (an open check-in, or one the product made today that
   * was not checked out): nothing is created for this visit; refused: Nexudus said no (no valid
   * pass); unknown-customer: the Kisi user matches no Nexudus customer; failed: Nexudus could not
   * be reached for good.
   */
  outcome: 'checked-in' | 'already-checked-in' | 'refused' | 'unknown-customer' | 'failed';
  customerId: number | null;
  checkinId: number | null;
  reason: string | null;
}

/** The customer workflow's answer to a check-in workflow. */
export const checkinResultSignal = defineSignal<[CheckinResult]>('checkinResult');
