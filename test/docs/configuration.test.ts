/**
 * docs/configuration.md cannot drift from the code. Every key is derived at run time from the zod
 * schemas that read the environment and the access map (no hand-written list of names here):
 *
 * - the tables under "Product settings" list exactly the keys of the environment schema(s), each
 *   with the schema's own default;
 * - "Read outside the schema" lists exactly the variables the product code (src/, activities/,
 *   workflows/) reads from the environment without a schema;
 * - the other tables name only variables that exist: the compose file's `${...}` variables, or
 *   names that tests, benchmarks and tools read;
 * - "Which role reads what" is src/config/roles.ts;
 * - the access map tables list exactly the keys of the access map schema, nested entries included.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { accessMapSchema } from '../../src/config/access-map';
import { envSchema } from '../../src/config/env';
import { ROLE_SETTINGS } from '../../src/config/roles';
import { localEnvSchema } from '../../dev/local/env';
import { backtickedNames, namedRows, readDoc, ROOT, section } from './markdown';

const DOC = 'docs/configuration.md';
const doc = readDoc(DOC);

/**
 * The schemas that define the environment: the worker's and the ingress' (src/config/env.ts) and
 * the local stack's (npm start, npm run sandbox and the sandboxes: dev/local/env.ts, which extends
 * the sandboxes' dev/sandbox/env.ts). A schema added for a role goes here.
 */
const ENV_SCHEMAS: z.ZodObject[] = [envSchema, localEnvSchema];

const envShape: Record<string, z.ZodType> = Object.assign({}, ...ENV_SCHEMAS.map((schema) => schema.shape));
const envNames = Object.keys(envShape);

/** The schema inside defaults, optionals and pipes (transforms), down to what describes the value. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; in?: z.ZodType } };
  for (;;) {
    const { def } = current;
    if (def.innerType && ['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) current = def.innerType as typeof current;
    else if (def.type === 'pipe' && def.in) current = def.in as typeof current;
    else return current;
  }
}

function objectKeys(schema: z.ZodType): string[] {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodObject)) throw new Error(`expected an object schema, found ${inner.def.type}`);
  return Object.keys(inner.shape);
}

function recordValue(schema: z.ZodType): z.ZodType {
  const inner = unwrap(schema);
  if (!(inner instanceof z.ZodRecord)) throw new Error(`expected a record schema, found ${inner.def.type}`);
  return inner.valueType as z.ZodType;
}

function requiredSection(title: string): string {
  const body = section(doc, title);
  if (body === undefined) throw new Error(`${DOC} has no section "${title}"`);
  return body;
}

const sorted = (names: Iterable<string>) => [...names].sort();

/** Source files under a folder, recursively (no recorded histories or results). */
function sourceFiles(dir: string, extensions = /\.(ts|js|cjs|mjs|sh)$/): string[] {
  const full = path.join(ROOT, dir);
  if (!fs.existsSync(full)) return [];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return ['histories', 'results', 'node_modules'].includes(entry.name) ? [] : sourceFiles(relative, extensions);
    return extensions.test(entry.name) ? [relative] : [];
  });
}

/**
 * What product code reads from the environment by name: `process.env.X`, `process.env['X']`, and
 * `env.X` / `env['X']` on an environment object passed around (the parsed one or a raw one).
 */
function namesReadBy(files: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const patterns = [/\benv\.([A-Z][A-Z0-9_]*)\b/g, /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g];
  for (const file of files) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const pattern of patterns) {
      for (const m of text.matchAll(pattern)) found.set(m[1]!, [...(found.get(m[1]!) ?? []), file]);
    }
  }
  return found;
}

