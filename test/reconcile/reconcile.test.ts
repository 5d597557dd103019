/**
 * Reconcile against the Kisi and Nexudus sandboxes, with a real worker on a dev server: what a
 * run finds, what it changes in Temporal and in Kisi, and that a quiet space stays quiet.
 * Webhooks never reach this worker here (none is registered), so everything that happens is
 * reconcile's doing.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { membershipStatusQuery } from '../../src/contract/membership';
import type { AccessMapFile } from '../../src/config/access-map';
import { grantWorkflowId, legacyMembershipWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { reconcileRecords } from '../../src/reconcile/nexudus-phase';
import { PhaseProgress, type PhaseCheckpoint } from '../../src/reconcile/progress';
import { COUNT_KEYS, emptyCounts, type ReconcileCounts } from '../../src/domain/reconcile-report';
import { listRunningGrants } from '../../src/reconcile/visibility';
import { ADA, ALAN, DAY, DAY_PASS, DEFAULT_MAP, DESK_D1, GROUP_DAY_PASS, GROUP_MEMBERS, GROUP_ROOM_SEVERN, GROUP_ROOM_THAMES, HOUR, MIN, ROOM_THAMES, iso } from '../helpers/grant-harness';
import { eventually, handAddedMember, kisiSnapshot, legacyMembership, resetSuite, runReconcile, signalsReceived, sleep, startSuite, stopSuite, visibleGrants, type ReconcileSuite } from './helpers';

jest.setTimeout(120_000);

let s: ReconcileSuite;
beforeAll(async () => {
  s = await startSuite();
});
afterAll(() => stopSuite(s));
beforeEach(() => resetSuite(s));

/** Counts with every key, so a test states all of them. */
function counts(partial: Partial<ReconcileCounts>): ReconcileCounts {
  return Object.fromEntries(COUNT_KEYS.map((k) => [k, partial[k] ?? 0])) as unknown as ReconcileCounts;
}

/** The counts except `checked` (what a run changed or found). */
function changed(c: ReconcileCounts) {
  const { checked: _checked, ...rest } = c;
  return rest;
}

async function futureHour(hoursAhead: number): Promise<number> {
  return Math.ceil(Date.now() / HOUR) * HOUR + hoursAhead * HOUR;
}

function addBooking(start: number, customerId = ADA.customerId, resourceId = ROOM_THAMES): number {
  return s.h.nexudus.state.addBooking({ ResourceId: resourceId, CoworkerId: customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }).Id as number;
}

/** The membership of a customer's Kisi user (known once the grant created or found it) in a group. */
function membershipOf(email: string, groupId: number): string {
  const userId = s.h.kisiUserId(email);
  if (userId === undefined) throw new Error(`no Kisi user for ${email}`);
  return membershipWorkflowId(userId, groupId);
}

async function holdingOf(email: string, groupId: number) {
  return (await s.h.client.workflow.getHandle(membershipOf(email, groupId)).query(membershipStatusQuery)).holding;
}

async function visible(workflowId: string): Promise<boolean> {
  for await (const info of s.h.client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Running'` })) if (info.workflowId === workflowId) return true;
  return false;
}

test('a booking whose webhook never arrived gets its grant and Kisi access', async () => {
  const { h } = s;
  const start = await futureHour(3);
  const id = addBooking(start);
  expect(h.nexudus.webhooks.log).toEqual([]); // no webhook went anywhere

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ created: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'created', ref: grantWorkflowId('booking', id) }));
  expect(report.phases.map((p) => p.phase)).toEqual(['kisi', 'customers', 'bookings', 'contracts', 'passes', 'webhooks']);

  await h.waitForState('booking', id, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) })]);
});

test('a booking deleted without its webhook: reconcile re-reads it (404) and ends its grant and access', async () => {
  const { h } = s;
  const id = addBooking(await futureHour(5));
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  await visibleGrants(h, { [grantWorkflowId('booking', id)]: 'granted' });

  h.nexudus.state.deleteBooking(id);
  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ ended: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'ended', ref: grantWorkflowId('booking', id), detail: expect.stringContaining('deleted') }));
  await expect(h.client.workflow.getHandle(grantWorkflowId('booking', id)).result()).resolves.toMatchObject({ state: 'revoked', reason: 'ended' });
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'Kisi access removed');
});

