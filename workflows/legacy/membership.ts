/**
 * LEGACY membership code, frozen: `membership-<customer>-<group>` as it ran before memberships
 * followed the Kisi user (input without `v: 2`). Running ones keep serving the grants that hold
 * their leases until those grants, moved onto the current code, give them back; then they end.
 * Their Kisi writes go through the `syncAssignment` activity, which never touches an assignment
 * they did not create. Change nothing here.
 *
 * membership-<customer>-<group>: the single serialization point for one customer's membership of
 * one Kisi group. Grants hold leases on it; only this workflow changes the Kisi role assignment,
 * so overlapping grants can never undo each other and concurrent acquire/release cannot lose an
 * update (signals are applied one at a time, in order).
 *
 * Kisi enforces the window itself: the assignment carries valid_from/valid_until of the earliest
 * live span of touching leases and is written as soon as that span is known. This workflow's
 * only timer moves the assignment on to the next span when one is waiting.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
} from '@temporalio/workflow';
import type { AppliedAssignment } from '../../src/contract/legacy';
import type { Activities } from '../../activities';
import type { AccessWindow } from '../../src/domain/grant-spec';
import { liveSpans, sameEffect, sameWindow } from '../../src/domain/leases';
import {
  acquireLeaseSignal,
  leaseNoticeSignal,
  membershipStatusQuery,
  releaseLeaseSignal,
  retryMembershipSignal,
  type LeaseNotice,
} from './messages';
import { ACTIVITY_OPTIONS, AUTO_RETRY_AFTER_MS, Deadline, describeFailure, isAutoRetryable, shouldContinueAsNew } from '../policy';

const { syncAssignment } = proxyActivities<Activities>(ACTIVITY_OPTIONS);

interface HeldLease {
  window: AccessWindow;
  requestSeq: number;
  /** What the holder was last told, so each change is announced once. */
  notified: { status: 'applied' | 'waiting' | 'failed'; window: AccessWindow } | null;
}

export type { AppliedAssignment };

export interface MembershipState {
  kisiUserId: number | null;
  leases: Record<string, HeldLease>;
  /** Highest request sequence seen in a release, per lease: older acquires (retried or late) are ignored. */
  releasedSeq: Record<string, number>;
  /** Releases not yet confirmed to their holder (with whether a failure was already reported). */
  pendingReleases: Record<string, { requestSeq: number; failureReported: boolean }>;
  applied: AppliedAssignment | null;
  needsAttention: boolean;
  lastError: string | null;
  autoRetry: boolean;
}

