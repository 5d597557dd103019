/**
 * Booking grants on the time-skipping server: what Kisi received, the windows it holds, and at
 * which virtual time (within 1 s).
 */
import { ADA, GROUP_ROOM_SEVERN, GROUP_ROOM_THAMES, GrantHarness, HOUR, MIN, ROOM_SEVERN, iso } from '../helpers/grant-harness';
import { grantWorkflowId } from '../../src/domain/ids';

jest.setTimeout(180_000);

let h: GrantHarness;
beforeAll(async () => {
  h = await GrantHarness.start();
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

/** A whole hour at least `hoursAhead` hours after virtual now. */
async function hourAhead(hoursAhead: number): Promise<number> {
  const now = await h.now();
  return Math.ceil(now / HOUR) * HOUR + hoursAhead * HOUR;
}

let nextId = 7000000;
const newId = () => ++nextId;

function expectAround(actual: number | undefined, expected: number, toleranceMs = 1000) {
  expect(actual).toBeDefined();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(toleranceMs);
}

async function result(id: number) {
  return h.client.workflow.getHandle(grantWorkflowId('booking', id)).result();
}

test('a booking\'s full life: Kisi holds start-15m..end+15m from creation; removed at end+15m', async () => {
  const start = await hourAhead(24);
  const id = newId();
  const created = await h.now();
  expect(await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }))).toBe('delivered');
  const status = await h.waitForState('booking', id, 'granted');
  expect(status.window).toEqual({ from: iso(start - 15 * MIN), until: iso(start + HOUR + 15 * MIN) });

  const [assignment, ...others] = h.assignments(ADA.email, GROUP_ROOM_THAMES);
  expect(others).toEqual([]);
  expect(assignment).toMatchObject({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) });
  const create = h.writes().find((c) => c.method === 'createGroupRoleAssignment');
  expectAround(create?.at, created);
  // Kisi itself opens and closes the door on time.
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, start - 15 * MIN - 1)).toBe(false);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, start - 15 * MIN)).toBe(true);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, start + HOUR + 15 * MIN - 1)).toBe(true);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, start + HOUR + 15 * MIN)).toBe(false);

  await h.sleepUntil(start + HOUR + 15 * MIN + 1000);
  const outcome = await result(id);
  expect(outcome).toMatchObject({ state: 'revoked', reason: 'expired' });
  const remove = h.writes().find((c) => c.method === 'deleteRoleAssignment');
  expectAround(remove?.at, start + HOUR + 15 * MIN);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expect(h.writes().map((c) => c.method)).toEqual(['createGroupRoleAssignment', 'deleteRoleAssignment']);
  // The Kisi user was created with the invitation email and the customer's cards.
  const user = [...h.kisi.state.users.values()].find((u) => u.email === ADA.email);
  expect(user).toMatchObject({ name: ADA.name, send_emails: true });
  expect(h.cardsOf(ADA.email)).toEqual(['04A1B2C3D4E5F6', 'F0B1001']);
});

test('created inside the lead window: access at once', async () => {
  const start = await hourAhead(2);
  await h.sleepUntil(start - 10 * MIN);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  const now = await h.now();
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, now)).toBe(true);
  // The start is already past: Kisi gets an open start (nothing to wait for), the end as usual.
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: null, valid_until: iso(start + HOUR + 15 * MIN) })]);
  expectAround(h.writes()[0]?.at, now);
  await h.sleepUntil(start + HOUR + 16 * MIN);
  await result(id);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
});

test('created after it ended: nothing reaches Kisi', async () => {
  const start = await hourAhead(1);
  await h.sleepUntil(start + 2 * HOUR);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  expect(await result(id)).toMatchObject({ state: 'revoked', reason: 'expired', grantedAt: null });
  expect(h.writes()).toEqual([]);
  expect(h.kisiUserId(ADA.email)).toBeUndefined();
});