test('a cancelled contract found by reconcile ends its grant and access (desks from the floor plan)', async () => {
  const { h } = s;
  const contract = h.nexudus.state.addContract({ CoworkerId: ALAN.customerId, StartDate: iso(Date.now() - 30 * DAY), Desks: [DESK_D1], TariffName: 'Dedicated desk' });
  const id = contract.Id as number;

  const first = await runReconcile(h);
  expect(first.counts.created).toBe(1);
  await h.waitForState('contract', id, 'granted');
  expect(h.isMember(ALAN.email, GROUP_MEMBERS, Date.now())).toBe(true);
  await visibleGrants(h, { [grantWorkflowId('contract', id)]: 'granted' });

  h.nexudus.state.updateContract(id, { Cancelled: true, CancellationDate: iso(Date.now() - HOUR) });
  const second = await runReconcile(h);
  expect(changed(second.counts)).toEqual(changed(counts({ ended: 1 })));
  await expect(h.client.workflow.getHandle(grantWorkflowId('contract', id)).result()).resolves.toMatchObject({ state: 'revoked' });
  await eventually(() => !h.isMember(ALAN.email, GROUP_MEMBERS, Date.now()), 'Kisi access removed');
  expect(h.assignments(ALAN.email, GROUP_MEMBERS)).toEqual([]);
});

test('a contract cancelled without a date ends where its record last changed, and is not revived by later runs', async () => {
  // A short lag, so the fixed end (UpdatedOn + lag) passes within the test.
  const map: AccessMapFile = { ...DEFAULT_MAP, floorPlanItems: { ...DEFAULT_MAP.floorPlanItems, [DESK_D1]: { groups: [GROUP_MEMBERS], lag: '3s' } } };
  await resetSuite(s, map);
  const { h } = s;
  const id = h.nexudus.state.addContract({ CoworkerId: ALAN.customerId, StartDate: iso(Date.now() - 30 * DAY), Desks: [DESK_D1], TariffName: 'Dedicated desk' }).Id as number;
  await runReconcile(h);
  await h.waitForState('contract', id, 'granted');
  await visibleGrants(h, { [grantWorkflowId('contract', id)]: 'granted' });

  const cancelled = h.nexudus.state.updateContract(id, { Cancelled: true });
  expect(cancelled).toMatchObject({ Cancelled: true, CancellationDate: null });
  const endsAt = Date.parse(cancelled.UpdatedOn as string) + 3_000;
  await sleep(endsAt + 500 - Date.now());

  const second = await runReconcile(h);
  expect(changed(second.counts)).toEqual(changed(counts({ ended: 1 })));
  expect(second.changes).toContainEqual(expect.objectContaining({ kind: 'ended', ref: grantWorkflowId('contract', id), detail: expect.stringContaining(`→ ${iso(endsAt)}`) }));
  const handle = h.client.workflow.getHandle(grantWorkflowId('contract', id));
  await expect(handle.result()).resolves.toMatchObject({ state: 'revoked', reason: 'expired' });
  const { runId } = await handle.describe();
  await eventually(() => !h.isMember(ALAN.email, GROUP_MEMBERS, Date.now()), 'Kisi access removed');

  // The record still says cancelled (and is still listed as active): the end does not move on, nothing comes back.
  for (const run of [await runReconcile(h), await runReconcile(h)]) expect(changed(run.counts)).toEqual(changed(counts({})));
  const after = await handle.describe();
  expect([after.runId, after.status.name]).toEqual([runId, 'COMPLETED']);
  expect(h.assignments(ALAN.email, GROUP_MEMBERS)).toEqual([]);
});

test("an operator's cancel holds: the dormant grant is left alone while its record is unchanged, a newer version grants again", async () => {
  const { h } = s;
  const start = await futureHour(4);
  const id = addBooking(start);
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const handle = h.client.workflow.getHandle(grantWorkflowId('booking', id));
  await handle.cancel();
  await visibleGrants(h, { [grantWorkflowId('booking', id)]: 'cancelled' });
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'Kisi access removed');

  for (const run of [await runReconcile(h), await runReconcile(h)]) {
    expect(changed(run.counts)).toEqual(changed(counts({})));
    expect(run.changes).toEqual([]);
  }
  expect((await handle.describe()).status.name).toBe('RUNNING');
  expect((await h.status('booking', id)).state).toBe('cancelled');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);

  h.nexudus.state.updateBooking(id, { ToTime: iso(start + 2 * HOUR) });
  const moved = await runReconcile(h);
  expect(changed(moved.counts)).toEqual(changed(counts({ updated: 1 })));
  await h.waitForState('booking', id, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_until: iso(start + 2 * HOUR + 15 * MIN) })]);
});

