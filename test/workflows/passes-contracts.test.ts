/**
 * Pass and contract grants: a day pass ends at the location's local midnight (DST included), an
 * unused pass at its expiry; a contract ends at its cancellation date; an open-ended contract
 * lives for more than a year through continue-as-new without a gap in access.
 */
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { grantWorkflowId } from '../../src/domain/ids';
import type { GrantInput } from '../../src/contract/grant';
import { sourceChangedSignal } from '../../src/contract/grant';
import {
  ADA,
  DAY,
  DESK_D1,
  GROUP_DAY_PASS,
  GROUP_MEMBERS,
  GROUP_OFFICE,
  GrantHarness,
  HOUR,
  MIN,
  OFFICE_1,
  expectAround,
  grantResult,
  hourAhead,
  iso,
  newSourceId,
} from '../helpers/grant-harness';

const WEEK = 7 * DAY;

jest.setTimeout(240_000);

let h: GrantHarness;
beforeAll(async () => {
  h = await GrantHarness.start();
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

test('a pass expiring unused: access until the expiry, removed then', async () => {
  const pass = newSourceId();
  const expire = (await hourAhead(h, 1)) + 3 * DAY;
  await h.deliver(await h.passSpec({ Id: pass, ExpireDate: iso(expire), RemainingUses: 1 }));
  await h.waitForState('pass', pass, 'granted');
  expect(h.assignments(ADA.email, GROUP_DAY_PASS)).toEqual([expect.objectContaining({ valid_from: null, valid_until: iso(expire) })]);
  await h.sleepUntil(expire + 1000);
  expect(await grantResult(h, 'pass', pass)).toMatchObject({ state: 'revoked', reason: 'expired' });
  expect(h.assignments(ADA.email, GROUP_DAY_PASS)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, expire);
});

test('a day pass used on day 1 stays valid to local midnight, across the spring DST change', async () => {
  // Europe/London springs forward on 2027-03-28 at 01:00 UTC: that day has 23 hours and ends at 23:00 UTC.
  const dayBefore = Date.parse('2027-03-27T12:00:00Z');
  if ((await h.now()) > dayBefore) throw new Error('this test needs virtual time before 2027-03-27');
  await h.sleepUntil(dayBefore);
  const pass = newSourceId();
  await h.deliver(await h.passSpec({ Id: pass, Used: false, RemainingUses: 1, UpdatedOn: iso(dayBefore) }));
  await h.waitForState('pass', pass, 'granted');
  // No expiry: Kisi holds it for KISI_MAX_VALIDITY (a week), renewed while the pass lasts.
  const [held] = h.assignments(ADA.email, GROUP_DAY_PASS);
  expect(held).toMatchObject({ valid_from: null });
  expectAround(Date.parse(held!.valid_until!), dayBefore + WEEK, 5_000);

  const used = Date.parse('2027-03-28T09:30:00Z'); // 10:30 BST
  await h.sleepUntil(used);
  await h.deliver(await h.passSpec({ Id: pass, Used: true, RemainingUses: 0, UsedDate: iso(used), UpdatedOn: iso(used) }));
  const localMidnight = Date.parse('2027-03-28T23:00:00Z'); // 2027-03-29 00:00 BST
  await h.until(() => h.assignments(ADA.email, GROUP_DAY_PASS)[0]?.valid_until === iso(localMidnight), 'Kisi closing at local midnight');
  expect(h.isMember(ADA.email, GROUP_DAY_PASS, localMidnight - 1)).toBe(true);
  expect(h.isMember(ADA.email, GROUP_DAY_PASS, localMidnight)).toBe(false);
  await h.sleepUntil(localMidnight + 1000);
  await grantResult(h, 'pass', pass);
  expect(h.assignments(ADA.email, GROUP_DAY_PASS)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, localMidnight);
  // Not UTC midnight, which would have given an extra hour.
  expect(h.writes().at(-1)!.at).toBeLessThan(Date.parse('2027-03-29T00:00:00Z'));
});

test('a contract cancelled mid-way: access ends at the cancellation date plus lag', async () => {
  const start = await hourAhead(h, 1);
  const contract = newSourceId();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: [DESK_D1], UpdatedOn: iso(start - HOUR) }));
  await h.waitForState('contract', contract, 'granted');
  await h.sleepUntil(start + 30 * DAY);
  expect(h.isMember(ADA.email, GROUP_MEMBERS, await h.now())).toBe(true);
  const cancellation = start + 35 * DAY;
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: [DESK_D1], Cancelled: true, CancellationDate: iso(cancellation), UpdatedOn: iso(start + 30 * DAY) }));
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS)[0]?.valid_until === iso(cancellation + 15 * MIN), 'contract end in Kisi');
  await h.sleepUntil(cancellation + 15 * MIN + 1000);
  expect(await grantResult(h, 'contract', contract)).toMatchObject({ state: 'revoked', reason: 'expired' });
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, cancellation + 15 * MIN);
});

