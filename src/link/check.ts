/**
 * `npm run access-map -- --check`: the access map held against what Kisi and Nexudus hold now. Each
 * finding names the map key it is about, so the fix is one edit away. Errors are entries that
 * cannot work (an id that does not exist, a group or door of another place, a retired resource,
 * a time zone that disagrees with the door system's); warnings are gaps worth a look (items
 * nobody mapped, groups nobody uses) that `--strict` turns into a failing exit.
 */
import type { AccessMap, AccessMapError } from '../config/access-map';
import { isValidTimeZone } from '../domain/time';
import { ITEM_NOUN, ITEM_TABLES, type Group, type Inventory, type ItemTable, type NexudusItem, type Place } from './inventory';

export type MapData = ReturnType<AccessMap['toJSON']>;

export const ERROR_CODES = [
  'invalid-map',
  'unknown-place',
  'unknown-group',
  'group-in-other-place',
  'unknown-pass',
  'unknown-resource',
  'archived-resource',
  'unknown-floor-plan-item',
  'unknown-lock',
  'lock-in-other-place',
  'unknown-business',
  'time-zone-mismatch',
] as const;

export const WARNING_CODES = [
  'organization-group',
  'archived-pass',
  'archived-floor-plan-item',
  'item-in-other-business',
  'time-zone-unset',
  'business-time-zone-differs',
  'business-unset',
  'unmapped-item',
  'unmapped-group',
] as const;

export type FindingCode = (typeof ERROR_CODES)[number] | (typeof WARNING_CODES)[number];

/** What a finding is about in Kisi or Nexudus, for scripts reading `--json`. */
export interface Subject {
  system: 'kisi' | 'nexudus';
  kind: 'place' | 'group' | 'lock' | 'business' | 'pass' | 'resource' | 'floorPlanItem';
  id: number;
}

export interface Finding {
  level: 'error' | 'warning';
  code: FindingCode;
  /** The map key (`resources.3000001`, `passes.5000001.groups.0`), or null when the map has none for it. */
  key: string | null;
  message: string;
  subject?: Subject;
}

export interface CheckReport {
  map: string;
  kisiPlaceId?: number;
  findings: Finding[];
  errors: number;
  warnings: number;
}

const ERRORS = new Set<FindingCode>(ERROR_CODES);

function finding(code: FindingCode, key: string | null, message: string, subject?: Subject): Finding {
  return { level: ERRORS.has(code) ? 'error' : 'warning', code, key, message, ...(subject ? { subject } : {}) };
}

export function summarize(map: string, findings: Finding[], kisiPlaceId?: number): CheckReport {
  const errors = findings.filter((f) => f.level === 'error').length;
  return { map, ...(kisiPlaceId === undefined ? {} : { kisiPlaceId }), findings, errors, warnings: findings.length - errors };
}

/** A map that does not pass the schema: each of its problems (`key: message`) becomes an error. */
export function schemaFindings(error: AccessMapError): Finding[] {
  return error.problems.map((problem) => {
    // Schema problems start with a key path (`passes.5000001.groups.0: ...`); read and parse
    // failures ("cannot read the file: ...") are about the whole file.
    const at = problem.indexOf(': ');
    const head = at > 0 ? problem.slice(0, at) : '';
    if (/^[A-Za-z0-9_.]+$/.test(head)) return finding('invalid-map', head, problem.slice(at + 2));
    return finding('invalid-map', null, head === '(root)' ? problem.slice(at + 2) : problem);
  });
}

const SUBJECT_KIND: Record<ItemTable, Subject['kind']> = { passes: 'pass', resources: 'resource', floorPlanItems: 'floorPlanItem' };
const UNKNOWN_CODE: Record<ItemTable, FindingCode> = { passes: 'unknown-pass', resources: 'unknown-resource', floorPlanItems: 'unknown-floor-plan-item' };
const ARCHIVED_CODE: Record<ItemTable, FindingCode> = { passes: 'archived-pass', resources: 'archived-resource', floorPlanItems: 'archived-floor-plan-item' };
/** What an unmapped item costs its customers. */
const UNMAPPED_EFFECT: Record<ItemTable, string> = {
  passes: 'its holders get no door access',
  resources: 'bookings of it open no door',
  floorPlanItems: 'contracts and bookings of it open no door',
};

