/**
 * The Kisi-writing activities, against the Kisi sandbox: the membership's sync writes the span that
 * is live when the write happens, moves and deletes only the assignment it created, lets one made
 * by hand that covers the lease serve it untouched, and takes back a create whose answer was lost
 * (on a retry whose span has moved on, and after a failed sync whose windows the ledger remembers).
 */
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createMembershipActivities } from '../../activities/membership';
import { KisiClient } from '../../src/clients/kisi';
import { createKisiSandbox } from '../../dev/sandbox/kisi';
import type { AccessWindow } from '../../src/domain/grant-spec';
import type { SyncPlan } from '../../src/domain/membership-ledger';

const HOUR = 3_600_000;
const GROUP = 103;

let close: () => Promise<void>;
let kisi: KisiClient;
const sandbox = createKisiSandbox({ rateLimit: false });
let userId: number;
let clock = Date.parse('2026-12-01T09:00:00Z');

beforeAll(async () => {
  const listening = await sandbox.listen(0);
  close = listening.close;
  kisi = new KisiClient({ apiKey: 'activity-test', baseUrl: listening.url, maxRps: 1000 });
});
afterAll(() => close());
beforeEach(async () => {
  sandbox.state.load(JSON.parse(fs.readFileSync(path.join(__dirname, '../../config/sandbox/kisi-seed.json'), 'utf8')));
  userId = (await kisi.createUser({ email: 'span@example.com', name: 'Span', sendEmails: false })).id;
});

// The client is created in beforeAll: hand the activity a view that reads it late.
const { syncMembership, syncAssignment } = createMembershipActivities({
  kisi: {
    listGroupRoleAssignments: (f) => kisi.listGroupRoleAssignments(f),
    createGroupRoleAssignment: (i) => kisi.createGroupRoleAssignment(i),
    updateRoleAssignmentWindow: (id, w) => kisi.updateRoleAssignmentWindow(id, w),
    deleteRoleAssignment: (id) => kisi.deleteRoleAssignment(id),
  },
  now: () => clock,
});
const assignments = () => [...sandbox.state.roleAssignments.values()].filter((a) => a.user_id === userId && a.group_id === GROUP);
const calls = () => Object.values(sandbox.state.requestCounts).reduce((a, b) => a + b, 0);

/** A plan as the membership ledger makes it: each span written as it is (short windows). */
function plan(spans: AccessWindow[], own: SyncPlan['own'] = null, over: Partial<SyncPlan> = {}): SyncPlan {
  return { kisiUserId: userId, groupId: GROUP, own, targets: spans.map((span) => ({ span, write: span, renewAt: null })), mayRely: true, verify: false, ...over };
}

test('a write delayed past the end of its span writes the live span instead (no lock-out in the later one)', async () => {
  const a = { from: clock + 1 * HOUR, until: clock + 2 * HOUR };
  const b = { from: clock + 3 * HOUR, until: clock + 4 * HOUR };
  // Planned when A was the earliest live span, executed (after retries) inside B.
  clock += 3.5 * HOUR;
  const outcome = await syncMembership(plan([a, b]));
  expect(outcome).toMatchObject({ kind: 'own', target: 1 });
  expect(assignments()).toEqual([expect.objectContaining({ valid_from: null, valid_until: new Date(b.until).toISOString() })]);
  // Every span over by the time of the write: nothing is written, ours goes.
  clock += 1 * HOUR;
  const own = { assignmentId: (outcome as { assignmentId: number }).assignmentId, from: b.from, until: b.until };
  expect(await syncMembership(plan([b], own))).toEqual({ kind: 'none' });
  expect(assignments()).toEqual([]);
});

test('a permanent assignment made by hand serves the lease: no write, and it is never touched', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  const handMade = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  const before = calls();
  expect(await syncMembership(plan([w]))).toEqual({ kind: 'relied', assignmentId: handMade.id, from: null, until: null, target: 0 });
  expect(calls() - before).toBe(1); // the listing only
  // The lease given back: nothing of ours to delete.
  expect(await syncMembership(plan([]))).toEqual({ kind: 'none' });
  expect(assignments()).toEqual([expect.objectContaining({ id: handMade.id, valid_from: null, valid_until: null })]);
});

test('one made by hand that covers less is left alone; ours is written beside it', async () => {
  const w = { from: clock + HOUR, until: clock + 3 * HOUR };
  const handMade = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: new Date(clock + HOUR).toISOString(), validUntil: new Date(clock + 2 * HOUR).toISOString() });
  const outcome = await syncMembership(plan([w]));
  expect(outcome).toMatchObject({ kind: 'own' });
  expect(assignments().map((a) => a.id).sort()).toEqual([handMade.id, (outcome as { assignmentId: number }).assignmentId].sort());
  // Moving off a legacy membership: never relies, even on a covering one.
  const wide = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  const own = { assignmentId: (outcome as { assignmentId: number }).assignmentId, from: w.from, until: w.until };
  expect(await syncMembership(plan([w], own, { mayRely: false, verify: true }))).toMatchObject({ kind: 'own', assignmentId: own.assignmentId });
  expect(assignments().map((a) => a.id)).toContain(wide.id);
});

