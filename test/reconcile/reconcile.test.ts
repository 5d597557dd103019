/**
 * Reconcile against the Kisi and Nexudus sandboxes, with a real worker on a dev server: what a
 * run finds, what it changes in Temporal and in Kisi, and that a quiet space stays quiet.
 * Webhooks never reach this worker here (none is registered), so everything that happens is
 * reconcile's doing.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { grantWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { reconcileRecords } from '../../src/reconcile/nexudus-phase';
import { PhaseProgress, type PhaseCheckpoint } from '../../src/reconcile/progress';
import { COUNT_KEYS, emptyCounts, type ReconcileCounts } from '../../src/reconcile/report';
import { membershipStatusQuery } from '../../workflows/messages';
import { ADA, ALAN, DAY, DAY_PASS, DESK_D1, GROUP_DAY_PASS, GROUP_MEMBERS, GROUP_ROOM_SEVERN, GROUP_ROOM_THAMES, HOUR, MIN, ROOM_THAMES, iso } from '../helpers/grant-harness';
import { eventually, handAddedMember, kisiSnapshot, resetSuite, runReconcile, sleep, startSuite, stopSuite, visibleGrants, type ReconcileSuite } from './helpers';

jest.setTimeout(90_000);

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

test('a booking whose webhook never arrived gets its grant and Kisi access', async () => {
  const { h } = s;
  const start = await futureHour(3);
  const id = addBooking(start);
  expect(h.nexudus.webhooks.log).toEqual([]); // no webhook went anywhere

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ created: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'created', ref: grantWorkflowId('booking', id) }));

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

  const second = await runReconcile(h);
  expect(changed(second.counts)).toEqual(changed(counts({})));
  // 3 records, 3 memberships (Ada x2 groups, Alan x1), their 3 Kisi assignments.
  expect(second.counts.checked).toBe(9);
  expect(second.changes).toEqual([]);
  await sleep(500);
  expect(kisiSnapshot(h)).toBe(kisiBefore);
  expect(h.writes().length).toBe(writesBefore);
  expect(h.assignments(ADA.email, GROUP_DAY_PASS)).toHaveLength(1);
});

test('a hand-added Kisi member is reported (report), then removed (remove); a brand-new one is left alone', async () => {
  const { h } = s;
  const old = handAddedMember(h, 'stranger@example.com', GROUP_ROOM_SEVERN);
  const fresh = handAddedMember(h, 'newcomer@example.com', GROUP_ROOM_SEVERN, 10_000);

  const reported = await runReconcile(h, { driftPolicy: 'report' });
  expect(changed(reported.counts)).toEqual(changed(counts({ driftFound: 1, skipped: 1 })));
  expect(reported.changes).toContainEqual({ kind: 'drift', ref: `kisi assignment ${old.assignmentId}`, detail: expect.stringContaining('stranger@example.com in group 102') });
  expect(h.kisi.state.roleAssignments.has(old.assignmentId)).toBe(true);

  const removed = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(removed.counts)).toEqual(changed(counts({ driftFound: 1, driftRemoved: 1, skipped: 1 })));
  expect(h.kisi.state.roleAssignments.has(old.assignmentId)).toBe(false);
  // Younger than the grace period: a membership may be about to claim it.
  expect(h.kisi.state.roleAssignments.has(fresh.assignmentId)).toBe(true);
});

test('an extra assignment next to the one a membership applied is drift; remove asks the membership to drop it', async () => {
  const { h } = s;
  const id = addBooking(await futureHour(6));
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const [own] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  const extra = handAddedMember(h, ADA.email, GROUP_ROOM_THAMES);

  const reported = await runReconcile(h, { driftPolicy: 'report' });
  expect(changed(reported.counts)).toEqual(changed(counts({ driftFound: 1 })));
  expect(reported.changes).toContainEqual(expect.objectContaining({ kind: 'drift', ref: `kisi assignment ${extra.assignmentId}`, detail: expect.stringContaining(`applied by ${membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES)}`) }));

  const removed = await runReconcile(h, { driftPolicy: 'remove' });
  expect(removed.counts.driftRemoved).toBe(1);
  await eventually(() => !h.kisi.state.roleAssignments.has(extra.assignmentId), 'the extra assignment removed by the membership');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES).map((a) => a.id)).toEqual([own!.id]);
});

test('a hand-removed member is re-added, a hand-changed window put back', async () => {
  const { h } = s;
  const start = await futureHour(7);
  const id = addBooking(start);
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  const [assignment] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  h.kisi.state.roleAssignments.delete(assignment!.id);

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ repaired: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'repaired', ref: membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES), detail: expect.stringContaining('missing') }));
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

test('a lease whose grant was terminated (orphan) is released, and with it the access', async () => {
  const { h } = s;
  const id = addBooking(await futureHour(8));
  await runReconcile(h);
  await h.waitForState('booking', id, 'granted');
  await h.client.workflow.getHandle(grantWorkflowId('booking', id)).terminate('operator removed it without cleanup');
  // The booking still exists: its grant is closed for good, reconcile must not start it again.
  await eventually(async () => !(await visible(grantWorkflowId('booking', id))), 'the grant gone from visibility');

  const report = await runReconcile(h);
  expect(changed(report.counts)).toEqual(changed(counts({ orphansReleased: 1, skipped: 1 })));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'orphan-released', ref: membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES) }));
  expect(report.changes).toContainEqual(expect.objectContaining({ kind: 'skipped', ref: grantWorkflowId('booking', id), detail: expect.stringContaining('closed for good') }));
  await eventually(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'Kisi access removed');
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
  const membershipBefore = await h.client.workflow.getHandle(membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES)).query(membershipStatusQuery);

  const dry = await runReconcile(h, { dryRun: true, driftPolicy: 'remove' });
  expect(dry.dryRun).toBe(true);
  expect(changed(dry.counts)).toEqual(changed(counts({ created: 1, ended: 1, repaired: 1, driftFound: 1, driftRemoved: 1 })));
  expect(dry.changes).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ kind: 'created', ref: grantWorkflowId('booking', missing), detail: expect.stringContaining('would start') }),
      expect.objectContaining({ kind: 'ended', ref: grantWorkflowId('booking', deleteMe), detail: expect.stringContaining('would tell') }),
      expect.objectContaining({ kind: 'repaired', ref: membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES), detail: expect.stringContaining('would ask') }),
      expect.objectContaining({ kind: 'drift-removed', ref: `kisi assignment ${stranger.assignmentId}`, detail: expect.stringContaining('would remove') }),
    ]),
  );

  await sleep(1_000);
  expect(kisiSnapshot(h)).toBe(kisiBefore);
  await expect(h.client.workflow.getHandle(grantWorkflowId('booking', missing)).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect((await h.client.workflow.getHandle(grantWorkflowId('booking', deleteMe)).describe()).status.name).toBe('RUNNING');
  expect(await h.client.workflow.getHandle(membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES)).query(membershipStatusQuery)).toEqual(membershipBefore);

  // The same run for real does all of it.
  const real = await runReconcile(h, { driftPolicy: 'remove' });
  expect(changed(real.counts)).toEqual(changed(dry.counts));
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

async function visible(workflowId: string): Promise<boolean> {
  for await (const info of s.h.client.workflow.list({ query: `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Running'` })) if (info.workflowId === workflowId) return true;
  return false;
}

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
