/**
 * Reconcile from Kisi: the role assignments of every mapped group against the memberships that
 * should explain them.
 *
 *   1. visibility lists the running grants and memberships of this deployment: the current ones
 *      (`membership-user-<kisiUserId>-<group>`, `membershipStatus` query) and the legacy ones still
 *      serving grants started before memberships followed the Kisi user (`membership-<customer>-
 *      <group>`, legacy `status` query); each answers what it holds: its own assignment, one it
 *      relies on (not ours), or, legacy, the assignment it applied;
 *   2. leases held for a grant that no longer runs (orphans) are given back; grants holding a lease
 *      on a legacy membership are woken (`upgradeGrant`) so they move onto the current code;
 *   3. per mapped group, Kisi's assignments are listed (pages of 250): a membership whose own
 *      assignment is missing or holds another window, or whose relied-on assignment is gone or no
 *      longer covers its leases, is asked to compare again (`verifyMembership`; legacy: `retry`).
 *      An assignment no membership holds or relies on is drift: reported by name, and under
 *      KISI_DRIFT=remove deleted in Kisi directly, but only once a previous run has reported it
 *      (memberships never touch an assignment they did not create).
 *
 * Races with memberships that are starting: assignments created in the last few minutes are not
 * judged, a drift candidate is re-checked against a fresh listing of the group's memberships just
 * before it is reported, and against their fresh status just before it is removed. Kisi is read
 * once per group; users are resolved to emails from the assignment itself (Kisi embeds the user),
 * else getUser once per user per run.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AccessMap } from '../config/access-map';
import { errorMessage, isCancelledCall, isNotFound, isRetryableError } from '../clients/errors';
import type { KisiClient, KisiRoleAssignment } from '../clients/kisi';
import { upgradeGrantSignal } from '../contract/grant';
import { membershipStatusQuery as legacyStatusQuery, releaseLeaseSignal as legacyReleaseLeaseSignal, retryMembershipSignal as legacyRetrySignal } from '../contract/legacy';
import { membershipStatusQuery, returnLeaseSignal, verifyMembershipSignal } from '../contract/membership';
import { judgeAssignment, judgeHolding, stateOfCurrent, stateOfLegacy, type MembershipState, type MembershipView, type SeenAssignment } from './compare';
import { mapPool } from '../domain/map-pool';
import type { PhaseProgress } from './progress';
import type { DriftPolicy } from '../domain/reconcile-report';
import { listRunningGrants, listRunningMemberships, type RunningMembership } from './visibility';

export interface KisiPhaseDeps {
  kisi: Pick<KisiClient, 'listGroupRoleAssignments' | 'getUser' | 'deleteRoleAssignment'>;
  temporal: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  now: () => number;
  /**
   * The `kisi assignment <id>` refs the previous completed reconcile of this task queue reported
   * as drift (KISI_DRIFT=remove removes only those). Asked once, only under remove.
   */
  previouslyReportedDrift: () => Promise<ReadonlySet<string>>;
  throwIfCancelled?: () => void;
}

export interface KisiPhaseInput {
  dryRun: boolean;
  driftPolicy: DriftPolicy;
  /** Assignments younger than this are not judged (a membership may be starting). */
  driftGraceMs: number;
}

/** Status queries and signals are Temporal calls only; a few at a time keeps the worker responsive. */
const QUERY_CONCURRENCY = 16;

/** The report's name for a Kisi assignment (the drift policy matches it against the previous report). */
export const assignmentRef = (id: number) => `kisi assignment ${id}`;

