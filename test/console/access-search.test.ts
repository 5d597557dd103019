/**
 * Access now without a server: the search read by zod into what visibility is asked (an item
 * becomes its groups, a name stays for the rows read), the customer's name read back from the
 * summary starters write, and names of groups and doors with and without the inventory.
 */
import { AccessMap } from '../../src/config/access-map';
import type { GrantSpec } from '../../src/domain/grant-spec';
import type { Inventory } from '../../src/domain/inventory';
import { customerNameFromSummary, grantSummary } from '../../src/temporal/starters';
import { fitSummary } from '../../src/domain/temporal-limits';
import { doorsOfGroups, groupLabel, itemOptions } from '../../src/console/access/names';
import { shortLocalTime } from '../../src/console/time';
import { ACTIVE_STATES, parseAccessSearch } from '../../src/console/access/search';
import { DEFAULT_MAP, DESK_D1, GROUP_MEMBERS, GROUP_ROOM_THAMES, OFFICE_1, ROOM_THAMES } from '../helpers/grant-harness';

const map = AccessMap.parse(DEFAULT_MAP);

describe('the customer named in a grant summary', () => {
  const spec = (over: Partial<GrantSpec>): GrantSpec => ({
    kind: 'booking',
    sourceId: 123,
    customerId: 2000001,
    customerName: 'Ada Lovelace',
    customerEmail: 'ada@example.com',
    version: null,
    lifecycle: 'active',
    endedReason: null,
    window: { from: Date.parse('2026-11-03T09:45:00Z'), until: Date.parse('2026-11-03T11:15:00Z') },
    groups: [103],
    label: 'Meeting Room Thames',
    ...over,
  });

  test.each([
    ['a booking', spec({}), 'Ada Lovelace'],
    ['a label with "for" in it', spec({ label: 'Desk for two' }), 'Ada Lovelace'],
    ['a contract without a window', spec({ kind: 'contract', window: null, customerName: "Miles O'Brien" }), "Miles O'Brien"],
    ['no name on the record', spec({ customerName: null }), null],
  ])('%s', (_what, s, name) => {
    expect(customerNameFromSummary(fitSummary(grantSummary(s, 'Europe/London')))).toBe(name);
  });

  test('no summary, or another workflow\u2019s', () => {
    expect(customerNameFromSummary(undefined)).toBeNull();
    expect(customerNameFromSummary('Nexudus customer 2000001')).toBeNull();
  });
});

describe('the search', () => {
  const items = itemOptions(map, undefined);

  test('empty: the active states, nothing else', () => {
    const parsed = parseAccessSearch({}, items);
    expect(parsed).toMatchObject({ ok: true, filter: { list: { states: ACTIVE_STATES }, name: undefined, item: undefined } });
    expect(parseAccessSearch({ customer: '', email: ' ', item: '', group: '', state: '' }, items)).toMatchObject({ ok: true, filter: { list: { states: ACTIVE_STATES } } });
  });

  test('a Nexudus id goes to visibility, a name is kept for the rows; any state asks for none', () => {
    expect(parseAccessSearch({ customer: '2000001', state: 'any' }, items)).toMatchObject({ ok: true, filter: { list: { customerId: 2000001, states: undefined }, name: undefined } });
    expect(parseAccessSearch({ customer: ' Ada ', state: 'needs-attention' }, items)).toMatchObject({ ok: true, filter: { list: { customerId: undefined, states: ['needs-attention'] }, name: 'Ada' } });
  });

  test('an item is searched as all the groups the map links it to, with a group asked for beside', () => {
    const office = parseAccessSearch({ item: `floorPlanItems:${OFFICE_1}` }, items);
    expect(office).toMatchObject({ ok: true, filter: { list: { groupIds: DEFAULT_MAP.floorPlanItems![OFFICE_1]!.groups.slice().sort((a, b) => a - b) } } });
    expect(parseAccessSearch({ item: `resources:${ROOM_THAMES}`, group: String(GROUP_MEMBERS) }, items)).toMatchObject({
      ok: true,
      filter: { list: { groupIds: [GROUP_MEMBERS, GROUP_ROOM_THAMES].sort((a, b) => a - b) } },
    });
  });

  test.each([
    [{ email: 'not-an-email' }, /email: expected an email address/],
    [{ state: 'open' }, /state: expected one of active, any, scheduled/],
    [{ group: 'x' }, /group: expected a Kisi group id/],
    [{ group: '-3' }, /group: expected a Kisi group id/],
    [{ item: 'resources:1 OR 1=1' }, /item: expected an item of the access map/],
    [{ item: 'resources:999' }, /item: not in the access map/],
    [{ email: ['a@b.example', 'c@d.example'] }, /email:/],
    [{ customer: 'x'.repeat(101) }, /customer: at most 100 characters/],
  ])('refused: %j', (query, problem) => {
    const parsed = parseAccessSearch(query, items);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? [] : parsed.problems.join('\n')).toMatch(problem);
  });
});

describe('names', () => {
  const inventory = {
    kisi: {
      places: [],
      place: undefined,
      placeId: 1,
      groups: [{ id: GROUP_ROOM_THAMES, name: 'Meeting Room A', placeId: 1 }],
      locks: [{ id: 1001, name: 'Front door', placeId: 1 }],
      groupLocks: new Map([[GROUP_ROOM_THAMES, [1001, 1003]]]),
      outsideGroups: new Map(),
      outsideLocks: new Map(),
    },
    nexudus: { items: [{ table: 'resources', id: ROOM_THAMES, name: 'Thames', archived: false }], businesses: [] },
  } as Inventory;

  test('groups and their doors by name, else by id (and "not known" without the inventory)', () => {
    expect(groupLabel(inventory, GROUP_ROOM_THAMES)).toBe('Meeting Room A (103)');
    expect(groupLabel(undefined, GROUP_ROOM_THAMES)).toBe('group 103');
    expect(doorsOfGroups(inventory, [GROUP_ROOM_THAMES, GROUP_MEMBERS])).toEqual([
      { groupId: GROUP_ROOM_THAMES, label: 'Meeting Room A (103)', doors: ['Front door', 'lock 1003'] },
      { groupId: GROUP_MEMBERS, label: `group ${GROUP_MEMBERS}`, doors: undefined },
    ]);
    expect(doorsOfGroups(undefined, [GROUP_ROOM_THAMES])[0]!.doors).toBeUndefined();
  });

  test('items by their Nexudus name, else by id', () => {
    expect(itemOptions(map, inventory).find((i) => i.id === ROOM_THAMES)?.label).toBe('Room or resource: Thames');
    expect(itemOptions(map, undefined).find((i) => i.id === DESK_D1)?.label).toBe(`Desk or office: floor-plan item ${DESK_D1}`);
  });

  test('instants in the map\u2019s zone', () => {
    expect(shortLocalTime('2026-07-01T09:00:00.000Z', 'Europe/London')).toBe('Wed 1 Jul, 10:00 BST');
    expect(shortLocalTime(null, 'Europe/London')).toBe('open');
  });
});
