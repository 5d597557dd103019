/**
 * The grant workflows (booking-*, pass-*, contract-*): a thin driver of the grant ledger
 * (src/domain/grant-ledger.ts), which decides everything. The grant follows the latest state of its
 * Nexudus record and of its customer (signals carry both), holds one lease per Kisi group on the
 * memberships of the customer's Kisi user for the access window, and gives them back when the
 * window is over, the record ends, the customer is suspended, or an operator cancels it.
 *
 * Kisi opens and closes doors on its own (the membership writes valid_from/valid_until as soon
 * as the window is known); this workflow's timer only gives the leases back when the window is over.
 *
 * An operator's cancellation gives everything back and then waits, holding nothing, for a newer
 * version of the record (or an operator's retry): the decision outlives Temporal's retention
 * because the run that remembers it is still running.
 */
import {
  ActivityCancellationType,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  customerChangedSignal,
  grantStatusQuery,
  retrySignal,
  sourceChangedSignal,
  upgradeGrantSignal,
  type GrantInput,
  type GrantResult,
  type GrantState,
} from '../src/contract/grant';
import { leaseUpdateSignal, returnLeaseSignal } from '../src/contract/membership';
import { AUTO_RETRY_AFTER_MS, GrantLedger, type GrantData, type LedgerLeaseUpdate } from '../src/domain/grant-ledger';
import { legacyMembershipWorkflowId, type GrantKind } from '../src/domain/ids';
import { changedAttributePairs } from '../src/domain/search-attributes';
import { fitDetails } from '../src/domain/temporal-limits';
import { leaseNoticeSignal as legacyLeaseNoticeSignal, releaseLeaseSignal as legacyReleaseLeaseSignal } from './legacy/messages';
import { runLegacyGrant, type GrantInput as LegacyGrantInput } from './legacy/grant';
import { ACTIVITY_OPTIONS, Deadline, describeFailure, isOutage, shouldContinueAsNew } from './policy';

const { refreshGrantSpec } = proxyActivities<Activities>(ACTIVITY_OPTIONS);
/**
 * A cancelled grant waits for a running request to finish before it gives leases back, so a
 * request cannot reach a membership after the return that was meant to end it.
 */
const { requestLeases } = proxyActivities<Activities>({ ...ACTIVITY_OPTIONS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED });

/** How long a cancelled grant waits for Kisi to confirm the removal before it settles anyway. */
const CANCEL_RELEASE_WAIT_MS = 5 * 60_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * A membership is signalled from inside the request activity and can sync Kisi and answer before
 * that activity's result reaches the grant; it tells each lease once. Runs before this marker
 * dropped such an early failure (a first request Kisi refused stayed 'requested' for good) and let
 * the request's result overwrite such an early answer to a re-request; their replay keeps that.
 */
export const KEEP_EARLY_LEASE_ANSWER = 'keep-early-lease-answer';