export async function reconcileKisi(deps: KisiPhaseDeps, input: KisiPhaseInput, progress: PhaseProgress): Promise<void> {
  const tally = progress.tally;
  const groups = deps.accessMap().allGroupIds();
  const resumeAfter = progress.cursor === null ? null : Number(progress.cursor);

  // Grants first: a grant started after this listing cannot then look like an orphan's holder
  // (each candidate is confirmed with a describe anyway).
  progress.at('listing running grants and memberships', 0, 0);
  const runningGrants = await listRunningGrants(deps.temporal, deps.taskQueue);
  const memberships = await listRunningMemberships(deps.temporal, deps.taskQueue);

  let asked = 0;
  const views: MembershipView[] = await mapPool(memberships, QUERY_CONCURRENCY, async (m) => {
    deps.throwIfCancelled?.();
    progress.at('asking memberships for their status', asked++, memberships.length);
    const view = await ask(m);
    if (view.state === null) tally.record('skipped', 'skipped', m.workflowId, 'status query failed: nothing concluded about it');
    return view;
  });
  const listedIds = new Set(views.map((v) => v.workflowId));
  /** Memberships this run gave a lease back to: they are rewriting Kisi, their status is stale. */
  const released = new Set<string>();

  if (resumeAfter === null) {
    await releaseOrphans();
    await wakeLegacyHolders();
  }

  let previousDrift: Promise<ReadonlySet<string>> | undefined;
  const reportedBefore = (ref: string): Promise<boolean> => {
    previousDrift ??= deps.previouslyReportedDrift().catch((error: unknown) => {
      // Without the previous report nothing counts as reported: this run only reports.
      tally.note('skipped', 'drift policy', `cannot read the previous reconcile report (${errorMessage(error)}): drift is only reported this run`);
      return new Set<string>();
    });
    return previousDrift.then((refs) => refs.has(ref));
  };

  const emails = new Map<number, Promise<string | null>>();
  const emailOfUser = (a: KisiRoleAssignment): Promise<string | null> => {
    const embedded = embeddedEmail(a);
    if (embedded) return Promise.resolve(embedded);
    let known = emails.get(a.user_id);
    if (!known) {
      known = deps.kisi.getUser(a.user_id).then(
        (u) => (typeof u.email === 'string' ? u.email.toLowerCase() : null),
        (error: unknown) => {
          if (isNotFound(error)) return null;
          throw error;
        },
      );
      emails.set(a.user_id, known);
    }
    return known;
  };

  for (const [index, groupId] of groups.entries()) {
    if (resumeAfter !== null && groups.indexOf(resumeAfter) >= index) continue;
    deps.throwIfCancelled?.();
    progress.at(`Kisi group ${groupId}`, index, groups.length);
    await reconcileGroup(groupId);
    progress.checkpoint(String(groupId));
  }
  progress.at('Kisi groups done', groups.length, groups.length);

  /** A membership's status through the query its code answers (current or legacy). */
  async function ask(m: RunningMembership): Promise<MembershipView> {
    const legacy = m.kisiUserId === null;
    const handle = deps.temporal.workflow.getHandle(m.workflowId);
    let state: MembershipState | null = null;
    let kisiUserId = m.kisiUserId;
    try {
      if (legacy) {
        const status = await handle.query(legacyStatusQuery);
        state = stateOfLegacy(status);
        kisiUserId = status.kisiUserId;
      } else {
        state = stateOfCurrent(await handle.query(membershipStatusQuery));
      }
    } catch {
      state = null;
    }
    return { workflowId: m.workflowId, legacy, groupId: m.groupId, kisiUserId, state };
  }

  async function reconcileGroup(groupId: number): Promise<void> {
    // The same assignment twice when a page shifted under the listing: once is enough.
    const raw = [...new Map((await deps.kisi.listGroupRoleAssignments({ groupId })).map((a) => [a.id, a])).values()];
    const now = deps.now();
    const byId = new Map(raw.map((a) => [a.id, toSeen(a)]));
    const members = views.filter((v) => v.groupId === groupId);

    // Memberships of this group: does Kisi still hold what each holds?
    const toRepair = new Map<string, { view: MembershipView; why: string }>();
    const maybeMissing: MembershipView[] = [];
    for (const v of members) {
      const s = v.state;
      if (s === null) continue;
      tally.count('checked');
      if (released.has(v.workflowId)) continue;
      if (s.needsAttention) {
        tally.record('skipped', 'skipped', v.workflowId, `needs attention (${s.lastError ?? 'no error recorded'}): its automatic retry or an operator's retry repairs it`);
        continue;
      }
      if (s.held === null) continue;
      const seen = byId.get(s.held.assignmentId);
      if (!seen) {
        maybeMissing.push(v);
        continue;
      }
      const verdict = judgeHolding(s.held, s, seen, now);
      if (verdict.verdict === 'repair') toRepair.set(v.workflowId, { view: v, why: verdict.why });
    }
    // Kisi pages by offset: an assignment deleted or created meanwhile (by a membership at work)
    // shifts the second page, and one assignment can slip through unseen. So a missing one is
    // confirmed with the user's own listing (one item or two, one call) before anyone repairs.
    for (const v of maybeMissing) {
      const held = v.state!.held!;
      const own = v.kisiUserId === null ? [] : (await deps.kisi.listGroupRoleAssignments({ userId: v.kisiUserId, groupId })).map(toSeen);
      const seen = own.find((a) => a.id === held.assignmentId);
      if (seen) byId.set(seen.id, seen);
      const verdict = judgeHolding(held, v.state!, seen, deps.now());
      if (verdict.verdict === 'repair') toRepair.set(v.workflowId, { view: v, why: verdict.why });
    }

    for (const [workflowId, { view, why }] of toRepair) {
      tally.record('repaired', 'repaired', workflowId, `${input.dryRun ? 'would ask' : 'asked'} to compare with Kisi again: ${why}`);
      if (input.dryRun) continue;
      const handle = deps.temporal.workflow.getHandle(workflowId);
      await signal(workflowId, () => (view.legacy ? handle.signal(legacyRetrySignal) : handle.signal(verifyMembershipSignal)));
    }

    // Assignments: held or relied on by a membership, or drift.
    const heldBy = new Map<number, MembershipView[]>();
    const byUser = new Map<number, MembershipView[]>();
    for (const v of members) {
      const held = v.state?.held;
      if (held) heldBy.set(held.assignmentId, [...(heldBy.get(held.assignmentId) ?? []), v]);
      if (v.kisiUserId !== null) byUser.set(v.kisiUserId, [...(byUser.get(v.kisiUserId) ?? []), v]);
    }
    const repairing = new Set(toRepair.keys());
    const candidates: Array<{ a: KisiRoleAssignment; seen: SeenAssignment; detail: string }> = [];
    for (const a of raw) {
      const seen = byId.get(a.id)!;
      tally.count('checked');
      const verdict = judgeAssignment(seen, heldBy.get(seen.id) ?? [], byUser.get(seen.userId) ?? [], repairing, { now, graceMs: input.driftGraceMs });
      if (verdict.verdict === 'skip') tally.record('skipped', 'skipped', assignmentRef(seen.id), `group ${groupId}: ${verdict.why}`);
      else if (verdict.verdict === 'drift') candidates.push({ a, seen, detail: verdict.detail });
    }
    if (candidates.length === 0) return;

    // Just before judging for good: memberships that started since the first listing.
    const fresh = await listRunningMemberships(deps.temporal, deps.taskQueue, groupId);
    const started = await mapPool(
      fresh.filter((m) => !listedIds.has(m.workflowId)),
      QUERY_CONCURRENCY,
      async (m) => (m.kisiUserId !== null ? m.kisiUserId : (await ask(m)).kisiUserId),
    );
    const startedUsers = new Set(started.filter((u): u is number => u !== null));

    for (const c of candidates) {
      const ref = assignmentRef(c.seen.id);
      if (startedUsers.has(c.seen.userId)) {
        tally.record('skipped', 'skipped', ref, `group ${groupId}: a membership of this user started since the listing`);
        continue;
      }
      let email: string | null;
      try {
        email = await emailOfUser(c.a);
      } catch (error) {
        // A retryable failure or the attempt's cancellation: the activity retries and resumes before this group.
        if (isRetryableError(error) || isCancelledCall(error)) throw error;
        tally.error(ref, `cannot read Kisi user ${c.seen.userId}: ${errorMessage(error)}`);
        continue;
      }
      const who = email ?? `Kisi user ${c.seen.userId}`;
      const what = `${who} in group ${groupId} (${c.seen.validFrom ?? 'open'} → ${c.seen.validUntil ?? 'open'}): ${c.detail}`;
      if (input.driftPolicy !== 'remove') {
        tally.record('driftFound', 'drift', ref, what);
        continue;
      }
      if (!(await reportedBefore(ref))) {
        // Reported first, removed later: an operator sees it in a report before it goes.
        tally.record('driftFound', 'drift', ref, `${what}; reported now, KISI_DRIFT=remove removes it in the next run if nothing explains it then`);
        continue;
      }
      tally.record('driftFound', 'drift', ref, `${what}; already reported by the previous run`);
      const holder = await holderNow(groupId, c.seen);
      if (holder !== null) {
        tally.record('skipped', 'skipped', ref, `not removed: ${holder}`);
        continue;
      }
      if (input.dryRun) {
        tally.record('driftRemoved', 'drift-removed', ref, `would remove ${who} from group ${groupId}`);
        continue;
      }
      try {
        await deps.kisi.deleteRoleAssignment(c.seen.id); // gone already counts as removed
        tally.record('driftRemoved', 'drift-removed', ref, `removed ${who} from group ${groupId}`);
      } catch (error) {
        if (isRetryableError(error) || isCancelledCall(error)) throw error;
        tally.error(ref, `could not remove: ${errorMessage(error)}`);
      }
    }
  }

  /**
   * Just before a removal: the memberships of that user and group, asked afresh. Answers why the
   * assignment must stay (one holds or relies on it, or may be about to), or null.
   */
  async function holderNow(groupId: number, seen: SeenAssignment): Promise<string | null> {
    const fresh = await listRunningMemberships(deps.temporal, deps.taskQueue, groupId);
    const candidates = fresh.filter((m) => m.kisiUserId === null || m.kisiUserId === seen.userId);
    const asked = await mapPool(candidates, QUERY_CONCURRENCY, ask);
    const sameUser = asked.filter((v) => v.kisiUserId === seen.userId || v.state === null);
    const holders = sameUser.filter((v) => v.state?.held?.assignmentId === seen.id);
    const verdict = judgeAssignment(seen, holders, sameUser, new Set(), { now: deps.now(), graceMs: 0 });
    if (verdict.verdict === 'explained') return `${verdict.by} holds or relies on it now`;
    if (verdict.verdict === 'skip') return verdict.why;
    return null;
  }

  /** Leases whose grant is not running: confirmed one by one, then given back for good. */
  async function releaseOrphans(): Promise<void> {
    const suspects: Array<{ view: MembershipView; leaseId: string; heldSeq: number }> = [];
    for (const v of views) {
      for (const [leaseId, lease] of Object.entries(v.state?.leases ?? {})) if (!runningGrants.has(leaseId)) suspects.push({ view: v, leaseId, heldSeq: lease.requestSeq });
    }
    let confirmed = 0;
    await mapPool(suspects, QUERY_CONCURRENCY, async ({ view, leaseId, heldSeq }) => {
      progress.at('confirming and returning orphaned leases', confirmed++, suspects.length);
      if (await runs(view.workflowId, leaseId)) return; // started after the listing (or unknown)
      tally.record('orphansReleased', 'orphan-released', view.workflowId, `${input.dryRun ? 'would give back' : 'gave back'} the lease of ${leaseId}, which no longer runs`);
      if (input.dryRun) return;
      // Numbered with now (and at least the number the membership holds, whatever the clocks):
      // it outranks every request of the runs that started before it (grants number from their
      // run's start in ms), yet not those of a run that revives this grant id later. A number
      // above all made the membership ignore such a run for good.
      released.add(view.workflowId);
      const requestSeq = Math.max(Date.now(), heldSeq);
      const handle = deps.temporal.workflow.getHandle(view.workflowId);
      // Nobody waits for a confirmation: the holder is gone.
      await signal(view.workflowId, () =>
        view.legacy ? handle.signal(legacyReleaseLeaseSignal, { leaseId, requestSeq }) : handle.signal(returnLeaseSignal, { leaseId, requestSeq, confirm: false }),
      );
    });
  }

  /**
   * Grants that hold a lease on a legacy membership and still run: woken, so a grant still on the
   * legacy code moves onto the current code now (it asks the Kisi user's memberships for the same
   * access, then gives the legacy lease back). A grant already on the current code ignores it.
   */
  async function wakeLegacyHolders(): Promise<void> {
    const holders = new Map<string, string>();
    for (const v of views) {
      if (!v.legacy) continue;
      for (const leaseId of Object.keys(v.state?.leases ?? {})) if (runningGrants.has(leaseId) && !holders.has(leaseId)) holders.set(leaseId, v.workflowId);
    }
    for (const [grantId, membershipId] of holders) {
      tally.record('upgraded', 'upgraded', grantId, `${input.dryRun ? 'would wake' : 'woke'} it to move onto the current grant code: it holds a lease on legacy membership ${membershipId}`);
      if (!input.dryRun) await signal(grantId, () => deps.temporal.workflow.getHandle(grantId).signal(upgradeGrantSignal));
    }
  }

  /** Whether a lease holder still runs; an answer that cannot be had counts as running (nothing is given back). */
  async function runs(membershipId: string, leaseId: string): Promise<boolean> {
    try {
      return (await deps.temporal.workflow.getHandle(leaseId).describe()).status.name === 'RUNNING';
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      tally.error(membershipId, `cannot tell whether ${leaseId} runs: ${errorMessage(error)}`);
      return true;
    }
  }

  async function signal(workflowId: string, send: () => Promise<void>): Promise<void> {
    try {
      await send();
    } catch (error) {
      // Finished since it was listed: nothing left to do there.
      if (error instanceof WorkflowNotFoundError) return;
      tally.error(workflowId, `signal failed: ${errorMessage(error)}`);
    }
  }
}

function toSeen(a: KisiRoleAssignment): SeenAssignment {
  const created = typeof a.created_at === 'string' ? Date.parse(a.created_at) : NaN;
  return { id: a.id, userId: a.user_id, groupId: a.group_id, validFrom: a.valid_from, validUntil: a.valid_until, createdAt: Number.isNaN(created) ? null : created };
}

/** Kisi embeds the user (`user` and `assignee`, with the email) in every role assignment it lists. */
function embeddedEmail(a: KisiRoleAssignment): string | null {
  for (const key of ['assignee', 'user'] as const) {
    const ref = a[key];
    if (ref && typeof ref === 'object' && typeof (ref as { email?: unknown }).email === 'string') {
      const email = (ref as { email: string }).email.trim().toLowerCase();
      if (email) return email;
    }
  }
  return null;
}