test('running reconcile twice in a row changes nothing the second time', async () => {
  const { h } = s;
  const booking = addBooking(await futureHour(4));
  const contract = h.nexudus.state.addContract({ CoworkerId: ALAN.customerId, StartDate: iso(Date.now() - 10 * DAY), Desks: [DESK_D1] }).Id as number;
  const pass = h.nexudus.state.addCoworkerTimePass({ CoworkerId: ADA.customerId, TimePassId: DAY_PASS, ExpireDate: iso(Date.now() + 10 * DAY) }).Id as number;

  const first = await runReconcile(h);
  expect(changed(first.counts)).toEqual(changed(counts({ created: 3 })));
  await h.waitForState('booking', booking, 'granted');
  await h.waitForState('contract', contract, 'granted');
  await h.waitForState('pass', pass, 'granted');
  await visibleGrants(h, { [grantWorkflowId('booking', booking)]: 'granted', [grantWorkflowId('contract', contract)]: 'granted', [grantWorkflowId('pass', pass)]: 'granted' });
  const kisiBefore = kisiSnapshot(h);
  const writesBefore = h.writes().length;

  const second = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(second.counts)).toEqual(changed(counts({})));
  // 3 records, 3 memberships (Ada x2 groups, Alan x1), their 3 Kisi assignments, 2 customers.
  expect(second.counts.checked).toBe(11);
  expect(second.changes).toEqual([]);
  await sleep(500);
  expect(kisiSnapshot(h)).toBe(kisiBefore);
  expect(h.writes().length).toBe(writesBefore);
  expect(h.assignments(ADA.email, GROUP_DAY_PASS)).toHaveLength(1);
});

test('a hand-added Kisi member is reported in one run and removed under KISI_DRIFT=remove only in a later one; a brand-new one is left alone', async () => {
  const { h } = s;
  const old = handAddedMember(h, 'stranger@example.com', GROUP_ROOM_SEVERN);
  const fresh = handAddedMember(h, 'newcomer@example.com', GROUP_ROOM_SEVERN, 10_000);

  // Never in the run that first sees it, even under remove.
  const first = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(first.counts)).toEqual(changed(counts({ driftFound: 1, skipped: 1 })));
  expect(first.changes).toContainEqual({
    kind: 'drift',
    ref: `kisi assignment ${old.assignmentId}`,
    detail: expect.stringMatching(/^stranger@example\.com in group 102 \(open → open\): no running membership for this user and group; reported now, KISI_DRIFT=remove removes it in the next run/),
  });
  expect(h.kisi.state.roleAssignments.has(old.assignmentId)).toBe(true);

  const second = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(second.counts)).toEqual(changed(counts({ driftFound: 1, driftRemoved: 1, skipped: 1 })));
  expect(second.changes).toContainEqual({ kind: 'drift-removed', ref: `kisi assignment ${old.assignmentId}`, detail: 'removed stranger@example.com from group 102' });
  expect(h.kisi.state.roleAssignments.has(old.assignmentId)).toBe(false);
  // Younger than the grace period: a membership may be about to rely on it.
  expect(h.kisi.state.roleAssignments.has(fresh.assignmentId)).toBe(true);

  // Under report, drift is reported every run and never removed.
  const again = handAddedMember(h, 'visitor@example.com', GROUP_ROOM_SEVERN);
  for (const policy of ['report', 'report'] as const) expect((await runReconcile(h, { driftPolicy: policy })).counts.driftFound).toBe(1);
  expect(h.kisi.state.roleAssignments.has(again.assignmentId)).toBe(true);
});

