/**
 * The Kisi-writing activities, against the Kisi sandbox: the membership's sync writes the span that
 * is live when the write happens, moves and deletes only the assignment it created, lets one made
 * by hand that covers the lease serve it untouched, and takes back a create whose answer was lost.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createMembershipActivities } from '../../activities/membership';
import { KisiClient } from '../../src/clients/kisi';
import { createKisiSandbox } from '../../src/sandbox/kisi';
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
