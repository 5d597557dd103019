/**
 * The access map: which Kisi groups each Nexudus pass, resource and floor-plan item opens, with
 * what timing, and which doors check customers in. One file (JSON or YAML), validated at start
 * with errors that name the offending key. This module is the only place that reads it.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { isDuration, parseDuration } from '../domain/duration';
import type { AccessRule } from '../domain/grant-spec';
import { isValidTimeZone } from '../domain/time';

const durationText = z.string().refine(isDuration, { message: 'expected a duration such as "15m", "90s" or "1h"' });
const groupId = z.number({ message: 'expected a Kisi group id (a positive integer)' }).int().positive();
const groups = z.array(groupId).min(1, { message: 'expected at least one Kisi group id' });
const numericKey = z.string().regex(/^\d+$/, { message: 'expected a numeric id as the key' });

const itemEntry = z.strictObject({
  groups,
  lead: durationText.optional(),
  lag: durationText.optional(),
  /** Optional label for summaries when Nexudus' name is not at hand. */
  name: z.string().optional(),
});

const doorEntry = z.strictObject({
  onUnlock: z.enum(['checkin', 'none'], { message: 'expected "checkin" or "none"' }),
  name: z.string().optional(),
});

export const accessMapSchema = z
  .strictObject({
    kisiPlaceId: z.number({ message: 'expected the Kisi place id (a positive integer)' }).int().positive(),
    /** IANA zone of the location: a day pass ends at its local midnight. */
    timeZone: z
      .string()
      .refine(isValidTimeZone, { message: 'expected an IANA time zone such as "Europe/London"' })
      .optional(),
    /** Nexudus location (business) id, needed to create check-ins. */
    nexudusBusinessId: z.number().int().positive().optional(),
    timing: z
      .strictObject({ lead: durationText.default('15m'), lag: durationText.default('15m') })
      .default({ lead: '15m', lag: '15m' }),
    passes: z.record(numericKey, itemEntry).default({}),
    resources: z.record(numericKey, itemEntry).default({}),
    floorPlanItems: z.record(numericKey, itemEntry).default({}),
    doors: z.record(numericKey, doorEntry).default({}),
  })
  .superRefine((map, ctx) => {
    if (Object.keys(map.passes).length > 0 && !map.timeZone) {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: 'required when passes are mapped (a day pass ends at the local midnight of the location)' });
    }
    if (Object.values(map.doors).some((d) => d.onUnlock === 'checkin') && !map.nexudusBusinessId) {
      ctx.addIssue({ code: 'custom', path: ['nexudusBusinessId'], message: 'required when a door checks customers in' });
    }
  });

export type AccessMapFile = z.input<typeof accessMapSchema>;
type AccessMapData = z.output<typeof accessMapSchema>;

/** What one Nexudus item grants: Kisi groups and the time added before the start and after the end. */
export type { AccessRule } from '../domain/grant-spec';