export interface MembershipInput {
  customerId: number;
  groupId: number;
  carried?: MembershipState;
  /** Continue-as-new after this many history events (tests); otherwise when Temporal suggests it. */
  historyLimit?: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export async function legacyMembershipWorkflow(input: MembershipInput): Promise<void> {
  const { customerId, groupId } = input;
  const s: MembershipState = input.carried ?? {
    kisiUserId: null,
    leases: {},
    releasedSeq: {},
    pendingReleases: {},
    applied: null,
    needsAttention: false,
    lastError: null,
    autoRetry: false,
  };
  let dirty = true;
  /** Set by the retry/verify signal: compare with Kisi even when nothing changed here (repairs hand edits). */
  let forceSync = false;
  const deadline = new Deadline('next span of leases');
  let autoRetryAt: number | undefined;

  const clearAttention = () => {
    s.needsAttention = false;
    s.autoRetry = false;
  };

  setHandler(acquireLeaseSignal, (req) => {
    if ((s.releasedSeq[req.leaseId] ?? -1) >= req.requestSeq) return; // a late copy of a request already released
    const held = s.leases[req.leaseId];
    if (held && held.requestSeq > req.requestSeq) return;
    s.leases[req.leaseId] = {
      window: req.window,
      requestSeq: req.requestSeq,
      notified: held && sameWindow(held.window, req.window) && held.requestSeq === req.requestSeq ? held.notified : null,
    };
    delete s.pendingReleases[req.leaseId];
    s.kisiUserId = req.kisiUserId;
    clearAttention();
    dirty = true;
  });

  setHandler(releaseLeaseSignal, ({ leaseId, requestSeq }) => {
    s.releasedSeq[leaseId] = Math.max(s.releasedSeq[leaseId] ?? -1, requestSeq);
    const held = s.leases[leaseId];
    if (held && held.requestSeq > requestSeq) return; // re-acquired since: this release is stale
    delete s.leases[leaseId];
    s.pendingReleases[leaseId] = { requestSeq, failureReported: false };
    clearAttention();
    dirty = true;
  });

  setHandler(retryMembershipSignal, () => {
    clearAttention();
    forceSync = true;
    for (const lease of Object.values(s.leases)) lease.notified = null;
    for (const p of Object.values(s.pendingReleases)) p.failureReported = false;
    dirty = true;
  });

  setHandler(membershipStatusQuery, () => ({
    customerId,
    groupId,
    kisiUserId: s.kisiUserId,
    leases: Object.fromEntries(Object.entries(s.leases).map(([id, l]) => [id, { from: iso(l.window.from), until: iso(l.window.until), requestSeq: l.requestSeq }])),
    assignment: s.applied ? { id: s.applied.assignmentId, from: iso(s.applied.from), until: iso(s.applied.until) } : null,
    needsAttention: s.needsAttention,
    lastError: s.lastError,
  }));

  for (;;) {
    dirty = false;
    const now = Date.now();
    const live = liveSpans(s.leases, now);
    const [span, next] = [live[0] ?? null, live[1] ?? null];
    const desired: AccessWindow | null = span ? { from: span.from, until: span.until } : null;
    const appliedWindow: AccessWindow | null = s.applied ? { from: s.applied.from, until: s.applied.until } : null;

    if (!s.needsAttention && (forceSync || !sameEffect(appliedWindow, desired, now))) {
      const verify = forceSync;
      forceSync = false;
      try {
        s.applied = await syncAssignment({
          customerId,
          groupId,
          kisiUserId: s.kisiUserId,
          assignmentId: s.applied?.assignmentId ?? null,
          desired,
          spans: live.map(({ from, until }) => ({ from, until })),
          verify,
        });
        s.lastError = null;
      } catch (error) {
        if (isCancellation(error)) throw error;
        s.needsAttention = true;
        s.autoRetry = isAutoRetryable(error);
        s.lastError = describeFailure(error);
      }
      if (dirty) continue; // leases changed while Kisi was being updated: converge first, then announce
    }

    // The leases Kisi serves: those of the live span the applied window is (the activity may have
    // written a later span than `span` if this one ended while it retried).
    const applied = s.applied;
    const announcedAt = Date.now();
    const served = applied
      ? liveSpans(s.leases, announcedAt).find((sp) => sameEffect({ from: applied.from, until: applied.until }, sp, announcedAt))
      : undefined;
    await announce(served?.leaseIds ?? []);
    setCurrentDetails(details());

    if (Object.keys(s.leases).length === 0 && Object.keys(s.pendingReleases).length === 0 && s.applied === null) {
      await condition(allHandlersFinished);
      if (Object.keys(s.leases).length === 0 && s.applied === null) return;
      continue;
    }

    if (shouldContinueAsNew(input.historyLimit) && allHandlersFinished()) {
      await continueAsNew<typeof legacyMembershipWorkflow>({ customerId, groupId, carried: s, historyLimit: input.historyLimit });
    }

    let at: number | undefined;
    if (s.needsAttention) {
      if (s.autoRetry) autoRetryAt ??= now + AUTO_RETRY_AFTER_MS;
      at = autoRetryAt;
    } else {
      autoRetryAt = undefined;
      if (next && span && span.until !== null) at = span.until; // move on to the next span then
    }
    deadline.set(at);
    await condition(() => dirty || deadline.passed);
    if (!dirty && s.needsAttention && s.autoRetry && autoRetryAt !== undefined && Date.now() >= autoRetryAt) {
      autoRetryAt = undefined;
      clearAttention(); // Kisi was unreachable for long: try again on our own, an operator need not
      for (const p of Object.values(s.pendingReleases)) p.failureReported = false;
    }
  }

  /** Tells holders what Kisi now does for their lease; a holder that no longer exists loses its lease. */
  async function announce(servedLeaseIds: string[]): Promise<void> {
    const notices: Array<{ holder: string; notice: LeaseNotice; onUnknownHolder?: () => void }> = [];
    for (const [leaseId, lease] of Object.entries(s.leases)) {
      let status: 'applied' | 'waiting' | 'failed' | null = null;
      if (s.needsAttention) status = 'failed';
      else if (servedLeaseIds.includes(leaseId)) status = 'applied';
      else if (lease.notified?.status === 'applied') status = 'waiting'; // displaced by an earlier span
      if (status === null) continue;
      if (lease.notified && lease.notified.status === status && sameWindow(lease.notified.window, lease.window)) continue;
      lease.notified = { status, window: lease.window };
      notices.push({
        holder: leaseId,
        notice: { customerId, groupId, leaseId, status, window: lease.window, error: status === 'failed' ? s.lastError : null, requestSeq: lease.requestSeq },
        onUnknownHolder: () => {
          // The grant is gone without releasing (terminated): its lease must not keep the door open.
          delete s.leases[leaseId];
          dirty = true;
        },
      });
    }
    for (const [leaseId, pending] of Object.entries(s.pendingReleases)) {
      const status = s.needsAttention ? 'failed' : 'released';
      if (status === 'released') delete s.pendingReleases[leaseId];
      else if (pending.failureReported) continue;
      else pending.failureReported = true;
      notices.push({
        holder: leaseId,
        notice: { customerId, groupId, leaseId, status, window: null, error: status === 'failed' ? s.lastError : null, requestSeq: pending.requestSeq },
      });
    }
    await Promise.all(
      notices.map(async ({ holder, notice, onUnknownHolder }) => {
        try {
          await getExternalWorkflowHandle(holder).signal(leaseNoticeSignal, notice);
        } catch (error) {
          if (isCancellation(error)) throw error;
          onUnknownHolder?.();
          if (notice.status === 'failed') delete s.pendingReleases[holder];
        }
      }),
    );
  }

  function details(): string {
    const leases = Object.entries(s.leases).map(([id, l]) => `- ${id}: ${iso(l.window.from) ?? 'open'} → ${iso(l.window.until) ?? 'open-ended'}`);
    return [
      `**Kisi group ${groupId}**, Nexudus customer ${customerId}${s.kisiUserId ? ` (Kisi user ${s.kisiUserId})` : ''}`,
      s.applied
        ? `Kisi assignment ${s.applied.assignmentId}: ${iso(s.applied.from) ?? 'open'} → ${iso(s.applied.until) ?? 'open-ended'}`
        : 'No Kisi assignment',
      s.needsAttention ? `**Needs attention**: ${s.lastError ?? ''}` : '',
      leases.length ? `Leases:\n${leases.join('\n')}` : 'No leases',
    ]
      .filter(Boolean)
      .join('\n\n');
  }
}
