/**
 * membership-user-<kisiUserId>-<groupId>: the single serialization point for one Kisi user's access
 * to one Kisi group, and the only writer of that user's role assignments in it. Grants (of any
 * Nexudus customer sharing that user's email) hold leases on it; signals are applied one at a
 * time, so overlapping grants can never undo each other.
 *
 * A thin driver of the membership ledger (src/domain/membership-ledger.ts), which decides: it runs
 * the Kisi sync the ledger plans, feeds back the outcome, and sends the updates it lists. Kisi
 * enforces the window itself: the assignment carries valid_from/valid_until of the earliest live
 * span of touching leases, capped at KISI_MAX_VALIDITY and renewed before it lapses.
 */
import { allHandlersFinished, condition, continueAsNew, getExternalWorkflowHandle, isCancellation, patched, proxyActivities, setCurrentDetails, setHandler } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { membershipStatusQuery, requestLeaseSignal, returnLeaseSignal, verifyMembershipSignal, leaseUpdateSignal, type MembershipInput } from '../src/contract/membership';
import { AUTO_RETRY_AFTER_MS, MembershipLedger, type MembershipData } from '../src/domain/membership-ledger';
import { fitDetails } from '../src/domain/temporal-limits';
import { legacyMembershipWorkflow, type MembershipInput as LegacyMembershipInput } from './legacy/membership';
import { ACTIVITY_OPTIONS, Deadline, describeFailure, isOutage, shouldContinueAsNew } from './policy';

const { syncMembership } = proxyActivities<Activities>(ACTIVITY_OPTIONS);

/**
 * Patch marker: a sync that failed may have created an assignment in Kisi (its answer lost). The
 * membership remembers the windows it wrote and syncs once more, even when nothing else needs it,
 * to take such an assignment back (src/domain/membership-ledger.ts, unknownWrites).
 */
export const SWEEP_UNKNOWN_WRITES = 'sweep-unknown-writes';

export async function runMembership(input: MembershipInput): Promise<void> {
  const ledger = input.carried ? new MembershipLedger(input.carried as MembershipData) : MembershipLedger.fresh(input.kisiUserId, input.groupId);
  let dirty = true;
  const deadline = new Deadline('next span, renewal or retry');

  setHandler(requestLeaseSignal, (req) => {
    if (ledger.request(req)) dirty = true;
  });
  setHandler(returnLeaseSignal, (ret) => {
    if (ledger.giveBack(ret)) dirty = true;
  });
  setHandler(verifyMembershipSignal, () => {
    ledger.verify();
    dirty = true;
  });
  setHandler(membershipStatusQuery, () => ledger.status());

  for (;;) {
    dirty = false;
    const now = Date.now();
    ledger.adjust(now);
    const plan = ledger.syncPlan(now, { sweepUnknown: () => patched(SWEEP_UNKNOWN_WRITES) });
    if (plan) {
      try {
        ledger.synced(plan, await syncMembership(plan));
      } catch (error) {
        if (isCancellation(error)) throw error;
        // An outage may have left a create of ours in Kisi (carried out, its answer lost); a refusal did not.
        const outage = isOutage(error);
        ledger.syncFailed(describeFailure(error), outage ? Date.now() + AUTO_RETRY_AFTER_MS : null, outage ? plan : undefined);
      }
      if (dirty) continue; // leases changed while Kisi was being written: converge first, then announce
    }

    await announce(Date.now());
    setCurrentDetails(fitDetails(details()));

    if (ledger.finished()) {
      await condition(allHandlersFinished);
      if (ledger.finished()) return;
      continue;
    }
    if (shouldContinueAsNew(input.historyLimit) && allHandlersFinished() && !dirty) {
      await continueAsNew<typeof membershipWorkflow>({ ...input, carried: ledger.data });
    }
    deadline.set(ledger.nextWake(now));
    await condition(() => dirty || deadline.passed);
    if (!dirty) ledger.autoRetry(Date.now());
  }

  /** Tells holders what Kisi now does for their lease; a holder that no longer exists loses its lease. */
  async function announce(now: number): Promise<void> {
    await Promise.all(
      ledger.updates(now).map(async ({ holder, update, dropLeaseIfHolderGone }) => {
        try {
          await getExternalWorkflowHandle(holder).signal(leaseUpdateSignal, update);
        } catch (error) {
          if (isCancellation(error)) throw error;
          // The grant is gone without giving its lease back (terminated): it must not keep the door open.
          if (dropLeaseIfHolderGone) {
            ledger.holderGone(holder);
            dirty = true;
          }
        }
      }),
    );
  }

  function details(): string {
    const s = ledger.status();
    const h = s.holding;
    const leases = Object.entries(s.leases).map(([id, l]) => `- ${id} (customer ${l.customerId}): ${l.from ?? 'open'} → ${l.until ?? 'open-ended'}`);
    return [
      `**Kisi group ${s.groupId}**, Kisi user ${s.kisiUserId}${input.email ? ` <${input.email}>` : ''}`,
      h
        ? h.kind === 'own'
          ? `Kisi assignment ${h.assignmentId} (ours): ${h.from ?? 'open'} → ${h.until ?? 'open-ended'}${h.renewAt ? `, renewed at ${h.renewAt}` : ''}`
          : `Served by Kisi assignment ${h.assignmentId}, not ours (left as it is): ${h.from ?? 'open'} → ${h.until ?? 'open-ended'}`
        : 'No Kisi assignment',
      s.needsAttention ? `**Needs attention**: ${s.lastError ?? ''}` : '',
      leases.length ? `Leases:\n${leases.join('\n')}` : 'No leases',
    ]
      .filter(Boolean)
      .join('\n\n');
  }
}

/** Runs the legacy code for memberships keyed by customer (started before `v: 2`). */
export async function membershipWorkflow(input: MembershipInput | LegacyMembershipInput): Promise<void> {
  return (input as MembershipInput).v === 2 ? runMembership(input as MembershipInput) : legacyMembershipWorkflow(input as LegacyMembershipInput);
}

