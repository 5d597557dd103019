/**
 * LEGACY grant code, frozen: the grant workflows as they ran before memberships followed the Kisi
 * user (input without `v: 2`). Committed histories of that time replay through it
 * (test/replay/histories/before-v2 and older). A run of it that executes live on this worker moves
 * onto the current code at once (patched MOVE_TO_CURRENT_GRANT below): it continues as new with its
 * state converted (./upgrade.ts). Change nothing else here.
 *
 * The lifecycle every grant shares (booking-*, pass-*, contract-*). A grant follows the latest
 * state of its Nexudus record (signals carry it), holds one lease per Kisi group on the
 * customer's membership workflows for the access window, and gives the leases back when the
 * window is over, the record ends, or an operator cancels it.
 *
 * Kisi opens and closes doors on its own (the membership writes valid_from/valid_until as soon
 * as the window is known); this workflow's timer only returns the leases when the window is over.
 */
import {
  ActivityCancellationType,
  allHandlersFinished,
  CancellationScope,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { legacyMembershipWorkflowId as membershipWorkflowId, type GrantKind } from '../../src/domain/ids';
import { upgradeGrantSignal } from '../../src/contract/grant';
import type { GrantCarried } from './grant-carried';

export type { GrantCarried } from './grant-carried';
import { legacyGrantToCurrent } from './upgrade';
import { sameWindow } from '../../src/domain/leases';
import { changedAttributePairs, grantAttributeValues } from '../../src/domain/search-attributes';
import {
  grantStatusQuery,
  leaseNoticeSignal,
  releaseLeaseSignal,
  retrySignal,
  sourceChangedSignal,
  type GrantResult,
  type GrantState,
  type GrantStatus,
} from './messages';
import { ACTIVITY_OPTIONS, AUTO_RETRY_AFTER_MS, Deadline, describeFailure, isAutoRetryable, shouldContinueAsNew } from '../policy';

const { refreshGrantSpec } = proxyActivities<Activities>(ACTIVITY_OPTIONS);
/**
 * A cancelled grant waits for a running acquisition to stop before it releases, so a lease
 * request cannot reach a membership after the release that was meant to end it.
 */
const { acquireLeases } = proxyActivities<Activities>({ ...ACTIVITY_OPTIONS, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED });

/** How long a cancelled grant waits for Kisi to confirm the removal before it ends anyway. */
const CANCEL_RELEASE_WAIT_MS = 5 * 60_000;

export interface GrantInput {
  spec: GrantSpec;
  carried?: GrantCarried;
  /** Continue-as-new after this many history events (tests); otherwise when Temporal suggests it. */
  historyLimit?: number;
  /** The AccessStartsAt the starter used for a window without a start (see grantAttributeValues). */
  openStart?: number;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Whether `next` may replace `current`: deletion is final, and an older record never wins. */
export function supersedes(current: GrantSpec, next: GrantSpec): boolean {
  if (next.kind !== current.kind || next.sourceId !== current.sourceId) return false;
  if (current.lifecycle === 'ended') return false;
  if (next.lifecycle === 'ended') return true;
  if (current.version !== null && next.version !== null) return next.version >= current.version;
  return true;
}

/** The memberships the spec needs at `now`, keyed by membership workflow id. */
function wantedLeases(spec: GrantSpec, now: number): Map<string, { customerId: number; groupId: number }> {
  const wanted = new Map<string, { customerId: number; groupId: number }>();
  const w = spec.window;
  if (spec.lifecycle !== 'active' || !w) return wanted;
  if (w.until !== null && (w.until <= now || (w.from !== null && w.until <= w.from))) return wanted;
  for (const groupId of spec.groups) wanted.set(membershipWorkflowId(spec.customerId, groupId), { customerId: spec.customerId, groupId });
  return wanted;
}

function windowOver(spec: GrantSpec, now: number): boolean {
  if (spec.lifecycle === 'ended') return true;
  const until = spec.window?.until;
  return until !== null && until !== undefined && until <= now;
}

/**
 * Where a fresh run's lease requests are numbered from. A membership ignores requests numbered at
 * or below the last release it saw from a lease id, and a grant id runs again when an expired
 * booking or pass is extended: numbering each run from 0 made the membership drop the new run's
 * requests for good (the grant stayed 'requested', and lost the door once another grant on that
 * group ended). Numbering from the run's start in ms puts every later run above every earlier one
 * (a run never makes more requests than it lives milliseconds). Histories from before this change
 * keep 0 (patch marker).
 */
export const LEASE_SEQ_FROM_RUN_START = 'lease-seq-from-run-start';

function firstRequestSeq(runStartTime: Date): number {
  return patched(LEASE_SEQ_FROM_RUN_START) ? runStartTime.getTime() : 0;
}

/** A legacy run that executes live moves onto the current grant code (see the file comment). */
export const MOVE_TO_CURRENT_GRANT = 'move-to-current-grant';

export async function runLegacyGrant(kind: GrantKind, input: GrantInput): Promise<GrantResult> {
  const info = workflowInfo();
  const grantId = info.workflowId;
  let spec = input.spec;
  const c: GrantCarried = input.carried ?? {
    leases: {},
    requestSeq: firstRequestSeq(info.runStartTime),
    kisiUserId: null,
    customerEmail: spec.customerEmail,
    acquireError: null,
    autoRetry: false,
    grantedAt: null,
    revokedAt: null,
    // The starter set these attributes with the first spec (see grantAttributeValues).
    published: grantAttributeValues(spec, 'scheduled', input.openStart ?? info.startTime.getTime()),
    openStart: input.openStart ?? info.startTime.getTime(),
  };
  let dirty = true;
  let retryRequested = false;
  let cancelled = false;
  let finished = false;
  /** Set by an operator's retry: leases that failed are asked for again. */
  let reacquireFailed = false;
  /** The one timer: the end of the window (or the next automatic retry). */
  const deadline = new Deadline('end of access window');
  let autoRetryAt: number | undefined;

  setHandler(sourceChangedSignal, (next) => {
    if (!supersedes(spec, next)) return;
    spec = next;
    // New facts (an email added, a group fixed) deserve a new attempt without an operator.
    if (c.acquireError !== null) {
      c.acquireError = null;
      c.autoRetry = false;
      reacquireFailed = true;
    }
    dirty = true;
  });
  setHandler(retrySignal, () => {
    retryRequested = true;
    dirty = true;
  });
  setHandler(leaseNoticeSignal, (notice) => {
    const lease = c.leases[membershipWorkflowId(notice.customerId, notice.groupId)];
    if (!lease || notice.leaseId !== grantId || notice.requestSeq < lease.requestSeq) return;
    if (notice.status === 'applied' && lease.state === 'requested' && sameWindow(notice.window, lease.window)) {
      lease.state = 'applied';
      lease.error = null;
    } else if (notice.status === 'waiting' && lease.state === 'applied' && sameWindow(notice.window, lease.window)) {
      lease.state = 'requested';
    } else if (notice.status === 'failed') {
      lease.state = lease.state === 'releasing' || lease.state === 'release-failed' ? 'release-failed' : 'failed';
      lease.error = notice.error;
    } else if (notice.status === 'released' && (lease.state === 'releasing' || lease.state === 'release-failed')) {
      lease.state = 'released';
      lease.error = null;
    }
    dirty = true;
  });
  setHandler(grantStatusQuery, (): GrantStatus => status());
  // Reconcile's nudge: wake up (and so move onto the current code).
  setHandler(upgradeGrantSignal, () => {
    dirty = true;
  });

  try {
    for (;;) {
      if (patched(MOVE_TO_CURRENT_GRANT)) {
        await condition(allHandlersFinished);
        await continueAsNew<(input: unknown) => Promise<GrantResult>>(legacyGrantToCurrent(kind, grantId, spec, c, Date.now(), input.historyLimit));
      }
      dirty = false;
      const now = Date.now();

      if (retryRequested) {
        retryRequested = false;
        await retry();
        continue;
      }

      const wanted = wantedLeases(spec, now);
      await acquire(wanted);
      await release(wanted);
      const done = windowOver(spec, now) && Object.values(c.leases).every((l) => l.state === 'released');
      if (done) {
        finished = true;
        if (c.grantedAt !== null) c.revokedAt = now;
      }
      publish();

      if (done) {
        deadline.set(undefined);
        await condition(allHandlersFinished);
        return { state: 'revoked', reason: spec.lifecycle === 'ended' ? 'ended' : 'expired', grantedAt: iso(c.grantedAt), revokedAt: iso(c.revokedAt) };
      }

      if (shouldContinueAsNew(input.historyLimit) && allHandlersFinished() && !dirty) {
        await continueAsNew<(input: GrantInput) => Promise<GrantResult>>({ spec, carried: c, historyLimit: input.historyLimit });
      }

      await waitForChange(now);
    }
  } catch (error) {
    if (!isCancellation(error)) throw error;
    // An operator cancelled the grant: give back everything it holds, even though cancelled.
    await CancellationScope.nonCancellable(async () => {
      await release(new Map());
      await condition(() => Object.values(c.leases).every((l) => l.state === 'released' || l.state === 'release-failed'), CANCEL_RELEASE_WAIT_MS);
      cancelled = true;
      if (c.grantedAt !== null) c.revokedAt = Date.now();
      publish();
    });
    throw error;
  }

  /** Asks the memberships for the wanted leases not yet requested with the current window. */
  async function acquire(wanted: Map<string, { customerId: number; groupId: number }>): Promise<void> {
    if (c.acquireError !== null) return; // waiting for an operator's retry or the automatic one
    const retrying = reacquireFailed;
    reacquireFailed = false;
    const missing = [...wanted].filter(([id]) => {
      const lease = c.leases[id];
      if (!lease || lease.state === 'released' || lease.state === 'releasing') return true;
      if (lease.state === 'failed' && retrying) return true;
      return !sameWindow(lease.window, spec.window);
    });
    if (missing.length === 0) return;
    c.requestSeq++;
    // Recorded before the call, so a cancellation during it still releases them.
    for (const [id, m] of missing) c.leases[id] = { ...m, state: 'requested', window: spec.window, requestSeq: c.requestSeq, error: null };
    try {
      const result = await acquireLeases({
        grantId,
        customerId: spec.customerId,
        customerEmail: spec.customerEmail,
        customerName: spec.customerName,
        groupIds: missing.map(([, m]) => m.groupId),
        window: spec.window!,
        requestSeq: c.requestSeq,
        refreshUser: retrying,
      });
      c.kisiUserId = result.kisiUserId;
      c.customerEmail = result.customerEmail;
    } catch (error) {
      if (isCancellation(error)) throw error;
      c.acquireError = describeFailure(error);
      c.autoRetry = isAutoRetryable(error);
      for (const [id] of missing) {
        c.leases[id]!.state = 'failed';
        c.leases[id]!.error = c.acquireError;
      }
    }
  }

  /** Gives back leases that are no longer wanted; a membership that is not running holds nothing. */
  async function release(wanted: Map<string, unknown>): Promise<void> {
    const toRelease = Object.entries(c.leases).filter(
      ([id, l]) => !wanted.has(id) && (l.state === 'requested' || l.state === 'applied' || l.state === 'failed'),
    );
    await Promise.all(
      toRelease.map(async ([id, lease]) => {
        lease.state = 'releasing';
        try {
          await getExternalWorkflowHandle(id).signal(releaseLeaseSignal, { leaseId: grantId, requestSeq: lease.requestSeq });
        } catch (error) {
          if (isCancellation(error)) throw error;
          lease.state = 'released';
        }
      }),
    );
  }

  /** Operator retry: re-read the record and the access map, then ask again for what failed. */
  async function retry(): Promise<void> {
    c.acquireError = null;
    c.autoRetry = false;
    try {
      const fresh = await refreshGrantSpec({ kind, sourceId: spec.sourceId, customerId: spec.customerId });
      if (supersedes(spec, fresh)) spec = fresh;
    } catch (error) {
      if (isCancellation(error)) throw error;
      c.acquireError = describeFailure(error);
      c.autoRetry = isAutoRetryable(error);
      return;
    }
    // Failed leases still wanted are asked for again; those no longer wanted (and failed
    // releases) are released again by the next pass of the loop.
    reacquireFailed = true;
    for (const lease of Object.values(c.leases)) {
      if (lease.state === 'release-failed') lease.state = 'failed';
    }
  }

  async function waitForChange(now: number): Promise<void> {
    let at: number | undefined;
    if (!windowOver(spec, now) && spec.window?.until !== null && spec.window?.until !== undefined) at = spec.window.until;
    if (c.acquireError !== null && c.autoRetry) {
      autoRetryAt ??= now + AUTO_RETRY_AFTER_MS;
      at = Math.min(at ?? Infinity, autoRetryAt);
    } else autoRetryAt = undefined;
    deadline.set(at);
    await condition(() => dirty || deadline.passed);
    if (!dirty && autoRetryAt !== undefined && Date.now() >= autoRetryAt) {
      autoRetryAt = undefined;
      retryRequested = true;
    }
  }

  function currentState(): GrantState {
    if (cancelled) return 'cancelled';
    if (finished) return 'revoked';
    const leases = Object.values(c.leases);
    if (c.acquireError !== null || leases.some((l) => l.state === 'failed' || l.state === 'release-failed')) return 'needs-attention';
    const wanted = wantedLeases(spec, Date.now());
    if (wanted.size > 0) {
      return [...wanted.keys()].every((id) => c.leases[id]?.state === 'applied') ? 'granted' : 'scheduled';
    }
    // Nothing wanted any more: access stays until Kisi confirms the removal.
    return leases.some((l) => l.state === 'applied' || l.state === 'releasing') ? 'granted' : 'scheduled';
  }

  /** Keeps search attributes and the UI's details in step with the grant. */
  function publish(): void {
    const state = currentState();
    if (state === 'granted' && c.grantedAt === null) c.grantedAt = Date.now();
    const values = grantAttributeValues({ ...spec, customerEmail: c.customerEmail ?? spec.customerEmail }, state, c.openStart);
    const changes = changedAttributePairs(c.published, values);
    if (changes.length > 0) {
      upsertSearchAttributes(changes as unknown as SearchAttributeUpdatePair[]);
      c.published = values;
    }
    setCurrentDetails(details(state));
  }

  function status(): GrantStatus {
    return {
      workflowId: grantId,
      kind,
      sourceId: spec.sourceId,
      customerId: spec.customerId,
      customerEmail: c.customerEmail ?? spec.customerEmail,
      label: spec.label,
      state: currentState(),
      lifecycle: spec.lifecycle,
      endedReason: spec.endedReason,
      window: spec.window ? { from: iso(spec.window.from), until: iso(spec.window.until) } : null,
      groups: [...spec.groups],
      groupStates: Object.fromEntries(Object.values(c.leases).map((l) => [String(l.groupId), l.state])),
      kisiUserId: c.kisiUserId,
      grantedAt: iso(c.grantedAt),
      revokedAt: iso(c.revokedAt),
      lastError: c.acquireError ?? Object.values(c.leases).find((l) => l.error)?.error ?? null,
      sourceVersion: iso(spec.version),
    };
  }

  function details(state: GrantState): string {
    const w = spec.window;
    const lines = [
      `**${spec.label}** for ${spec.customerName ?? `customer ${spec.customerId}`}${c.customerEmail ? ` <${c.customerEmail}>` : ''}`,
      w ? `Access ${iso(w.from) ?? 'from now'} → ${iso(w.until) ?? 'open-ended'}` : 'No access window',
      `State: **${state}**${spec.lifecycle !== 'active' ? ` (${spec.lifecycle}${spec.endedReason ? `: ${spec.endedReason}` : ''})` : ''}`,
      `Kisi groups: ${spec.groups.join(', ') || 'none mapped'}`,
    ];
    const error = status().lastError;
    if (state === 'needs-attention' && error) lines.push(`Error: ${error}`, `Fix the cause, then send the \`retry\` signal: \`npm run grants -- retry ${grantId}\``);
    return lines.join('\n\n');
  }
}