test('an open-ended contract across 400 days: renewals and up/downgrades without a gap, continue-as-new', async () => {
  const start = await hourAhead(h, 1);
  const contract = newSourceId();
  const workflowId = grantWorkflowId('contract', contract);
  const first = await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: [DESK_D1], UpdatedOn: iso(start - HOUR) });
  // A small history limit makes continue-as-new happen within the test (Temporal suggests it at ~4K events).
  const input: GrantInput = { v: 2, spec: first, openStart: await h.now(), historyLimit: 30 };
  const handle = await h.client.workflow.signalWithStart('contractGrant', {
    workflowId,
    taskQueue: h.taskQueue,
    args: [input],
    signal: sourceChangedSignal,
    signalArgs: [first],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  });
  const firstRunId = handle.signaledRunId;
  await h.waitForState('contract', contract, 'granted');

  // Every 30 days a renewal; every other one an upgrade to the office (adds its group) or back.
  for (let month = 1; month <= 13; month++) {
    await h.sleepUntil(start + month * 30 * DAY);
    const desks = month % 2 === 1 ? [OFFICE_1] : [DESK_D1];
    await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: desks, UpdatedOn: iso(start + month * 30 * DAY) }));
    const expectOffice = month % 2 === 1;
    await h.until(() => (h.assignments(ADA.email, GROUP_OFFICE).length === 1) === expectOffice, `office group ${expectOffice ? 'added' : 'removed'} in month ${month}`);
    await h.waitForState('contract', contract, 'granted');
    // The members group (in both plans) was never interrupted.
    expect(h.isMember(ADA.email, GROUP_MEMBERS, await h.now())).toBe(true);
  }
  expect((await h.now()) - start).toBeGreaterThanOrEqual(390 * DAY);
  // The members group's assignment was created once and never removed: only renewed, each time with
  // about a third of its week left, to a week ahead (so it never lapses and never runs open-ended).
  const [members] = h.assignments(ADA.email, GROUP_MEMBERS);
  expect(h.writes().filter((c) => c.method === 'createGroupRoleAssignment' && (c.args[0] as { groupId: number }).groupId === GROUP_MEMBERS)).toHaveLength(1);
  const renewals = h.writes().filter((c) => c.args[0] === members!.id);
  expect(renewals.every((c) => c.method === 'updateRoleAssignmentWindow')).toBe(true);
  expect(renewals.length).toBeGreaterThanOrEqual(Math.floor((390 * DAY) / (WEEK - WEEK / 3)) - 1);
  let lapsesAt = start - 15 * MIN + WEEK;
  for (const renewal of renewals) {
    const until = Date.parse((renewal.args[1] as { validUntil: string }).validUntil);
    expect(renewal.at).toBeLessThan(lapsesAt); // renewed before it lapsed
    expect(until - renewal.at).toBeLessThanOrEqual(WEEK + 1000);
    lapsesAt = until;
  }
  // The office group came and went with the plan: 7 upgrades, 6 downgrades.
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toHaveLength(6);
  const described = await h.client.workflow.getHandle(workflowId).describe();
  expect(described.runId).not.toBe(firstRunId);
  const firstRun = await h.client.workflow.getHandle(workflowId, firstRunId).describe();
  expect(firstRun.status.name).toBe('CONTINUED_AS_NEW');
  const status = await h.status('contract', contract);
  expect(status).toMatchObject({ state: 'granted', groups: [GROUP_MEMBERS, GROUP_OFFICE], window: { from: iso(start - 15 * MIN), until: null } });
  expect(status.grantedAt).not.toBeNull();
});
