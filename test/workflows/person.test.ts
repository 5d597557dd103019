/**
 * Access follows the person, on the time-skipping server: what Kisi received, for which Kisi user,
 * and when. The customer's facts reach a grant as the `customerChanged` signal its customer
 * workflow sends (that workflow, which needs Temporal's visibility, is exercised on the dev server
 * in test/ingress/person-lifecycle.test.ts).
 */
import { GrantState, CustomerEmail } from '../../src/domain/search-attributes';
import { customerChangedSignal } from '../../src/contract/grant';
import { customerFacts, type CustomerFacts } from '../../src/domain/customer';
import type { NexudusCoworker } from '../../src/domain/nexudus-entities';
import { grantWorkflowId, type GrantKind } from '../../src/domain/ids';
import { ADA, DAY, DESK_D1, GROUP_MEMBERS, GROUP_ROOM_THAMES, GrantHarness, HOUR, MIN, expectAround, hourAhead, iso, newSourceId } from '../helpers/grant-harness';

jest.setTimeout(240_000);

const NEW_EMAIL = 'ada.lovelace@analytical.example';

let h: GrantHarness;
beforeAll(async () => {
  // A short client timeout lets a Kisi write time out while Kisi applies it (a lost answer).
  h = await GrantHarness.start({ kisiTimeoutMs: 1_500, restartsWorker: true });
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

/** Changes Ada in Nexudus and returns the facts her customer workflow would send (Nexudus is the truth). */
function change(patch: { Email?: string; Active?: boolean }): CustomerFacts {
  return customerFacts(h.nexudus.state.updateCoworker(ADA.customerId, patch) as unknown as NexudusCoworker);
}

async function tell(kind: GrantKind, id: number, next: CustomerFacts): Promise<void> {
  await h.client.workflow.getHandle(grantWorkflowId(kind, id)).signal(customerChangedSignal, next);
}

test('email change: every assignment moves to the new email\'s Kisi user, created first; the old user keeps nothing', async () => {
  const start = await hourAhead(h, 1);
  const contract = newSourceId();
  const booking = newSourceId();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start - DAY), Desks: [DESK_D1] }));
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('contract', contract, 'granted');
  await h.waitForState('booking', booking, 'granted');
  const oldUser = h.kisiUserId(ADA.email)!;

  const changed = change({ Email: NEW_EMAIL });
  await tell('contract', contract, changed);
  await tell('booking', booking, changed);
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS).length === 0 && h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'the old user emptied');
  const newUser = h.kisiUserId(NEW_EMAIL)!;
  expect(newUser).not.toBe(oldUser);
  expect(h.assignments(NEW_EMAIL, GROUP_MEMBERS)).toHaveLength(1);
  expect(h.assignments(NEW_EMAIL, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) })]);
  // No gap: in each group the new user's assignment was created before the old one was deleted.
  const writes = h.writes();
  for (const group of [GROUP_MEMBERS, GROUP_ROOM_THAMES]) {
    const created = writes.findIndex((c) => c.method === 'createGroupRoleAssignment' && (c.args[0] as { userId: number; groupId: number }).userId === newUser && (c.args[0] as { groupId: number }).groupId === group);
    const deleted = writes.findIndex((c, i) => i > 1 && c.method === 'deleteRoleAssignment');
    expect(created).toBeGreaterThan(-1);
    expect(deleted).toBeGreaterThan(created);
  }
  for (const [kind, id] of [['contract', contract], ['booking', booking]] as const) {
    const status = await h.waitForState(kind, id, 'granted');
    expect(status).toMatchObject({ customerEmail: NEW_EMAIL, kisiUserId: newUser });
    const described = await h.client.workflow.getHandle(grantWorkflowId(kind, id)).describe();
    expect(described.typedSearchAttributes.get(CustomerEmail)).toBe(NEW_EMAIL);
  }
});