test('rescheduled before access was given: the Kisi window moves, no second assignment', async () => {
  const start = await hourAhead(24);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR), UpdatedOn: iso(start - 48 * HOUR) }));
  await h.waitForState('booking', id, 'granted');
  const later = start + 3 * HOUR;
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(later), ToTime: iso(later + HOUR), UpdatedOn: iso(start - 47 * HOUR) }));
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]?.valid_from === iso(later - 15 * MIN), 'window moved');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(later - 15 * MIN), valid_until: iso(later + HOUR + 15 * MIN) })]);
  expect(h.writes().map((c) => c.method)).toEqual(['createGroupRoleAssignment', 'updateRoleAssignmentWindow']);
  // The old end passes without a removal; the new end removes.
  await h.sleepUntil(start + HOUR + 20 * MIN);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, later)).toBe(true);
  expect(h.writes().some((c) => c.method === 'deleteRoleAssignment')).toBe(false);
  await h.sleepUntil(later + HOUR + 15 * MIN + 1000);
  await result(id);
  expectAround(h.writes().at(-1)?.at, later + HOUR + 15 * MIN);
  expect(h.writes().at(-1)?.method).toBe('deleteRoleAssignment');
});

test('rescheduled after access was given: extended end, then shortened to the past ends access at once', async () => {
  const start = await hourAhead(3);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(start + 30 * MIN);
  // Extended by an hour while in use.
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + 2 * HOUR) }));
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES)[0]?.valid_until === iso(start + 2 * HOUR + 15 * MIN), 'end extended');
  await h.sleepUntil(start + HOUR + 30 * MIN);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, await h.now())).toBe(true);
  // Cut short: ends 10:00 +15m lag = already past -> removed now.
  const cutAt = await h.now();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  expect(await result(id)).toMatchObject({ state: 'revoked' });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, cutAt);
});

test('resource changed: the old room\'s group goes, the new room\'s group comes', async () => {
  const start = await hourAhead(5);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  await h.deliver(await h.bookingSpec({ Id: id, ResourceId: ROOM_SEVERN, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0 && h.assignments(ADA.email, GROUP_ROOM_SEVERN).length === 1, 'groups moved');
  const status = await h.waitForState('booking', id, 'granted');
  expect(status.groups).toEqual([GROUP_ROOM_SEVERN]);
  await h.sleepUntil(start + HOUR + 16 * MIN);
  await result(id);
  expect(h.assignments(ADA.email, GROUP_ROOM_SEVERN)).toEqual([]);
});

test('deleted before access was given: the future assignment is removed at once', async () => {
  const start = await hourAhead(24);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  const deletedAt = await h.now();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }, { deleted: true }));
  expect(await result(id)).toMatchObject({ state: 'revoked', reason: 'ended' });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, deletedAt);
  // A create retried after the delete does not start the grant again.
  expect(await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }))).toBe('closed');
  await h.sleep(MIN);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
});

test('deleted after access was given: removed at once', async () => {
  const start = await hourAhead(2);
  const id = newId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(start + 20 * MIN);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, await h.now())).toBe(true);
  const deletedAt = await h.now();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }, { deleted: true }));
  await result(id);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, deletedAt);
});

test('extended after it had expired, while another booking kept the membership: the revived grant holds the door on its own', async () => {
  const start = await hourAhead(24);
  const first = newId();
  const second = newId();
  await h.deliver(await h.bookingSpec({ Id: first, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.deliver(await h.bookingSpec({ Id: second, FromTime: iso(start + HOUR), ToTime: iso(start + 3 * HOUR) }));
  await h.waitForState('booking', first, 'granted');
  await h.waitForState('booking', second, 'granted');
  await h.sleepUntil(start + HOUR + 16 * MIN);
  expect(await result(first)).toMatchObject({ state: 'revoked', reason: 'expired' });

  // The first booking is extended after its grant ended: the same workflow id runs again, and the
  // membership (still alive for the second booking) must take the new run's lease.
  expect(await h.deliver(await h.bookingSpec({ Id: first, FromTime: iso(start), ToTime: iso(start + 2.5 * HOUR) }))).toBe('revived');
  await h.waitForState('booking', first, 'granted');
  await h.deliver(await h.bookingSpec({ Id: second, FromTime: iso(start + HOUR), ToTime: iso(start + 3 * HOUR) }, { deleted: true }));
  await result(second);
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).some((a) => a.valid_until === iso(start + 2.5 * HOUR + 15 * MIN)), 'the window of the revived booking alone');
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, await h.now())).toBe(true);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toHaveLength(1);

  await h.sleepUntil(start + 2.5 * HOUR + 16 * MIN);
  expect(await result(first)).toMatchObject({ state: 'revoked', reason: 'expired' });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
});
