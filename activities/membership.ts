/**
 * The one activity that changes Kisi group membership, run only by membership workflows. It makes
 * Kisi hold exactly one role assignment of the user in the group with the desired window, or none:
 * it lists first, so a retry after a lost answer, a hand-made duplicate or a hand-removed
 * assignment all converge on the same end state.
 */
import type { KisiClient, KisiRoleAssignment } from '../src/clients/kisi';
import type { AccessWindow } from '../src/domain/grant-spec';
import { toIso } from '../src/domain/time';
import type { AppliedAssignment } from '../workflows/membership';
import { isNotFound } from '../src/clients/errors';
import { activityNow } from './clock';
import { asActivity, currentContext, needsPerson } from './failures';

export interface MembershipActivityDeps {
  kisi: Pick<KisiClient, 'listGroupRoleAssignments' | 'createGroupRoleAssignment' | 'updateRoleAssignmentWindow' | 'deleteRoleAssignment'>;
  now?: () => number;
}

export interface SyncAssignmentInput {
  customerId: number;
  groupId: number;
  kisiUserId: number | null;
  /** The assignment this workflow created before, if any (preferred when several exist). */
  assignmentId: number | null;
  /** The earliest live span when the workflow asked (kept for requests scheduled before `spans` existed). */
  desired: AccessWindow | null;
  /**
   * All live spans, earliest first. The window written is the first one still live when the
   * write happens: a write delayed by retries past the end of its span must not replace a later
   * span that has begun meanwhile (that would lock the customer out in the middle of it).
   */
  spans?: AccessWindow[];
  /**
   * Compare with what Kisi holds before writing (reconcile or an operator asked). Retries do so
   * too; a first attempt trusts the membership's own record of what it wrote, which halves the
   * Kisi calls of a grant (Kisi allows 5 a second for the whole account).
   */
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

/** Whether Kisi's stored window already behaves like the wanted one at `now`. */
function holds(assignment: KisiRoleAssignment, wanted: { validFrom: string | null; validUntil: string | null }, now: number): boolean {
  const from = instant(assignment.valid_from);
  const wantFrom = instant(wanted.validFrom);
  const fromOk = from === wantFrom || ((from === null || from <= now) && (wantFrom === null || wantFrom <= now));
  return fromOk && instant(assignment.valid_until) === instant(wanted.validUntil);
}

export function createMembershipActivities(deps: MembershipActivityDeps) {
  const now = deps.now ?? activityNow;
  return {
    async syncAssignment(input: SyncAssignmentInput): Promise<AppliedAssignment | null> {
      return asActivity(async () => {
        if (input.kisiUserId === null) {
          if (input.desired === null) return null; // nothing was ever applied for an unknown user
          throw needsPerson('UnknownKisiUser', `no Kisi user known for Nexudus customer ${input.customerId}`);
        }
        const at = now();
        const candidates = input.spans ?? (input.desired ? [input.desired] : []);
        const desired = candidates.find((w) => w.until === null || w.until > at) ?? null;
        // One call when the membership knows its assignment (move or delete it). Its first write
        // lists first: Kisi may already hold one (made by hand before adoption), to keep, not double.
        if (!input.verify && input.assignmentId !== null && (currentContext()?.info.attempt ?? 1) === 1) {
          const direct = await writeDirectly(input.assignmentId, desired, at);
          if (direct !== 'unknown') return direct;
        }
        // Converge: whatever Kisi holds (a lost answer's creation, a hand-made duplicate, a
        // hand-removed assignment) ends as exactly one assignment with the wanted window, or none.
        const existing = await deps.kisi.listGroupRoleAssignments({ userId: input.kisiUserId, groupId: input.groupId });
        if (desired === null) {
          for (const a of existing) await deps.kisi.deleteRoleAssignment(a.id);
          return null;
        }
        const keep = existing.find((a) => a.id === input.assignmentId) ?? existing[0];
        // Never rely on Kisi keeping two assignments of one user to one group: extras go.
        for (const a of existing) if (a !== keep) await deps.kisi.deleteRoleAssignment(a.id);
        const wanted = kisiWindow(desired, at);
        let assignmentId: number;
        if (keep) {
          if (!holds(keep, wanted, at)) await deps.kisi.updateRoleAssignmentWindow(keep.id, wanted);
          assignmentId = keep.id;
        } else {
          const created = await deps.kisi.createGroupRoleAssignment({ userId: input.kisiUserId, groupId: input.groupId, ...wanted });
          assignmentId = created.id;
        }
        return { assignmentId, from: desired.from, until: desired.until };
      });
    },
  };

  /** One Kisi call on the membership's own assignment; 'unknown' when Kisi no longer has it. */
  async function writeDirectly(assignmentId: number, desired: AccessWindow | null, at: number): Promise<AppliedAssignment | null | 'unknown'> {
    if (desired === null) {
      await deps.kisi.deleteRoleAssignment(assignmentId); // gone already counts as done
      return null;
    }
    const wanted = kisiWindow(desired, at);
    try {
      await deps.kisi.updateRoleAssignmentWindow(assignmentId, wanted);
    } catch (error) {
      if (isNotFound(error)) return 'unknown'; // removed by hand: converge below
      throw error;
    }
    return { assignmentId, from: desired.from, until: desired.until };
  }
}
