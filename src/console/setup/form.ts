/**
 * The Setup form both ways: the access map as the form's values (what the page shows), and the
 * posted form back to an access map (what Check and Save hold against the schema). Every input is
 * read through zod: ids are positive integers, lead and lag are durations in the map's own syntax
 * (src/domain/duration.ts), the time zone is one Intl knows. A form that does not read gives
 * errors by field and no map; a map that reads is then for AccessMap.parse to judge, like any file.
 *
 * Field names (urlencoded, flat):
 *   kisiPlaceId, nexudusBusinessId, timeZone, timing.lead, timing.lag
 *   <table>.<id>.groups     one value per checked Kisi group of the place (checkboxes)
 *   <table>.<id>.groupIds   other group ids, separated by commas or spaces (groups outside the place,
 *                           or every group when the names could not be read)
 *   <table>.<id>.lead/.lag  optional, per item
 *   doors.<id>.onUnlock     "checkin" | "none"; doors.<id>.listed: the lock is in the map already
 *   add.table, add.id, add.groupIds   a link by id to an item the page does not list
 *   base                    the map in force when the page was drawn (Save refuses if it changed since)
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AccessMapFile } from '../../config/access-map';
import { isDuration } from '../../domain/duration';
import { isValidTimeZone } from '../../domain/time';
import { ITEM_TABLES, type ItemTable } from '../../domain/inventory';
import type { MapData } from '../../link/check';

export interface ItemValues {
  /** Checked groups of the place (ids as posted). */
  groups: string[];
  /** Other group ids, as typed. */
  groupIds: string;
  lead: string;
  lag: string;
}

export interface DoorValues {
  onUnlock: string;
  listed: boolean;
}

/** The form as strings, exactly as posted (or as drawn from the map): what the page shows again. */
export interface SetupForm {
  kisiPlaceId: string;
  nexudusBusinessId: string;
  timeZone: string;
  lead: string;
  lag: string;
  /** By map key, `resources.3000003`. */
  items: Record<string, ItemValues>;
  doors: Record<string, DoorValues>;
  add: { table: string; id: string; groupIds: string };
  base: string;
}

/** A form input that does not read: the field's name (for its message beside it) and why. */
export interface FieldError {
  field: string;
  message: string;
}

export type FormResult = { ok: true; map: AccessMapFile } | { ok: false; errors: FieldError[] };

const EMPTY_ITEM: ItemValues = { groups: [], groupIds: '', lead: '', lag: '' };

/** A fingerprint of a map, so Save can tell that the map in force changed since the page was drawn. */
export function mapFingerprint(map: MapData): string {
  return createHash('sha256').update(JSON.stringify(map)).digest('hex').slice(0, 16);
}

/** The map in force as the form's values. */
export function formFromMap(map: MapData): SetupForm {
  const items: Record<string, ItemValues> = {};
  for (const table of ITEM_TABLES) {
    for (const [id, entry] of Object.entries(map[table])) {
      items[`${table}.${id}`] = { groups: entry.groups.map(String), groupIds: '', lead: entry.lead ?? '', lag: entry.lag ?? '' };
    }
  }
  const doors: Record<string, DoorValues> = {};
  for (const [id, door] of Object.entries(map.doors)) doors[id] = { onUnlock: door.onUnlock, listed: true };
  return {
    kisiPlaceId: String(map.kisiPlaceId),
    nexudusBusinessId: map.nexudusBusinessId === undefined ? '' : String(map.nexudusBusinessId),
    timeZone: map.timeZone ?? '',
    lead: map.timing.lead,
    lag: map.timing.lag,
    items,
    doors,
    add: { table: '', id: '', groupIds: '' },
    base: mapFingerprint(map),
  };
}

/** What arrives from express.urlencoded: strings, or arrays of strings for repeated names. */
const postedBody = z.record(z.string(), z.union([z.string(), z.array(z.string())]));

const ITEM_FIELD = /^(passes|resources|floorPlanItems)\.(\d{1,15})\.(groups|groupIds|lead|lag)$/;
const DOOR_FIELD = /^doors\.(\d{1,15})\.(onUnlock|listed)$/;

