/**
 * What a deployment's access map is drawn against: the Kisi place (its groups and locks) and the
 * Nexudus items customers buy (pass types, resources, floor-plan items) and businesses, as plain
 * records. `npm run access-map` reads one through the product's clients (src/link/inventory.ts);
 * the console asks the worker for one (src/contract/inventory.ts), as a snapshot that survives
 * Temporal's JSON payloads (no Maps).
 */

/** The three tables of the access map that hold Nexudus items. */
export const ITEM_TABLES = ['passes', 'resources', 'floorPlanItems'] as const;
export type ItemTable = (typeof ITEM_TABLES)[number];

/** How the listing and the messages name each table's records. */
export const ITEM_NOUN: Record<ItemTable, string> = {
  passes: 'pass type (time pass)',
  resources: 'resource',
  floorPlanItems: 'floor-plan item',
};

/** Nexudus' floor-plan `ItemType` (see src/domain/nexudus-entities.ts). */
export const FLOOR_PLAN_ITEM_TYPES: Record<number, string> = { 1: 'office', 2: 'dedicated desk', 3: 'hot desk', 4: 'other', 5: 'room' };

export interface Place {
  id: number;
  name: string;
  /** IANA zone from Kisi's `time_zone` (`tz_time_zone` as a fallback), when Kisi has one. */
  timeZone?: string;
}

export interface Group {
  id: number;
  name: string;
  placeId: number | null;
}

export interface Lock {
  id: number;
  name: string;
  placeId: number;
}

export interface NexudusItem {
  table: ItemTable;
  id: number;
  name: string;
  /** Resource type name, floor-plan item type, or "day pass" / "N minutes" for passes. */
  type?: string;
  /** Undefined when the record does not say (the check then cannot tell businesses apart). */
  businessId?: number;
  archived: boolean;
}

export interface Business {
  id: number;
  name: string;
  timeZone?: string;
}

export interface KisiSide {
  places: Place[];
  /** The place the listing is about; undefined when Kisi does not know `placeId`. */
  place: Place | undefined;
  placeId: number;
  groups: Group[];
  locks: Lock[];
  /** Lock ids each group of the place opens; only filled for the listing (one request per group). */
  groupLocks?: Map<number, number[]>;
  /** Groups asked for by id because they are not in the place: null when Kisi has no such group. */
  outsideGroups: Map<number, Group | null>;
  /** Locks asked for that are not in the place: found in another place, or null (no such lock). */
  outsideLocks: Map<number, Lock | null>;
}

export interface NexudusSide {
  items: NexudusItem[];
  businesses: Business[];
}

export interface Inventory {
  kisi: KisiSide;
  nexudus: NexudusSide;
}

/** Whether an item belongs to the business; an item (or a choice) without one is never excluded. */
export function inBusiness(item: NexudusItem, businessId: number | undefined): boolean {
  return businessId === undefined || item.businessId === undefined || item.businessId === businessId;
}

/** A Kisi group the inventory knows, in the place or looked up by id outside it. */
export function findGroup(kisi: KisiSide, groupId: number): Group | undefined {
  return kisi.groups.find((g) => g.id === groupId) ?? kisi.outsideGroups.get(groupId) ?? undefined;
}

/** An Inventory as JSON can carry it: every Map as an array of [key, value] pairs. */
export interface InventorySnapshot {
  kisi: Omit<KisiSide, 'groupLocks' | 'outsideGroups' | 'outsideLocks'> & {
    groupLocks: Array<[number, number[]]> | null;
    outsideGroups: Array<[number, Group | null]>;
    outsideLocks: Array<[number, Lock | null]>;
  };
  nexudus: NexudusSide;
}

export function toSnapshot(inventory: Inventory): InventorySnapshot {
  const { groupLocks, outsideGroups, outsideLocks, ...kisi } = inventory.kisi;
  return {
    kisi: { ...kisi, groupLocks: groupLocks ? [...groupLocks] : null, outsideGroups: [...outsideGroups], outsideLocks: [...outsideLocks] },
    nexudus: inventory.nexudus,
  };
}

export function fromSnapshot(snapshot: InventorySnapshot): Inventory {
  const { groupLocks, outsideGroups, outsideLocks, ...kisi } = snapshot.kisi;
  return {
    kisi: { ...kisi, groupLocks: groupLocks ? new Map(groupLocks) : undefined, outsideGroups: new Map(outsideGroups), outsideLocks: new Map(outsideLocks) },
    nexudus: snapshot.nexudus,
  };
}