test('a hand-made permanent assignment a membership relies on is no drift and is never changed or removed, though reported while nothing relied on it', async () => {
  const { h } = s;
  const staff = handAddedMember(h, ADA.email, GROUP_ROOM_THAMES); // staff access, made by hand in Kisi
  const permanent = JSON.stringify(h.kisi.state.roleAssignments.get(staff.assignmentId));
  const id = addBooking(await futureHour(6));

  // Day one: the Kisi phase runs before the booking's grant exists, so nothing relies on it yet.
  const first = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(first.counts)).toEqual(changed(counts({ created: 1, driftFound: 1 })));
  await h.waitForState('booking', id, 'granted');
  expect(await holdingOf(ADA.email, GROUP_ROOM_THAMES)).toMatchObject({ kind: 'relied', assignmentId: staff.assignmentId });
  await visibleGrants(h, { [grantWorkflowId('booking', id)]: 'granted' });

  for (const run of [await runReconcile(h, { driftPolicy: 'remove' }), await runReconcile(h, { driftPolicy: 'remove' })]) {
    expect(changed(run.counts)).toEqual(changed(counts({})));
  }
  expect(h.writes()).toEqual([]);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES).map((a) => JSON.stringify(a))).toEqual([permanent]);
});

test('the assignment a membership relied on is removed by hand: the membership writes its own', async () => {
  const { h } = s;
  const start = await futureHour(7);
  const staff = handAddedMember(h, ADA.email, GROUP_ROOM_THAMES);
  const id = addBooking(start);
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  expect(await holdingOf(ADA.email, GROUP_ROOM_THAMES)).toMatchObject({ kind: 'relied', assignmentId: staff.assignmentId });
  h.kisi.state.roleAssignments.delete(staff.assignmentId);

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ repaired: 1 })));
  expect(report.changes).toContainEqual({ kind: 'repaired', ref: membershipOf(ADA.email, GROUP_ROOM_THAMES), detail: `asked to compare with Kisi again: the Kisi assignment ${staff.assignmentId} it relies on (not ours) is gone` });
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 1, 'an assignment of its own written');
  const [own] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  expect(own).toMatchObject({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) });
  await eventually(async () => (await holdingOf(ADA.email, GROUP_ROOM_THAMES))?.kind === 'own', 'the membership holding its own');
  expect(await holdingOf(ADA.email, GROUP_ROOM_THAMES)).toMatchObject({ kind: 'own', assignmentId: own!.id });
});

test('the assignment a membership relied on is narrowed by hand: it is left as it is, the membership writes its own beside it', async () => {
  const { h } = s;
  const start = await futureHour(7);
  const staff = handAddedMember(h, ADA.email, GROUP_ROOM_THAMES);
  const id = addBooking(start);
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const narrowed = h.kisi.state.roleAssignments.get(staff.assignmentId)!;
  narrowed.valid_until = iso(start); // someone cut the staff access short
  const before = JSON.stringify(narrowed);

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ repaired: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'repaired', detail: expect.stringContaining('less than its leases need') }));
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 2, 'an assignment of its own written beside it');
  expect(JSON.stringify(h.kisi.state.roleAssignments.get(staff.assignmentId))).toBe(before);
  expect(h.writes().filter((w) => w.method !== 'createGroupRoleAssignment')).toEqual([]);
});

test('an extra hand-made assignment next to our own is drift: reported, then deleted in Kisi directly; ours stays', async () => {
  const { h } = s;
  const id = addBooking(await futureHour(6));
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const [own] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  const extra = handAddedMember(h, ADA.email, GROUP_ROOM_THAMES);

  const reported = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(reported.counts)).toEqual(changed(counts({ driftFound: 1 })));
  expect(reported.changes).toContainEqual(expect.objectContaining({ kind: 'drift', ref: `kisi assignment ${extra.assignmentId}`, detail: expect.stringContaining(`extra next to assignment ${own!.id} held by ${membershipOf(ADA.email, GROUP_ROOM_THAMES)}`) }));
  expect(h.kisi.state.roleAssignments.has(extra.assignmentId)).toBe(true);

  const removed = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(removed.counts)).toEqual(changed(counts({ driftFound: 1, driftRemoved: 1 })));
  expect(h.kisi.state.roleAssignments.has(extra.assignmentId)).toBe(false);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES).map((a) => a.id)).toEqual([own!.id]);
  expect(h.writes().map((w) => [w.method, w.args[0]])).toContainEqual(['deleteRoleAssignment', extra.assignmentId]);
});