/** The posted body as the form's values; names it does not know are ignored (`_csrf`, `action`). */
export function readForm(body: unknown): SetupForm {
  const parsed = postedBody.safeParse(body ?? {});
  const fields = parsed.success ? parsed.data : {};
  const one = (name: string): string => {
    const value = fields[name];
    return (Array.isArray(value) ? value[value.length - 1] : value)?.trim() ?? '';
  };
  const all = (value: string | string[]): string[] => (Array.isArray(value) ? value : [value]).map((v) => v.trim()).filter((v) => v !== '');
  const form: SetupForm = {
    kisiPlaceId: one('kisiPlaceId'),
    nexudusBusinessId: one('nexudusBusinessId'),
    timeZone: one('timeZone'),
    lead: one('timing.lead'),
    lag: one('timing.lag'),
    items: {},
    doors: {},
    add: { table: one('add.table'), id: one('add.id'), groupIds: one('add.groupIds') },
    base: one('base'),
  };
  for (const [name, value] of Object.entries(fields)) {
    const item = ITEM_FIELD.exec(name);
    if (item) {
      const key = `${item[1]}.${item[2]}`;
      const values = (form.items[key] ??= { ...EMPTY_ITEM, groups: [] });
      if (item[3] === 'groups') values.groups.push(...all(value));
      else values[item[3] as 'groupIds' | 'lead' | 'lag'] = one(name);
      continue;
    }
    const door = DOOR_FIELD.exec(name);
    if (door) {
      const values = (form.doors[door[1]!] ??= { onUnlock: 'none', listed: false });
      if (door[2] === 'onUnlock') values.onUnlock = one(name);
      else values.listed = one(name) !== '';
    }
  }
  return form;
}

// ---- the form to a map --------------------------------------------------------------------------

const positiveId = (what: string) =>
  z
    .string()
    .regex(/^\d+$/, { message: `expected ${what} (a whole number)` })
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n > 0, { message: `expected ${what} (a positive whole number)` });

const optionalId = (what: string) => z.literal('').transform(() => undefined).or(positiveId(what));

const duration = z.string().refine(isDuration, { message: 'expected a duration such as "15m", "90s", "1h30m" or "0"' });
const optionalDuration = z.literal('').transform(() => undefined).or(duration);

const timeZone = z
  .literal('')
  .transform(() => undefined)
  .or(z.string().refine(isValidTimeZone, { message: 'expected an IANA time zone such as "Europe/London"' }));

/** "101, 102 103" -> [101, 102, 103]; every piece must be an id. */
const groupIdList = z.string().transform((text, ctx) => {
  const pieces = text.split(/[\s,;]+/).filter((p) => p !== '');
  const ids: number[] = [];
  for (const piece of pieces) {
    const id = positiveId('a Kisi group id').safeParse(piece);
    if (!id.success) {
      ctx.addIssue({ code: 'custom', message: `"${piece}" is not a Kisi group id (a positive whole number)` });
      return z.NEVER;
    }
    ids.push(id.data);
  }
  return ids;
});

const itemTable = z.enum(ITEM_TABLES, { message: 'choose pass type, resource or floor-plan item' });
const onUnlock = z.enum(['checkin', 'none'], { message: 'choose "check in on unlock" or "nothing"' });

type ItemEntry = { groups: number[]; lead?: string; lag?: string; name?: string };

export interface FormContext {
  /** The map in force: the names its entries carry are kept. */
  current: MapData;
  /** Names of Nexudus items by map key, when the inventory was read (written beside new entries). */
  itemNames?: ReadonlyMap<string, string>;
}

