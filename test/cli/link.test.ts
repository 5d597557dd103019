/**
 * `npm run access-map` against the two sandboxes on free ports, through the product's real clients:
 * the listing, the check (the shipped map passes; each kind of problem is found under its key
 * with the right exit status), the starter map (valid, passes --check, never clobbers), argument
 * errors, the sandbox fallback for credentials, and the CLI as a real process.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { KisiClient } from '../../src/clients/kisi';
import { NexudusClient } from '../../src/clients/nexudus';
import { AccessMap } from '../../src/config/access-map';
import { parseEnv } from '../../src/config/env';
import type { CheckReport, Finding, FindingCode } from '../../src/link/check';
import { MissingCredentialsError, clientsFromEnv, withSandboxFallback } from '../../src/link/connect';
import type { Listing } from '../../src/link/listing';
import { suggestGroup, words } from '../../src/link/names';
import { runLink } from '../../src/link/run';
import { createKisiSandbox, type KisiSeed } from '../../dev/sandbox/kisi';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, type NexudusSandbox, type NexudusSeed } from '../../dev/sandbox/nexudus';

const root = path.join(__dirname, '../..');
const SHIPPED_MAP = path.join(root, 'config/access-map.json');
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;
const KISI_SEED = readJson<KisiSeed & Record<string, unknown[]>>('config/sandbox/kisi-seed.json');
const NEXUDUS_SEED = readJson<NexudusSeed & Record<string, unknown[]>>('config/sandbox/nexudus-seed.json');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'link-test-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ---- the two systems ---------------------------------------------------------------------------

interface Systems {
  nexudusSandbox: NexudusSandbox;
  kisiPort: number;
  nexudusPort: number;
  kisi(): KisiClient;
  nexudus(): NexudusClient;
  close(): Promise<void>;
}

const open: Systems[] = [];
let keys = 0;

async function startSystems(seeds: { kisi?: KisiSeed; nexudus?: NexudusSeed } = {}): Promise<Systems> {
  const kisiSandbox = createKisiSandbox({ seed: seeds.kisi ?? KISI_SEED, rateLimit: false });
  const nexudusSandbox = createNexudusSandbox({ seed: seeds.nexudus ?? NEXUDUS_SEED, rateLimit: false });
  const kisiServer = await kisiSandbox.listen(0);
  const nexudusServer = await nexudusSandbox.listen(0, '127.0.0.1');
  const systems: Systems = {
    nexudusSandbox,
    kisiPort: kisiServer.port,
    nexudusPort: nexudusServer.port,
    // A fresh key per client: Kisi pacing is per key and process-wide, so tests do not queue behind each other.
    kisi: () => new KisiClient({ apiKey: `link-test-${process.pid}-${++keys}`, baseUrl: kisiServer.url, maxRps: 200 }),
    nexudus: () => new NexudusClient({ baseUrl: nexudusServer.apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: { minIntervalMs: 0, perMinute: 1_000_000 } }),
    close: async () => {
      await Promise.all([kisiServer.close(), nexudusServer.close()]);
    },
  };
  open.push(systems);
  return systems;
}

afterAll(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

interface Run {
  code: number;
  out: string;
  err: string;
}

async function link(systems: Systems, argv: string[], options: { defaultMap?: string; width?: number } = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLink(argv, {
    clients: () => ({ kisi: systems.kisi(), nexudus: systems.nexudus(), notes: [] }),
    defaultMap: options.defaultMap ?? SHIPPED_MAP,
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    width: options.width ?? 200,
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function checkJson(systems: Systems, file: string, extra: string[] = []): Promise<{ code: number; report: CheckReport & { ok: boolean; exitCode: number } }> {
  const run = await link(systems, ['--check', '--json', '--map', file, ...extra]);
  return { code: run.code, report: JSON.parse(run.out) as CheckReport & { ok: boolean; exitCode: number } };
}

type MapJson = {
  kisiPlaceId: number;
  timeZone?: string;
  nexudusBusinessId?: number;
  passes: Record<string, { groups: number[]; name?: string; lead?: string }>;
  resources: Record<string, { groups: number[]; name?: string; lead?: string }>;
  floorPlanItems: Record<string, { groups: number[]; name?: string }>;
  doors: Record<string, { onUnlock: string; name?: string }>;
};

let variants = 0;
/** A copy of the shipped map with one change, as a file. */
function variant(change: (map: MapJson) => void): string {
  const map = JSON.parse(fs.readFileSync(SHIPPED_MAP, 'utf8')) as MapJson;
  change(map);
  const file = path.join(tmp, `variant-${++variants}.json`);
  fs.writeFileSync(file, JSON.stringify(map));
  return file;
}