test('our own assignment removed by hand is re-created, a hand-changed window put back', async () => {
  const { h } = s;
  const start = await futureHour(7);
  const id = addBooking(start);
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const [assignment] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  h.kisi.state.roleAssignments.delete(assignment!.id);

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ repaired: 1 })));
  expect(report.changes).toContainEqual({ kind: 'repaired', ref: membershipOf(ADA.email, GROUP_ROOM_THAMES), detail: `asked to compare with Kisi again: its own Kisi assignment ${assignment!.id} is missing` });
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 1, 'the assignment re-created');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]).toMatchObject({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) });

  // Someone extends the access by hand in Kisi: put back to what the lease says.
  const [recreated] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  recreated!.valid_until = iso(start + 10 * HOUR);
  const again = await runReconcile(h);
  expect(changed(again.counts)).toEqual(changed(counts({ repaired: 1 })));
  expect(again.changes).toContainEqual(expect.objectContaining({ kind: 'repaired', detail: expect.stringContaining('instead of') }));
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]?.valid_until === iso(start + HOUR + 15 * MIN), 'the window put back');
});

test('a lease whose grant was terminated (orphan) is given back, and with it the access', async () => {
  const { h } = s;
  const id = addBooking(await futureHour(8));
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const membership = membershipOf(ADA.email, GROUP_ROOM_THAMES);
  await h.client.workflow.getHandle(grantWorkflowId('booking', id)).terminate('operator removed it without cleanup');
  // The booking still exists: its grant is closed for good, reconcile must not start it again.
  await eventually(async () => !(await visible(grantWorkflowId('booking', id))), 'the grant gone from visibility');

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ orphansReleased: 1, skipped: 1 })));
  expect(report.changes).toContainEqual({ kind: 'orphan-released', ref: membership, detail: `gave back the lease of ${grantWorkflowId('booking', id)}, which no longer runs` });
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'skipped', ref: grantWorkflowId('booking', id), detail: expect.stringContaining('closed for good') }));
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'Kisi access removed');
  await expect(h.client.workflow.getHandle(membership).result()).resolves.toBeUndefined();
});

describe('legacy memberships (keyed by customer, from before memberships followed the Kisi user)', () => {
  test('its assignment is explained, its running holder woken to move on; removed by hand, it is asked to repair (legacy retry), then given back by the grant', async () => {
    const { h } = s;
    const start = await futureHour(5);
    const id = addBooking(start);
    await runReconcile(h);
    await h.waitForState('booking', id, 'granted');
    const grantId = grantWorkflowId('booking', id);
    const window = { from: start - 15 * MIN, until: start + HOUR + 15 * MIN };
    // The same grant also held Severn on a legacy membership before the deploy (its holder never woke since).
    const legacy = await legacyMembership(h, { customerId: ADA.customerId, groupId: GROUP_ROOM_SEVERN, kisiUserId: h.kisiUserId(ADA.email)!, email: ADA.email, window, leases: { [grantId]: 1 } });
    expect(legacy.workflowId).toBe(legacyMembershipWorkflowId(ADA.customerId, GROUP_ROOM_SEVERN));
    const thames = JSON.stringify(h.assignments(ADA.email, GROUP_ROOM_THAMES));

    const first = await runReconcile(h, { driftPolicy: 'remove' });
    expect(changed(first.counts)).toEqual(changed(counts({ upgraded: 1 })));
    expect(first.changes).toEqual([{ kind: 'upgraded', ref: grantId, detail: `woke it to move onto the current grant code: it holds a lease on legacy membership ${legacy.workflowId}` }]);
    expect(await signalsReceived(h, grantId)).toContain('upgradeGrant');
    expect(h.kisi.state.roleAssignments.has(legacy.assignmentId)).toBe(true);

    h.kisi.state.roleAssignments.delete(legacy.assignmentId);
    const second = await runReconcile(h, { driftPolicy: 'remove' });
    expect(changed(second.counts)).toEqual(changed(counts({ repaired: 1, upgraded: 1 })));
    expect(second.changes).toContainEqual({ kind: 'repaired', ref: legacy.workflowId, detail: `asked to compare with Kisi again: its own Kisi assignment ${legacy.assignmentId} is missing` });
    // The legacy membership re-created it, told its holder, and the grant (on the current code,
    // with no use for Severn) gave the lease back: the legacy membership removed it and ended.
    await expect(h.client.workflow.getHandle(legacy.workflowId).result()).resolves.toBeUndefined();
    const severnWrites = h.writes().filter((w) => (w.args[0] as { groupId?: number }).groupId === GROUP_ROOM_SEVERN);
    expect(severnWrites.map((w) => w.method)).toEqual(['createGroupRoleAssignment']);
    expect(h.assignments(ADA.email, GROUP_ROOM_SEVERN)).toEqual([]);
    expect(JSON.stringify(h.assignments(ADA.email, GROUP_ROOM_THAMES))).toBe(thames);
    expect((await h.status('booking', id)).state).toBe('granted');
  });

  test('a lease on a legacy membership whose grant no longer runs is given back (legacy releaseLease), and the access with it', async () => {
    const { h } = s;
    handAddedMember(h, ALAN.email, GROUP_MEMBERS); // Alan's Kisi user (and a hand-made assignment nobody relies on)
    const userId = h.kisiUserId(ALAN.email)!;
    const legacy = await legacyMembership(h, { customerId: ALAN.customerId, groupId: GROUP_ROOM_THAMES, kisiUserId: userId, email: ALAN.email, window: { from: null, until: Date.now() + DAY }, leases: { 'booking-9999991': 1 } });

    const report = await runReconcile(h, { dryRun: true });
    expect(changed(report.counts)).toEqual(changed(counts({ orphansReleased: 1, driftFound: 1 })));
    expect(report.changes).toContainEqual({ kind: 'orphan-released', ref: legacy.workflowId, detail: 'would give back the lease of booking-9999991, which no longer runs' });

    const real = await runReconcile(h);
    expect(real.counts.orphansReleased).toBe(1);
    await expect(h.client.workflow.getHandle(legacy.workflowId).result()).resolves.toBeUndefined();
    expect(h.kisi.state.roleAssignments.has(legacy.assignmentId)).toBe(false);
    expect(h.assignments(ALAN.email, GROUP_MEMBERS)).toHaveLength(1); // not ours: untouched
  });
});