const quote = (name: string) => JSON.stringify(name);
const describePlace = (place: Place | undefined, id: number) => (place ? `place ${id} ${quote(place.name)}` : `place ${id}`);

export function checkMap(source: string, map: MapData, inventory: Inventory): CheckReport {
  const { kisi, nexudus } = inventory;
  const findings: Finding[] = [];
  const placeById = new Map(kisi.places.map((p) => [p.id, p]));
  const here = describePlace(kisi.place, map.kisiPlaceId);

  // ---- the place, its time zone, the business ----------------------------------------------------
  if (!kisi.place) {
    const known = kisi.places.map((p) => `${p.id} ${quote(p.name)}`).join(', ') || 'none visible to this API key';
    findings.push(finding('unknown-place', 'kisiPlaceId', `Kisi has no place ${map.kisiPlaceId} (places: ${known})`, { system: 'kisi', kind: 'place', id: map.kisiPlaceId }));
  } else if (kisi.place.timeZone !== undefined) {
    if (map.timeZone === undefined) {
      findings.push(finding('time-zone-unset', 'timeZone', `not set (so UTC is used); the Kisi ${here} is in ${quote(kisi.place.timeZone)}`));
    } else if (map.timeZone !== kisi.place.timeZone) {
      findings.push(
        finding('time-zone-mismatch', 'timeZone', `${quote(map.timeZone)} differs from the time zone of the Kisi ${here}: ${quote(kisi.place.timeZone)}`, {
          system: 'kisi',
          kind: 'place',
          id: map.kisiPlaceId,
        }),
      );
    }
  }

  const business = map.nexudusBusinessId === undefined ? undefined : nexudus.businesses.find((b) => b.id === map.nexudusBusinessId);
  if (map.nexudusBusinessId !== undefined && !business) {
    const known = nexudus.businesses.map((b) => `${b.id} ${quote(b.name)}`).join(', ') || 'none visible to this user';
    findings.push(
      finding('unknown-business', 'nexudusBusinessId', `Nexudus has no business ${map.nexudusBusinessId} (businesses: ${known})`, {
        system: 'nexudus',
        kind: 'business',
        id: map.nexudusBusinessId,
      }),
    );
  } else if (business?.timeZone && map.timeZone && business.timeZone !== map.timeZone && isValidTimeZone(business.timeZone)) {
    // Only when Nexudus holds an IANA name: a Windows one ("GMT Standard Time") is not comparable.
    findings.push(finding('business-time-zone-differs', 'timeZone', `${quote(map.timeZone)} differs from Nexudus business ${business.id}'s ${quote(business.timeZone)}`));
  } else if (map.nexudusBusinessId === undefined && nexudus.businesses.length > 1) {
    findings.push(finding('business-unset', 'nexudusBusinessId', `not set, and Nexudus has ${nexudus.businesses.length} businesses: items of all of them are compared`));
  }

  // ---- Nexudus items and the groups they open ------------------------------------------------------
  const items = new Map(nexudus.items.map((i) => [`${i.table}.${i.id}`, i]));
  const placeGroups = new Map(kisi.groups.map((g) => [g.id, g]));
  const usedGroups = new Set<number>();
  for (const table of ITEM_TABLES) {
    for (const [id, entry] of Object.entries(map[table])) {
      const key = `${table}.${id}`;
      const item = items.get(key);
      const subject: Subject = { system: 'nexudus', kind: SUBJECT_KIND[table], id: Number(id) };
      if (!item) {
        const label = entry.name ? ` (named ${quote(entry.name)} in the map)` : '';
        findings.push(finding(UNKNOWN_CODE[table], key, `Nexudus has no ${ITEM_NOUN[table]} ${id}${label}`, subject));
      } else {
        if (item.archived) {
          const effect = table === 'resources' ? 'it cannot be booked' : 'only what was bought before still uses it';
          findings.push(finding(ARCHIVED_CODE[table], key, `Nexudus ${ITEM_NOUN[table]} ${id} ${quote(item.name)} is archived: ${effect}`, subject));
        }
        if (map.nexudusBusinessId !== undefined && item.businessId !== undefined && item.businessId !== map.nexudusBusinessId) {
          findings.push(finding('item-in-other-business', key, `Nexudus ${ITEM_NOUN[table]} ${id} ${quote(item.name)} belongs to business ${item.businessId}, not to nexudusBusinessId ${map.nexudusBusinessId}`, subject));
        }
      }
      entry.groups.forEach((groupId, index) => {
        usedGroups.add(groupId);
        const groupFinding = checkGroup(groupId, `${key}.groups.${index}`, placeGroups, kisi.outsideGroups, map.kisiPlaceId, here, placeById);
        if (groupFinding) findings.push(groupFinding);
      });
    }
  }

  // ---- doors ---------------------------------------------------------------------------------
  const placeLocks = new Set(kisi.locks.map((l) => l.id));
  for (const id of Object.keys(map.doors)) {
    const lockId = Number(id);
    if (placeLocks.has(lockId)) continue;
    const key = `doors.${id}`;
    const subject: Subject = { system: 'kisi', kind: 'lock', id: lockId };
    const elsewhere = kisi.outsideLocks.get(lockId);
    if (elsewhere) {
      findings.push(finding('lock-in-other-place', key, `Kisi lock ${lockId} ${quote(elsewhere.name)} is in ${describePlace(placeById.get(elsewhere.placeId), elsewhere.placeId)}, not in kisiPlaceId ${map.kisiPlaceId}`, subject));
    } else {
      findings.push(finding('unknown-lock', key, `Kisi has no lock ${lockId} (in any place this API key sees)`, subject));
    }
  }

  // ---- gaps ----------------------------------------------------------------------------------
  for (const item of nexudus.items) {
    if (item.archived || map[item.table][String(item.id)] !== undefined) continue;
    if (map.nexudusBusinessId !== undefined && item.businessId !== undefined && item.businessId !== map.nexudusBusinessId) continue;
    findings.push(
      finding('unmapped-item', `${item.table}.${item.id}`, `Nexudus ${ITEM_NOUN[item.table]} ${item.id} ${quote(item.name)}${typeSuffix(item)} is not in the map: ${UNMAPPED_EFFECT[item.table]}`, {
        system: 'nexudus',
        kind: SUBJECT_KIND[item.table],
        id: item.id,
      }),
    );
  }
  for (const group of kisi.groups) {
    if (usedGroups.has(group.id)) continue;
    findings.push(finding('unmapped-group', null, `Kisi group ${group.id} ${quote(group.name)} of ${here} is mapped nowhere`, { system: 'kisi', kind: 'group', id: group.id }));
  }

  // Errors first, each level in map order.
  findings.sort((a, b) => (a.level === b.level ? 0 : a.level === 'error' ? -1 : 1));
  return summarize(source, findings, map.kisiPlaceId);
}

function checkGroup(
  groupId: number,
  key: string,
  placeGroups: Map<number, Group>,
  outside: Map<number, Group | null>,
  placeId: number,
  here: string,
  places: Map<number, Place>,
): Finding | undefined {
  if (placeGroups.has(groupId)) return undefined;
  const subject: Subject = { system: 'kisi', kind: 'group', id: groupId };
  const group = outside.get(groupId);
  if (!group) return finding('unknown-group', key, `Kisi has no group ${groupId}`, subject);
  if (group.placeId === null) {
    return finding('organization-group', key, `Kisi group ${groupId} ${quote(group.name)} belongs to no place (organisation-wide): it may open doors outside ${here}`, subject);
  }
  if (group.placeId === placeId) return undefined;
  return finding('group-in-other-place', key, `Kisi group ${groupId} ${quote(group.name)} belongs to ${describePlace(places.get(group.placeId), group.placeId)}, not to kisiPlaceId ${placeId}`, subject);
}

function typeSuffix(item: NexudusItem): string {
  return item.type ? ` (${item.type})` : '';
}