export class AccessMapError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid access map ${source}:\n  ${problems.join('\n  ')}`);
    this.name = 'AccessMapError';
  }
}

/** Passes grant exactly their validity unless their entry says otherwise. */
const PASS_DEFAULT_TIMING = { leadMs: 0, lagMs: 0 };

export class AccessMap {
  private constructor(readonly data: AccessMapData) {}

  static parse(input: unknown, source = 'access map'): AccessMap {
    const result = accessMapSchema.safeParse(input);
    if (!result.success) {
      throw new AccessMapError(
        source,
        result.error.issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`),
      );
    }
    return new AccessMap(result.data);
  }

  /** Reads and validates a JSON or YAML file (chosen by extension). */
  static load(file: string): AccessMap {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new AccessMapError(file, [`cannot read the file: ${(error as NodeJS.ErrnoException).code ?? String(error)} (set ACCESS_MAP to its path)`]);
    }
    let raw: unknown;
    try {
      raw = /\.ya?ml$/i.test(file) ? YAML.parse(text) : JSON.parse(text);
    } catch (error) {
      throw new AccessMapError(file, [`not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(error as Error).message}`]);
    }
    return AccessMap.parse(raw, path.relative(process.cwd(), file) || file);
  }

  get kisiPlaceId(): number {
    return this.data.kisiPlaceId;
  }

  get timeZone(): string {
    return this.data.timeZone ?? 'UTC';
  }

  get nexudusBusinessId(): number | undefined {
    return this.data.nexudusBusinessId;
  }

  private get defaults(): { leadMs: number; lagMs: number } {
    return { leadMs: parseDuration(this.data.timing.lead), lagMs: parseDuration(this.data.timing.lag) };
  }

  private rule(entry: z.output<typeof itemEntry>, fallback: { leadMs: number; lagMs: number }): AccessRule {
    return {
      groups: [...entry.groups],
      leadMs: entry.lead !== undefined ? parseDuration(entry.lead) : fallback.leadMs,
      lagMs: entry.lag !== undefined ? parseDuration(entry.lag) : fallback.lagMs,
    };
  }

  /** A booking opens its resource's groups and, for desk bookings, its floor-plan item's groups. */
  forBooking(resourceId: number, floorPlanDeskId?: number | null): AccessRule | undefined {
    const rules: AccessRule[] = [];
    const resource = this.data.resources[String(resourceId)];
    if (resource) rules.push(this.rule(resource, this.defaults));
    const desk = floorPlanDeskId ? this.data.floorPlanItems[String(floorPlanDeskId)] : undefined;
    if (desk) rules.push(this.rule(desk, this.defaults));
    return merge(rules);
  }

  /** The largest lead and lag any booking can get (reconcile widens its listing by them). */
  widestBookingTiming(): { leadMs: number; lagMs: number } {
    const rules = [...Object.values(this.data.resources), ...Object.values(this.data.floorPlanItems)].map((entry) => this.rule(entry, this.defaults));
    return { leadMs: Math.max(0, ...rules.map((r) => r.leadMs)), lagMs: Math.max(0, ...rules.map((r) => r.lagMs)) };
  }

  forPass(timePassId: number): AccessRule | undefined {
    const entry = this.data.passes[String(timePassId)];
    return entry ? this.rule(entry, PASS_DEFAULT_TIMING) : undefined;
  }

  /** A contract opens the groups of all its desks and offices. */
  forContract(floorPlanDeskIds: number[]): AccessRule | undefined {
    const rules = floorPlanDeskIds
      .map((id) => this.data.floorPlanItems[String(id)])
      .filter((e): e is z.output<typeof itemEntry> => e !== undefined)
      .map((e) => this.rule(e, this.defaults));
    return merge(rules);
  }

  doorAction(lockId: number): 'checkin' | 'none' {
    return this.data.doors[String(lockId)]?.onUnlock ?? 'none';
  }

  /** Every Kisi group the map mentions (reconcile inspects exactly these). */
  allGroupIds(): number[] {
    const all = new Set<number>();
    for (const table of [this.data.passes, this.data.resources, this.data.floorPlanItems]) {
      for (const entry of Object.values(table)) entry.groups.forEach((g) => all.add(g));
    }
    return [...all].sort((a, b) => a - b);
  }

  mappedResourceIds(): number[] {
    return Object.keys(this.data.resources).map(Number);
  }

  mappedFloorPlanItemIds(): number[] {
    return Object.keys(this.data.floorPlanItems).map(Number);
  }

  mappedPassIds(): number[] {
    return Object.keys(this.data.passes).map(Number);
  }

  mappedDoorIds(): number[] {
    return Object.keys(this.data.doors).map(Number);
  }

  toJSON(): AccessMapData {
    return this.data;
  }
}

/** Union of groups; the most generous timing wins so no item's window is cut short. */
function merge(rules: AccessRule[]): AccessRule | undefined {
  if (rules.length === 0) return undefined;
  return {
    groups: [...new Set(rules.flatMap((r) => r.groups))].sort((a, b) => a - b),
    leadMs: Math.max(...rules.map((r) => r.leadMs)),
    lagMs: Math.max(...rules.map((r) => r.lagMs)),
  };
}
