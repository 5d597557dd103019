/**
 * The sandbox's starting data: PascalCase like the API, validated with zod so a broken seed fails
 * at start with the path of the bad field. Times may be ISO texts or relative (`now+2h`,
 * `today+1d 10:00` in the location's zone), see clock.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { isTimeZone } from './clock';

const id = z.number().int().positive();
const text = z.string().min(1);
const nullableText = z.string().nullable().optional();
/** A time text; resolved against the business time zone when the seed loads. */
const time = z.string().min(1);

export const seedSchema = z.object({
  businesses: z
    .array(
      z.object({
        Id: id,
        Name: text,
        /** IANA name, e.g. Europe/London. */
        TimeZone: text.refine(isTimeZone, { message: 'expected an IANA time zone name' }),
        /** Id into Nexudus' sys/simpletimezones, the only zone field its REST docs show on a business. */
        SimpleTimeZoneId: id.nullable().optional(),
      }),
    )
    .min(1, { message: 'a seed needs at least one business' }),
  coworkers: z
    .array(
      z.object({
        Id: id,
        FullName: text,
        Email: z.email(),
        Active: z.boolean().default(true),
        AccessCardId: nullableText,
        KeyFobNumber: nullableText,
        AccessPincode: nullableText,
        BusinessId: id.nullable().optional(),
      }),
    )
    .default([]),
  resources: z
    .array(
      z.object({
        Id: id,
        Name: text,
        BusinessId: id,
        ResourceTypeId: id.nullable().optional(),
        ResourceTypeName: nullableText,
        Archived: z.boolean().default(false),
      }),
    )
    .default([]),
  floorPlanDesks: z
    .array(
      z.object({
        Id: id,
        Name: text,
        BusinessId: id,
        /** 1 office, 2 dedicated desk, 3 hot desk, 4 other, 5 room. */
        ItemType: z.number().int().min(1).max(5),
        ResourceId: id.nullable().optional(),
        Archived: z.boolean().default(false),
      }),
    )
    .default([]),
  timePasses: z
    .array(
      z.object({
        Id: id,
        Name: text,
        BusinessId: id,
        MinutesIncluded: z.number().int().positive().nullable().default(null),
        /** Sandbox-only: how many check-in days one customer pass of this type gives (a 10-pass: 10). */
        Uses: z.number().int().positive().nullable().default(null),
      }),
    )
    .default([]),
  coworkerTimePasses: z
    .array(
      z.object({
        Id: id,
        CoworkerId: id,
        TimePassId: id,
        BusinessId: id.optional(),
        Used: z.boolean().default(false),
        UsedDate: time.nullable().optional(),
        RemainingUses: z.number().int().min(0).nullable().optional(),
        ExpireDate: time.nullable().optional(),
        CoworkerContractUniqueId: nullableText,
      }),
    )
    .default([]),
  contracts: z
    .array(
      z.object({
        Id: id,
        CoworkerId: id,
        IssuedById: id.optional(),
        TariffId: id.nullable().optional(),
        TariffName: nullableText,
        StartDate: time,
        RenewalDate: time.nullable().optional(),
        CancellationDate: time.nullable().optional(),
        Active: z.boolean().default(true),
        Cancelled: z.boolean().default(false),
        MainContract: z.boolean().default(true),
        Desks: z.array(id).default([]),
      }),
    )
    .default([]),
  bookings: z
    .array(
      z.object({
        Id: id,
        ResourceId: id,
        CoworkerId: id.nullable().optional(),
        FloorPlanDeskId: id.nullable().optional(),
        FromTime: time,
        ToTime: time,
        Tentative: z.boolean().default(false),
        Notes: nullableText,
      }),
    )
    .default([]),
  webhooks: z
    .array(
      z.object({
        Name: text,
        Action: z.union([z.number().int(), text]),
        URL: z.url(),
        Active: z.boolean().default(true),
        BusinessId: id.nullable().optional(),
      }),
    )
    .default([]),
});