describe('customers', () => {
  test('a customer whose email changed in Nexudus (webhook lost) gets a customer sync: the access moves to the Kisi user of the new email', async () => {
    const { h } = s;
    const start = await futureHour(6);
    const id = addBooking(start);
    await runReconcile(h);
    await h.waitForState('booking', id, 'granted');
    await visibleGrants(h, { [grantWorkflowId('booking', id)]: 'granted' });

    h.nexudus.state.updateCoworker(ADA.customerId, { Email: 'ada.lovelace@example.com' });
    const report = await runReconcile(h);
    expect(changed(report.counts)).toEqual(changed(counts({ customersSynced: 1 })));
    expect(report.changes).toEqual([
      {
        kind: 'customer-sync',
        ref: `customer-sync-${ADA.customerId}`,
        detail: `requested a customer sync: ${grantWorkflowId('booking', id)} holds its access on the Kisi user of another email (the customer's email is now ada.lovelace@example.com)`,
      },
    ]);
    await eventually(() => h.assignments('ada.lovelace@example.com', GROUP_ROOM_THAMES).length === 1 && h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'access moved to the new Kisi user', 30_000);
    expect(h.assignments('ada.lovelace@example.com', GROUP_ROOM_THAMES)[0]).toMatchObject({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) });

    // Once the grant shows the new email, the customer is in step again.
    await eventually(async () => (await listRunningGrants(h.client, h.taskQueue)).get(grantWorkflowId('booking', id))?.customerEmail === 'ada.lovelace@example.com', 'the grant listed with the new email');
    await visibleGrants(h, { [grantWorkflowId('booking', id)]: 'granted' });
    expect((await runReconcile(h)).counts.customersSynced).toBe(0);
  });

  test('a customer deactivated in Nexudus (webhook lost) loses the door through a customer sync, and gets it back when reactivated', async () => {
    const { h } = s;
    const id = h.nexudus.state.addContract({ CoworkerId: ALAN.customerId, StartDate: iso(Date.now() - 30 * DAY), Desks: [DESK_D1] }).Id as number;
    await runReconcile(h);
    await h.waitForState('contract', id, 'granted');
    await visibleGrants(h, { [grantWorkflowId('contract', id)]: 'granted' });

    h.nexudus.state.updateCoworker(ALAN.customerId, { Active: false });
    const off = await runReconcile(h);
    expect(changed(off.counts)).toEqual(changed(counts({ customersSynced: 1 })));
    expect(off.changes).toEqual([{ kind: 'customer-sync', ref: `customer-sync-${ALAN.customerId}`, detail: `requested a customer sync: ${grantWorkflowId('contract', id)} is granted but the customer is inactive in Nexudus` }]);
    await h.waitForState('contract', id, 'suspended', 30_000);
    await eventually(() => h.assignments(ALAN.email, GROUP_MEMBERS).length === 0, 'the door closed');
    await visibleGrants(h, { [grantWorkflowId('contract', id)]: 'suspended' });
    expect((await runReconcile(h)).counts.customersSynced).toBe(0);

    h.nexudus.state.updateCoworker(ALAN.customerId, { Active: true });
    const on = await runReconcile(h);
    expect(on.changes).toEqual([{ kind: 'customer-sync', ref: `customer-sync-${ALAN.customerId}`, detail: `requested a customer sync: ${grantWorkflowId('contract', id)} is suspended but the customer is active in Nexudus` }]);
    await h.waitForState('contract', id, 'granted', 30_000);
    expect(h.isMember(ALAN.email, GROUP_MEMBERS, Date.now())).toBe(true);
  });
});

