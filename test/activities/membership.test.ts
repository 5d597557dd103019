/**
 * The one Kisi-writing activity, against the Kisi sandbox: it converges on exactly one assignment
 * with the right window, and writes the span that is live when the write happens.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createMembershipActivities } from '../../activities/membership';
import { KisiClient } from '../../src/clients/kisi';
import { createKisiSandbox } from '../../src/sandbox/kisi';

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
const { syncAssignment } = createMembershipActivities({
  kisi: {
    listGroupRoleAssignments: (f) => kisi.listGroupRoleAssignments(f),
    createGroupRoleAssignment: (i) => kisi.createGroupRoleAssignment(i),
    updateRoleAssignmentWindow: (id, w) => kisi.updateRoleAssignmentWindow(id, w),
    deleteRoleAssignment: (id) => kisi.deleteRoleAssignment(id),
  },
  now: () => clock,
});
const assignments = () => [...sandbox.state.roleAssignments.values()].filter((a) => a.user_id === userId && a.group_id === GROUP);

test('a write delayed past the end of its span writes the live span instead (no lock-out in the later one)', async () => {
  const a = { from: clock + 1 * HOUR, until: clock + 2 * HOUR };
  const b = { from: clock + 3 * HOUR, until: clock + 4 * HOUR };
  // Scheduled when A was the earliest live span, executed (after retries) inside B.
  clock += 3.5 * HOUR;
  const applied = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: null, desired: a, spans: [a, b] });
  expect(applied).toMatchObject({ from: b.from, until: b.until });
  expect(assignments()).toEqual([expect.objectContaining({ valid_from: null, valid_until: new Date(b.until).toISOString() })]);
  // Every span over by the time of the write: nothing is written, any assignment goes.
  clock += 1 * HOUR;
  expect(await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: applied!.assignmentId, desired: b, spans: [b] })).toBeNull();
  expect(assignments()).toEqual([]);
});

test('extras and hand-made duplicates converge on exactly one assignment', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  const applied = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: null, desired: w, spans: [w], verify: true });
  expect(assignments()).toEqual([expect.objectContaining({ id: applied!.assignmentId, valid_from: new Date(w.from).toISOString(), valid_until: new Date(w.until).toISOString() })]);
  // Again: nothing to do, nothing written.
  const before = sandbox.state.history.length;
  await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: applied!.assignmentId, desired: w, spans: [w], verify: true });
  expect(sandbox.state.history.length).toBe(before);
});

test("a membership's first write adopts an assignment made by hand instead of adding a second", async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  const handMade = await kisi.createGroupRoleAssignment({ userId, groupId: GROUP, validFrom: null, validUntil: null });
  const applied = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: null, desired: w, spans: [w] });
  expect(applied!.assignmentId).toBe(handMade.id);
  expect(assignments()).toEqual([expect.objectContaining({ id: handMade.id, valid_until: new Date(w.until).toISOString() })]);
});

test('a first attempt on its own assignment is one Kisi call; an assignment removed by hand is re-created', async () => {
  const w = { from: clock + HOUR, until: clock + 2 * HOUR };
  const calls = () => Object.values(sandbox.state.requestCounts).reduce((a, b) => a + b, 0);
  let before = calls();
  const applied = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: null, desired: w, spans: [w] });
  expect(calls() - before).toBe(2); // list, create
  const moved = { from: w.from, until: w.until + HOUR };
  before = calls();
  await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: applied!.assignmentId, desired: moved, spans: [moved] });
  expect(calls() - before).toBe(1);
  expect(assignments()).toEqual([expect.objectContaining({ valid_until: new Date(moved.until).toISOString() })]);
  await kisi.deleteRoleAssignment(applied!.assignmentId);
  const again = await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: applied!.assignmentId, desired: moved, spans: [moved] });
  expect(again!.assignmentId).not.toBe(applied!.assignmentId);
  expect(assignments()).toHaveLength(1);
  before = calls();
  expect(await syncAssignment({ customerId: 1, groupId: GROUP, kisiUserId: userId, assignmentId: again!.assignmentId, desired: null, spans: [] })).toBeNull();
  expect(calls() - before).toBe(1);
  expect(assignments()).toEqual([]);
});
