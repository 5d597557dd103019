/**
 * `npm run access-map` from parsed arguments to an exit status. The clients arrive through a factory so
 * that `--help` and usage errors need no credentials, and so the tests can hand in clients aimed
 * at in-process sandboxes; output goes through `out`/`err` for the same reason.
 */
import fs from 'node:fs';
import path from 'node:path';
import { AccessMap, AccessMapError } from '../config/access-map';
import { isApiError } from '../clients/errors';
import { UsageError } from '../process/exit';
import { LINK_USAGE, parseLinkArgs, type LinkArgs } from './args';
import { checkMap, schemaFindings, summarize, type CheckReport, type MapData } from './check';
import type { Clients } from './connect';
import { listPlaces, readKisi, readNexudus, type Business, type Inventory, type Place } from './inventory';
import { buildListing, type MapStatus } from './listing';
import { renderCheck, renderHints, renderListing } from './render';
import { FileExistsError, buildStarter, writeMap, type Hint } from './starter';

export const EXIT = { ok: 0, problems: 1, usage: 2, unavailable: 3 } as const;

export interface LinkDeps {
  clients: () => Promise<Clients> | Clients;
  /** The map used without --map (ACCESS_MAP). */
  defaultMap: string;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Terminal width for the side-by-side listing. */
  width?: number;
}

type LoadedMap = { status: MapStatus; map?: MapData; error?: AccessMapError };

function loadMap(file: string): LoadedMap {
  // Relative to where the command runs when the file is below it, else as given.
  const relative = path.relative(process.cwd(), path.resolve(file));
  const shown = relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
  if (!fs.existsSync(file)) return { status: { file: shown, status: 'missing' } };
  try {
    const map = AccessMap.load(file).toJSON();
    return { status: { file: shown, status: 'loaded', kisiPlaceId: map.kisiPlaceId }, map };
  } catch (error) {
    if (!(error instanceof AccessMapError)) throw error;
    return { status: { file: shown, status: 'invalid', problems: error.problems }, error };
  }
}

const named = (x: { id: number; name: string }) => `${x.id} ${JSON.stringify(x.name)}`;

export async function runLink(argv: string[], deps: LinkDeps): Promise<number> {
  let args: LinkArgs;
  try {
    args = parseLinkArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    deps.err(`link: ${error.message}\n\n${LINK_USAGE}`);
    return EXIT.usage;
  }
  if (args.mode === 'help') {
    deps.out(LINK_USAGE);
    return EXIT.ok;
  }
  const clients = await deps.clients();
  for (const note of clients.notes) deps.err(`link: ${note}`);
  try {
    return args.mode === 'check' ? await check(args, clients, deps) : await list(args, clients, deps);
  } catch (error) {
    if (error instanceof UsageError) {
      deps.err(`link: ${error.message}`);
      return EXIT.usage;
    }
    if (isApiError(error)) {
      // Which service, call and status, never credentials (ApiError carries none).
      deps.err(`link: cannot read ${error.service === 'kisi' ? 'Kisi' : 'Nexudus'}: ${error.message}`);
      return EXIT.unavailable;
    }
    throw error;
  }
}

async function check(args: Extract<LinkArgs, { mode: 'check' }>, clients: Clients, deps: LinkDeps): Promise<number> {
  const loaded = loadMap(args.map ?? deps.defaultMap);
  let report: CheckReport;
  let context: { place?: string; business?: string } = {};
  if (!loaded.map) {
    // Nothing to compare: the file itself is the problem.
    const findings = loaded.error
      ? schemaFindings(loaded.error)
      : schemaFindings(new AccessMapError(loaded.status.file, ['cannot read the file: it does not exist (pass --map FILE or set ACCESS_MAP)']));
    report = summarize(loaded.status.file, findings);
  } else {
    const map = loaded.map;
    const inventory: Inventory = {
      kisi: await readKisi(clients.kisi, { placeId: map.kisiPlaceId, groupIds: allGroups(map), lockIds: Object.keys(map.doors).map(Number) }),
      nexudus: await readNexudus(clients.nexudus),
    };
    report = checkMap(loaded.status.file, map, inventory);
    const business = inventory.nexudus.businesses.find((b) => b.id === map.nexudusBusinessId);
    context = { place: inventory.kisi.place ? `place ${named(inventory.kisi.place)}` : undefined, business: business ? `business ${named(business)}` : undefined };
  }
  const code = report.errors > 0 || (args.strict && report.warnings > 0) ? EXIT.problems : EXIT.ok;
  if (args.json) deps.out(JSON.stringify({ ok: code === EXIT.ok, strict: args.strict, exitCode: code, ...report }, null, 2));
  else deps.out(renderCheck(report, context, code));
  return code;
}

