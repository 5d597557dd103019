/**
 * Reconcile from Kisi: the role assignments of every mapped group against the memberships that
 * should explain them.
 *
 *   1. visibility lists the running grants and memberships of this deployment; each membership
 *      answers its `status` query (leases, the assignment it applied, needs-attention);
 *   2. leases held for a grant that no longer runs (orphans) are released;
 *   3. per mapped group, Kisi's assignments are listed (pages of 250): a membership whose applied
 *      assignment is missing or holds another window is asked to repair (`retry` signal); an
 *      assignment no membership explains is drift: reported, or removed under KISI_DRIFT=remove.
 *
 * Races with memberships that are starting: assignments created in the last few minutes are not
 * judged, and a drift candidate is re-checked against a fresh listing of the group's memberships
 * just before it is reported or removed. Kisi is read once per group; users are resolved to emails
 * from the assignment itself (Kisi embeds the user), else getUser once per user per run.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AccessMap } from '../config/access-map';
import { errorMessage, isNotFound, isRetryableError } from '../clients/errors';
import type { KisiClient, KisiRoleAssignment } from '../clients/kisi';
import { membershipStatusQuery, releaseLeaseSignal, retryMembershipSignal, type MembershipStatus } from '../../workflows/messages';
import { assignmentMatches, judgeAssignment, type MembershipView, type SeenAssignment } from './compare';
import { mapPool } from '../domain/map-pool';
import type { PhaseProgress } from './progress';
import type { DriftPolicy } from './report';
import { listRunningGrants, listRunningMemberships } from './visibility';
import { payloadKeysOf, searchableEmailCandidates } from '../temporal/payload-codec';

export interface KisiPhaseDeps {
  kisi: Pick<KisiClient, 'listGroupRoleAssignments' | 'getUser' | 'deleteRoleAssignment'>;
  temporal: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  now: () => number;
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
    let status: MembershipStatus | null = null;
    try {
      status = await deps.temporal.workflow.getHandle(m.workflowId).query(membershipStatusQuery);
    } catch (error) {
      tally.record('skipped', 'skipped', m.workflowId, `status query failed: ${errorMessage(error)}`);
    }
    return { workflowId: m.workflowId, customerId: m.customerId, groupId: m.groupId, status };
  });
  const emailOfMembership = new Map(memberships.map((m) => [m.workflowId, m.email]));
  /** Memberships this run released a lease of: they are rewriting Kisi, their status is stale. */
  const released = new Set<string>();

  if (resumeAfter === null) await releaseOrphans();

  const byUserGroup = new Map<string, MembershipView>();
  /** Keyed by the CustomerEmail value (the email, or its keyed hash with payload keys) and group. */
  const byEmailGroup = new Map<string, MembershipView>();
  const payloadKeys = payloadKeysOf(deps.temporal);
  /** The values a Kisi user's email may be stored under in CustomerEmail. */
  const storedAs = (email: string) => searchableEmailCandidates(payloadKeys, email);
  for (const v of views) {
    if (v.status?.kisiUserId != null) byUserGroup.set(`${v.status.kisiUserId}:${v.groupId}`, v);
    const email = emailOfMembership.get(v.workflowId);
    if (email) byEmailGroup.set(`${email}:${v.groupId}`, v);
  }

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

  async function reconcileGroup(groupId: number): Promise<void> {
    // The same assignment twice when a page shifted under the listing: once is enough.
    const raw = [...new Map((await deps.kisi.listGroupRoleAssignments({ groupId })).map((a) => [a.id, a])).values()];
    const now = deps.now();
    const seen = raw.map(toSeen);
    const byId = new Map(seen.map((a) => [a.id, a]));
    const present = (id: number) => byId.has(id);

    // Memberships of this group: does Kisi still hold what each applied?
    const toRepair = new Map<string, string>();
    const maybeMissing: MembershipView[] = [];
    for (const v of views) {
      if (v.groupId !== groupId || v.status === null) continue;
      tally.count('checked');
      if (released.has(v.workflowId)) continue;
      if (v.status.needsAttention) {
        tally.record('skipped', 'skipped', v.workflowId, `needs attention (${v.status.lastError ?? 'no error recorded'}): an operator retries it`);
        continue;
      }
      const applied = v.status.assignment;
      if (applied === null) continue;
      const held = byId.get(applied.id);
      if (!held) maybeMissing.push(v);
      else if (!assignmentMatches(held, applied, now)) toRepair.set(v.workflowId, windowDiffers(held, applied));
    }
    // Kisi pages by offset: an assignment deleted or created meanwhile (by a membership at work)
    // shifts the second page, and one assignment can slip through unseen. So a missing one is
    // confirmed with the user's own listing (one item at most, one call) before anyone repairs.
    for (const v of maybeMissing) {
      const applied = v.status!.assignment!;
      const userId = v.status!.kisiUserId;
      const own = userId === null ? [] : (await deps.kisi.listGroupRoleAssignments({ userId, groupId })).map(toSeen);
      const held = own.find((a) => a.id === applied.id);
      if (!held) toRepair.set(v.workflowId, `its Kisi assignment ${applied.id} is missing`);
      else {
        byId.set(held.id, held);
        if (!assignmentMatches(held, applied, deps.now())) toRepair.set(v.workflowId, windowDiffers(held, applied));
      }
    }

    // Assignments: explained by a membership, or drift.
    const candidates: Array<{ a: KisiRoleAssignment; seen: SeenAssignment; view: MembershipView | undefined; why: string; detail: string }> = [];
    for (const [i, a] of raw.entries()) {
      const s = seen[i]!;
      tally.count('checked');
      let view = byUserGroup.get(`${s.userId}:${groupId}`);
      if (!view) {
        const email = embeddedEmail(a);
        if (email) view = storedAs(email).map((value) => byEmailGroup.get(`${value}:${groupId}`)).find((v) => v !== undefined);
      }
      const verdict = judgeAssignment(s, view, present, { now, graceMs: input.driftGraceMs });
      if (verdict.verdict === 'skip') tally.record('skipped', 'skipped', `kisi assignment ${s.id}`, `group ${groupId}: ${verdict.why}`);
      else if (verdict.verdict === 'drift') candidates.push({ a, seen: s, view, why: verdict.why, detail: verdict.detail });
    }

    for (const [workflowId, why] of toRepair) {
      tally.record('repaired', 'repaired', workflowId, `${input.dryRun ? 'would ask' : 'asked'} to repair: ${why}`);
      if (!input.dryRun) await signal(workflowId, () => deps.temporal.workflow.getHandle(workflowId).signal(retryMembershipSignal));
    }

    if (candidates.length === 0) return;
    // Just before judging for good: memberships that started since the first listing.
    const fresh = await listRunningMemberships(deps.temporal, deps.taskQueue, groupId);
    const freshEmails = new Set(fresh.map((m) => m.email).filter((e): e is string => e !== null));
    const dedupedRetries = new Set<string>();
    for (const c of candidates) {
      let email: string | null;
      try {
        email = await emailOfUser(c.a);
      } catch (error) {
        tally.error(`kisi assignment ${c.seen.id}`, `cannot read Kisi user ${c.seen.userId}: ${errorMessage(error)}`);
        continue;
      }
      if (c.why === 'no-membership' && email !== null && storedAs(email).some((value) => freshEmails.has(value))) continue;
      const who = email ?? `Kisi user ${c.seen.userId}`;
      const ref = `kisi assignment ${c.seen.id}`;
      tally.record('driftFound', 'drift', ref, `${who} in group ${groupId} (${c.seen.validFrom ?? 'open'} → ${c.seen.validUntil ?? 'open'}): ${c.detail}`);
      if (input.driftPolicy !== 'remove') continue;
      if (input.dryRun) {
        tally.record('driftRemoved', 'drift-removed', ref, `would remove ${who} from group ${groupId}${c.view ? ` (through ${c.view.workflowId})` : ''}`);
        continue;
      }
      try {
        if (c.view) {
          // The membership owns this user and group: its own comparison removes the extra.
          if (!dedupedRetries.has(c.view.workflowId)) {
            dedupedRetries.add(c.view.workflowId);
            await deps.temporal.workflow.getHandle(c.view.workflowId).signal(retryMembershipSignal);
          }
        } else {
          await deps.kisi.deleteRoleAssignment(c.seen.id);
        }
        tally.record('driftRemoved', 'drift-removed', ref, `removed ${who} from group ${groupId}${c.view ? ` (through ${c.view.workflowId})` : ''}`);
      } catch (error) {
        if (isRetryableError(error)) throw error;
        tally.error(ref, `could not remove: ${errorMessage(error)}`);
      }
    }
  }

  /** Leases whose grant is not running: confirmed one by one, then dropped for good. */
  async function releaseOrphans(): Promise<void> {
    const suspects: Array<{ view: MembershipView; leaseId: string; heldSeq: number }> = [];
    for (const v of views) {
      for (const [leaseId, lease] of Object.entries(v.status?.leases ?? {})) if (!runningGrants.has(leaseId)) suspects.push({ view: v, leaseId, heldSeq: heldRequestSeq(lease) });
    }
    let confirmed = 0;
    await mapPool(suspects, QUERY_CONCURRENCY, async ({ view, leaseId, heldSeq }) => {
      progress.at('confirming and releasing orphaned leases', confirmed++, suspects.length);
      let running = false;
      try {
        running = (await deps.temporal.workflow.getHandle(leaseId).describe()).status.name === 'RUNNING';
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) {
          tally.error(view.workflowId, `cannot tell whether ${leaseId} runs: ${errorMessage(error)}`);
          return;
        }
      }
      if (running) return; // started after the listing
      tally.record('orphansReleased', 'orphan-released', view.workflowId, `${input.dryRun ? 'would release' : 'released'} the lease of ${leaseId}, which no longer runs`);
      if (input.dryRun) return;
      // Numbered with now (and at least the number the membership holds, whatever the clocks):
      // it outranks every request of the runs that started before it (grants number from their
      // run's start in ms), yet not those of a run that revives this grant id later. A number
      // above all, as before, made the membership ignore such a run for good.
      released.add(view.workflowId);
      const requestSeq = Math.max(Date.now(), heldSeq);
      await signal(view.workflowId, () => deps.temporal.workflow.getHandle(view.workflowId).signal(releaseLeaseSignal, { leaseId, requestSeq }));
    });
  }

  async function signal(workflowId: string, send: () => Promise<void>): Promise<void> {
    try {
      await send();
    } catch (error) {
      // Finished since it was listed: nothing left to repair there.
      if (error instanceof WorkflowNotFoundError) return;
      tally.error(workflowId, `signal failed: ${errorMessage(error)}`);
    }
  }
}

function windowDiffers(held: SeenAssignment, applied: NonNullable<MembershipStatus['assignment']>): string {
  return `Kisi holds ${held.validFrom ?? 'open'} → ${held.validUntil ?? 'open'} instead of ${applied.from ?? 'open'} → ${applied.until ?? 'open'}`;
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


/** The number a membership holds a lease with; 0 when a worker from before it was reported answered. */
function heldRequestSeq(lease: { requestSeq?: number }): number {
  return typeof lease.requestSeq === 'number' && Number.isFinite(lease.requestSeq) ? lease.requestSeq : 0;
}