test('crash and retry in the middle of an email change: nothing left on the old user, nothing doubled on the new one', async () => {
  const contract = newSourceId();
  const now = await h.now();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(now - DAY), Desks: [DESK_D1] }));
  await h.waitForState('contract', contract, 'granted');
  // Every Kisi write now takes longer than the client waits: each is applied, its answer lost.
  h.kisi.faults.configure({ rules: [{ route: 'POST /role_assignments', latencyMs: 2_500 }, { route: 'DELETE /role_assignments', latencyMs: 2_500 }] });
  await tell('contract', contract, change({ Email: NEW_EMAIL }));
  // The worker dies as soon as the new user's assignment exists, and comes back.
  await h.until(() => h.kisiUserId(NEW_EMAIL) !== undefined && h.assignments(NEW_EMAIL, GROUP_MEMBERS).length > 0, 'the new assignment written', 30_000);
  await h.stopWorker();
  h.kisi.faults.clear();
  await h.startWorker();
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS).length === 0, 'the old user emptied', 60_000);
  await h.waitForState('contract', contract, 'granted', 60_000);
  expect(h.assignments(NEW_EMAIL, GROUP_MEMBERS)).toHaveLength(1);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([]);
  // The lost answers were found again, not written twice.
  expect(h.writes().filter((c) => c.method === 'createGroupRoleAssignment' && (c.args[0] as { userId: number }).userId === h.kisiUserId(NEW_EMAIL))).not.toHaveLength(0);
  expect([...h.kisi.state.roleAssignments.values()].filter((a) => a.user_id === h.kisiUserId(NEW_EMAIL))).toHaveLength(1);
});

test('two customers sharing an email are one Kisi user: overlapping bookings, no gap, one removal at the end', async () => {
  const twin = h.nexudus.state.addCoworker({ FullName: 'Ada Lovelace (second account)', Email: ADA.email, BusinessId: 1000001 }) as { Id: number };
  const start = await hourAhead(h, 2);
  const first = newSourceId();
  const second = newSourceId();
  await h.deliver(await h.bookingSpec({ Id: first, FromTime: iso(start), ToTime: iso(start + 2 * HOUR) }));
  await h.deliver(await h.bookingSpec({ Id: second, CoworkerId: twin.Id, FromTime: iso(start + HOUR), ToTime: iso(start + 3 * HOUR) }));
  await h.waitForState('booking', first, 'granted');
  await h.waitForState('booking', second, 'granted');
  // One user, one assignment covering both.
  expect([...h.kisi.state.users.values()].filter((u) => u.email === ADA.email)).toHaveLength(1);
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]?.valid_until === iso(start + 3 * HOUR + 15 * MIN), 'the union in Kisi');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + 3 * HOUR + 15 * MIN) })]);
  // The first booking ends: the second keeps the door.
  await h.sleepUntil(start + 2 * HOUR + 20 * MIN);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, await h.now())).toBe(true);
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toEqual([]);
  await h.sleepUntil(start + 3 * HOUR + 15 * MIN + 1000);
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'removed at the end');
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toHaveLength(1);
  expectAround(h.writes().find((c) => c.method === 'deleteRoleAssignment')?.at, start + 3 * HOUR + 15 * MIN);
});

test('a suspended customer loses every door at once; reactivated, gets back what the grants still want', async () => {
  const now = await h.now();
  const contract = newSourceId();
  const booking = newSourceId();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(now - DAY), Desks: [DESK_D1] }));
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(now + 5 * MIN), ToTime: iso(now + 3 * HOUR) }));
  await h.waitForState('contract', contract, 'granted');
  await h.waitForState('booking', booking, 'granted');
  const suspendedAt = await h.now();
  const suspended = change({ Active: false });
  for (const [kind, id] of [['contract', contract], ['booking', booking]] as const) await tell(kind, id, suspended);
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS).length === 0 && h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'every door removed');
  for (const c of h.writes().filter((w) => w.method === 'deleteRoleAssignment')) expectAround(c.at, suspendedAt, 5_000);
  for (const [kind, id] of [['contract', contract], ['booking', booking]] as const) {
    await h.waitForState(kind, id, 'suspended');
    expect((await h.client.workflow.getHandle(grantWorkflowId(kind, id)).describe()).typedSearchAttributes.get(GrantState)).toBe('suspended');
  }
  const reactivated = change({ Active: true });
  for (const [kind, id] of [['contract', contract], ['booking', booking]] as const) await tell(kind, id, reactivated);
  await h.waitForState('contract', contract, 'granted');
  await h.waitForState('booking', booking, 'granted');
  expect(h.isMember(ADA.email, GROUP_MEMBERS, await h.now())).toBe(true);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_until: iso(now + 3 * HOUR + 15 * MIN) })]);
});

