/**
 * What `npm run access-map` shows: the place's Kisi groups and locks and the business's Nexudus items,
 * each marked with whether the access map links it (and to what), plus a name-match suggestion
 * for items that are not linked yet. A plain structure: rendered as text or printed as JSON.
 */
import type { MapData } from './check';
import { ITEM_TABLES, inBusiness, type Business, type Inventory, type ItemTable, type Place } from './inventory';
import { suggestGroup } from './names';

export interface MapStatus {
  file: string;
  status: 'loaded' | 'missing' | 'invalid';
  /** Schema problems (`key: message`) when invalid. */
  problems?: string[];
  kisiPlaceId?: number;
}

export interface GroupRow {
  id: number;
  name: string;
  /** Locks this group opens. */
  lockIds: number[];
  linked: boolean;
  /** Map keys whose entries name this group (`passes.5000001`). */
  usedBy: string[];
}

export interface LockRow {
  id: number;
  name: string;
  linked: boolean;
  onUnlock?: 'checkin' | 'none';
}

export interface ItemRow {
  table: ItemTable;
  id: number;
  name: string;
  type?: string;
  archived: boolean;
  linked: boolean;
  /** The groups the map gives it. */
  groups?: number[];
  /** Not linked: the group whose name clearly matches (what --write would put there). */
  suggestedGroup?: number;
}

export interface Listing {
  map: MapStatus;
  place: Place;
  otherPlaces: Place[];
  business?: Business;
  otherBusinesses: Business[];
  groups: GroupRow[];
  locks: LockRow[];
  items: ItemRow[];
  /** Items left out because they belong to another business. */
  otherBusinessItems: number;
}

export function buildListing(inventory: Inventory, map: MapData | undefined, status: MapStatus, businessId: number | undefined): Listing {
  const { kisi, nexudus } = inventory;
  const usedBy = new Map<number, string[]>();
  if (map) {
    for (const table of ITEM_TABLES) {
      for (const [id, entry] of Object.entries(map[table])) {
        for (const group of entry.groups) usedBy.set(group, [...(usedBy.get(group) ?? []), `${table}.${id}`]);
      }
    }
  }
  const shownItems = nexudus.items.filter((item) => inBusiness(item, businessId));
  return {
    map: status,
    place: kisi.place ?? { id: kisi.placeId, name: '(unknown place)' },
    otherPlaces: kisi.places.filter((p) => p.id !== kisi.placeId),
    business: nexudus.businesses.find((b) => b.id === businessId),
    otherBusinesses: nexudus.businesses.filter((b) => b.id !== businessId),
    groups: kisi.groups.map((g) => ({
      id: g.id,
      name: g.name,
      lockIds: kisi.groupLocks?.get(g.id) ?? [],
      linked: usedBy.has(g.id),
      usedBy: usedBy.get(g.id) ?? [],
    })),
    locks: kisi.locks.map((l) => {
      const door = map?.doors[String(l.id)];
      return { id: l.id, name: l.name, linked: door !== undefined, ...(door ? { onUnlock: door.onUnlock } : {}) };
    }),
    items: shownItems.map((item) => {
      const entry = map?.[item.table][String(item.id)];
      const row: ItemRow = { table: item.table, id: item.id, name: item.name, archived: item.archived, linked: entry !== undefined };
      if (item.type) row.type = item.type;
      if (entry) row.groups = [...entry.groups];
      else if (!item.archived) {
        const match = suggestGroup(item.name, kisi.groups).match;
        if (match) row.suggestedGroup = match.id;
      }
      return row;
    }),
    otherBusinessItems: nexudus.items.length - shownItems.length,
  };
}
