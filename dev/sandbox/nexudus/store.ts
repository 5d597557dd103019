/**
 * The sandbox's records as it keeps them: instants as epoch ms (rendering decides the text form),
 * references as ids. One id sequence for every entity, like a database that never reuses ids.
 */
import { randomUUID } from 'node:crypto';

export interface BusinessRec {
  Id: number;
  UniqueId: string;
  Name: string;
  TimeZone: string;
  SimpleTimeZoneId: number | null;
}

export interface CoworkerRec {
  Id: number;
  UniqueId: string;
  FullName: string;
  Email: string;
  Active: boolean;
  AccessCardId: string | null;
  KeyFobNumber: string | null;
  AccessPincode: string | null;
  BusinessId: number | null;
  CreatedOn: number;
  UpdatedOn: number;
}

export interface ResourceRec {
  Id: number;
  UniqueId: string;
  Name: string;
  BusinessId: number;
  ResourceTypeId: number | null;
  ResourceTypeName: string | null;
  Archived: boolean;
}

export interface DeskRec {
  Id: number;
  UniqueId: string;
  Name: string;
  BusinessId: number;
  ItemType: number;
  ResourceId: number | null;
  Archived: boolean;
}

export interface TimePassRec {
  Id: number;
  UniqueId: string;
  Name: string;
  BusinessId: number;
  MinutesIncluded: number | null;
  Uses: number | null;
}

export interface PassRec {
  Id: number;
  UniqueId: string;
  CoworkerId: number;
  BusinessId: number;
  TimePassId: number;
  Used: boolean;
  UsedDate: number | null;
  RemainingUses: number | null;
  TotalUses: number | null;
  ExpireDate: number | null;
  IsFromTariff: boolean;
  CoworkerContractUniqueId: string | null;
  CreatedOn: number;
  UpdatedOn: number;
}

export interface ContractRec {
  Id: number;
  UniqueId: string;
  CoworkerId: number;
  IssuedById: number;
  TariffId: number | null;
  TariffName: string | null;
  StartDate: number;
  RenewalDate: number | null;
  CancellationDate: number | null;
  Active: boolean;
  Cancelled: boolean;
  MainContract: boolean;
  Desks: number[];
  CreatedOn: number;
  UpdatedOn: number;
}

export interface BookingRec {
  Id: number;
  UniqueId: string;
  ResourceId: number;
  CoworkerId: number | null;
  FloorPlanDeskId: number | null;
  FromTime: number;
  ToTime: number;
  Tentative: boolean;
  Notes: string | null;
  RepeatSeriesUniqueId: string | null;
  CreatedOn: number;
  UpdatedOn: number;
}

export interface CheckinRec {
  Id: number;
  UniqueId: string;
  BusinessId: number;
  CoworkerId: number;
  FromTime: number;
  ToTime: number | null;
  Source: number;
  CoworkerTimePassGuid: string | null;
  CreatedOn: number;
  UpdatedOn: number;
}

export interface FailedCheckinRec {
  Id: number;
  UniqueId: string;
  BusinessId: number;
  CoworkerId: number | null;
  CheckinAttemptTime: number;
  Source: number;
  Description: string;
  CreatedOn: number;
}

export interface WebhookRec {
  Id: number;
  UniqueId: string;
  BusinessId: number | null;
  Name: string;
  Action: number;
  Description: string | null;
  URL: string;
  Active: boolean;
  LastError: string | null;
  ErrorCount: number;
  LastTrigger: number | null;
  CreatedOn: number;
  UpdatedOn: number;
}

/** A map kept in id order, so listings are stable. */
export class Table<T extends { Id: number }> {
  private readonly rows = new Map<number, T>();

  get(id: number): T | undefined {
    return this.rows.get(id);
  }

  all(): T[] {
    return [...this.rows.values()].sort((a, b) => a.Id - b.Id);
  }

  put(row: T): T {
    this.rows.set(row.Id, row);
    return row;
  }

  delete(id: number): boolean {
    return this.rows.delete(id);
  }

  get size(): number {
    return this.rows.size;
  }

  clear(): void {
    this.rows.clear();
  }
}

export class Store {
  readonly businesses = new Table<BusinessRec>();
  readonly coworkers = new Table<CoworkerRec>();
  readonly resources = new Table<ResourceRec>();
  readonly desks = new Table<DeskRec>();
  readonly timePasses = new Table<TimePassRec>();
  readonly passes = new Table<PassRec>();
  readonly contracts = new Table<ContractRec>();
  readonly bookings = new Table<BookingRec>();
  readonly checkins = new Table<CheckinRec>();
  readonly failedCheckins = new Table<FailedCheckinRec>();
  readonly webhooks = new Table<WebhookRec>();
  private lastId = 0;

  nextId(): number {
    this.lastId += 1;
    return this.lastId;
  }

  /** New ids start above every seeded one (and never below 9,000,001, to look like Nexudus ids). */
  reserveAbove(maxSeeded: number): void {
    this.lastId = Math.max(this.lastId, maxSeeded, 9_000_000);
  }

  uuid(): string {
    return randomUUID();
  }

  clear(): void {
    for (const t of [this.businesses, this.coworkers, this.resources, this.desks, this.timePasses, this.passes, this.contracts, this.bookings, this.checkins, this.failedCheckins, this.webhooks]) {
      (t as Table<{ Id: number }>).clear();
    }
    this.lastId = 0;
  }
}
