/**
 * Setup's pieces without a browser: the form to the access map and back (every input read by
 * zod, errors by field), and the atomic write in the file's own format, which a watching process
 * (the worker's AccessMapSource) picks up.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { AccessMap, type AccessMapFile } from '../../src/config/access-map';
import { AccessMapSource } from '../../src/config/access-map-source';
import { formFromMap, formToMap, readForm, type SetupForm } from '../../src/console/setup/form';
import { downloadOf, writability, writeMapAtomically } from '../../src/console/setup/write';
import type { MapData } from '../../src/link/check';
import { eventually, INGRESS_MAP } from '../ingress/harness';

const current: MapData = AccessMap.parse(INGRESS_MAP).toJSON();

/** What a browser posts for a form: flat names, repeated for several checked boxes. */
function posted(form: SetupForm): Record<string, string | string[]> {
  const body: Record<string, string | string[]> = {
    _csrf: 'token',
    action: 'save',
    kisiPlaceId: form.kisiPlaceId,
    nexudusBusinessId: form.nexudusBusinessId,
    timeZone: form.timeZone,
    'timing.lead': form.lead,
    'timing.lag': form.lag,
    base: form.base,
    'add.table': form.add.table,
    'add.id': form.add.id,
    'add.groupIds': form.add.groupIds,
  };
  for (const [key, item] of Object.entries(form.items)) {
    if (item.groups.length === 1) body[`${key}.groups`] = item.groups[0]!;
    else if (item.groups.length > 1) body[`${key}.groups`] = item.groups;
    body[`${key}.groupIds`] = item.groupIds;
    body[`${key}.lead`] = item.lead;
    body[`${key}.lag`] = item.lag;
  }
  for (const [id, door] of Object.entries(form.doors)) {
    body[`doors.${id}.onUnlock`] = door.onUnlock;
    if (door.listed) body[`doors.${id}.listed`] = '1';
  }
  return body;
}

const convert = (body: Record<string, string | string[]>, itemNames?: Map<string, string>) => formToMap(readForm(body), { current, itemNames });

describe('the form and the map', () => {
  test('the map in force, drawn as the form and posted back unchanged, is the same map', () => {
    const result = convert(posted(formFromMap(current)));
    expect(result).toEqual({ ok: true, map: INGRESS_MAP });
    expect(AccessMap.parse(result.ok && result.map).toJSON()).toEqual(current);
  });

  test('checked groups, typed group ids, lead and lag become an entry; a new entry gets its Nexudus name', () => {
    const body = posted(formFromMap(current));
    body['resources.3000003.groups'] = ['102', '101'];
    body['resources.3000003.groupIds'] = '201, 999';
    body['resources.3000003.lead'] = '1h30m';
    body['resources.3000003.lag'] = '0';
    // An existing entry keeps its (absent) label: only new entries are named.
    const result = convert(body, new Map([['resources.3000003', 'Podcast Booth'], ['resources.3000001', 'Meeting Room Thames']]));
    expect(result.ok && result.map.resources).toEqual({
      3000001: { groups: [103] },
      3000002: { groups: [102] },
      3000003: { groups: [102, 101, 201, 999], lead: '1h30m', lag: '0', name: 'Podcast Booth' },
    });
  });

  test('an item with no group left is unlinked; a door set to check in is listed, an unlisted door left at nothing is not', () => {
    const body = posted(formFromMap(current));
    delete body['resources.3000001.groups'];
    body['doors.1002.onUnlock'] = 'checkin';
    body['doors.1003.onUnlock'] = 'none';
    body['doors.1005.onUnlock'] = 'checkin';
    const result = convert(body);
    expect(result.ok && result.map.resources).toEqual({ 3000002: { groups: [102] } });
    expect(result.ok && result.map.doors).toEqual({ 1001: { onUnlock: 'checkin' }, 1002: { onUnlock: 'checkin' }, 1005: { onUnlock: 'checkin' } });
  });

  test('a link by id to an item the page does not list', () => {
    const body = { ...posted(formFromMap(current)), 'add.table': 'floorPlanItems', 'add.id': '4000003', 'add.groupIds': '101 104' };
    const result = convert(body);
    expect(result.ok && result.map.floorPlanItems?.['4000003']).toEqual({ groups: [101, 104] });
  });

  test('input that does not read gives one error per field and no map', () => {
    const body = posted(formFromMap(current));
    Object.assign(body, {
      kisiPlaceId: 'one',
      nexudusBusinessId: '-5',
      timeZone: 'Mars/Olympus',
      'timing.lead': 'soon',
      'resources.3000001.groupIds': '103, x',
      'resources.3000002.lag': '10 minutes',
      'resources.3000003.lead': '5m',
      'doors.1001.onUnlock': 'open',
      'add.table': 'desks',
      'add.id': '12',
      'add.groupIds': '1',
    });
    const result = convert(body);
    expect(result.ok).toBe(false);
    const fields = !result.ok ? result.errors.map((e) => e.field).sort() : [];
    expect(fields).toEqual(
      ['add.table', 'doors.1001.onUnlock', 'kisiPlaceId', 'nexudusBusinessId', 'resources.3000001.groupIds', 'resources.3000002.lag', 'resources.3000003.groups', 'timeZone', 'timing.lead'].sort(),
    );
    const messages = !result.ok ? Object.fromEntries(result.errors.map((e) => [e.field, e.message])) : {};
    expect(messages['timeZone']).toContain('IANA time zone');
    expect(messages['resources.3000001.groupIds']).toContain('"x"');
    expect(messages['resources.3000003.groups']).toContain('choose at least one group');
  });

  test('a body that is not a form reads as an empty one (and is refused: no place)', () => {
    expect(convert({ weird: { nested: true } } as never)).toEqual({ ok: false, errors: [expect.objectContaining({ field: 'kisiPlaceId' })] });
  });
});