describe('environment variables', () => {
  const productBody = requiredSection('Product settings');
  const productRows = namedRows(productBody, /[A-Z][A-Z0-9_]*/);
  const outsideRows = namedRows(requiredSection('Read outside the schema'), /[A-Z][A-Z0-9_]*/);
  const toolRows = namedRows(requiredSection('Tests, benchmarks and development tools'), /[A-Z][A-Z0-9_]*/);
  const composeRows = namedRows(requiredSection('The compose stack: `deploy/.env`'), /[A-Z][A-Z0-9_]*/);

  test('the schemas are found and the product tables are read', () => {
    expect(envNames.length).toBeGreaterThan(30);
    expect(productRows.size).toBeGreaterThan(30);
  });

  test('every variable of the schemas has a row under "Product settings"', () => {
    expect(envNames.filter((name) => !productRows.has(name))).toEqual([]);
  });

  test('every row under "Product settings" is a variable of a schema', () => {
    expect([...productRows.keys()].filter((name) => !(name in envShape))).toEqual([]);
  });

  test.each(envNames)('%s: the documented default is the schema default', (name) => {
    const documented = productRows.get(name)?.[0];
    expect(documented).toBeDefined();
    const schema = envShape[name]!;
    const schemaDefault = schema.parse(undefined);
    if (documented === '—') {
      expect(schemaDefault).toBeUndefined();
    } else {
      const literal = /^`(.*)`$/.exec(documented!);
      expect(literal).not.toBeNull();
      // Compared after parsing, so `10s` in the doc equals 10000 in the schema.
      expect(schema.parse(literal![1])).toEqual(schemaDefault);
    }
  });

  const productFiles = ['src', 'activities', 'workflows'].flatMap((dir) => sourceFiles(dir));
  const readByProduct = namesReadBy(productFiles);
  const outsideSchema = sorted([...readByProduct.keys()].filter((name) => !(name in envShape)));

  test('the product code is scanned', () => {
    expect(productFiles.length).toBeGreaterThan(50);
    expect(readByProduct.has('NODE_ENV')).toBe(true);
  });

  test('"Read outside the schema" lists exactly what the product code reads without the schema', () => {
    expect(sorted(outsideRows.keys())).toEqual(outsideSchema);
  });

  test('each variable read outside the schema names a file that reads it', () => {
    for (const [name, cells] of outsideRows) {
      const named = [...cells[0]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      expect({ name, readers: named.filter((file) => readByProduct.get(name)?.includes(file)) }).toEqual({ name, readers: named });
    }
  });

  test('tool variables are read by a test, benchmark or tool, and are not product settings', () => {
    const files = ['test', 'bench', 'dev'].flatMap((dir) => sourceFiles(dir)).map((file) => fs.readFileSync(path.join(ROOT, file), 'utf8'));
    for (const name of toolRows.keys()) {
      expect({ name, read: files.some((text) => new RegExp(`\\b${name}\\b`).test(text)) }).toEqual({ name, read: true });
      expect({ name, product: name in envShape || readByProduct.has(name) }).toEqual({ name, product: false });
    }
  });

  const compose = fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  const composeVariables = sorted(new Set([...compose.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!)));

  test('the compose table lists exactly the compose file\'s own variables', () => {
    expect(composeVariables.length).toBeGreaterThan(10);
    expect(sorted(composeRows.keys())).toEqual(composeVariables.filter((name) => !(name in envShape)));
  });

  test('the product settings compose passes on are named in that section', () => {
    const named = new Set(backtickedNames(requiredSection('The compose stack: `deploy/.env`')));
    expect(composeVariables.filter((name) => name in envShape && !named.has(name))).toEqual([]);
  });
});

describe('roles', () => {
  const rows = namedRows(requiredSection('Which role reads what'), /[a-z]+/, true);
  const cell = (role: string) => sorted(backtickedNames(rows.get(role)?.[0] ?? ''));
  const worker = new Set<string>(ROLE_SETTINGS.worker);
  const ingress = new Set<string>(ROLE_SETTINGS.ingress);

  test('"both", "worker", "ingress" and "neither" split the schema as src/config/roles.ts does', () => {
    expect(cell('both')).toEqual(sorted(envNames.filter((n) => worker.has(n) && ingress.has(n))));
    expect(cell('worker')).toEqual(sorted(envNames.filter((n) => worker.has(n) && !ingress.has(n))));
    expect(cell('ingress')).toEqual(sorted(envNames.filter((n) => ingress.has(n) && !worker.has(n))));
    expect(cell('neither')).toEqual(sorted(envNames.filter((n) => !worker.has(n) && !ingress.has(n))));
  });
});

describe('the access map', () => {
  const shape = accessMapSchema.shape;
  const tables: Array<[string, string[]]> = [
    ['Top-level keys', Object.keys(shape)],
    ['Item entries', objectKeys(recordValue(shape.passes))],
    ['Door entries', objectKeys(recordValue(shape.doors))],
    ['`timing`', objectKeys(shape.timing)],
  ];

  test('passes, resources and floor-plan items share one entry schema', () => {
    expect(objectKeys(recordValue(shape.resources))).toEqual(objectKeys(recordValue(shape.passes)));
    expect(objectKeys(recordValue(shape.floorPlanItems))).toEqual(objectKeys(recordValue(shape.passes)));
  });

  test.each(tables)('the table "%s" lists exactly the schema\'s keys', (title, keys) => {
    expect(keys.length).toBeGreaterThan(1);
    expect(sorted(namedRows(requiredSection(title)).keys())).toEqual(sorted(keys));
  });

  test('the example is the shipped map, and it validates', () => {
    const example = /## The access map[\s\S]*?```json\n([\s\S]*?)```/.exec(doc);
    expect(example).not.toBeNull();
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'config', 'access-map.json'), 'utf8'));
    expect(JSON.parse(example![1]!)).toEqual(shipped);
    expect(accessMapSchema.safeParse(shipped).success).toBe(true);
  });
});
