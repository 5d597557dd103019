import { AccessMap } from '../../src/config/access-map';
import { bookingSpec, contractSpec, passSpec } from '../../src/domain/grant-spec';
import { accessCardNumbers } from '../../src/domain/nexudus-entities';

const map = AccessMap.parse({
  kisiPlaceId: 1,
  timeZone: 'Europe/London',
  passes: { '10': { groups: [111] }, '11': { groups: [112], lag: '30m' } },
  resources: { '20': { groups: [222] } },
  floorPlanItems: { '30': { groups: [333] } },
});
const ctx = { timeZone: 'Europe/London', now: Date.parse('2026-07-15T08:00:00Z') };
const at = (s: string) => Date.parse(s);

const booking = {
  Id: 5,
  ResourceId: 20,
  ResourceName: 'Room A',
  CoworkerId: 9,
  FromTime: '2026-07-15T09:00:00Z',
  ToTime: '2026-07-15T10:00:00Z',
  FromTimeLocal: '2026-07-15T10:00:00',
  ToTimeLocal: '2026-07-15T11:00:00',
  UpdatedOn: '2026-07-14T12:00:00Z',
};

describe('booking specs', () => {
  test('window is start - lead to end + lag, in UTC', () => {
    const spec = bookingSpec(booking, map.forBooking(20), ctx);
    expect(spec).toMatchObject({ kind: 'booking', sourceId: 5, customerId: 9, lifecycle: 'active', groups: [222], label: 'Room A', version: at('2026-07-14T12:00:00Z') });
    expect(spec.window).toEqual({ from: at('2026-07-15T08:45:00Z'), until: at('2026-07-15T10:15:00Z') });
  });
  test('tentative keeps its window but is not active; deleted and cancelled end', () => {
    expect(bookingSpec({ ...booking, Tentative: true }, map.forBooking(20), ctx)).toMatchObject({ lifecycle: 'tentative', window: { from: at('2026-07-15T08:45:00Z') } });
    expect(bookingSpec(booking, map.forBooking(20), ctx, { deleted: true })).toMatchObject({ lifecycle: 'ended', endedReason: 'deleted', window: null });
    expect(bookingSpec({ ...booking, Cancelled: true }, map.forBooking(20), ctx)).toMatchObject({ lifecycle: 'ended', endedReason: 'cancelled' });
  });
  test('unmapped resource: no groups', () => {
    expect(bookingSpec({ ...booking, ResourceId: 99 }, map.forBooking(99), ctx).groups).toEqual([]);
  });
  test('local time with a fake Z is read in the location zone', () => {
    const fake = { ...booking, FromTime: '2026-07-15T10:00:00Z', ToTime: '2026-07-15T11:00:00Z' };
    expect(bookingSpec(fake, map.forBooking(20), ctx).window).toEqual({ from: at('2026-07-15T08:45:00Z'), until: at('2026-07-15T10:15:00Z') });
  });
});

describe('pass specs', () => {
  const pass = { Id: 70, CoworkerId: 9, TimePassId: 10, Used: false, RemainingUses: 1 };
  test('an unused pass without expiry is open from now, open-ended', () => {
    expect(passSpec(pass, { Id: 10, Name: 'Day pass', MinutesIncluded: null }, map.forPass(10), ctx)).toMatchObject({
      lifecycle: 'active',
      window: { from: null, until: null },
      groups: [111],
      label: 'Day pass',
    });
  });
  test('expiry ends it', () => {
    expect(passSpec({ ...pass, ExpireDate: '2026-08-01T00:00:00Z' }, undefined, map.forPass(10), ctx).window).toEqual({ from: null, until: at('2026-08-01T00:00:00Z') });
  });
  test('a used day pass stays valid to the local midnight of the day it was used, across DST', () => {
    // Used on 2026-03-29 (London loses an hour that night-morning): midnight after is 23:00Z.
    const used = { ...pass, Used: true, RemainingUses: 0, UsedDate: '2026-03-29T09:00:00Z' };
    expect(passSpec(used, undefined, map.forPass(10), ctx).window).toEqual({ from: null, until: at('2026-03-29T23:00:00Z') });
    // Used on 2026-10-25 (a 25-hour day): midnight after is 2026-10-26T00:00Z.
    expect(passSpec({ ...used, UsedDate: '2026-10-25T09:00:00Z' }, undefined, map.forPass(10), ctx).window?.until).toBe(at('2026-10-26T00:00:00Z'));
    // Lag from the map applies after midnight; expiry earlier than midnight wins.
    expect(passSpec({ ...used, TimePassId: 11 }, undefined, map.forPass(11), ctx).window?.until).toBe(at('2026-03-29T23:30:00Z'));
    expect(passSpec({ ...used, ExpireDate: '2026-03-29T12:00:00Z' }, undefined, map.forPass(10), ctx).window?.until).toBe(at('2026-03-29T12:00:00Z'));
  });
  test('used without a date: the day of its last change, else of now', () => {
    expect(passSpec({ ...pass, Used: true, UpdatedOn: '2026-07-13T10:00:00Z' }, undefined, map.forPass(10), ctx).window?.until).toBe(at('2026-07-13T23:00:00Z'));
    expect(passSpec({ ...pass, Used: true }, undefined, map.forPass(10), ctx).window?.until).toBe(at('2026-07-15T23:00:00Z'));
  });
});

