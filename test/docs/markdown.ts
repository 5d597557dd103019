/**
 * Just enough markdown reading for the docs tests: sections by heading, table rows, links and
 * GitHub's heading anchors. Fenced code blocks are blanked first, so neither their `#` lines nor
 * their brackets count.
 */
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..');

export function readDoc(relative: string): string {
  return fs.readFileSync(path.join(ROOT, relative), 'utf8');
}

/** The text with fenced code blocks replaced by empty lines (line numbers are kept). */
export function withoutCodeBlocks(text: string): string {
  let inFence = false;
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(```|~~~)/.test(line)) {
        inFence = !inFence;
        return '';
      }
      return inFence ? '' : line;
    })
    .join('\n');
}

/** Headings as [level, text], in order, outside code blocks. */
export function headings(text: string): Array<[number, string]> {
  return [...withoutCodeBlocks(text).matchAll(/^(#{1,6})\s+(.+?)\s*#*\s*$/gm)].map((m) => [m[1]!.length, m[2]!]);
}

/**
 * The body of the section whose heading is exactly `title` (any level), up to the next heading of
 * the same or a higher level. Undefined when there is no such heading.
 */
export function section(text: string, title: string): string | undefined {
  const lines = withoutCodeBlocks(text).split('\n');
  const start = lines.findIndex((line) => new RegExp(`^#{1,6}\\s+${escape(title)}\\s*$`).test(line));
  if (start < 0) return undefined;
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((line, i) => i > start && /^#{1,6}\s/.test(line) && /^#+/.exec(line)![0].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/**
 * Table rows whose first cell is one name, backticked unless `plain`: name → the other cells,
 * trimmed.
 */
export function namedRows(body: string, name = /[A-Za-z][A-Za-z0-9_]*/, plain = false): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  const tick = plain ? '' : '`';
  for (const line of body.split('\n')) {
    const cells = line.split('|').slice(1, -1).map((cell) => cell.trim());
    const first = cells[0] === undefined ? null : new RegExp(`^${tick}(${name.source})${tick}$`).exec(cells[0]);
    if (!first) continue;
    if (rows.has(first[1]!)) throw new Error(`${first[1]} has two rows`);
    rows.set(first[1]!, cells.slice(1));
  }
  return rows;
}

/** Every backticked upper-case name in a text. */
export function backtickedNames(text: string): string[] {
  return [...text.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]!);
}

/**
 * GitHub's anchor for a heading: lower case, punctuation removed (letters, digits, `_`, `-` and
 * spaces kept), spaces to hyphens; a repeated slug gets `-1`, `-2`, ... (as github-slugger does).
 */
export function slugs(text: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of headings(text)) {
    const plain = heading.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = plain
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

/** Inline links and images outside code (fenced and inline): their targets, with line numbers. */
export function links(text: string): Array<{ target: string; line: number }> {
  const out: Array<{ target: string; line: number }> = [];
  withoutCodeBlocks(text)
    .split('\n')
    .forEach((line, i) => {
      const prose = line.replace(/`[^`]*`/g, '');
      for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