const summary = (findings: Finding[]) => findings.map((f) => `${f.level} ${f.code} ${f.key}`);

// ---- --check -----------------------------------------------------------------------------------

describe('--check', () => {
  let systems: Systems;
  beforeAll(async () => {
    systems = await startSystems();
  });

  test('the shipped config/access-map.json passes against the sandbox seeds, with the two known gaps as warnings', async () => {
    const { code, report } = await checkJson(systems, SHIPPED_MAP);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
    expect(report.ok).toBe(true);
    // Podcast Booth is bookable but unmapped; "Staff only" is the building's, deliberately unmapped.
    expect(summary(report.findings).sort()).toEqual(['warning unmapped-group null', 'warning unmapped-item resources.3000003']);
    expect(report.findings.find((f) => f.code === 'unmapped-group')?.subject).toEqual({ system: 'kisi', kind: 'group', id: 106 });
  });

  test('the readable report names each key and says how it ends', async () => {
    const run = await link(systems, ['--check'], { defaultMap: SHIPPED_MAP });
    expect(run.code).toBe(0);
    expect(run.out).toContain('Checked config/access-map.json against Kisi place 1 "Sandbox Coworking Main Street" and Nexudus business 1000001');
    expect(run.out).toMatch(/WARNINGS \(2\)\n {2}resources\.3000003 +Nexudus resource 3000003 "Podcast Booth" \(Studio\) is not in the map/);
    expect(run.out).toMatch(/\(not in map\) +Kisi group 106 "Staff only"/);
    expect(run.out).toContain('0 error(s), 2 warning(s): exit 0 (--strict fails on warnings)');
    expect(run.out).not.toContain('ERRORS');
  });

  test('--strict fails on warnings, and passes a map without gaps', async () => {
    expect((await checkJson(systems, SHIPPED_MAP, ['--strict'])).code).toBe(1);
    const complete = variant((m) => {
      m.resources['3000003'] = { groups: [103] };
      m.floorPlanItems['4000001']!.groups.push(106);
    });
    const { code, report } = await checkJson(systems, complete, ['--strict']);
    expect(report.findings).toEqual([]);
    expect(code).toBe(0);
  });

  const cases: Array<{ what: string; change: (m: MapJson) => void; code: FindingCode; key: string; message: RegExp; only?: boolean }> = [
    { what: 'unknown Kisi group', change: (m) => (m.passes['5000001']!.groups = [999]), code: 'unknown-group', key: 'passes.5000001.groups.0', message: /Kisi has no group 999/ },
    {
      what: 'group of another place',
      change: (m) => m.floorPlanItems['4000004']!.groups.push(201),
      code: 'group-in-other-place',
      key: 'floorPlanItems.4000004.groups.1',
      message: /group 201 "Riverside members" belongs to place 2 "Sandbox Coworking Riverside", not to kisiPlaceId 1/,
    },
    { what: 'unknown resource', change: (m) => (m.resources['3999999'] = { groups: [103], name: 'Old room' }), code: 'unknown-resource', key: 'resources.3999999', message: /no resource 3999999 \(named "Old room" in the map\)/ },
    { what: 'unknown floor-plan item', change: (m) => (m.floorPlanItems['4999999'] = { groups: [101] }), code: 'unknown-floor-plan-item', key: 'floorPlanItems.4999999', message: /no floor-plan item 4999999/ },
    { what: 'unknown pass type', change: (m) => (m.passes['5999999'] = { groups: [105] }), code: 'unknown-pass', key: 'passes.5999999', message: /no pass type \(time pass\) 5999999/ },
    { what: 'unknown lock', change: (m) => (m.doors['9999'] = { onUnlock: 'none' }), code: 'unknown-lock', key: 'doors.9999', message: /Kisi has no lock 9999/ },
    {
      what: 'lock of another place',
      change: (m) => (m.doors['2001'] = { onUnlock: 'checkin' }),
      code: 'lock-in-other-place',
      key: 'doors.2001',
      message: /lock 2001 "Riverside entrance" is in place 2 "Sandbox Coworking Riverside", not in kisiPlaceId 1/,
    },
    { what: 'unknown business', change: (m) => (m.nexudusBusinessId = 1999999), code: 'unknown-business', key: 'nexudusBusinessId', message: /no business 1999999 \(businesses: 1000001 "Riverside Coworking London"\)/ },
    { what: 'time zone other than the Kisi place', change: (m) => (m.timeZone = 'Europe/Paris'), code: 'time-zone-mismatch', key: 'timeZone', message: /"Europe\/Paris" differs from .*"Europe\/London"/ },
    { what: 'map that fails the schema', change: (m) => (m.passes['5000001']!.groups = []), code: 'invalid-map', key: 'passes.5000001.groups', message: /at least one Kisi group id/ },
    // Everything else is "in another place" then too, so this one is not alone.
    { what: 'unknown place', change: (m) => (m.kisiPlaceId = 99), code: 'unknown-place', key: 'kisiPlaceId', message: /Kisi has no place 99 \(places: 1 .*, 2 /, only: false },
  ];

  test.each(cases)('finds a $what under its key, exit 1', async ({ change, code, key, message, only }) => {
    const file = variant(change);
    const { code: exit, report } = await checkJson(systems, file);
    expect(exit).toBe(1);
    expect(report.ok).toBe(false);
    const hit = report.findings.find((f) => f.code === code);
    expect(hit).toMatchObject({ level: 'error', key });
    expect(hit?.message).toMatch(message);
    if (only !== false) expect(report.errors).toBe(1);
    // The same finding in the readable report, under ERRORS with its key.
    const text = await link(systems, ['--check', '--map', file]);
    expect(text.code).toBe(1);
    const errors = text.out.split('\nERRORS')[1]?.split('\nWARNINGS')[0] ?? '';
    expect(errors).toContain(`  ${key} `);
    expect(errors).toContain(`[${code}]`);
  });

  test('a missing map file is an error naming the file, exit 1', async () => {
    const { code, report } = await checkJson(systems, path.join(tmp, 'nope.json'));
    expect(code).toBe(1);
    expect(report.findings).toHaveLength(1);
    expect(report.findings[0]).toMatchObject({ level: 'error', code: 'invalid-map', key: null });
    expect(report.findings[0]!.message).toMatch(/does not exist/);
  });

  test('a map in YAML is read like the JSON one', async () => {
    const file = path.join(tmp, 'shipped.yaml');
    fs.writeFileSync(file, (await import('yaml')).stringify(JSON.parse(fs.readFileSync(SHIPPED_MAP, 'utf8'))));
    const { code, report } = await checkJson(systems, file);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
  });

  test('Kisi refusing the key is exit 3 with the service named, not a report', async () => {
    const kisiSandbox = createKisiSandbox({ seed: { ...KISI_SEED, api_keys: ['only-this-key'] }, rateLimit: false });
    const server = await kisiSandbox.listen(0);
    try {
      const err: string[] = [];
      const code = await runLink(['--check'], {
        clients: () => ({ kisi: new KisiClient({ apiKey: `wrong-${++keys}`, baseUrl: server.url }), nexudus: systems.nexudus(), notes: [] }),
        defaultMap: SHIPPED_MAP,
        out: () => undefined,
        err: (t) => err.push(t),
      });
      expect(code).toBe(3);
      expect(err.join('\n')).toMatch(/cannot read Kisi: .*401/);
    } finally {
      await server.close();
    }
  });
});

describe('retries', () => {
  test('throttling (409) and server errors are retried; a failure that persists ends in exit 3', async () => {
    const systems = await startSystems();
    systems.nexudusSandbox.script({ method: 'GET', path: '/api/sys/businesses', status: 409, headers: { 'Retry-After': '0' }, times: 2 });
    systems.nexudusSandbox.script({ method: 'GET', path: '/api/billing/timepasses', status: 503, headers: { 'Retry-After': '0' }, times: 1 });
    const recovered = await checkJson(systems, SHIPPED_MAP);
    expect(recovered.code).toBe(0);
    expect(recovered.report.errors).toBe(0);

    systems.nexudusSandbox.script({ method: 'GET', path: '/api/spaces/resources', status: 503, headers: { 'Retry-After': '0' }, times: 10 });
    const run = await link(systems, ['--check']);
    expect(run.code).toBe(3);
    expect(run.err).toMatch(/cannot read Nexudus: nexudus GET \/spaces\/resources.*503/);
    expect(run.out).toBe('');
  });
});

describe('archived resources', () => {
  test('a mapped archived resource is an error; an unmapped one is no gap', async () => {
    const seed = { ...NEXUDUS_SEED, resources: (NEXUDUS_SEED.resources as Array<Record<string, unknown>>).map((r) => (r.Id === 3000003 ? { ...r, Archived: true } : r)) };
    const systems = await startSystems({ nexudus: seed as NexudusSeed });
    const shipped = await checkJson(systems, SHIPPED_MAP);
    expect(summary(shipped.report.findings)).toEqual(['warning unmapped-group null']);

    const { code, report } = await checkJson(systems, variant((m) => (m.resources['3000003'] = { groups: [103] })));
    expect(code).toBe(1);
    expect(summary(report.findings.filter((f) => f.level === 'error'))).toEqual(['error archived-resource resources.3000003']);
    expect(report.findings[0]!.message).toBe('Nexudus resource 3000003 "Podcast Booth" is archived: it cannot be booked');
  });
});

// ---- the listing ---------------------------------------------------------------------------------

describe('listing', () => {
  let systems: Systems;
  beforeAll(async () => {
    systems = await startSystems();
  });

  test('Kisi groups and locks side by side with Nexudus items, marked as linked or not', async () => {
    const run = await link(systems, []);
    expect(run.code).toBe(0);
    const lines = run.out.split('\n');
    const line = (text: string) => lines.find((l) => l.includes(text)) ?? `(no line with ${text})`;
    expect(line('Access map')).toContain('config/access-map.json (kisiPlaceId 1)');
    expect(line('Kisi   ')).toContain('place 1 "Sandbox Coworking Main Street", Europe/London   (others: 2 "Sandbox Coworking Riverside")');
    // Side by side: the first group and the first pass type share a line.
    expect(line('Members 24/7')).toMatch(/^\[x\] +101 +Members 24\/7 +opens 1001 1002 1003 +\| +\[x\] +5000001 +Day Pass +day pass +-> 105$/);
    expect(line('Staff only')).toMatch(/^\[ \] +106 +Staff only/);
    expect(line('Podcast Booth')).toMatch(/\[ \] +3000003 +Podcast Booth +Studio$/);
    expect(line('Meeting Room Severn')).toMatch(/\[x\] +3000002 +Meeting Room Severn +Meeting room +-> 103$/);
    expect(line('Private Office 1 ')).toMatch(/office +-> 101, 104$/);
    expect(line('Dedicated Desk D1')).toContain('dedicated desk');
    expect(line('Hot Desk Zone')).toContain('hot desk');
    expect(line('Front door')).toMatch(/\[x\] +1001 +Front door +onUnlock checkin/);
    expect(line('Server room')).toMatch(/\[ \] +1005 +Server room +\|/);
    expect(line('Linked:')).toBe('Linked: pass types 2/2, resources 2/3, floor-plan items 4/4; Kisi groups used 5/6, locks listed as doors 2/5');
  });

  test('a narrow terminal gets the two columns one after the other', async () => {
    const run = await link(systems, [], { width: 60 });
    expect(run.code).toBe(0);
    expect(run.out.split('\n').some((l) => l.includes('Members 24/7') && l.includes('Day Pass'))).toBe(false);
    expect(run.out.indexOf('KISI LOCKS')).toBeLessThan(run.out.indexOf('NEXUDUS PASS TYPES'));
  });

  test('--json: the same facts for scripts', async () => {
    const run = await link(systems, ['--json']);
    const listing = JSON.parse(run.out) as Listing;
    expect(listing.place).toEqual({ id: 1, name: 'Sandbox Coworking Main Street', timeZone: 'Europe/London' });
    expect(listing.groups.find((g) => g.id === 101)).toEqual({ id: 101, name: 'Members 24/7', lockIds: [1001, 1002, 1003], linked: true, usedBy: ['floorPlanItems.4000001', 'floorPlanItems.4000002', 'floorPlanItems.4000003'] });
    expect(listing.items.find((i) => i.id === 3000003)).toEqual({ table: 'resources', id: 3000003, name: 'Podcast Booth', type: 'Studio', archived: false, linked: false });
    expect(listing.locks.find((l) => l.id === 1002)).toEqual({ id: 1002, name: 'Coworking floor', linked: true, onUnlock: 'none' });
  });

  test('without a map and with several places it asks for --place, listing them (exit 2)', async () => {
    const run = await link(systems, [], { defaultMap: path.join(tmp, 'absent.json') });
    expect(run.code).toBe(2);
    expect(run.err).toContain('several Kisi places, pass --place ID:\n  1 "Sandbox Coworking Main Street" (Europe/London)\n  2 "Sandbox Coworking Riverside" (Europe/London)');
  });

  test('--place picks another place; an unknown one is a usage error', async () => {
    const run = await link(systems, ['--place', '2'], { defaultMap: path.join(tmp, 'absent.json') });
    expect(run.code).toBe(0);
    expect(run.out).toContain('does not exist: nothing is marked as linked');
    expect(run.out).toMatch(/\[ \] +201 +Riverside members +opens 2001/);
    expect(run.out).not.toContain('Members 24/7');
    const unknown = await link(systems, ['--place', '99']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/Kisi has no place 99; places: 1 "Sandbox Coworking Main Street", 2 "Sandbox Coworking Riverside"/);
  });
});

// ---- --write ---------------------------------------------------------------------------------------

describe('--write', () => {
  let systems: Systems;
  beforeAll(async () => {
    systems = await startSystems();
  });

  test('writes a starter map that loads, passes --check, and says what it left out', async () => {
    const file = path.join(tmp, 'starter.json');
    const run = await link(systems, ['--write', file]);
    expect(run.code).toBe(0);
    const map = AccessMap.load(file).toJSON();
    expect(map).toMatchObject({ kisiPlaceId: 1, timeZone: 'Europe/London', nexudusBusinessId: 1000001, timing: { lead: '15m', lag: '15m' } });
    // Only clear name matches: "Day Pass" = group "Day pass"; "10-Day Pass Bundle" contains it.
    expect(map.passes).toEqual({ '5000001': { groups: [105], name: 'Day Pass' }, '5000002': { groups: [105], name: '10-Day Pass Bundle' } });
    expect(map.resources).toEqual({});
    expect(map.floorPlanItems).toEqual({});
    expect(map.doors).toEqual({
      '1001': { onUnlock: 'none', name: 'Front door' },
      '1002': { onUnlock: 'none', name: 'Coworking floor' },
      '1003': { onUnlock: 'none', name: 'Meeting Room A' },
      '1004': { onUnlock: 'none', name: 'Office 101' },
      '1005': { onUnlock: 'none', name: 'Server room' },
    });
    // Every item left out gets a hint under its key, with the closest group when one shares a word.
    for (const key of ['resources.3000001', 'resources.3000002', 'resources.3000003', 'floorPlanItems.4000001', 'floorPlanItems.4000002', 'floorPlanItems.4000003', 'floorPlanItems.4000004']) {
      expect(run.out).toMatch(new RegExp(`\\n {2}${key.replace('.', '\\.')} +.*not written`));
    }
    expect(run.out).toMatch(/resources\.3000001 +resource "Meeting Room Thames" \(Meeting room\): no Kisi group's name matches \(closest: 103 "Meeting Room A"\)/);
    expect(run.out).toContain(`Wrote ${file}: 2 pass type(s), 0 resource(s), 0 floor-plan item(s) with suggested groups, 5 door(s).`);

    const { code, report } = await checkJson(systems, file);
    expect(code).toBe(0);
    expect(report.errors).toBe(0);
  });

  test('never overwrites an existing file without --force', async () => {
    const file = path.join(tmp, 'existing.json');
    fs.writeFileSync(file, 'keep me\n');
    const refused = await link(systems, ['--write', file]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(`${file} exists; pass --force to overwrite it`);
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me\n');

    const forced = await link(systems, ['--write', file, '--force']);
    expect(forced.code).toBe(0);
    expect(AccessMap.load(file).kisiPlaceId).toBe(1);
  });

  test('writes YAML when the file name says so', async () => {
    const file = path.join(tmp, 'starter.yaml');
    expect((await link(systems, ['--write', file, '--json'])).code).toBe(0);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^kisiPlaceId: 1\n/);
    expect(AccessMap.load(file).mappedPassIds()).toEqual([5000001, 5000002]);
    expect((await checkJson(systems, file)).report.errors).toBe(0);
  });

  test('--time-zone that contradicts the Kisi place is refused before anything is written', async () => {
    const file = path.join(tmp, 'paris.json');
    const run = await link(systems, ['--write', file, '--time-zone', 'Europe/Paris']);
    expect(run.code).toBe(2);
    expect(run.err).toContain('the Kisi place is in Europe/London');
    expect(fs.existsSync(file)).toBe(false);
  });

  test('groups named like resources and desks are suggested; ties and other businesses are left out', async () => {
    const kisi = {
      ...KISI_SEED,
      places: (KISI_SEED.places as Array<Record<string, unknown>>).map((p) => (p.id === 1 ? { ...p, time_zone: null } : p)),
      groups: [
        ...(KISI_SEED.groups as unknown[]),
        { id: 107, name: 'Meeting room – Thames', place_id: 1 },
        { id: 108, name: 'HOT DESK ZONE', place_id: 1 },
        { id: 109, name: 'Podcast booth', place_id: 1 },
        { id: 110, name: 'podcast  booth!', place_id: 1 },
      ],
    } as KisiSeed;
    const nexudus = {
      ...NEXUDUS_SEED,
      businesses: [...(NEXUDUS_SEED.businesses as unknown[]), { Id: 1000002, Name: 'Harbour Coworking Leeds', TimeZone: 'Europe/London' }],
      resources: [...(NEXUDUS_SEED.resources as unknown[]), { Id: 3000100, Name: 'Meeting Room Thames', BusinessId: 1000002 }],
    } as NexudusSeed;
    const other = await startSystems({ kisi, nexudus });
    const absent = { defaultMap: path.join(tmp, 'absent.json') };
    const file = path.join(tmp, 'named.json');

    // Several businesses and no map to say which: ask. The place has no zone: ask for that too.
    const noBusiness = await link(other, ['--place', '1', '--write', file, '--time-zone', 'Europe/London'], absent);
    expect(noBusiness.code).toBe(2);
    expect(noBusiness.err).toContain('several Nexudus businesses, pass --business ID:\n  1000001 "Riverside Coworking London"\n  1000002 "Harbour Coworking Leeds"');
    const noZone = await link(other, ['--place', '1', '--business', '1000001', '--write', file], absent);
    expect(noZone.code).toBe(2);
    expect(noZone.err).toContain('has no time_zone: pass --time-zone ZONE');
    expect(fs.existsSync(file)).toBe(false);

    const run = await link(other, ['--place', '1', '--business', '1000001', '--write', file, '--time-zone', 'Europe/London'], absent);
    expect(run.code).toBe(0);
    const map = AccessMap.load(file).toJSON();
    expect(map.timeZone).toBe('Europe/London');
    expect(map.resources).toEqual({ '3000001': { groups: [107], name: 'Meeting Room Thames' } });
    expect(map.floorPlanItems).toEqual({ '4000004': { groups: [108], name: 'Hot Desk Zone' } });
    expect(run.out).toMatch(/resources\.3000003 +resource "Podcast Booth" \(Studio\): several Kisi groups match its name \(109 "Podcast booth", 110 "podcast {2}booth!"\)/);
    // The other business's "Meeting Room Thames" is neither listed nor written.
    expect(run.out).not.toContain('3000100');
    expect(run.out).toContain('1 item(s) of other businesses not shown');
    // The listing shows what --write would suggest for unlinked items.
    expect(run.out).toMatch(/\[ \] +4000004 +Hot Desk Zone +hot desk +~> 108\?/);
  });
});

// ---- names -------------------------------------------------------------------------------------

describe('name matching', () => {
  const groups = [
    { id: 1, name: 'Day pass' },
    { id: 2, name: 'Meeting Room A' },
    { id: 3, name: 'Private Office 101' },
    { id: 4, name: 'Office' },
    { id: 5, name: 'Café Bar' },
  ];
  test.each([
    ['Day Pass', 1],
    ['10-Day Pass Bundle', 1],
    ['cafe bar', 5],
    ['Meeting Room A (2nd floor)', 2],
  ])('%s -> group %s', (name, id) => {
    expect(suggestGroup(name, groups).match?.id).toBe(id);
  });
  test.each(['Private Office 1', 'Office 2', 'Meeting Room B', 'Pass'])('%s -> no suggestion', (name) => {
    expect(suggestGroup(name, groups).match).toBeUndefined();
  });
  test('closest groups share a word; ties are ambiguous', () => {
    expect(suggestGroup('Private Office 1', groups).closest.map((g) => g.id)).toEqual([3, 4]);
    const tie = suggestGroup('Day pass', [...groups, { id: 9, name: 'DAY-PASS' }]);
    expect(tie.match).toBeUndefined();
    expect(tie.ambiguous.map((g) => g.id)).toEqual([1, 9]);
    expect(words('Members 24/7 – Zürich')).toEqual(['members', '24', '7', 'zurich']);
  });
});

// ---- arguments ---------------------------------------------------------------------------------

describe('arguments', () => {
  test.each([
    [['--check', '--write', 'x.json'], /--write: not with --check/],
    [['--force'], /--force: only with --write FILE/],
    [['--strict'], /--strict: only with --check/],
    [['--time-zone', 'Europe/London'], /--time-zone: only with --write FILE/],
    [['--place', 'abc'], /--place: expected a Kisi place id \(a positive integer\)/],
    [['--write', 'x.json', '--time-zone', 'Mars/Olympus'], /--time-zone: expected an IANA time zone/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['list'], /Unexpected argument 'list'/],
  ])('%j is a usage error (exit 2) before any client is made', async (argv, message) => {
    const err: string[] = [];
    const clients = jest.fn();
    const code = await runLink(argv, { clients, defaultMap: SHIPPED_MAP, out: () => undefined, err: (t) => err.push(t) });
    expect(code).toBe(2);
    expect(err.join('\n')).toMatch(message);
    expect(err.join('\n')).toContain('usage: npm run access-map');
    expect(clients).not.toHaveBeenCalled();
  });

  test('--help prints the usage, exit 0', async () => {
    const out: string[] = [];
    expect(await runLink(['--help'], { clients: jest.fn(), defaultMap: SHIPPED_MAP, out: (t) => out.push(t), err: () => undefined })).toBe(0);
    expect(out.join('')).toContain('--check');
  });
});

// ---- credentials and the sandboxes -------------------------------------------------------------------

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('credentials', () => {
  let systems: Systems;
  beforeAll(async () => {
    systems = await startSystems();
  });

  test('without credentials, sandboxes answering on their ports are used with npm start\'s URLs and credentials', async () => {
    const source = { KISI_SANDBOX_PORT: String(systems.kisiPort), NEXUDUS_SANDBOX_PORT: String(systems.nexudusPort) };
    const { env, notes } = await withSandboxFallback(source, parseEnv(source));
    expect(env.KISI_BASE_URL).toBe(`http://localhost:${systems.kisiPort}`);
    expect(env.NEXUDUS_BASE_URL).toBe(`http://localhost:${systems.nexudusPort}/api`);
    expect(notes).toHaveLength(2);
    expect(notes[0]).toContain(`no KISI_API_KEY set: using the kisi-sandbox on port ${systems.kisiPort}`);
    // The credentials are the ones the sandboxes accept: real calls go through.
    const clients = await clientsFromEnv(source, parseEnv(source));
    expect((await clients.kisi.listPlaces()).map((p) => p.id)).toEqual([1, 2]);
    expect((await clients.nexudus.listBusinesses()).map((b) => b.Id)).toEqual([1000001]);
  });

  test('configured credentials win over a running sandbox', async () => {
    const source = { KISI_SANDBOX_PORT: String(systems.kisiPort), NEXUDUS_SANDBOX_PORT: String(systems.nexudusPort), KISI_API_KEY: 'real-key', KISI_BASE_URL: 'https://api.kisi.io' };
    const { env, notes } = await withSandboxFallback(source, parseEnv(source));
    expect(env.KISI_BASE_URL).toBe('https://api.kisi.io');
    expect(env.KISI_API_KEY).toBe('real-key');
    expect(notes).toEqual([expect.stringContaining('nexudus-sandbox')]);
  });

  test('no credentials and no sandbox: an error naming the variables and npm run sandbox', async () => {
    const source = { KISI_SANDBOX_PORT: String(await deadPort()), NEXUDUS_SANDBOX_PORT: String(await deadPort()) };
    const failure = await clientsFromEnv(source, parseEnv(source)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(MissingCredentialsError);
    const problems = (failure as MissingCredentialsError).problems.join('\n');
    expect(problems).toMatch(/KISI_API_KEY: required.*npm run sandbox/);
    expect(problems).toMatch(/NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required.*npm run sandbox/);
  });
});

// ---- the real command --------------------------------------------------------------------------------

function npmLink(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'link', '--', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out, err });
    });
  });
}