describe('only the access we granted', () => {
  test('a permanent assignment made by hand serves a booking of its group and is never changed', async () => {
    const user = await h.kisiClient.createUser({ email: ADA.email, name: ADA.name, sendEmails: false });
    const staff = await h.kisiClient.createGroupRoleAssignment({ userId: user.id, groupId: GROUP_ROOM_THAMES, validFrom: null, validUntil: null });
    const before = { ...h.kisi.state.roleAssignments.get(staff.id) };
    h.calls.length = 0;
    const start = await hourAhead(h, 1);
    const booking = newSourceId();
    await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
    const status = await h.waitForState('booking', booking, 'granted');
    expect(status.groupStates).toEqual({ [GROUP_ROOM_THAMES]: 'applied' });
    await h.sleepUntil(start + 2 * HOUR);
    await h.client.workflow.getHandle(grantWorkflowId('booking', booking)).result();
    expect(h.writes()).toEqual([]);
    expect(h.kisi.state.roleAssignments.get(staff.id)).toEqual(before);
  });

  test('a narrower one made by hand is left alone: ours is added and removed', async () => {
    const start = await hourAhead(h, 1);
    const user = await h.kisiClient.createUser({ email: ADA.email, name: ADA.name, sendEmails: false });
    const staff = await h.kisiClient.createGroupRoleAssignment({ userId: user.id, groupId: GROUP_ROOM_THAMES, validFrom: iso(start), validUntil: iso(start + 30 * MIN) });
    const before = { ...h.kisi.state.roleAssignments.get(staff.id) };
    h.calls.length = 0;
    const booking = newSourceId();
    await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
    await h.waitForState('booking', booking, 'granted');
    expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toHaveLength(2);
    await h.sleepUntil(start + 2 * HOUR);
    await h.client.workflow.getHandle(grantWorkflowId('booking', booking)).result();
    expect(h.writes().map((c) => c.method)).toEqual(['createGroupRoleAssignment', 'deleteRoleAssignment']);
    expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([before]);
  });
});

test('status tells the truth: a membership whose automatic retry succeeds brings the grant back to granted', async () => {
  const start = await hourAhead(h, 3);
  const booking = newSourceId();
  h.kisi.faults.configure({ rules: [{ route: 'POST /role_assignments', errorRate: 1 }] });
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  // Kisi answers 5xx for over an hour: the retries give up, the grant shows needs-attention.
  await h.sleep(70 * MIN);
  await h.waitForState('booking', booking, 'needs-attention', 60_000);
  expect((await h.client.workflow.getHandle(grantWorkflowId('booking', booking)).describe()).typedSearchAttributes.get(GrantState)).toBe('needs-attention');
  h.kisi.faults.clear();
  // The membership tries again by itself after 10 minutes: no operator.
  await h.sleep(11 * MIN);
  await h.waitForState('booking', booking, 'granted', 60_000);
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 1, 'the assignment');
  const waitForAttribute = async () => {
    for (let i = 0; i < 100; i++) {
      if ((await h.client.workflow.getHandle(grantWorkflowId('booking', booking)).describe()).typedSearchAttributes.get(GrantState) === 'granted') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('GrantState did not return to granted');
  };
  await waitForAttribute();
});