test('dry run: reports what would change and changes nothing', async () => {
  const { h } = s;
  // A grant whose Kisi assignment was removed by hand, a booking deleted behind its grant's back,
  // a booking with no grant yet, and a hand-added member.
  const repairMe = addBooking(await futureHour(9));
  const deleteMe = addBooking(await futureHour(10), ALAN.customerId);
  await runReconcile(h);
  await h.waitForState('booking', repairMe, 'granted');
  await h.waitForState('booking', deleteMe, 'granted');
  await visibleGrants(h, { [grantWorkflowId('booking', repairMe)]: 'granted', [grantWorkflowId('booking', deleteMe)]: 'granted' });
  h.kisi.state.roleAssignments.delete(h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]!.id);
  h.nexudus.state.deleteBooking(deleteMe);
  const missing = addBooking(await futureHour(11), ALAN.customerId, ROOM_THAMES);
  const stranger = handAddedMember(h, 'stranger@example.com', GROUP_ROOM_SEVERN);
  const kisiBefore = kisiSnapshot(h);
  const adaThames = membershipOf(ADA.email, GROUP_ROOM_THAMES);
  const membershipBefore = await h.client.workflow.getHandle(adaThames).query(membershipStatusQuery);

  // The first run that sees the stranger only reports it; a dry run counts as reported.
  const dry = await runReconcile(h, { dryRun: true, driftPolicy: 'remove' });
  expect(dry.dryRun).toBe(true);
  expect(changed(dry.counts)).toEqual(changed(counts({ created: 1, ended: 1, repaired: 1, driftFound: 1 })));
  const again = await runReconcile(h, { dryRun: true, driftPolicy: 'remove' });
  expect(changed(again.counts)).toEqual(changed(counts({ created: 1, ended: 1, repaired: 1, driftFound: 1, driftRemoved: 1 })));
  expect(again.changes).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'created', ref: grantWorkflowId('booking', missing), detail: expect.stringContaining('would start') }),
      expect.objectContaining({ kind: 'ended', ref: grantWorkflowId('booking', deleteMe), detail: expect.stringContaining('would tell') }),
      expect.objectContaining({ kind: 'repaired', ref: adaThames, detail: expect.stringContaining('would ask') }),
      expect.objectContaining({ kind: 'drift-removed', ref: `kisi assignment ${stranger.assignmentId}`, detail: expect.stringContaining('would remove') }),
    ]),
  );

  await sleep(1_000);
  expect(kisiSnapshot(h)).toBe(kisiBefore);
  await expect(h.client.workflow.getHandle(grantWorkflowId('booking', missing)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect((await h.client.workflow.getHandle(grantWorkflowId('booking', deleteMe)).describe()).status.name).toBe('RUNNING');
  expect(await h.client.workflow.getHandle(adaThames).query(membershipStatusQuery)).toEqual(membershipBefore);

  // The same run for real does all of it.
  const real = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(real.counts)).toEqual(changed(again.counts));
  await h.waitForState('booking', missing, 'granted');
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 1 && !h.kisi.state.roleAssignments.has(stranger.assignmentId), 'Kisi repaired and cleaned');
});