test('a create whose answer was lost is taken back on the retry, not doubled', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  // The first attempt created it; its answer never came back.
  const lost = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: new Date(w.from).toISOString(), validUntil: new Date(w.until).toISOString() });
  expect(await syncMembership(plan([w]))).toEqual({ kind: 'own', assignmentId: lost.id, target: 0 });
  expect(assignments()).toHaveLength(1);
});

/** Runs the sync as attempt `attempt` of its activity (a retry lists first). */
const asAttempt = (attempt: number, p: SyncPlan) => new MockActivityEnvironment({ attempt, startToCloseTimeoutMs: 600_000 }).run(syncMembership, p);

test('a retry whose first span ended meanwhile takes back the create of the first attempt and moves it', async () => {
  const a = { from: clock + 60_000, until: clock + 120_000 };
  const b = { from: clock + 180_000, until: clock + 240_000 };
  // Attempt 1 created A's window; its answer was lost (a partition) and the retry ran after A ended.
  const lost = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: new Date(a.from).toISOString(), validUntil: new Date(a.until).toISOString() });
  clock += 150_000;
  expect(await asAttempt(2, plan([a, b]))).toEqual({ kind: 'own', assignmentId: lost.id, target: 1 });
  expect(assignments()).toEqual([expect.objectContaining({ id: lost.id, valid_until: new Date(b.until).toISOString() })]);
});

test('a retry after every span ended deletes the create of an earlier attempt (not only the one it knew)', async () => {
  const a = { from: clock + 60_000, until: clock + 120_000 };
  await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: new Date(a.from).toISOString(), validUntil: new Date(a.until).toISOString() });
  clock += 130_000;
  expect(await asAttempt(3, plan([a]))).toEqual({ kind: 'none' });
  expect(assignments()).toEqual([]);
});

test('unknown writes of a failed sync: the one ours is moved, a second deleted, one made by hand left alone', async () => {
  const old1 = { from: clock + HOUR, until: clock + 2 * HOUR };
  const old2 = { from: clock + 3 * HOUR, until: clock + 4 * HOUR };
  const now = { from: clock + HOUR, until: clock + 5 * HOUR };
  const mk = (w: AccessWindow | { from: null; until: null }) =>
    kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: w.from === null ? null : new Date(w.from).toISOString(), validUntil: w.until === null ? null : new Date(w.until).toISOString() });
  const first = await mk(old1);
  const second = await mk(old2);
  const handMade = await mk({ from: clock + HOUR, until: clock + 2 * HOUR + 1_000 }); // a second apart: not ours
  // A first attempt: without `unknown` it would create beside them; with it, it lists and takes them back.
  const outcome = await syncMembership(plan([now], null, { unknown: [old1, old2] }));
  expect(outcome).toEqual({ kind: 'own', assignmentId: first.id, target: 0 });
  expect(assignments().map((x) => [x.id, x.valid_until]).sort()).toEqual(
    [
      [first.id, new Date(now.until).toISOString()],
      [handMade.id, new Date(clock + 2 * HOUR + 1_000).toISOString()],
    ].sort(),
  );
  expect(assignments().some((x) => x.id === second.id)).toBe(false);
  // The lease given back with the unknown writes still unswept: ours goes, the hand-made one stays.
  await mk(old2);
  expect(await syncMembership(plan([], { assignmentId: first.id, from: now.from, until: now.until }, { unknown: [old2] }))).toEqual({ kind: 'none' });
  expect(assignments()).toEqual([expect.objectContaining({ id: handMade.id })]);
});

test('a first attempt on its own assignment is one Kisi call; one removed by hand is created again', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  let before = calls();
  const first = (await syncMembership(plan([w]))) as { assignmentId: number };
  expect(calls() - before).toBe(2); // list, create
  const moved = { from: w.from, until: w.until + HOUR };
  before = calls();
  await syncMembership(plan([moved], { assignmentId: first.assignmentId, from: w.from, until: w.until }));
  expect(calls() - before).toBe(1);
  expect(assignments()).toEqual([expect.objectContaining({ valid_until: new Date(moved.until).toISOString() })]);
  await kisi.deleteRoleAssignment(first.assignmentId);
  const again = (await syncMembership(plan([moved], { assignmentId: first.assignmentId, from: moved.from, until: moved.until }))) as { assignmentId: number };
  expect(again.assignmentId).not.toBe(first.assignmentId);
  expect(assignments()).toHaveLength(1);
  before = calls();
  expect(await syncMembership(plan([], { assignmentId: again.assignmentId, from: moved.from, until: moved.until }))).toEqual({ kind: 'none' });
  expect(calls() - before).toBe(1);
  expect(assignments()).toEqual([]);
});

test('legacy memberships (keyed by customer) never adopt or delete an assignment they did not create', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  const handMade = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  const applied = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: null, desired: w, spans: [w] });
  expect(applied!.assignmentId).not.toBe(handMade.id);
  expect(await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: applied!.assignmentId, desired: null, spans: [] })).toBeNull();
  expect(assignments()).toEqual([expect.objectContaining({ id: handMade.id, valid_until: null })]);
});
