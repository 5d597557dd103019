/**
 * Every relative link in the docs resolves: README.md, docs/*.md and bench/README.md link only to
 * files that exist, and a `#anchor` (in the same file or another markdown file) names a heading
 * there, by GitHub's slug rules. Absolute URLs are not followed (no network in tests).
 */
import fs from 'node:fs';
import path from 'node:path';
import { headings, links, readDoc, ROOT, slugs } from './markdown';

const DOCS = ['README.md', 'bench/README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)].sort();

const EXTERNAL = /^[a-z][a-z0-9+.-]*:/i;

test('the docs are all found', () => {
  expect(DOCS).toEqual(expect.arrayContaining(['README.md', 'bench/README.md', 'docs/architecture.md', 'docs/configuration.md', 'docs/development.md', 'docs/operations.md']));
});

describe.each(DOCS)('%s', (doc) => {
  const text = readDoc(doc);
  const relative = links(text).filter((l) => !EXTERNAL.test(l.target));

  test('has headings and relative links to check', () => {
    expect(headings(text).length).toBeGreaterThan(0);
    expect(relative.length).toBeGreaterThan(0);
  });

  test('every relative link points to an existing file, and every anchor to a heading', () => {
    const broken: string[] = [];
    for (const { target, line } of relative) {
      const [file, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = file === '' ? doc : path.posix.normalize(path.posix.join(path.posix.dirname(doc), decodeURIComponent(file)));
      const full = path.join(ROOT, resolved);
      if (resolved.startsWith('..') || !fs.existsSync(full)) {
        broken.push(`${doc}:${line}: ${target}: no file ${resolved}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith('.md')) {
        broken.push(`${doc}:${line}: ${target}: an anchor into a file that is not markdown`);
        continue;
      }
      if (!slugs(readDoc(resolved)).has(anchor)) broken.push(`${doc}:${line}: ${target}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });
});

describe('GitHub heading slugs', () => {
  test.each([
    ['## Live changes first: `npm run bench:live`', 'live-changes-first-npm-run-benchlive'],
    ['### Cancel revokes; terminate does not', 'cancel-revokes-terminate-does-not'],
    ['## The compose stack: `deploy/.env`', 'the-compose-stack-deployenv'],
    ['## Changing workflow code safely: replay, then `patched()`', 'changing-workflow-code-safely-replay-then-patched'],
    ['## Memberships: one writer per Kisi user and group', 'memberships-one-writer-per-kisi-user-and-group'],
  ])('%s -> #%s', (heading, slug) => {
    expect([...slugs(heading)]).toEqual([slug]);
  });

  test('a repeated heading gets -1, -2', () => {
    expect([...slugs('# A\n## A\n### A')]).toEqual(['a', 'a-1', 'a-2']);
  });

  test('headings inside code blocks are not headings', () => {
    expect([...slugs('# Real\n```sh\n# a comment\n```')]).toEqual(['real']);
  });
});

describe('screenshots', () => {
  test('every picture under docs/ is shown by some doc', () => {
    const shown = new Set(
      DOCS.flatMap((doc) =>
        links(readDoc(doc))
          .filter((l) => !EXTERNAL.test(l.target))
          .map((l) => path.posix.normalize(path.posix.join(path.posix.dirname(doc), l.target.split('#')[0]!))),
      ),
    );
    const pictures = fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => /\.(png|jpe?g|gif|svg)$/i.test(f));
    expect(pictures.length).toBeGreaterThan(0);
    expect(pictures.map((f) => `docs/${f}`).filter((f) => !shown.has(f))).toEqual([]);
  });
});
