/**
 * Time texts the way the Nexudus sandbox writes and reads them. Kept apart from src/domain/time.ts
 * on purpose: the sandbox plays the provider, so it must not share the product's reading of times
 * (a shared bug would then be invisible to the tests).
 */

/** `FromTime` as UTC (`...Z`, the likely reading) or as the wall clock with a fake `Z` (reported by public code). */
export type TimeFormat = 'utc-z' | 'local-fake-z';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

interface Wall {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function wallAt(ms: number, timeZone: string): Wall {
  const p: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(ms))) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  return { year: p.year!, month: p.month!, day: p.day!, hour: p.hour!, minute: p.minute!, second: p.second! };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

function wallText(w: Wall): string {
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
}

/** `2026-11-28T10:00:00Z`: seconds precision, like Nexudus' samples. */
export function utcText(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `2026-11-28T11:00:00`: the location's wall clock, no offset. */
export function localText(ms: number, timeZone: string): string {
  return wallText(wallAt(ms, timeZone));
}

/** The text a date field carries in the chosen format. */
export function formatInstant(ms: number, timeZone: string, format: TimeFormat): string {
  return format === 'utc-z' ? utcText(ms) : `${localText(ms, timeZone)}Z`;
}

/** `2026-11-28`: the location's calendar day, to decide "used today". */
export function localDay(ms: number, timeZone: string): string {
  return localText(ms, timeZone).slice(0, 10);
}

function offsetAt(ms: number, timeZone: string): number {
  const w = wallAt(ms, timeZone);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) - Math.floor(ms / 1000) * 1000;
}

/** The instant a wall clock in `timeZone` names (first occurrence in a repeated hour). */
export function wallToInstant(w: Wall, timeZone: string): number {
  const naive = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  const first = naive - offsetAt(naive, timeZone);
  const second = naive - offsetAt(first, timeZone);
  return Math.min(first, second);
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * Reads a date the client sent (query ranges, request bodies). With a zone designator it is taken
 * as written; without one it is taken as UTC, which is what the sandbox assumes of the real API.
 */
export function parseInstant(text: string): number | undefined {
  const m = ISO.exec(text.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', zone] = m;
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return undefined;
  const base = Date.UTC(Number(y), month - 1, day, Number(h), Number(mi), Number(s));
  if (!zone || zone.toUpperCase() === 'Z') return base;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return base - sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
}

const RELATIVE_NOW = /^now(?:([+-])(\d+)([smhd]))?$/i;
const RELATIVE_DAY = /^today(?:([+-])(\d+)d)?(?:\s+(\d{2}):(\d{2}))?$/i;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Seed times: an ISO text, `now`, `now+90m`, `now-1d`, or `today+1d 10:00` (a wall clock in the
 * location's zone), so a seed never goes stale.
 */
export function resolveSeedTime(text: string, timeZone: string, now: number): number | undefined {
  const rel = RELATIVE_NOW.exec(text.trim());
  if (rel) {
    if (!rel[1]) return now;
    return now + (rel[1] === '-' ? -1 : 1) * Number(rel[2]) * UNIT_MS[rel[3]!.toLowerCase()]!;
  }
  const day = RELATIVE_DAY.exec(text.trim());
  if (day) {
    const today = wallAt(now, timeZone);
    const shift = day[1] ? (day[1] === '-' ? -1 : 1) * Number(day[2]) : 0;
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + shift));
    return wallToInstant(
      {
        year: date.getUTCFullYear(),
        month: date.getUTCMonth() + 1,
        day: date.getUTCDate(),
        hour: Number(day[3] ?? 0),
        minute: Number(day[4] ?? 0),
        second: 0,
      },
      timeZone,
    );
  }
  return parseInstant(text);
}