describe('npm run access-map as a process', () => {
  let systems: Systems;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    systems = await startSystems();
    env = { ...process.env, KISI_SANDBOX_PORT: String(systems.kisiPort), NEXUDUS_SANDBOX_PORT: String(systems.nexudusPort), ACCESS_MAP: 'config/access-map.json' };
    for (const name of ['KISI_API_KEY', 'KISI_BASE_URL', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD', 'NEXUDUS_BASE_URL', 'NODE_ENV']) delete env[name];
  });

  test('--check finds the sandboxes by itself and exits 0; --strict exits 1', async () => {
    const run = await npmLink(['--check'], env);
    expect(run.err).toContain('no KISI_API_KEY set: using the kisi-sandbox');
    expect(run.out).toContain('Checked config/access-map.json against Kisi place 1');
    expect(run.code).toBe(0);
    expect((await npmLink(['--check', '--strict', '--json'], env)).code).toBe(1);
  });

  test('a bad sandbox port (read only by this tool and the local stack): exit 78 naming it', async () => {
    const run = await npmLink(['--check'], { ...env, KISI_SANDBOX_PORT: 'port-forty' });
    expect(run.code).toBe(78);
    expect(run.err).toContain('link: invalid configuration');
    expect(run.err).toContain('KISI_SANDBOX_PORT: expected a TCP port number');
  });

  test('no credentials and nothing on the sandbox ports: exit 78 saying what to do', async () => {
    const run = await npmLink(['--check'], { ...env, KISI_SANDBOX_PORT: String(await deadPort()), NEXUDUS_SANDBOX_PORT: String(await deadPort()) });
    expect(run.code).toBe(78);
    expect(run.err).toMatch(/KISI_API_KEY: required.*npm run sandbox/);
  });
});
