/**
 * The space the benchmarks and drills book in: one business, C customers, G meeting rooms each
 * opening its own Kisi group, with the lead and lag the run asks for. Seeds for both sandboxes and
 * the access map are generated from the same numbers, so they always agree.
 */
import type { AccessMapFile } from '../../src/config/access-map';
import type { KisiSeed } from '../../dev/sandbox/kisi';
import type { NexudusSeed } from '../../dev/sandbox/nexudus';

export const BUSINESS_ID = 1_000_001;
const CUSTOMER_BASE = 2_200_000;
const RESOURCE_BASE = 3_200_000;
const GROUP_BASE = 9_101;
const KISI_USER_BASE = 500_000;

export interface WorldOptions {
  customers: number;
  rooms: number;
  /** Access-map durations, e.g. "3s". */
  lead: string;
  lag: string;
  /** Customers already have Kisi accounts (an existing space) instead of being created on their first grant. */
  kisiUsers?: boolean;
}

export class World {
  constructor(readonly options: WorldOptions) {}

  customerId(i: number): number {
    return CUSTOMER_BASE + i;
  }

  email(i: number): string {
    return `member${i}@bench.example`;
  }

  resourceId(room: number): number {
    return RESOURCE_BASE + room;
  }

  groupId(room: number): number {
    return GROUP_BASE + room;
  }

  get groupIds(): number[] {
    return Array.from({ length: this.options.rooms }, (_, r) => this.groupId(r));
  }

  roomOfResource(resourceId: number): number {
    return resourceId - RESOURCE_BASE;
  }

  customerIndex(customerId: number): number {
    return customerId - CUSTOMER_BASE;
  }

  accessMap(): AccessMapFile {
    const resources: NonNullable<AccessMapFile['resources']> = {};
    for (let r = 0; r < this.options.rooms; r++) resources[String(this.resourceId(r))] = { groups: [this.groupId(r)], name: `Bench room ${r}` };
    return {
      kisiPlaceId: 1,
      timeZone: 'Europe/London',
      nexudusBusinessId: BUSINESS_ID,
      timing: { lead: this.options.lead, lag: this.options.lag },
      passes: {},
      resources,
      floorPlanItems: {},
      doors: {},
    };
  }

  nexudusSeed(): NexudusSeed {
    return {
      businesses: [{ Id: BUSINESS_ID, Name: 'Bench Coworking', TimeZone: 'Europe/London' }],
      coworkers: Array.from({ length: this.options.customers }, (_, i) => ({
        Id: this.customerId(i),
        FullName: `Member ${i}`,
        Email: this.email(i),
        BusinessId: BUSINESS_ID,
        AccessCardId: `BENCH${String(i).padStart(6, '0')}`,
      })),
      resources: Array.from({ length: this.options.rooms }, (_, r) => ({ Id: this.resourceId(r), Name: `Bench room ${r}`, BusinessId: BUSINESS_ID })),
      floorPlanDesks: [],
      timePasses: [],
      coworkerTimePasses: [],
      contracts: [],
      bookings: [],
      webhooks: [],
    } as NexudusSeed;
  }

  kisiSeed(): KisiSeed {
    return {
      places: [{ id: 1, name: 'Bench Coworking', time_zone: 'Europe/London' }],
      groups: this.groupIds.map((id, r) => ({ id, name: `Bench room ${r}`, place_id: 1 })),
      users: this.options.kisiUsers
        ? Array.from({ length: this.options.customers }, (_, i) => ({ id: KISI_USER_BASE + i, email: this.email(i), name: `Member ${i}` }))
        : [],
    };
  }
}

/** Whole seconds: Nexudus' times carry no milliseconds, and neither do the windows built from them. */
export const wholeSecond = (ms: number) => Math.ceil(ms / 1000) * 1000;
export const iso = (ms: number) => new Date(ms).toISOString();
