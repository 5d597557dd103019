import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AccessMap, AccessMapError } from '../../src/config/access-map';

const good = {
  kisiPlaceId: 1234,
  timeZone: 'Europe/London',
  nexudusBusinessId: 1,
  timing: { lead: '15m', lag: '15m' },
  passes: { '10': { groups: [111] } },
  resources: { '20': { groups: [222], lead: '30m' }, '21': { groups: [223, 222] } },
  floorPlanItems: { '30': { groups: [333] }, '31': { groups: [334], lag: '1h' } },
  doors: { '500': { onUnlock: 'checkin' } },
};

function problems(input: unknown): string[] {
  try {
    AccessMap.parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(AccessMapError);
    return (error as AccessMapError).problems;
  }
  throw new Error('expected the map to be refused');
}

describe('access map', () => {
  test('lookups with per-item timing overriding the default', () => {
    const map = AccessMap.parse(good);
    expect(map.forBooking(20)).toEqual({ groups: [222], leadMs: 1_800_000, lagMs: 900_000 });
    expect(map.forBooking(99)).toBeUndefined();
    // a desk booking adds the floor-plan item's groups; the most generous timing wins
    expect(map.forBooking(21, 31)).toEqual({ groups: [222, 223, 334], leadMs: 900_000, lagMs: 3_600_000 });
    expect(map.forPass(10)).toEqual({ groups: [111], leadMs: 0, lagMs: 0 });
    expect(map.forContract([30, 31, 77])).toEqual({ groups: [333, 334], leadMs: 900_000, lagMs: 3_600_000 });
    expect(map.forContract([77])).toBeUndefined();
    expect(map.doorAction(500)).toBe('checkin');
    expect(map.doorAction(501)).toBe('none');
    expect(map.allGroupIds()).toEqual([111, 222, 223, 333, 334]);
  });

  test('the widest booking timing: the largest lead of a resource and lag of a floor-plan item, never a pass', () => {
    expect(AccessMap.parse(good).widestBookingTiming()).toEqual({ leadMs: 1_800_000, lagMs: 3_600_000 });
    // Passes do not count (they are not bookings); with nothing mapped, the default timing is not invented.
    expect(AccessMap.parse({ ...good, passes: { '10': { groups: [111], lag: '5h' } } }).widestBookingTiming().lagMs).toBe(3_600_000);
    expect(AccessMap.parse({ ...good, resources: {}, floorPlanItems: {} }).widestBookingTiming()).toEqual({ leadMs: 0, lagMs: 0 });
  });

  test('errors name the offending key', () => {
    expect(problems({ ...good, resources: { '20': { groups: [222], lead: 'soon' } } })).toEqual([expect.stringMatching(/^resources\.20\.lead: expected a duration/)]);
    expect(problems({ ...good, passes: { abc: { groups: [1] } } })[0]).toMatch(/^passes\.abc/);
    expect(problems({ ...good, floorPlanItems: { '30': { groups: [] } } })[0]).toMatch(/^floorPlanItems\.30\.groups: expected at least one/);
    expect(problems({ ...good, floorPlanItems: { '30': { groups: ['x'] } } })[0]).toMatch(/^floorPlanItems\.30\.groups\.0/);
    expect(problems({ ...good, kisiPlaceId: undefined })[0]).toMatch(/^kisiPlaceId/);
    expect(problems({ ...good, doors: { '1': { onUnlock: 'open' } } })[0]).toMatch(/^doors\.1\.onUnlock/);
    expect(problems({ ...good, timeZone: 'Mars/Olympus' })[0]).toMatch(/^timeZone: expected an IANA/);
    expect(problems({ ...good, timeZone: undefined })[0]).toMatch(/^timeZone: required when passes are mapped/);
    expect(problems({ ...good, nexudusBusinessId: undefined })[0]).toMatch(/^nexudusBusinessId: required when a door checks/);
    expect(problems({ ...good, extra: 1 })[0]).toMatch(/extra/);
  });

  test('loads JSON and YAML files; unreadable and malformed files say so', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'map-'));
    fs.writeFileSync(path.join(dir, 'm.json'), JSON.stringify(good));
    fs.writeFileSync(path.join(dir, 'm.yaml'), 'kisiPlaceId: 1\nresources:\n  "7":\n    groups: [5]\n    lag: 90s\n');
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ nope');
    expect(AccessMap.load(path.join(dir, 'm.json')).forBooking(20)?.groups).toEqual([222]);
    expect(AccessMap.load(path.join(dir, 'm.yaml')).forBooking(7)).toEqual({ groups: [5], leadMs: 900_000, lagMs: 90_000 });
    expect(() => AccessMap.load(path.join(dir, 'bad.json'))).toThrow(/not valid JSON/);
    expect(() => AccessMap.load(path.join(dir, 'missing.json'))).toThrow(/cannot read the file: ENOENT/);
  });
});
