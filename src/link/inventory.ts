/**
 * What `npm run access-map` compares the access map with: the Kisi place (its groups and locks) and the
 * Nexudus items customers buy (pass types, resources, floor-plan items) and businesses, read once
 * through the product's own clients and flattened into plain records. Everything after this
 * module (the listing, the check, the starter map) is a pure function of an Inventory.
 */
import type { KisiClient, KisiGroup, KisiLock, KisiPlace } from '../clients/kisi';
import { isNotFound } from '../clients/errors';
import type { NexudusClient } from '../clients/nexudus';
import { retrying } from './retry';
import { FLOOR_PLAN_ITEM_TYPES, ITEM_TABLES, type Group, type KisiSide, type Lock, type NexudusItem, type NexudusSide, type Place } from '../domain/inventory';

export { ITEM_TABLES, ITEM_NOUN, FLOOR_PLAN_ITEM_TYPES, inBusiness } from '../domain/inventory';
export type { ItemTable, Place, Group, Lock, NexudusItem, Business, KisiSide, NexudusSide, Inventory } from '../domain/inventory';

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** Nexudus ids arrive as numbers or numeric strings (see nexudusId in src/domain/nexudus-entities.ts). */
function positiveInt(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export function toPlace(p: KisiPlace): Place {
  return { id: p.id, name: p.name, timeZone: text(p.time_zone) ?? text(p.tz_time_zone) };
}

function toGroup(g: KisiGroup): Group {
  return { id: g.id, name: g.name, placeId: g.place_id ?? null };
}

function toLock(l: KisiLock): Lock {
  return { id: l.id, name: l.name, placeId: l.place_id };
}

export function listPlaces(kisi: KisiClient): Promise<Place[]> {
  return retrying(() => kisi.listPlaces()).then((places) => places.map(toPlace).sort((a, b) => a.id - b.id));
}

/**
 * The place's groups and locks, plus the ids the map mentions that are not there: each such group
 * is fetched by id (so "no such group" and "a group of another place" read differently), and the
 * locks of the other places are listed once (the client has no lock-by-id call).
 */
export async function readKisi(
  kisi: KisiClient,
  options: { placeId: number; places?: Place[]; groupIds?: number[]; lockIds?: number[]; withGroupLocks?: boolean },
): Promise<KisiSide> {
  const places = options.places ?? (await listPlaces(kisi));
  const place = places.find((p) => p.id === options.placeId);
  const [groups, locks] = place
    ? await Promise.all([retrying(() => kisi.listGroups(place.id)), retrying(() => kisi.listLocks(place.id))])
    : [[] as KisiGroup[], [] as KisiLock[]];
  const side: KisiSide = {
    places,
    place,
    placeId: options.placeId,
    // Kisi filters by place_id; keep only what it says belongs here, in id order for stable output.
    groups: groups.map(toGroup).filter((g) => g.placeId === options.placeId).sort((a, b) => a.id - b.id),
    locks: locks.map(toLock).filter((l) => l.placeId === options.placeId).sort((a, b) => a.id - b.id),
    outsideGroups: new Map(),
    outsideLocks: new Map(),
  };

  const inPlaceGroups = new Set(side.groups.map((g) => g.id));
  for (const id of new Set(options.groupIds ?? [])) {
    if (inPlaceGroups.has(id)) continue;
    try {
      side.outsideGroups.set(id, toGroup(await retrying(() => kisi.getGroup(id))));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      side.outsideGroups.set(id, null);
    }
  }

  const inPlaceLocks = new Set(side.locks.map((l) => l.id));
  const missingLocks = [...new Set(options.lockIds ?? [])].filter((id) => !inPlaceLocks.has(id));
  if (missingLocks.length > 0) {
    const elsewhere = new Map<number, Lock>();
    for (const other of places.filter((p) => p.id !== options.placeId)) {
      for (const lock of await retrying(() => kisi.listLocks(other.id))) elsewhere.set(lock.id, toLock(lock));
    }
    for (const id of missingLocks) side.outsideLocks.set(id, elsewhere.get(id) ?? null);
  }

  if (options.withGroupLocks) {
    side.groupLocks = new Map();
    for (const group of side.groups) {
      const links = await retrying(() => kisi.listGroupLocks(group.id));
      side.groupLocks.set(group.id, [...new Set(links.filter((l) => l.group_id === group.id).map((l) => l.lock_id))].sort((a, b) => a - b));
    }
  }
  return side;
}

function passType(minutes: number | null | undefined): string {
  // Nexudus: no minutes included means the pass is good for the whole day.
  return minutes === null || minutes === undefined ? 'day pass' : `${minutes} min`;
}

export async function readNexudus(nexudus: NexudusClient): Promise<NexudusSide> {
  // One at a time: the client paces calls anyway, and Nexudus counts them per user.
  const passes = await retrying(() => nexudus.listTimePasses());
  const resources = await retrying(() => nexudus.listResources());
  const desks = await retrying(() => nexudus.listFloorPlanDesks());
  const businesses = await retrying(() => nexudus.listBusinesses());
  const items: NexudusItem[] = [
    ...passes.map((p) => ({
      table: 'passes' as const,
      id: p.Id,
      name: text(p.Name) ?? `pass type ${p.Id}`,
      type: passType(p.MinutesIncluded),
      businessId: positiveInt(p.BusinessId),
      archived: p.Archived === true,
    })),
    ...resources.map((r) => ({
      table: 'resources' as const,
      id: r.Id,
      name: text(r.Name) ?? `resource ${r.Id}`,
      type: text(r.ResourceTypeName),
      businessId: positiveInt(r.BusinessId),
      archived: r.Archived === true,
    })),
    ...desks.map((d) => ({
      table: 'floorPlanItems' as const,
      id: d.Id,
      name: text(d.Name) ?? `floor-plan item ${d.Id}`,
      type: d.ItemType === null || d.ItemType === undefined ? undefined : (FLOOR_PLAN_ITEM_TYPES[d.ItemType] ?? `type ${d.ItemType}`),
      businessId: positiveInt(d.BusinessId),
      archived: d.Archived === true,
    })),
  ];
  items.sort((a, b) => ITEM_TABLES.indexOf(a.table) - ITEM_TABLES.indexOf(b.table) || a.id - b.id);
  return {
    items,
    businesses: businesses.map((b) => ({ id: b.Id, name: text(b.Name) ?? `business ${b.Id}`, timeZone: text(b.TimeZone) })).sort((a, b) => a.id - b.id),
  };
}
