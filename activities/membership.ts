/**
 * The activities that change Kisi group membership, run only by membership workflows. They never
 * move or delete a role assignment the product did not create: the membership passes the one it
 * owns, and any other assignment of the user in the group is left exactly as it is (one that
 * already gives the wanted access serves the lease instead of a write).
 *
 * Every write is convergent: a retry after a lost answer lists first and finds what the lost call
 * did (an assignment with exactly the window of one of its writes is its own, whichever span was
 * live when that attempt ran, and so is one of a failed sync's unknown writes), so retries,
 * crashes and hand edits all end with one assignment of ours with the wanted window, or none.
 */
import type { KisiClient, KisiRoleAssignment } from '../src/clients/kisi';
import { isNotFound } from '../src/clients/errors';
import type { AccessWindow } from '../src/domain/grant-spec';
import { covers, type SyncOutcome, type SyncPlan } from '../src/domain/membership-ledger';
import { laneForWindow, LIVE_HORIZON_MS, type Lane } from '../src/domain/lanes';
import { toIso } from '../src/domain/time';
import type { AppliedAssignment } from '../src/contract/legacy';
import { activityNow } from './clock';
import { asActivity, currentContext, needsPerson } from './failures';

export interface MembershipActivityDeps {
  kisi: Pick<KisiClient, 'listGroupRoleAssignments' | 'createGroupRoleAssignment' | 'updateRoleAssignmentWindow' | 'deleteRoleAssignment'>;
  now?: () => number;
}

/** LEGACY input (memberships keyed by customer). */
export interface SyncAssignmentInput {
  customerId: number;
  groupId: number;
  kisiUserId: number | null;
  assignmentId: number | null;
  desired: AccessWindow | null;
  spans?: AccessWindow[];
  verify?: boolean;
}

/** The window as Kisi should store it: a start already passed is sent as open (null). */
export function kisiWindow(desired: AccessWindow, now: number): { validFrom: string | null; validUntil: string | null } {
  return {
    validFrom: desired.from !== null && desired.from > now ? toIso(desired.from) : null,
    validUntil: desired.until !== null ? toIso(desired.until) : null,
  };
}

