/**
 * One Kisi membership, several grants: it is removed only when the last grant needing it ends,
 * and never left behind when all have.
 */
import type { AccessMapFile } from '../../src/config/access-map';
import {
  ADA,
  DAY,
  DAY_PASS,
  DEFAULT_MAP,
  DESK_D1,
  GROUP_MEMBERS,
  GROUP_ROOM_THAMES,
  GrantHarness,
  HOUR,
  MIN,
  ROOM_THAMES,
  expectAround,
  grantResult,
  hourAhead,
  iso,
  newSourceId,
} from '../helpers/grant-harness';

jest.setTimeout(180_000);

const WEEK = 7 * DAY;

/** Passes, the room and the desk all open the members group (101); the room also its own (103). */
const SHARED: AccessMapFile = {
  ...DEFAULT_MAP,
  passes: { [DAY_PASS]: { groups: [GROUP_MEMBERS] } },
  resources: { [ROOM_THAMES]: { groups: [GROUP_MEMBERS, GROUP_ROOM_THAMES] } },
  floorPlanItems: { [DESK_D1]: { groups: [GROUP_MEMBERS] } },
};

let h: GrantHarness;
beforeAll(async () => {
  h = await GrantHarness.start({ map: SHARED });
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset(SHARED));

test('back-to-back bookings of one room: no removal at 11:15, removal at 12:15', async () => {
  const ten = await hourAhead(h, 24);
  const [a, b] = [newSourceId(), newSourceId()];
  await h.deliver(await h.bookingSpec({ Id: a, FromTime: iso(ten), ToTime: iso(ten + HOUR) }));
  await h.deliver(await h.bookingSpec({ Id: b, FromTime: iso(ten + HOUR), ToTime: iso(ten + 2 * HOUR) }));
  await h.waitForState('booking', a, 'granted');
  await h.waitForState('booking', b, 'granted');
  // One assignment spanning both, in each group.
  for (const group of [GROUP_MEMBERS, GROUP_ROOM_THAMES]) {
    expect(h.assignments(ADA.email, group)).toEqual([expect.objectContaining({ valid_from: iso(ten - 15 * MIN), valid_until: iso(ten + 2 * HOUR + 15 * MIN) })]);
  }
  await h.sleepUntil(ten + HOUR + 15 * MIN + 1000);
  await grantResult(h, 'booking', a);
  await h.sleepUntil(ten + HOUR + 30 * MIN);
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toEqual([]);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, ten + HOUR + 30 * MIN)).toBe(true);
  await h.sleepUntil(ten + 2 * HOUR + 15 * MIN + 1000);
  await grantResult(h, 'booking', b);
  const deletes = h.writes().filter((c) => c.method === 'deleteRoleAssignment');
  expect(deletes).toHaveLength(2);
  for (const d of deletes) expectAround(d.at, ten + 2 * HOUR + 15 * MIN);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([]);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
});

test('separate bookings of one room are served one after the other, never as two assignments', async () => {
  const ten = await hourAhead(h, 24);
  const [a, b] = [newSourceId(), newSourceId()];
  // Created in reverse order: the later booking first.
  await h.deliver(await h.bookingSpec({ Id: b, FromTime: iso(ten + 4 * HOUR), ToTime: iso(ten + 5 * HOUR) }));
  await h.waitForState('booking', b, 'granted');
  await h.deliver(await h.bookingSpec({ Id: a, FromTime: iso(ten), ToTime: iso(ten + HOUR) }));
  await h.waitForState('booking', a, 'granted');
  // Kisi now serves the earlier span; the later grant waits.
  await h.waitForState('booking', b, 'scheduled');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(ten - 15 * MIN), valid_until: iso(ten + HOUR + 15 * MIN) })]);
  await h.sleepUntil(ten + HOUR + 15 * MIN + 1000);
  await grantResult(h, 'booking', a);
  await h.waitForState('booking', b, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_from: iso(ten + 4 * HOUR - 15 * MIN), valid_until: iso(ten + 5 * HOUR + 15 * MIN) })]);
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, ten + 2 * HOUR)).toBe(false);
  await h.sleepUntil(ten + 5 * HOUR + 16 * MIN);
  await grantResult(h, 'booking', b);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
});

test('a booking inside a pass: the members group stays until the pass ends', async () => {
  const ten = await hourAhead(h, 24);
  const pass = newSourceId();
  const booking = newSourceId();
  const expire = ten + 3 * DAY;
  await h.deliver(await h.passSpec({ Id: pass, ExpireDate: iso(expire) }));
  await h.waitForState('pass', pass, 'granted');
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(ten), ToTime: iso(ten + HOUR) }));
  await h.waitForState('booking', booking, 'granted');
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ valid_from: null, valid_until: iso(expire) })]);
  await h.sleepUntil(ten + HOUR + 16 * MIN);
  await grantResult(h, 'booking', booking);
  // The room's own group went; the members group stayed, unchanged.
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ valid_until: iso(expire) })]);
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toHaveLength(1);
  await h.sleepUntil(expire + 1000);
  await grantResult(h, 'pass', pass);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, expire);
});

test('contract plus booking: the booking ending leaves the contract\'s access; cancelling the contract ends it', async () => {
  const start = await hourAhead(h, 2);
  const contract = newSourceId();
  const booking = newSourceId();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: [DESK_D1] }));
  await h.waitForState('contract', contract, 'granted');
  // Open-ended, so Kisi holds it for KISI_MAX_VALIDITY (a week) from its start, renewed before it lapses.
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ valid_from: iso(start - 15 * MIN), valid_until: iso(start - 15 * MIN + WEEK) })]);
  await h.deliver(await h.bookingSpec({ Id: booking, FromTime: iso(start + DAY), ToTime: iso(start + DAY + HOUR) }));
  await h.waitForState('booking', booking, 'granted');
  await h.sleepUntil(start + DAY + 2 * HOUR);
  await grantResult(h, 'booking', booking);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ valid_until: iso(start - 15 * MIN + WEEK) })]);
  const cancellation = start + 10 * DAY;
  const told = await h.now();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(start), Desks: [DESK_D1], CancellationDate: iso(cancellation) }));
  // The end is more than a week away: Kisi gets a week from now, and the real end with a renewal.
  await h.until(() => {
    const until = h.assignments(ADA.email, GROUP_MEMBERS)[0]?.valid_until;
    return until != null && Math.abs(Date.parse(until) - (told + WEEK)) < 5_000;
  }, 'a week from now as the end in Kisi');
  await h.sleepUntil(cancellation - HOUR);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ valid_until: iso(cancellation + 15 * MIN) })]);
  await h.sleepUntil(cancellation + 15 * MIN + 1000);
  await grantResult(h, 'contract', contract);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([]);
  expectAround(h.writes().at(-1)?.at, cancellation + 15 * MIN);
  // One assignment all along: moved, never a second one.
  expect(h.writes().filter((c) => c.method === 'createGroupRoleAssignment')).toHaveLength(2); // the contract's, and the booking's (group 103)
});
