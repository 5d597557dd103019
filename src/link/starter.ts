/**
 * `npm run access-map -- --write <file>`: a first access map built from what the two systems hold.
 * Every Nexudus item of the business is considered; it gets an entry only when a Kisi group's
 * name clearly matches its name (src/link/names.ts), and otherwise a printed hint, because an
 * entry must name at least one group and a guessed group would open the wrong doors. Every lock
 * of the place is listed as a door that checks nobody in ("none"), for a person to switch on.
 */
import fs from 'node:fs';
import YAML from 'yaml';
import { AccessMap, type AccessMapFile } from '../config/access-map';
import { ITEM_NOUN, inBusiness, type Inventory } from './inventory';
import { suggestGroup, type Named } from './names';

export interface StarterOptions {
  placeId: number;
  /** Required by the schema as soon as a pass is mapped; the caller takes it from Kisi or --time-zone. */
  timeZone?: string;
  businessId?: number;
}

export interface Hint {
  /** Where the entry would go (`resources.3000003`, `doors`). */
  key: string;
  message: string;
}

export interface Starter {
  map: AccessMapFile;
  hints: Hint[];
}

const list = (groups: Named[]) => groups.map((g) => `${g.id} ${JSON.stringify(g.name)}`).join(', ');

export function buildStarter(inventory: Inventory, options: StarterOptions): Starter {
  const { kisi, nexudus } = inventory;
  const map = {
    kisiPlaceId: options.placeId,
    ...(options.timeZone ? { timeZone: options.timeZone } : {}),
    ...(options.businessId === undefined ? {} : { nexudusBusinessId: options.businessId }),
    // Written out so the file shows where the defaults live.
    timing: { lead: '15m', lag: '15m' },
    passes: {} as Record<string, { groups: number[]; name: string }>,
    resources: {} as Record<string, { groups: number[]; name: string }>,
    floorPlanItems: {} as Record<string, { groups: number[]; name: string }>,
    doors: {} as Record<string, { onUnlock: 'none'; name: string }>,
  } satisfies AccessMapFile;
  const hints: Hint[] = [];

  for (const item of nexudus.items) {
    // Archived items are sold no more; items of another location open no door here.
    if (item.archived || !inBusiness(item, options.businessId)) continue;
    const key = `${item.table}.${item.id}`;
    const label = `${ITEM_NOUN[item.table]} ${JSON.stringify(item.name)}${item.type ? ` (${item.type})` : ''}`;
    const suggestion = suggestGroup(item.name, kisi.groups);
    if (suggestion.match) {
      map[item.table][String(item.id)] = { groups: [suggestion.match.id], name: item.name };
      continue;
    }
    const why =
      suggestion.ambiguous.length > 0
        ? `several Kisi groups match its name (${list(suggestion.ambiguous)})`
        : `no Kisi group's name matches${suggestion.closest.length > 0 ? ` (closest: ${list(suggestion.closest)})` : ''}`;
    hints.push({ key, message: `${label}: ${why}; not written (to map it, add "${item.id}": { "groups": [<Kisi group id>] } under ${item.table})` });
  }

  for (const lock of kisi.locks) map.doors[String(lock.id)] = { onUnlock: 'none', name: lock.name };
  if (kisi.locks.length > 0) {
    hints.push({
      key: 'doors',
      message: `${kisi.locks.length} lock(s) written with onUnlock "none"; set "checkin" on the doors whose unlock should check the customer in to Nexudus${options.businessId === undefined ? ' (that also needs nexudusBusinessId)' : ''}`,
    });
  }
  // The map must load: a starter the product refuses would be worse than none.
  AccessMap.parse(map, 'starter map');
  return { map, hints };
}

export function serializeMap(file: string, map: AccessMapFile): string {
  return /\.ya?ml$/i.test(file) ? YAML.stringify(map) : `${JSON.stringify(map, null, 2)}\n`;
}

export class FileExistsError extends Error {
  constructor(readonly file: string) {
    super(`${file} exists; pass --force to overwrite it`);
    this.name = 'FileExistsError';
  }
}

/** Writes the map; without `force` an existing file is left untouched (O_EXCL, no check-then-write race). */
export function writeMap(file: string, map: AccessMapFile, force: boolean): void {
  try {
    fs.writeFileSync(file, serializeMap(file, map), { flag: force ? 'w' : 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new FileExistsError(file);
    throw error;
  }
}