/** The posted form as an access map file (not yet judged by the schema), or what does not read. */
export function formToMap(form: SetupForm, context: FormContext): FormResult {
  const errors: FieldError[] = [];
  const read = <T>(field: string, schema: z.ZodType<T, string>, value: string): T | undefined => {
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    errors.push({ field, message: result.error.issues[0]?.message ?? 'not valid' });
    return undefined;
  };

  const kisiPlaceId = read('kisiPlaceId', positiveId('the Kisi place id'), form.kisiPlaceId);
  const nexudusBusinessId = read('nexudusBusinessId', optionalId('the Nexudus business id'), form.nexudusBusinessId);
  const zone = read('timeZone', timeZone, form.timeZone);
  const lead = read('timing.lead', duration, form.lead || '15m');
  const lag = read('timing.lag', duration, form.lag || '15m');

  const tables: Record<ItemTable, Record<string, ItemEntry>> = { passes: {}, resources: {}, floorPlanItems: {} };
  const addItem = (table: ItemTable, id: number, field: string, values: ItemValues) => {
    const checked = values.groups.map((g) => read(`${field}.groups`, positiveId('a Kisi group id'), g));
    const typed = read(`${field}.groupIds`, groupIdList, values.groupIds) ?? [];
    const itemLead = read(`${field}.lead`, optionalDuration, values.lead);
    const itemLag = read(`${field}.lag`, optionalDuration, values.lag);
    const groups = [...new Set([...checked.filter((g): g is number => g !== undefined), ...typed])];
    if (groups.length === 0) {
      // No group: not linked. A timing without a group would be silently dropped: say so instead.
      if (values.lead !== '' || values.lag !== '') errors.push({ field: `${field}.groups`, message: 'choose at least one group, or clear lead and lag to unlink it' });
      return;
    }
    const key = `${table}.${id}`;
    // An entry keeps its own label (or none); a new one is labelled with Nexudus' name, as the starter map does.
    const before = context.current[table][String(id)];
    const name = before ? before.name : context.itemNames?.get(key);
    const existing = tables[table][String(id)];
    tables[table][String(id)] = {
      groups: [...new Set([...(existing?.groups ?? []), ...groups])],
      ...(itemLead !== undefined ? { lead: itemLead } : existing?.lead !== undefined ? { lead: existing.lead } : {}),
      ...(itemLag !== undefined ? { lag: itemLag } : existing?.lag !== undefined ? { lag: existing.lag } : {}),
      ...(name !== undefined ? { name } : {}),
    };
  };

  for (const [key, values] of Object.entries(form.items)) {
    const [table, id] = key.split('.') as [ItemTable, string];
    addItem(table, Number(id), key, values);
  }

  // A link by id to an item the page does not list (the names could not be read, or it is new).
  if (form.add.id !== '' || form.add.groupIds !== '') {
    const table = read('add.table', itemTable, form.add.table);
    const id = read('add.id', positiveId('the Nexudus id'), form.add.id);
    const groups = read('add.groupIds', groupIdList, form.add.groupIds);
    if (groups !== undefined && groups.length === 0) errors.push({ field: 'add.groupIds', message: 'expected at least one Kisi group id' });
    else if (table !== undefined && id !== undefined && groups !== undefined) addItem(table, id, 'add', { groups: [], groupIds: groups.join(','), lead: '', lag: '' });
  }

  const doors: Record<string, { onUnlock: 'checkin' | 'none'; name?: string }> = {};
  for (const [id, values] of Object.entries(form.doors)) {
    const action = read(`doors.${id}.onUnlock`, onUnlock, values.onUnlock);
    // A lock not in the map that checks nobody in stays out of it: absent and "none" do the same.
    if (action === undefined || (action === 'none' && !values.listed)) continue;
    const name = context.current.doors[id]?.name;
    doors[id] = { onUnlock: action, ...(name !== undefined ? { name } : {}) };
  }

  if (errors.length > 0 || kisiPlaceId === undefined || lead === undefined || lag === undefined) return { ok: false, errors };
  const sorted = <T>(table: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(table).sort(([a], [b]) => Number(a) - Number(b)));
  return {
    ok: true,
    map: {
      kisiPlaceId,
      ...(zone !== undefined ? { timeZone: zone } : {}),
      ...(nexudusBusinessId !== undefined ? { nexudusBusinessId } : {}),
      timing: { lead, lag },
      passes: sorted(tables.passes),
      resources: sorted(tables.resources),
      floorPlanItems: sorted(tables.floorPlanItems),
      doors: sorted(doors),
    },
  };
}
