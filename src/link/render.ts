/**
 * Text output of `npm run access-map`: the listing as two columns (Kisi on the left, Nexudus on the
 * right, stacked when the terminal is too narrow) and the check as a report grouped by level.
 * Plain ASCII marks so the output survives any terminal, log file or CI page.
 */
import type { CheckReport, Finding } from './check';
import type { Hint } from './starter';
import type { ItemTable } from './inventory';
import type { ItemRow, Listing } from './listing';

const TITLES: Record<ItemTable, string> = {
  passes: 'NEXUDUS PASS TYPES (time passes)',
  resources: 'NEXUDUS RESOURCES',
  floorPlanItems: 'NEXUDUS FLOOR-PLAN ITEMS',
};
const GAP = '  |  ';
/** Long names are cut so one group cannot push the Nexudus column off screen. */
const MAX_NAME = 34;

const mark = (linked: boolean) => (linked ? '[x]' : '[ ]');
const q = (name: string) => JSON.stringify(name);
const cut = (name: string) => (name.length > MAX_NAME ? `${name.slice(0, MAX_NAME - 1)}~` : name);
const pad = (text: string, width: number) => text + ' '.repeat(Math.max(0, width - text.length));

/** Rows of cells -> lines with every column but the last padded to its widest cell. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : pad(cell, widths[i]!))).join('  ').trimEnd());
}

function kisiColumn(listing: Listing): string[] {
  const lines = [`KISI GROUPS (place ${listing.place.id})`];
  if (listing.groups.length === 0) lines.push('  (none)');
  lines.push(...table(listing.groups.map((g) => [mark(g.linked), String(g.id), cut(g.name), g.lockIds.length > 0 ? `opens ${g.lockIds.join(' ')}` : 'opens no lock'])));
  lines.push('', 'KISI LOCKS (doors)');
  if (listing.locks.length === 0) lines.push('  (none)');
  lines.push(...table(listing.locks.map((l) => [mark(l.linked), String(l.id), cut(l.name), l.onUnlock ? `onUnlock ${l.onUnlock}` : ''])));
  return lines;
}

function itemCells(item: ItemRow): string[] {
  const what = [item.type, item.archived ? 'archived' : undefined].filter((x) => x !== undefined).join(', ');
  const target = item.groups ? `-> ${item.groups.join(', ')}` : item.suggestedGroup !== undefined ? `~> ${item.suggestedGroup}?` : '';
  return [mark(item.linked), String(item.id), cut(item.name), what, target];
}

function nexudusColumn(listing: Listing): string[] {
  const lines: string[] = [];
  for (const kind of Object.keys(TITLES) as ItemTable[]) {
    if (lines.length > 0) lines.push('');
    lines.push(TITLES[kind]);
    const rows = listing.items.filter((i) => i.table === kind);
    if (rows.length === 0) lines.push('  (none)');
    lines.push(...table(rows.map(itemCells)));
  }
  return lines;
}

function header(listing: Listing): string[] {
  const { map, place, business } = listing;
  const mapLine =
    map.status === 'loaded'
      ? `${map.file} (kisiPlaceId ${map.kisiPlaceId})${map.kisiPlaceId !== place.id ? ` -- the map is for another place than the one shown` : ''}`
      : map.status === 'missing'
        ? `${map.file} does not exist: nothing is marked as linked`
        : `${map.file} is not valid, nothing is marked as linked:\n${(map.problems ?? []).map((p) => `               ${p}`).join('\n')}`;
  const others = (list: Array<{ id: number; name: string }>) => (list.length > 0 ? `   (others: ${list.map((x) => `${x.id} ${q(x.name)}`).join(', ')})` : '');
  return [
    `Access map   ${mapLine}`,
    `Kisi         place ${place.id} ${q(place.name)}${place.timeZone ? `, ${place.timeZone}` : ', no time zone'}${others(listing.otherPlaces)}`,
    `Nexudus      ${business ? `business ${business.id} ${q(business.name)}${business.timeZone ? `, ${business.timeZone}` : ''}` : 'all businesses'}${others(listing.otherBusinesses)}${
      listing.otherBusinessItems > 0 ? `; ${listing.otherBusinessItems} item(s) of other businesses not shown` : ''
    }`,
  ];
}

function summary(listing: Listing): string {
  const count = (rows: Array<{ linked: boolean }>) => `${rows.filter((r) => r.linked).length}/${rows.length}`;
  const items = (kind: ItemTable) => listing.items.filter((i) => i.table === kind && !i.archived);
  return `Linked: pass types ${count(items('passes'))}, resources ${count(items('resources'))}, floor-plan items ${count(items('floorPlanItems'))}; Kisi groups used ${count(listing.groups)}, locks listed as doors ${count(listing.locks)}`;
}

/** The listing; `width` decides between side by side and one column after the other. */
export function renderListing(listing: Listing, width: number): string {
  const left = kisiColumn(listing);
  const right = nexudusColumn(listing);
  const leftWidth = Math.max(...left.map((l) => l.length));
  const rightWidth = Math.max(...right.map((l) => l.length));
  const body: string[] = [];
  if (leftWidth + GAP.length + rightWidth <= width) {
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
      body.push(`${pad(left[i] ?? '', leftWidth)}${GAP}${right[i] ?? ''}`.trimEnd());
    }
  } else {
    body.push(...left, '', ...right);
  }
  return [
    ...header(listing),
    '',
    ...body,
    '',
    summary(listing),
    '[x] linked in the access map   [ ] not linked   -> the Kisi groups it opens   ~> N? a group whose name matches (what --write suggests)',
  ].join('\n');
}

export function renderHints(hints: Hint[]): string {
  if (hints.length === 0) return '';
  const width = Math.max(...hints.map((h) => h.key.length));
  return ['Hints for the starter map:', ...hints.map((h) => `  ${pad(h.key, width)}  ${h.message}`)].join('\n');
}

const keyOf = (f: Finding) => f.key ?? '(not in map)';

/** One line per finding; `width` is shared by both sections so their messages line up. */
function findingLines(findings: Finding[], width: number): string[] {
  return findings.map((f) => `  ${pad(keyOf(f), width)}  ${f.message}  [${f.code}]`);
}

export function renderCheck(report: CheckReport, context: { place?: string; business?: string }, exitCode: number): string {
  const errors = report.findings.filter((f) => f.level === 'error');
  const warnings = report.findings.filter((f) => f.level === 'warning');
  const against = [context.place ? `Kisi ${context.place}` : undefined, context.business ? `Nexudus ${context.business}` : undefined].filter(Boolean).join(' and ');
  const lines = [`Checked ${report.map}${against ? ` against ${against}` : ''}`];
  const width = Math.max(0, ...report.findings.map((f) => keyOf(f).length));
  if (errors.length > 0) lines.push('', `ERRORS (${errors.length})`, ...findingLines(errors, width));
  if (warnings.length > 0) lines.push('', `WARNINGS (${warnings.length})`, ...findingLines(warnings, width));
  lines.push(
    '',
    report.findings.length === 0
      ? 'No problems: every id in the map exists where it should.'
      : `${report.errors} error(s), ${report.warnings} warning(s): exit ${exitCode}${exitCode === 0 && report.warnings > 0 ? ' (--strict fails on warnings)' : ''}`,
  );
  return lines.join('\n');
}