export async function runGrant(kind: GrantKind, input: GrantInput): Promise<GrantResult> {
  const info = workflowInfo();
  const grantId = info.workflowId;
  // A fresh run numbers its lease requests from its start time in ms: above every request of an
  // earlier run of this grant id (an expired booking extended runs again), which a membership
  // still serving another grant would otherwise ignore as stale.
  const ledger = input.carried
    ? new GrantLedger(grantId, kind, input.carried as GrantData)
    : GrantLedger.fresh(grantId, kind, input.spec, info.runStartTime.getTime(), input.openStart ?? info.startTime.getTime());
  let dirty = true;
  let retryRequested = false;
  /** The one timer: the end of the window (or the next automatic retry). */
  const deadline = new Deadline('end of access window');

  setHandler(sourceChangedSignal, (next) => {
    if (ledger.sourceChanged(next)) dirty = true;
  });
  setHandler(customerChangedSignal, (facts) => {
    if (ledger.customerChanged(facts)) dirty = true;
  });
  setHandler(retrySignal, () => {
    retryRequested = true;
    dirty = true;
  });
  /** The marker is asked for only when the rule decides something, so other histories stay as they were. */
  const leaseUpdate = (update: LedgerLeaseUpdate) => {
    ledger.leaseUpdate(update, { keepEarlyAnswer: !ledger.answersUnrecordedRequest(update) || patched(KEEP_EARLY_LEASE_ANSWER) });
    dirty = true;
  };
  setHandler(leaseUpdateSignal, leaseUpdate);
  // Legacy memberships (keyed by customer) answer a grant that moved off them in their own shape.
  setHandler(legacyLeaseNoticeSignal, (notice) => {
    leaseUpdate({ ...notice, membershipId: legacyMembershipWorkflowId(notice.customerId, notice.groupId), kisiUserId: null, legacyCustomerId: notice.customerId });
  });
  setHandler(upgradeGrantSignal, () => undefined); // already on the current code
  setHandler(grantStatusQuery, () => ledger.status(Date.now()));

  try {
    for (;;) {
      dirty = false;
      const now = Date.now();
      if (retryRequested) {
        retryRequested = false;
        await retry(now);
        continue;
      }
      await request(now);
      await giveBack(now);
      const done = ledger.done(now);
      if (done) {
        ledger.data.finished = ledger.data.operatorCancel === null;
        if (ledger.data.grantedAt !== null && ledger.data.revokedAt === null) ledger.data.revokedAt = now;
      }
      publish(now);
      if (done) {
        deadline.set(undefined);
        await condition(allHandlersFinished);
        return result(ledger.data.operatorCancel ? 'cancelled' : ledger.spec.lifecycle === 'ended' ? 'ended' : 'expired');
      }
      if (shouldContinueAsNew(input.historyLimit) && allHandlersFinished() && !dirty) {
        await continueAsNew<typeof bookingGrant>({ v: 2, spec: ledger.spec, carried: ledger.data, historyLimit: input.historyLimit });
      }
      deadline.set(ledger.nextWake(now));
      await condition(() => dirty || deadline.passed);
      if (!dirty && ledger.autoRetryDue(Date.now())) retryRequested = true;
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // An operator cancelled the grant: give back everything it holds, even though cancelled.
    await CancellationScope.nonCancellable(async () => {
      ledger.operatorCancelled(Date.now());
      await giveBack(Date.now());
      await condition(() => ledger.nothingHeld(), CANCEL_RELEASE_WAIT_MS);
      if (ledger.data.grantedAt !== null) ledger.data.revokedAt = Date.now();
      publish(Date.now());
    });
    // An operator's retry that arrived meanwhile lifts the decision at once.
    if (retryRequested) ledger.retry();
    if (ledger.data.operatorCancel && ledger.done(Date.now())) return result('cancelled');
    // Hold the decision in a fresh (cancellable) run that grants nothing until the record changes.
    await continueAsNew<typeof bookingGrant>({ v: 2, spec: ledger.spec, carried: ledger.data, historyLimit: input.historyLimit });
    throw error; // not reached: continueAsNew does not return
  }

  function result(reason: GrantResult['reason']): GrantResult {
    const state: GrantState = reason === 'cancelled' ? 'cancelled' : 'revoked';
    return { state, reason, grantedAt: iso(ledger.data.grantedAt), revokedAt: iso(ledger.data.revokedAt) };
  }

  /** Asks the memberships of the customer's Kisi user for the leases the ledger plans. */
  async function request(now: number): Promise<void> {
    const plan = ledger.requestPlan(now);
    if (!plan) return;
    const spec = ledger.spec;
    try {
      const answer = await requestLeases({
        grantId,
        customerId: spec.customerId,
        customerName: spec.customerName,
        specEmail: spec.customerEmail,
        groups: plan.groups,
        window: plan.window,
        requestSeq: plan.requestSeq,
        resolve: plan.resolve,
        fresh: plan.fresh,
        person: plan.person,
        facts: plan.facts,
      });
      ledger.requested(plan, answer);
    } catch (error) {
      if (isCancellation(error)) throw error;
      ledger.requestFailed(describeFailure(error), isOutage(error) ? now + AUTO_RETRY_AFTER_MS : null);
    }
  }

  /** Gives back the leases the ledger no longer needs; a membership that is gone holds nothing. */
  async function giveBack(now: number): Promise<void> {
    await Promise.all(
      ledger.returnPlans(now).map(async ({ membershipId, legacy, ret }) => {
        try {
          const handle = getExternalWorkflowHandle(membershipId);
          if (legacy) await handle.signal(legacyReleaseLeaseSignal, { leaseId: ret.leaseId, requestSeq: ret.requestSeq });
          else await handle.signal(returnLeaseSignal, ret);
        } catch (error) {
          if (isCancellation(error)) throw error;
          ledger.returnUndeliverable(membershipId);
        }
      }),
    );
  }

  /** Operator (or automatic) retry: re-read the record and the access map, then ask again for what failed. */
  async function retry(now: number): Promise<void> {
    ledger.retry();
    const spec = ledger.spec;
    try {
      ledger.refreshed(await refreshGrantSpec({ kind, sourceId: spec.sourceId, customerId: spec.customerId }));
    } catch (error) {
      if (isCancellation(error)) throw error;
      ledger.refreshFailed(describeFailure(error), isOutage(error) ? now + AUTO_RETRY_AFTER_MS : null);
    }
  }

  /**
   * Keeps search attributes and the UI's details in step. Each upsert is a billed action: the
   * email, learnt with the Kisi user, waits for the next state change unless it replaces another.
   */
  function publish(now: number): void {
    const d = ledger.data;
    const state = ledger.state(now);
    if (state === 'granted' && d.grantedAt === null) d.grantedAt = now;
    const values = ledger.attributes(state);
    let changes = changedAttributePairs(d.published, values);
    if (changes.length === 1 && changes[0]!.key.name === 'CustomerEmail' && (d.published?.customerEmail ?? null) === null) changes = [];
    if (changes.length > 0) {
      upsertSearchAttributes(changes as unknown as SearchAttributeUpdatePair[]);
      d.published = values;
    }
    setCurrentDetails(fitDetails(details(state, now)));
  }

  function details(state: GrantState, now: number): string {
    const spec = ledger.spec;
    const status = ledger.status(now);
    const w = spec.window;
    const who = spec.customerName ?? `customer ${spec.customerId}`;
    const lines = [
      `**${spec.label}** for ${who}${status.customerEmail ? ` <${status.customerEmail}>` : ''}${status.kisiUserId !== null ? ` (Kisi user ${status.kisiUserId})` : ''}`,
      w ? `Access ${iso(w.from) ?? 'from now'} → ${iso(w.until) ?? 'open-ended'}` : 'No access window',
      `State: **${state}**${spec.lifecycle !== 'active' ? ` (${spec.lifecycle}${spec.endedReason ? `: ${spec.endedReason}` : ''})` : ''}`,
      `Kisi groups: ${spec.groups.join(', ') || 'none mapped'}`,
    ];
    if (state === 'suspended') lines.push('The customer is inactive in Nexudus: no door until they are active again.');
    if (state === 'cancelled') lines.push(`Cancelled by an operator at ${status.operatorCancelled?.at}: nothing is granted until the record changes in Nexudus, or \`npm run grants -- retry ${grantId}\` lifts it.`);
    if (state === 'needs-attention' && status.lastError) lines.push(`Error: ${status.lastError}`, `Fix the cause, then send the \`retry\` signal: \`npm run grants -- retry ${grantId}\``);
    return lines.join('\n\n');
  }
}

/** Runs the legacy code for runs started before `v: 2` (they move onto this code at once when live). */
function dispatch(kind: GrantKind, input: GrantInput | LegacyGrantInput): Promise<GrantResult> {
  return (input as GrantInput).v === 2 ? runGrant(kind, input as GrantInput) : runLegacyGrant(kind, input as LegacyGrantInput);
}

export async function bookingGrant(input: GrantInput): Promise<GrantResult> {
  return dispatch('booking', input);
}

export async function passGrant(input: GrantInput): Promise<GrantResult> {
  return dispatch('pass', input);
}

export async function contractGrant(input: GrantInput): Promise<GrantResult> {
  return dispatch('contract', input);
}