function instant(text: string | null | undefined): number | null {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** Kisi's window of an assignment as instants. */
function windowOf(a: KisiRoleAssignment): { from: number | null; until: number | null } {
  return { from: instant(a.valid_from), until: instant(a.valid_until) };
}

/** Whether Kisi's stored window already behaves like the wanted one at `now`. */
function holds(assignment: KisiRoleAssignment, wanted: { validFrom: string | null; validUntil: string | null }, now: number): boolean {
  const from = instant(assignment.valid_from);
  const wantFrom = instant(wanted.validFrom);
  const fromOk = from === wantFrom || ((from === null || from <= now) && (wantFrom === null || wantFrom <= now));
  return fromOk && sameSecond(instant(assignment.valid_until), instant(wanted.validUntil));
}

/** Kisi keeps whole seconds. */
function sameSecond(a: number | null, b: number | null): boolean {
  if (a === null || b === null) return a === b;
  return Math.floor(a / 1000) === Math.floor(b / 1000);
}

/**
 * The assignments among `existing` that this membership wrote: the one it knows (`plan.own`), and
 * any with exactly the window of one of its writes (a target of this plan, which an earlier
 * attempt may have created before its answer was lost, or an unknown write of a failed sync). An
 * open-ended window cannot be told apart from one made by hand, so only bounded ones are taken.
 */
function oursAmong(existing: KisiRoleAssignment[], plan: SyncPlan, now: number): KisiRoleAssignment[] {
  const writes = [...plan.targets.map((t) => t.write), ...(plan.unknown ?? [])].filter((w) => w.until !== null);
  return existing.filter((a) => a.id === plan.own?.assignmentId || writes.some((w) => holds(a, kisiWindow(w, now), now)));
}

/**
 * Which lane the Kisi calls of a sync go in. Live: access starts (or has begun) within the hour and
 * the change alters what the next hour looks like, or access is taken away now. Scheduled: a
 * window further ahead, or a change (a renewal) of an assignment whose end is still far. Background:
 * the removal of an assignment Kisi has already closed (its end passed).
 */
function syncLane(plan: SyncPlan, now: number): Lane {
  const soon = (t: number | null) => t !== null && t <= now + LIVE_HORIZON_MS;
  const first = plan.targets[0];
  if (!first) return plan.own && plan.own.until !== null && plan.own.until <= now ? 'background' : 'live';
  if (laneForWindow(first.span.from, now) === 'scheduled') return 'scheduled';
  if (!plan.own) return 'live';
  return soon(plan.own.until) || soon(first.write.until) || plan.own.from !== first.write.from ? 'live' : 'scheduled';
}

const firstAttempt = () => (currentContext()?.info.attempt ?? 1) === 1;

export function createMembershipActivities(deps: MembershipActivityDeps) {
  const now = deps.now ?? activityNow;
  return {
    /**
     * Makes Kisi give the user the access of the first span still live (`plan.targets`): through
     * the assignment this membership owns (moved, or created), or through one it did not create
     * that already covers the span (relied on, never touched). No live span: ours is deleted.
     */
    async syncMembership(plan: SyncPlan): Promise<SyncOutcome> {
      return asActivity(async () => {
        const at = now();
        const index = plan.targets.findIndex((t) => t.span.until === null || t.span.until > at);
        const target = index >= 0 ? plan.targets[index]! : null;
        // Only a first attempt of a plan with no unknown writes knows Kisi holds nothing of ours
        // beyond `plan.own`; otherwise an earlier attempt (or failed sync) may have created one.
        const knownState = firstAttempt() && !plan.verify && !plan.unknown?.length;
        if (target === null) {
          if (knownState) {
            if (plan.own) await deps.kisi.deleteRoleAssignment(plan.own.assignmentId); // gone already counts as done
            return { kind: 'none' };
          }
          const existing = await deps.kisi.listGroupRoleAssignments({ userId: plan.kisiUserId, groupId: plan.groupId });
          for (const a of oursAmong(existing, plan, at)) await deps.kisi.deleteRoleAssignment(a.id);
          return { kind: 'none' };
        }
        const wanted = kisiWindow(target.write, at);
        // One call when we know our assignment: move it (a hand-removed one answers 404: converge below).
        if (plan.own && knownState) {
          try {
            await deps.kisi.updateRoleAssignmentWindow(plan.own.assignmentId, wanted);
            return { kind: 'own', assignmentId: plan.own.assignmentId, target: index };
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        const existing = await deps.kisi.listGroupRoleAssignments({ userId: plan.kisiUserId, groupId: plan.groupId });
        const ours = oursAmong(existing, plan, at);
        // The one to keep: the assignment we know, else one already right, else any of ours.
        const keep = ours.find((a) => a.id === plan.own?.assignmentId) ?? ours.find((a) => holds(a, wanted, at)) ?? ours[0];
        if (keep) {
          if (!holds(keep, wanted, at)) await deps.kisi.updateRoleAssignmentWindow(keep.id, wanted);
          // Any other is a create of ours whose answer was lost: one assignment of ours, never two.
          for (const extra of ours) if (extra.id !== keep.id) await deps.kisi.deleteRoleAssignment(extra.id);
          return { kind: 'own', assignmentId: keep.id, target: index };
        }
        if (plan.mayRely) {
          // One already there that gives the whole span (permanent, or wider): it serves; never touched.
          const covering = existing.find((a) => covers(windowOf(a), target.span, at));
          if (covering) return { kind: 'relied', assignmentId: covering.id, ...windowOf(covering), target: index };
        }
        const created = await deps.kisi.createGroupRoleAssignment({ userId: plan.kisiUserId, groupId: plan.groupId, ...wanted });
        return { kind: 'own', assignmentId: created.id, target: index };
      }, { lane: syncLane(plan, now()) });
    },

    /**
     * LEGACY: the Kisi write of a membership keyed by customer. It moves or deletes only the
     * assignment that membership applied; with none known it creates its own, never adopting or
     * deleting another (an assignment made by hand stays as it is).
     */
    async syncAssignment(input: SyncAssignmentInput): Promise<AppliedAssignment | null> {
      return asActivity(async () => {
        if (input.kisiUserId === null) {
          if (input.desired === null) return null;
          throw needsPerson('UnknownKisiUser', `no Kisi user known for Nexudus customer ${input.customerId}`);
        }
        const at = now();
        const candidates = input.spans ?? (input.desired ? [input.desired] : []);
        const desired = candidates.find((w) => w.until === null || w.until > at) ?? null;
        if (desired === null) {
          if (input.assignmentId !== null) await deps.kisi.deleteRoleAssignment(input.assignmentId);
          return null;
        }
        const wanted = kisiWindow(desired, at);
        if (input.assignmentId !== null) {
          try {
            await deps.kisi.updateRoleAssignmentWindow(input.assignmentId, wanted);
            return { assignmentId: input.assignmentId, from: desired.from, until: desired.until };
          } catch (error) {
            if (!isNotFound(error)) throw error;
          }
        }
        const existing = await deps.kisi.listGroupRoleAssignments({ userId: input.kisiUserId, groupId: input.groupId });
        const lost = wanted.validUntil === null || firstAttempt() ? undefined : existing.find((a) => holds(a, wanted, at));
        if (lost) return { assignmentId: lost.id, from: desired.from, until: desired.until };
        const created = await deps.kisi.createGroupRoleAssignment({ userId: input.kisiUserId, groupId: input.groupId, ...wanted });
        return { assignmentId: created.id, from: desired.from, until: desired.until };
      }, { lane: laneForWindow(input.desired?.from ?? null, now()) });
    },
  };
}
