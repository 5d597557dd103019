/**
 * Which Kisi group a Nexudus item's name points at, for the starter map. Deliberately timid: a
 * wrong suggestion opens a door to the wrong people, a missing one only costs a line of editing.
 * So a group is suggested only when its name clearly is the item's name:
 *   1. the same words (case, accents and punctuation aside): "Day Pass" = "Day pass";
 *   2. otherwise, one name's words appear in order inside the other's, at least two words long
 *      ("10-Day Pass Bundle" contains "Day pass"), and exactly one group does so.
 * Anything else (no group, or several) is left to a person, with the groups that share a word
 * offered as "closest".
 */

export interface Named {
  id: number;
  name: string;
}

export interface Suggestion<T extends Named> {
  /** The one group whose name clearly matches; undefined when none or several do. */
  match?: T;
  /** Groups that match equally clearly (so none is suggested). */
  ambiguous: T[];
  /** Without any clear match: groups sharing a word with the item, most shared first (at most 3). */
  closest: T[];
}

/** Lower-case words without accents or punctuation: "Members 24/7" -> ["members", "24", "7"]. */
export function words(name: string): string[] {
  return name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
}

function sameWords(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((w, i) => w === b[i]);
}

/** True when `inner` occurs as a contiguous run of whole words in `outer`. */
function containsRun(outer: string[], inner: string[]): boolean {
  if (inner.length === 0 || inner.length > outer.length) return false;
  for (let start = 0; start + inner.length <= outer.length; start++) {
    if (inner.every((w, i) => outer[start + i] === w)) return true;
  }
  return false;
}

/** Two words at least: "Office" inside "Private Office 1" is a coincidence, not a statement. */
const MIN_RUN = 2;

export function suggestGroup<T extends Named>(itemName: string, groups: readonly T[]): Suggestion<T> {
  const item = words(itemName);
  const named = groups.map((group) => ({ group, words: words(group.name) }));

  const exact = named.filter((g) => g.words.length > 0 && sameWords(g.words, item));
  if (exact.length === 1) return { match: exact[0]!.group, ambiguous: [], closest: [] };
  if (exact.length > 1) return { ambiguous: exact.map((g) => g.group), closest: [] };

  const contained = named.filter(
    (g) => Math.min(g.words.length, item.length) >= MIN_RUN && (containsRun(item, g.words) || containsRun(g.words, item)),
  );
  if (contained.length === 1) return { match: contained[0]!.group, ambiguous: [], closest: [] };
  if (contained.length > 1) return { ambiguous: contained.map((g) => g.group), closest: [] };

  // Words that carry meaning: not a lone digit or a filler such as "the".
  const itemWords = new Set(item.filter((w) => w.length >= 3 && !FILLER.has(w)));
  const closest = named
    .map((g) => ({ group: g.group, shared: new Set(g.words.filter((w) => itemWords.has(w))).size }))
    .filter((g) => g.shared > 0)
    .sort((a, b) => b.shared - a.shared || a.group.id - b.group.id)
    .slice(0, 3)
    .map((g) => g.group);
  return { ambiguous: [], closest };
}

const FILLER = new Set(['the', 'and', 'for', 'with']);