describe('the atomic write', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'setup-write-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const changed: AccessMapFile = { ...INGRESS_MAP, resources: { ...INGRESS_MAP.resources, 3000003: { groups: [102] } } };

  test('JSON stays JSON, YAML stays YAML, and no temporary file is left beside the map', async () => {
    const json = path.join(dir, 'map.json');
    const yaml = path.join(dir, 'map.yaml');
    fs.writeFileSync(json, JSON.stringify(INGRESS_MAP));
    fs.writeFileSync(yaml, YAML.stringify(INGRESS_MAP));
    expect(writability(json)).toEqual({ writable: true, file: json });
    await expect(writeMapAtomically(json, changed)).resolves.toEqual({ written: true });
    await expect(writeMapAtomically(yaml, changed)).resolves.toEqual({ written: true });
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toEqual(changed);
    expect(YAML.parse(fs.readFileSync(yaml, 'utf8'))).toEqual(changed);
    expect(() => JSON.parse(fs.readFileSync(yaml, 'utf8'))).toThrow();
    expect(AccessMap.load(yaml).forBooking(3000003)?.groups).toEqual([102]);
    expect(fs.readdirSync(dir).sort()).toEqual(['map.json', 'map.yaml']);
    expect(downloadOf(yaml, changed)).toMatchObject({ name: 'map.yaml', type: 'application/yaml' });
    expect(downloadOf(undefined, changed)).toMatchObject({ name: 'access-map.json', type: 'application/json' });
  });

  test('the map is replaced, not rewritten in place: a reader holding the old file keeps a whole old map', async () => {
    const file = path.join(dir, 'access-map.json');
    fs.writeFileSync(file, JSON.stringify(INGRESS_MAP));
    const before = fs.statSync(file).ino;
    const held = fs.openSync(file, 'r');
    await writeMapAtomically(file, changed);
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(JSON.parse(fs.readFileSync(held, 'utf8'))).toEqual(INGRESS_MAP);
    fs.closeSync(held);
  });

  test('a file that cannot be replaced is reported, not half written; no file known means read-only', async () => {
    // A directory where the map should be: the rename fails.
    const file = path.join(dir, 'access-map.json');
    fs.mkdirSync(file);
    fs.writeFileSync(path.join(file, 'keep'), 'x');
    const outcome = await writeMapAtomically(file, changed);
    expect(outcome.written).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(['access-map.json']);
    expect(writability(undefined)).toMatchObject({ writable: false });
    expect(writability(path.join(dir, 'missing.json'))).toMatchObject({ writable: false, reason: expect.stringContaining('ENOENT') });
  });

  test('a process watching the file (the worker) reloads the map Setup wrote', async () => {
    const file = path.join(dir, 'access-map.json');
    fs.writeFileSync(file, JSON.stringify(INGRESS_MAP));
    const source = new AccessMapSource(file, { info: () => undefined, error: () => undefined }).watchFile(20);
    try {
      expect(source.get().forBooking(3000003)).toBeUndefined();
      await writeMapAtomically(file, changed);
      await eventually(() => source.get().forBooking(3000003)?.groups, 'the reload');
      expect(source.get().forBooking(3000003)?.groups).toEqual([102]);
    } finally {
      source.close();
    }
  });
});
