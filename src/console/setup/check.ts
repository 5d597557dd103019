/**
 * Setup's judgement of a map being edited: first the schema the worker loads the map with
 * (AccessMap.parse; its problems as `link --check` shows them, schemaFindings), then, when the
 * inventory could be read, `link --check` itself (checkMap) against what Kisi and Nexudus hold.
 * The same findings for the live check, the Check button and Save, which refuses any error.
 */
import { AccessMap, AccessMapError, type AccessMapFile } from '../../config/access-map';
import type { Inventory } from '../../domain/inventory';
import { checkMap, schemaFindings, summarize, type CheckReport, type MapData } from '../../link/check';
import { inventoryWithin, type InventoryRead, type InventorySource } from '../inventory';

export interface Judgement {
  report: CheckReport;
  /** The map as the worker would hold it, when it passes the schema. */
  map?: MapData;
  /** Whether checkMap ran (false: the schema alone, the names could not be read). */
  checked: boolean;
}

export const EDITED = 'the edited map';

export function judge(candidate: AccessMapFile, inventory: Inventory | undefined): Judgement {
  let map: MapData;
  try {
    map = AccessMap.parse(candidate, EDITED).toJSON();
  } catch (error) {
    if (!(error instanceof AccessMapError)) throw error;
    return { report: summarize(EDITED, schemaFindings(error)), checked: false };
  }
  if (!inventory) return { report: summarize(EDITED, [], map.kisiPlaceId), map, checked: false };
  return { report: checkMap(EDITED, map, inventory), map, checked: true };
}

/**
 * The inventory for the page: the one for the map in force (cached for a minute), or, when the
 * edited map names a place, group or lock that read did not cover, one for the edited map; at most
 * `waitMs` (inventoryWithin), else the page shows ids.
 */
export function readInventory(source: InventorySource, waitMs: number, edited?: MapData): Promise<InventoryRead> {
  const read = async () => {
    const inForce = await source.get();
    return edited && !covers(inForce, edited) ? source.get({ map: edited }) : inForce;
  };
  return inventoryWithin(read(), waitMs);
}

/** Whether the inventory knows every place, group and lock id the map names. */
function covers(inventory: Inventory, map: MapData): boolean {
  const { kisi } = inventory;
  if (kisi.placeId !== map.kisiPlaceId) return false;
  const groups = new Set([...kisi.groups.map((g) => g.id), ...kisi.outsideGroups.keys()]);
  const locks = new Set([...kisi.locks.map((l) => l.id), ...kisi.outsideLocks.keys()]);
  const used = [map.passes, map.resources, map.floorPlanItems].flatMap((table) => Object.values(table).flatMap((e) => e.groups));
  return used.every((g) => groups.has(g)) && Object.keys(map.doors).every((id) => locks.has(Number(id)));
}
