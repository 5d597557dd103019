/**
 * Nexudus list queries: `page` (from 1), `size` (default 25, at most 1000: the old API docs say
 * "size=25 (maximum=1000)"), `orderBy`, `dir` (1 / -1), filters `Entity_Field=v` and inclusive
 * ranges `from_Entity_Field` / `to_Entity_Field`.
 *
 * Filter semantics the sandbox chooses (Nexudus documents none; UNVERIFIED): references by id
 * (`Booking_Coworker=5` matches `CoworkerId`), booleans and numbers by equality, text by
 * case-insensitive "contains" (so a client must not trust `Coworker_Email=` to be exact).
 * A filter naming a field the entity lacks is answered 400, so a typo in a client shows up in
 * tests instead of silently returning everything. Parameters without the entity prefix are ignored.
 */
import { parseInstant } from './clock';
import type { Json, Row } from './render';

export const DEFAULT_PAGE_SIZE = 25;
export const MAX_PAGE_SIZE = 1000;

export interface Page {
  Records: Json[];
  CurrentPage: number;
  CurrentPageSize: number;
  CurrentOrderField: string;
  CurrentSortDirection: number;
  FirstItem: number;
  LastItem: number;
  TotalItems: number;
  TotalPages: number;
  HasNextPage: boolean;
  HasPreviousPage: boolean;
}

export class QueryError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(`${parameter}: ${message}`);
    this.name = 'QueryError';
  }
}

type Query = Record<string, unknown>;

function single(query: Query, name: string): string | undefined {
  const key = Object.keys(query).find((k) => k.toLowerCase() === name.toLowerCase());
  if (key === undefined) return undefined;
  const value = query[key];
  return Array.isArray(value) ? String(value[value.length - 1]) : value === undefined ? undefined : String(value);
}

function positiveInt(query: Query, name: string, fallback: number): number {
  const raw = single(query, name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new QueryError(name, `expected a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** The record key a filter names: `Coworker` -> `CoworkerId` when that exists, `Coworker_FullName` -> `CoworkerFullName`. */
function fieldOf(knownFields: Set<string>, parts: string[]): string | undefined {
  const joined = parts.join('');
  const candidates = parts.length === 1 ? [`${joined}Id`, joined] : [joined];
  for (const c of candidates) {
    const match = [...knownFields].find((k) => k.toLowerCase() === c.toLowerCase());
    if (match) return match;
  }
  return undefined;
}

function matchesValue(actual: unknown, wanted: string): boolean {
  if (actual === null || actual === undefined) return wanted.toLowerCase() === 'null' || wanted === '';
  if (typeof actual === 'boolean') return String(actual) === wanted.toLowerCase();
  if (typeof actual === 'number') return actual === Number(wanted);
  if (Array.isArray(actual)) return actual.some((a) => matchesValue(typeof a === 'object' && a !== null ? (a as Json).Id : a, wanted));
  return String(actual).toLowerCase().includes(wanted.toLowerCase());
}

function comparable(row: Row, field: string): number | string | null {
  if (field in row.instants) return row.instants[field] ?? null;
  const v = row.record[field];
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return v.toLowerCase();
  return null;
}

export interface EntityFields {
  /** Every field a record can carry (also the ones a list answer omits). */
  fields: string[];
  /** The date fields; ranges over them compare instants, whatever text format the records use. */
  dateFields: string[];
}

/** Applies a list query to `rows` of entity `entity` (e.g. `Booking`, `CoworkerTimePass`, `WebHook`). */
export function runQuery(entity: string, rows: Row[], shape: EntityFields, query: Query): Page {
  const page = positiveInt(query, 'page', 1);
  const size = Math.min(positiveInt(query, 'size', DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE);
  const known = new Set(shape.fields);
  const prefix = `${entity.toLowerCase()}_`;
  let selected = rows;

  for (const [key, raw] of Object.entries(query)) {
    const value = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
    const lower = key.toLowerCase();
    const range = /^(from|to)_(.+)$/i.exec(key);
    if (range) {
      const rest = range[2]!;
      if (!rest.toLowerCase().startsWith(prefix)) continue;
      const field = fieldOf(known, rest.slice(prefix.length).split('_'));
      if (!field) throw new QueryError(key, `${entity} has no field to range over`);
      const isDate = shape.dateFields.includes(field);
      const bound = isDate ? parseInstant(value) : Number(value);
      if (bound === undefined || Number.isNaN(bound)) throw new QueryError(key, `cannot read ${JSON.stringify(value)} as a ${isDate ? 'date (YYYY-MM-DDTHH:mm)' : 'number'}`);
      const from = range[1]!.toLowerCase() === 'from';
      selected = selected.filter((r) => {
        const v = comparable(r, field);
        if (typeof v !== 'number') return false;
        return from ? v >= bound : v <= bound;
      });
      continue;
    }
    if (lower === 'id') {
      selected = selected.filter((r) => matchesValue(r.record.Id, value));
      continue;
    }
    if (!lower.startsWith(prefix)) continue;
    const field = fieldOf(known, key.slice(prefix.length).split('_'));
    if (!field) throw new QueryError(key, `${entity} has no such field`);
    selected = selected.filter((r) => matchesValue(r.record[field], value));
  }

  const orderParam = single(query, 'orderBy') ?? 'Id';
  const orderField = [...known].find((k) => k.toLowerCase() === orderParam.toLowerCase()) ?? 'Id';
  const dirRaw = single(query, 'dir');
  const dir = dirRaw === '-1' || dirRaw?.toLowerCase() === 'descending' ? -1 : 1;
  const sorted = [...selected].sort((a, b) => {
    const x = comparable(a, orderField);
    const y = comparable(b, orderField);
    if (x === y) return ((a.record.Id as number) - (b.record.Id as number)) * dir;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * dir;
  });

  const total = sorted.length;
  const totalPages = Math.max(1, Math.ceil(total / size));
  const start = (page - 1) * size;
  const records = sorted.slice(start, start + size).map((r) => r.record);
  return {
    Records: records,
    CurrentPage: page,
    CurrentPageSize: size,
    CurrentOrderField: orderField,
    CurrentSortDirection: dir,
    FirstItem: records.length > 0 ? start + 1 : 0,
    LastItem: start + records.length,
    TotalItems: total,
    TotalPages: totalPages,
    HasNextPage: page < totalPages,
    HasPreviousPage: page > 1,
  };
}
