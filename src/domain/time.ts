/**
 * Instants and wall clocks. We store and compute UTC epoch milliseconds; local time appears only
 * at the edges (Nexudus' `*Local` fields, a day pass ending at the location's midnight).
 *
 * Uses Intl for time zones, so it runs in the ingress and activities, never inside workflows
 * (ICU data could differ between the machine that ran a workflow and the one replaying it).
 */

const ZONE_DESIGNATOR = /(Z|[+-]\d{2}:?\d{2})$/i;
const WALL_CLOCK = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?/;

export class TimeParseError extends Error {
  constructor(text: string, what: string) {
    super(`cannot read ${JSON.stringify(text)} as ${what}`);
    this.name = 'TimeParseError';
  }
}

/**
 * Reads a Nexudus UTC field (`FromTime`, `ToTime`, `StartDate`...). With an explicit zone
 * designator it is taken as written; without one it is taken as UTC (the API's documented meaning).
 */
export function parseUtcInstant(text: string): number {
  const trimmed = text.trim();
  const fields = readWallClock(trimmed);
  if (!fields) throw new TimeParseError(text, 'a date-time');
  if (ZONE_DESIGNATOR.test(trimmed)) {
    const ms = Date.parse(normaliseFraction(trimmed));
    if (Number.isNaN(ms)) throw new TimeParseError(text, 'a date-time');
    return ms;
  }
  return Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour, fields.minute, fields.second, fields.ms);
}

/**
 * Reads a wall-clock text (`FromTimeLocal`) in an IANA zone. Any zone designator on it is ignored:
 * some Nexudus APIs send local time with a fake `Z`. In a DST gap the time is moved forward
 * (02:30 on a spring-forward night is 03:30); in a repeated hour the first occurrence is taken.
 */
export function parseLocalInstant(text: string, timeZone: string): number {
  const fields = readWallClock(text.trim());
  if (!fields) throw new TimeParseError(text, `a wall-clock time in ${timeZone}`);
  return wallClockToInstant(fields, timeZone);
}

export interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

function readWallClock(text: string): WallClock | undefined {
  const m = WALL_CLOCK.exec(text);
  if (!m) return undefined;
  const fields: WallClock = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4] ?? 0),
    minute: Number(m[5] ?? 0),
    second: Number(m[6] ?? 0),
    ms: m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0,
  };
  if (fields.month < 1 || fields.month > 12 || fields.day < 1 || fields.day > 31 || fields.hour > 23 || fields.minute > 59 || fields.second > 60) {
    return undefined;
  }
  return fields;
}

/** .NET writes up to seven fractional digits; Date.parse wants at most three. */
function normaliseFraction(text: string): string {
  return text.replace(/\.(\d{3})\d+/, '.$1');
}

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

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall clock in `timeZone` at `instant`. */
export function wallClockAt(instant: number, timeZone: string): WallClock {
  const parts: Record<string, number> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
    ms: ((instant % 1000) + 1000) % 1000,
  };
}

/** Offset of `timeZone` from UTC at `instant`, in ms (Europe/London in summer: +3_600_000). */
export function zoneOffsetAt(instant: number, timeZone: string): number {
  const w = wallClockAt(instant, timeZone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms);
  return asUtc - instant;
}

export function wallClockToInstant(w: WallClock, timeZone: string): number {
  const naive = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second, w.ms);
  // Offsets a day either side bracket any single transition near this wall clock.
  const before = zoneOffsetAt(naive - 86_400_000, timeZone);
  const after = zoneOffsetAt(naive + 86_400_000, timeZone);
  const candidates = [naive - before, naive - after].filter((c) => zoneOffsetAt(c, timeZone) === naive - c);
  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: keep the offset from before the transition, which moves the time forward.
  return naive - before;
}

/** The first instant of the next local day after `instant` (the local midnight that ends its day). */
export function endOfLocalDay(instant: number, timeZone: string): number {
  const w = wallClockAt(instant, timeZone);
  const next = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  return wallClockToInstant(
    { year: next.getUTCFullYear(), month: next.getUTCMonth() + 1, day: next.getUTCDate(), hour: 0, minute: 0, second: 0, ms: 0 },
    timeZone,
  );
}

/** The local midnight that starts the day of `instant` in `timeZone` (23 or 25 hours from the next one around DST). */
export function startOfLocalDay(instant: number, timeZone: string): number {
  const w = wallClockAt(instant, timeZone);
  return wallClockToInstant({ year: w.year, month: w.month, day: w.day, hour: 0, minute: 0, second: 0, ms: 0 }, timeZone);
}

/**
 * Decides the instant of a Nexudus time given both readings. `FromTime` (UTC) is authoritative.
 * When the record's UTC field is textually the same wall clock as its `*Local` twin although the
 * zone's offset is not zero, the UTC field is local time with a fake `Z`: then the local reading wins.
 * When only the local field exists, it is read in the location's zone.
 */
export function resolveNexudusInstant(utcText: string | null | undefined, localText: string | null | undefined, timeZone: string): number {
  if (utcText) {
    const utc = parseUtcInstant(utcText);
    if (localText) {
      const local = parseLocalInstant(localText, timeZone);
      const sameWallClock = stripZone(utcText) === stripZone(localText);
      if (sameWallClock && local !== utc) return local;
    }
    return utc;
  }
  if (localText) return parseLocalInstant(localText, timeZone);
  throw new TimeParseError(String(utcText ?? localText), 'a Nexudus time (both readings are empty)');
}

function stripZone(text: string): string {
  const fields = readWallClock(text.trim());
  if (!fields) return text;
  return `${fields.year}-${fields.month}-${fields.day}T${fields.hour}:${fields.minute}:${fields.second}.${fields.ms}`;
}

/** ISO 8601 in UTC with a `Z`, for Kisi and logs. */
export function toIso(instant: number): string {
  return new Date(instant).toISOString();
}