describe('contract specs', () => {
  const contract = { Id: 40, CoworkerId: 9, StartDate: '2026-07-01T00:00:00Z', Desks: [30, { Id: 31, Name: 'x' }] };
  test('from start - lead, open-ended until cancelled', () => {
    expect(contractSpec(contract, map.forContract([30, 31]), ctx)).toMatchObject({ groups: [333], window: { from: at('2026-06-30T23:45:00Z'), until: null } });
    expect(contractSpec({ ...contract, CancellationDate: '2026-09-30T00:00:00Z' }, map.forContract([30]), ctx).window?.until).toBe(at('2026-09-30T00:15:00Z'));
    // Cancelled without a date: at the record's last change, fixed however late it is read.
    const cancelled = { ...contract, Cancelled: true, UpdatedOn: '2026-07-10T16:20:00Z' };
    expect(contractSpec(cancelled, map.forContract([30]), ctx).window?.until).toBe(at('2026-07-10T16:35:00Z'));
    expect(contractSpec(cancelled, map.forContract([30]), { ...ctx, now: ctx.now + 30 * 86_400_000 }).window?.until).toBe(at('2026-07-10T16:35:00Z'));
    // Withdrawn (a newer record, not cancelled): open-ended again.
    expect(contractSpec({ ...cancelled, Cancelled: false, UpdatedOn: '2026-07-11T09:00:00Z' }, map.forContract([30]), ctx).window?.until).toBeNull();
  });

  test('a contract not activated yet, or suspended, grants nothing until it is active', () => {
    expect(contractSpec({ ...contract, Active: false }, map.forContract([30]), ctx)).toMatchObject({ lifecycle: 'inactive', groups: [333] });
    expect(contractSpec({ ...contract, Active: true }, map.forContract([30]), ctx)).toMatchObject({ lifecycle: 'active' });
    expect(contractSpec({ ...contract, Active: null }, map.forContract([30]), ctx)).toMatchObject({ lifecycle: 'active' });
  });
});

test('access card numbers: several in AccessCardId, plus the fob, at most four, no duplicates, only card numbers', () => {
  expect(accessCardNumbers({ AccessCardId: '1111, 2222;3333 1111', KeyFobNumber: '4444' })).toEqual(['1111', '2222', '3333', '4444']);
  expect(accessCardNumbers({ AccessCardId: '1001,1002,1003,1004,1005', KeyFobNumber: null })).toEqual(['1001', '1002', '1003', '1004']);
  expect(accessCardNumbers({ AccessCardId: null, KeyFobNumber: '' })).toEqual([]);
  // Not card numbers (a note, a PIN-length value): never sent to Kisi.
  expect(accessCardNumbers({ AccessCardId: 'lost 04A1B2C3 n/a', KeyFobNumber: '123' })).toEqual(['04A1B2C3']);
});

test('a booking without a customer grants nothing and ends a grant a former customer had', () => {
  expect(bookingSpec({ ...booking, CoworkerId: null }, map.forBooking(20), ctx)).toMatchObject({ lifecycle: 'ended', endedReason: 'no customer', customerId: 0, window: null });
});