export type NexudusSeed = z.input<typeof seedSchema>;
export type ParsedSeed = z.output<typeof seedSchema>;

export class SeedError extends Error {
  constructor(where: string, problems: string[]) {
    super(`invalid Nexudus sandbox seed (${where}):\n  ${problems.join('\n  ')}`);
    this.name = 'SeedError';
  }
}

/** Validates a seed object; the error names every bad field by its path. */
export function parseSeed(value: unknown, where = 'inline'): ParsedSeed {
  const result = seedSchema.safeParse(value);
  if (!result.success) {
    throw new SeedError(where, result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  const seed = result.data;
  const problems = crossReferenceProblems(seed);
  if (problems.length > 0) throw new SeedError(where, problems);
  return seed;
}

/** Ids that point nowhere would make the sandbox answer records no real Nexudus could hold. */
function crossReferenceProblems(seed: ParsedSeed): string[] {
  const problems: string[] = [];
  const ids = (list: { Id: number }[]) => new Set(list.map((r) => r.Id));
  const businesses = ids(seed.businesses);
  const coworkers = ids(seed.coworkers);
  const resources = ids(seed.resources);
  const desks = ids(seed.floorPlanDesks);
  const passes = ids(seed.timePasses);
  const check = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  seed.resources.forEach((r, i) => check(businesses.has(r.BusinessId), `resources.${i}.BusinessId: no business ${r.BusinessId}`));
  seed.floorPlanDesks.forEach((d, i) => check(businesses.has(d.BusinessId), `floorPlanDesks.${i}.BusinessId: no business ${d.BusinessId}`));
  seed.timePasses.forEach((t, i) => check(businesses.has(t.BusinessId), `timePasses.${i}.BusinessId: no business ${t.BusinessId}`));
  seed.coworkerTimePasses.forEach((p, i) => {
    check(coworkers.has(p.CoworkerId), `coworkerTimePasses.${i}.CoworkerId: no coworker ${p.CoworkerId}`);
    check(passes.has(p.TimePassId), `coworkerTimePasses.${i}.TimePassId: no time pass ${p.TimePassId}`);
  });
  seed.contracts.forEach((c, i) => {
    check(coworkers.has(c.CoworkerId), `contracts.${i}.CoworkerId: no coworker ${c.CoworkerId}`);
    c.Desks.forEach((d, j) => check(desks.has(d), `contracts.${i}.Desks.${j}: no floor-plan desk ${d}`));
  });
  seed.bookings.forEach((b, i) => {
    check(resources.has(b.ResourceId), `bookings.${i}.ResourceId: no resource ${b.ResourceId}`);
    if (b.CoworkerId != null) check(coworkers.has(b.CoworkerId), `bookings.${i}.CoworkerId: no coworker ${b.CoworkerId}`);
  });
  const all = [...seed.businesses, ...seed.coworkers, ...seed.resources, ...seed.floorPlanDesks, ...seed.timePasses, ...seed.coworkerTimePasses, ...seed.contracts, ...seed.bookings];
  const seen = new Set<number>();
  for (const r of all) {
    if (seen.has(r.Id)) problems.push(`Id ${r.Id} is used twice (the sandbox keeps ids unique across entities)`);
    seen.add(r.Id);
  }
  return problems;
}

/** config/sandbox/nexudus-seed.json, found from the source tree or the working directory. */
export function defaultSeedPath(): string {
  const candidates = [resolve(__dirname, '../../../config/sandbox/nexudus-seed.json'), resolve(process.cwd(), 'config/sandbox/nexudus-seed.json')];
  return candidates.find((p) => existsSync(p)) ?? candidates[1]!;
}

/** Reads and validates a seed file. */
export function loadSeedFile(path: string): ParsedSeed {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new SeedError(path, [`cannot read JSON: ${(e as Error).message}`]);
  }
  return parseSeed(raw, path);
}
