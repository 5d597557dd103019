/**
 * The README's configuration table must match the schemas: the product's (src/config/env.ts) and
 * the local stack's (dev/local/env.ts: the sandboxes and the Temporal executables): one row per
 * variable, no rows for variables that do not exist, and the documented default is the schema's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { envSchema } from '../src/config/env';
import { localEnvSchema } from '../dev/local/env';

const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
// The first table of the section; the toolchain's own variables follow in a second one.
const section = readme.split(/^## Configuration$/m)[1]?.split(/^## /m)[0]?.split('Read by the toolchain only')[0] ?? '';
const rows = new Map<string, string>();
for (const match of section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)) {
  rows.set(match[1]!, match[2]!.trim());
}
// Where both name a variable (PORT, the Nexudus credentials) the local stack's is the product's own.
const shape = { ...localEnvSchema.shape, ...envSchema.shape } as Record<string, { parse(value: unknown): unknown }>;
const names = Object.keys(shape);

test('the README has a Configuration section with a table', () => {
  expect(rows.size).toBeGreaterThan(10);
});

test.each(names)('%s is in the README configuration table with its default', (name) => {
  expect(rows.has(name)).toBe(true);
  const documented = rows.get(name)!;
  const schemaDefault = shape[name]!.parse(undefined);
  if (documented === '—') {
    expect(schemaDefault).toBeUndefined();
  } else {
    const literal = /^`(.*)`$/.exec(documented);
    expect(literal).not.toBeNull();
    // Compare after parsing, so `10s` in the README equals 10000 in the schema.
    expect(shape[name]!.parse(literal![1])).toEqual(schemaDefault);
  }
});

test('every variable in the table exists in the schema', () => {
  expect([...rows.keys()].filter((name) => !names.includes(name))).toEqual([]);
});
