/**
 * Instants as the space's people read them: in the access map's time zone, with the zone named
 * (UTC inside, local time only here at the edge). A `<time>` element keeps the exact instant.
 */
import { html, type Html } from './html';

export interface Clock {
  timeZone: string;
  /** "14 Mar 2026, 09:05:12 GMT" in the zone, from ms or an ISO string. */
  format(at: number | string): string;
}

export function clockIn(timeZone: string): Clock {
  const format = new Intl.DateTimeFormat('en-GB', { timeZone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', timeZoneName: 'short' });
  return {
    timeZone,
    format: (at) => format.format(new Date(at)),
  };
}

/**
 * "Wed 1 Jul, 10:00 BST" in the zone: a window's edge, short; the zone's abbreviation tells the
 * twice-lived hour of an autumn DST change apart. `open` for none (a window without an end).
 */
export function shortLocalTime(iso: string | null, timeZone: string): string {
  if (iso === null) return 'open';
  return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(new Date(iso));
}

/** A time element, or a dash for none. */
export function timeOf(clock: Clock, at: number | string | null | undefined): Html {
  if (at === null || at === undefined) return html`<span class="hint">—</span>`;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return html`<span>${String(at)}</span>`;
  return html`<time datetime=${date.toISOString()}>${clock.format(date.getTime())}</time>`;
}

/** "3 h 5 min", "42 s": how long, for ages and backlogs. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  if (h < 48) return `${h} h ${min % 60} min`;
  return `${Math.floor(h / 24)} days`;
}