test('Nexudus webhooks of ours: disabled or with a rising error count are reported; others ignored', async () => {
  const { h } = s;
  const state = h.nexudus.state;
  const disabled = state.addWebhook({ Name: 'bookings', Action: 'BookingCreate', URL: 'https://access.example.com/webhooks/nexudus/BookingCreate', Active: false }).Id as number;
  const failing = state.addWebhook({ Name: 'contracts', Action: 'CoworkerContractUpdate', URL: 'https://access.example.com/webhooks/nexudus/CoworkerContractUpdate' }).Id as number;
  state.addWebhook({ Name: 'someone else', Action: 'BookingCreate', URL: 'https://crm.example.com/hooks/booking', Active: false });

  const first = await runReconcile(h, { phases: ['webhooks'] });
  expect(changed(first.counts)).toEqual(changed(counts({ webhookProblems: 1 })));
  expect(first.changes).toEqual([expect.objectContaining({ kind: 'webhook-problem', ref: `nexudus webhook ${disabled}`, detail: expect.stringContaining('disabled') })]);
  expect(first.webhooks.map((w) => w.id).sort()).toEqual([disabled, failing].sort());

  const record = state.store.webhooks.get(failing)!;
  state.store.webhooks.put({ ...record, ErrorCount: 3, LastError: 'connect ECONNREFUSED' });
  const second = await runReconcile(h, { phases: ['webhooks'] });
  expect(second.counts.webhookProblems).toBe(2);
  expect(second.changes).toContainEqual(expect.objectContaining({ ref: `nexudus webhook ${failing}`, detail: expect.stringContaining('ErrorCount rose from 0 to 3 (last error: connect ECONNREFUSED)') }));

  // Same count as last time: no longer news. The disabled one stays loud until fixed.
  const third = await runReconcile(h, { phases: ['webhooks'] });
  expect(third.counts.webhookProblems).toBe(1);
  expect(third.changes.map((c) => c.ref)).toEqual([`nexudus webhook ${disabled}`]);
});

test('a retried bookings phase resumes after its checkpoint: what the earlier attempt did is not done again, its counts carry over', async () => {
  const { h } = s;
  const start = await futureHour(6);
  const done = addBooking(start);
  const left = addBooking(start + HOUR, ALAN.customerId);
  expect(left).toBeGreaterThan(done); // the phase walks records in id order
  // The last heartbeat of an attempt that handled `done` and then died.
  const previous: PhaseCheckpoint = {
    phase: 'bookings',
    step: 'comparing bookings with their grants',
    done: 1,
    total: 2,
    cursor: `listed:${done}`,
    tally: { counts: { ...emptyCounts(), checked: 1, created: 1 }, changes: [{ kind: 'created', ref: grantWorkflowId('booking', done), detail: 'started by the earlier attempt' }], errors: [], droppedChanges: 0 },
  };
  const beats: PhaseCheckpoint[] = [];
  const progress = new PhaseProgress('bookings', { heartbeat: (details) => beats.push(structuredClone(details)), previous: () => previous });
  expect(progress.resumed).toBe(true);

  const deps = { nexudus: h.nexudusClient, specs: h.specs, temporal: h.client, taskQueue: h.taskQueue, accessMap: () => h.map, now: () => Date.now() };
  await reconcileRecords('booking', deps, { dryRun: false, window: { from: Date.now() - DAY, to: Date.now() + 2 * DAY } }, progress);

  // Only the record after the checkpoint was delivered (the earlier one is the earlier attempt's).
  await expect(h.client.workflow.getHandle(grantWorkflowId('booking', done)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  await h.waitForState('booking', left, 'granted');
  expect(changed(progress.tally.counts)).toEqual(changed(counts({ created: 2 })));
  expect(progress.tally.changes.map((c) => c.ref)).toEqual([grantWorkflowId('booking', done), grantWorkflowId('booking', left)]);
  expect(beats.at(-1)?.cursor).toBe(`listed:${left}`);

  // A heartbeat from another phase is no resume point for this one.
  expect(new PhaseProgress('contracts', { heartbeat: () => undefined, previous: () => previous }).resumed).toBe(false);
});
