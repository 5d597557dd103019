/**
 * How Access now names things: Kisi groups and the doors (locks) they open, Nexudus items, and
 * instants in the access map's time zone. Names come from the inventory the worker reads
 * (src/console/inventory.ts); a page waits for it only briefly and falls back to ids, saying so.
 */
import type { AccessMap } from '../../config/access-map';
import { findGroup, ITEM_NOUN, ITEM_TABLES, type Inventory, type ItemTable } from '../../domain/inventory';
import { inventoryWithin, type InventorySource } from '../inventory';

/** How long a page waits for the inventory before it shows ids (the read goes on and is cached). */
export const INVENTORY_WAIT_MS = 3_000;

/** The inventory, or undefined when it is not read within `waitMs` (no worker, Kisi down). */
export async function inventoryOrNone(source: InventorySource, waitMs = INVENTORY_WAIT_MS): Promise<Inventory | undefined> {
  return (await inventoryWithin(source.get(), waitMs)).inventory;
}

/** "Meeting Room A (103)" when the inventory names the group, else "group 103". */
export function groupLabel(inventory: Inventory | undefined, groupId: number): string {
  const name = inventory && findGroup(inventory.kisi, groupId)?.name;
  return name ? `${name} (${groupId})` : `group ${groupId}`;
}

export interface GroupDoors {
  groupId: number;
  label: string;
  /** Lock names (or "lock <id>"); undefined when the inventory does not say which locks the group opens. */
  doors: string[] | undefined;
}

/** The doors each group opens, from the inventory's group locks and lock names. */
export function doorsOfGroups(inventory: Inventory | undefined, groupIds: readonly number[]): GroupDoors[] {
  const kisi = inventory?.kisi;
  const lockName = (id: number) => kisi?.locks.find((l) => l.id === id)?.name ?? kisi?.outsideLocks.get(id)?.name ?? `lock ${id}`;
  return groupIds.map((groupId) => {
    const locks = kisi?.groupLocks?.get(groupId);
    return { groupId, label: groupLabel(inventory, groupId), doors: locks?.map(lockName) };
  });
}

/** A Nexudus item of the access map, as the search offers it: `table:id`. */
export interface ItemOption {
  value: string;
  table: ItemTable;
  id: number;
  label: string;
  groups: number[];
}

const ITEM_KIND: Record<ItemTable, string> = { resources: 'Room or resource', floorPlanItems: 'Desk or office', passes: 'Pass' };

/** Every item the map links to Kisi groups, named by Nexudus (inventory), else by the map, else by id. */
export function itemOptions(map: AccessMap, inventory: Inventory | undefined): ItemOption[] {
  const data = map.toJSON();
  const options: ItemOption[] = [];
  for (const table of ITEM_TABLES) {
    for (const [key, entry] of Object.entries(data[table])) {
      const id = Number(key);
      const name = inventory?.nexudus.items.find((i) => i.table === table && i.id === id)?.name ?? entry.name ?? `${ITEM_NOUN[table]} ${id}`;
      options.push({ value: `${table}:${id}`, table, id, label: `${ITEM_KIND[table]}: ${name}`, groups: [...entry.groups].sort((a, b) => a - b) });
    }
  }
  return options.sort((a, b) => a.label.localeCompare(b.label));
}
