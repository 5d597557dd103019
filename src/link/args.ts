/**
 * Arguments of `npm run access-map`, read with node:util's parseArgs and validated with zod, so a typo
 * or a flag that means nothing in the chosen mode is a usage error (exit 2) before any request.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { isValidTimeZone } from '../domain/time';
import { UsageError } from '../process/exit';

export const LINK_USAGE = `usage: npm run access-map -- [options]

  (no mode)           list the Kisi groups and locks of the place next to the Nexudus pass types,
                      resources and floor-plan items, marking what the access map already links
    --place ID        the Kisi place (default: the map's kisiPlaceId, else the only place)
    --business ID     the Nexudus business (default: the map's nexudusBusinessId, else the only one)
    --write FILE      also write a starter map there (.json, or .yaml/.yml); never over an existing
                      file unless --force
    --time-zone ZONE  IANA zone for the starter map when the Kisi place has none
  --check             verify the access map against Kisi and Nexudus; exit 1 on errors
    --strict          warnings (unmapped items, unused groups) fail too
  --map FILE          the access map (default: ACCESS_MAP, config/access-map.json)
  --json              machine-readable output

Credentials come from the environment (KISI_API_KEY, NEXUDUS_USERNAME/NEXUDUS_PASSWORD); without
them the sandboxes of \`npm start\` / \`npm run sandbox\` are used when they answer on their ports.
Exit: 0 fine, 1 problems found (or the file exists), 2 usage, 3 Kisi or Nexudus unreachable or
refusing, 78 configuration.`;

const id = (what: string) =>
  z
    .string({ message: `expected ${what}` })
    .regex(/^[1-9]\d*$/, { message: `expected ${what} (a positive integer)` })
    .transform(Number);
const file = z.string().min(1, { message: 'expected a file name' });
const timeZone = z.string().refine(isValidTimeZone, { message: 'expected an IANA time zone such as "Europe/London"' });

const schema = z.discriminatedUnion('mode', [
  z.strictObject({ mode: z.literal('help') }),
  z.strictObject({
    mode: z.literal('list'),
    map: file.optional(),
    json: z.boolean(),
    place: id('a Kisi place id').optional(),
    business: id('a Nexudus business id').optional(),
    write: file.optional(),
    force: z.boolean(),
    timeZone: timeZone.optional(),
  }),
  z.strictObject({ mode: z.literal('check'), map: file.optional(), json: z.boolean(), strict: z.boolean() }),
]);

export type LinkArgs = z.output<typeof schema>;

const OPTIONS = {
  check: { type: 'boolean' },
  strict: { type: 'boolean' },
  json: { type: 'boolean' },
  map: { type: 'string' },
  place: { type: 'string' },
  business: { type: 'string' },
  write: { type: 'string' },
  force: { type: 'boolean' },
  'time-zone': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Flags that only make sense in one mode; naming them elsewhere is refused rather than ignored. */
const LIST_ONLY = ['place', 'business', 'write', 'force', 'time-zone'] as const;

function readFlags(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    // Unknown option, missing value, stray positional: parseArgs' message names it.
    throw new UsageError((error as Error).message);
  }
}

export function parseLinkArgs(argv: string[]): LinkArgs {
  const values = readFlags(argv);
  if (values.help) return { mode: 'help' };

  let raw: Record<string, unknown>;
  if (values.check) {
    const stray = LIST_ONLY.filter((name) => values[name] !== undefined);
    if (stray.length > 0) throw new UsageError(`--${stray.join(', --')}: not with --check (it verifies the map as it is)`);
    raw = { mode: 'check', map: values.map, json: values.json ?? false, strict: values.strict ?? false };
  } else {
    if (values.strict) throw new UsageError('--strict: only with --check');
    if (values.force && values.write === undefined) throw new UsageError('--force: only with --write FILE');
    if (values['time-zone'] !== undefined && values.write === undefined) throw new UsageError('--time-zone: only with --write FILE');
    raw = {
      mode: 'list',
      map: values.map,
      json: values.json ?? false,
      place: values.place,
      business: values.business,
      write: values.write,
      force: values.force ?? false,
      timeZone: values['time-zone'],
    };
  }
  for (const [key, value] of Object.entries(raw)) if (value === undefined) delete raw[key];

  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const flag = (path: PropertyKey[]) => (path[0] === 'timeZone' ? '--time-zone' : `--${String(path[0])}`);
    throw new UsageError(parsed.error.issues.map((issue) => `${flag(issue.path)}: ${issue.message}`).join('; '));
  }
  return parsed.data;
}