function allGroups(map: MapData): number[] {
  return [...new Set([...Object.values(map.passes), ...Object.values(map.resources), ...Object.values(map.floorPlanItems)].flatMap((e) => e.groups))];
}

/** --place, else the map's place, else the only one; several and no hint is a usage error listing them. */
function choosePlace(places: Place[], requested: number | undefined, fromMap: number | undefined): Place {
  const known = places.map(named).join(', ') || 'none visible to this API key';
  const wanted = requested ?? fromMap;
  if (wanted !== undefined) {
    const place = places.find((p) => p.id === wanted);
    if (!place) throw new UsageError(`Kisi has no place ${wanted}${requested === undefined ? ' (the map\'s kisiPlaceId)' : ''}; places: ${known}. Pass --place ID`);
    return place;
  }
  if (places.length === 1) return places[0]!;
  throw new UsageError(places.length === 0 ? 'Kisi shows no place to this API key' : `several Kisi places, pass --place ID:\n${places.map((p) => `  ${named(p)}${p.timeZone ? ` (${p.timeZone})` : ''}`).join('\n')}`);
}

function chooseBusiness(businesses: Business[], requested: number | undefined, fromMap: number | undefined): Business | undefined {
  if (requested !== undefined) {
    const business = businesses.find((b) => b.id === requested);
    if (!business) throw new UsageError(`Nexudus has no business ${requested}; businesses: ${businesses.map(named).join(', ') || 'none'}`);
    return business;
  }
  // The map's business when Nexudus knows it (--check reports it otherwise), else the only one.
  return businesses.find((b) => b.id === fromMap) ?? (businesses.length === 1 ? businesses[0] : undefined);
}

async function list(args: Extract<LinkArgs, { mode: 'list' }>, clients: Clients, deps: LinkDeps): Promise<number> {
  const loaded = loadMap(args.map ?? deps.defaultMap);
  const places = await listPlaces(clients.kisi);
  const place = choosePlace(places, args.place, loaded.map?.kisiPlaceId);
  const nexudus = await readNexudus(clients.nexudus);
  const business = chooseBusiness(nexudus.businesses, args.business, loaded.map?.nexudusBusinessId);

  // Everything --write needs is settled before anything is printed or written.
  let timeZone: string | undefined;
  if (args.write !== undefined) {
    if (!business && nexudus.businesses.length > 1) {
      throw new UsageError(`several Nexudus businesses, pass --business ID:\n${nexudus.businesses.map((b) => `  ${named(b)}`).join('\n')}`);
    }
    if (place.timeZone && args.timeZone && args.timeZone !== place.timeZone) {
      throw new UsageError(`--time-zone ${args.timeZone}: the Kisi place is in ${place.timeZone}, and --check would refuse the difference`);
    }
    timeZone = place.timeZone ?? args.timeZone;
    if (!timeZone) throw new UsageError(`Kisi place ${named(place)} has no time_zone: pass --time-zone ZONE (an IANA zone such as Europe/London)`);
  }

  const kisi = await readKisi(clients.kisi, { placeId: place.id, places, withGroupLocks: true });
  const inventory: Inventory = { kisi, nexudus };
  const listing = buildListing(inventory, loaded.map, loaded.status, business?.id);

  let written: { file: string; hints: Hint[]; counts: Record<string, number> } | undefined;
  if (args.write !== undefined) {
    const starter = buildStarter(inventory, { placeId: place.id, timeZone, businessId: business?.id });
    try {
      writeMap(args.write, starter.map, args.force);
    } catch (error) {
      if (!(error instanceof FileExistsError)) throw error;
      deps.err(`link: ${error.message}`);
      return EXIT.problems;
    }
    const m = starter.map;
    const counts = {
      passes: Object.keys(m.passes ?? {}).length,
      resources: Object.keys(m.resources ?? {}).length,
      floorPlanItems: Object.keys(m.floorPlanItems ?? {}).length,
      doors: Object.keys(m.doors ?? {}).length,
    };
    written = { file: args.write, hints: starter.hints, counts };
  }

  if (args.json) {
    deps.out(JSON.stringify({ ...listing, ...(written ? { wrote: written } : {}) }, null, 2));
    return EXIT.ok;
  }
  deps.out(renderListing(listing, deps.width ?? 160));
  if (written) {
    const hints = renderHints(written.hints);
    if (hints) deps.out(`\n${hints}`);
    const c = written.counts;
    deps.out(
      `\nWrote ${written.file}: ${c.passes} pass type(s), ${c.resources} resource(s), ${c.floorPlanItems} floor-plan item(s) with suggested groups, ${c.doors} door(s).` +
        `\nEdit it, then: npm run access-map -- --check --map ${written.file}`,
    );
  }
  return EXIT.ok;
}
