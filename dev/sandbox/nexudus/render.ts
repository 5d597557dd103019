/**
 * Records as the sandbox answers them (REST and webhook bodies share one shape, as Nexudus does):
 * PascalCase, denormalised names (`ResourceName`, `CoworkerFullName`), each business date twice
 * (`FromTime` in the chosen format, `FromTimeLocal` as the location's wall clock), audit dates
 * (`CreatedOn`, `UpdatedOn`) always UTC. List answers omit collections (`Desks`), as Nexudus' do.
 */
import { formatInstant, localText, type TimeFormat, utcText } from './clock';
import type {
  BookingRec,
  BusinessRec,
  CheckinRec,
  ContractRec,
  CoworkerRec,
  DeskRec,
  FailedCheckinRec,
  PassRec,
  ResourceRec,
  Store,
  TimePassRec,
  WebhookRec,
} from './store';

export type Json = Record<string, unknown>;
export type Shape = 'full' | 'list';

/** One row of a listing: the record answered, and the instants range filters compare against. */
export interface Row {
  record: Json;
  instants: Record<string, number | null>;
}

export class Renderer {
  constructor(
    private readonly store: Store,
    private readonly format: () => TimeFormat,
  ) {}

  /** The zone of a business; the first business's zone when the record names none. */
  zoneOf(businessId: number | null | undefined): string {
    const business = (businessId != null ? this.store.businesses.get(businessId) : undefined) ?? this.store.businesses.all()[0];
    return business?.TimeZone ?? 'UTC';
  }

  private date(ms: number | null, zone: string): string | null {
    return ms === null ? null : formatInstant(ms, zone, this.format());
  }

  private local(ms: number | null, zone: string): string | null {
    return ms === null ? null : localText(ms, zone);
  }

  private audit(rec: { CreatedOn: number; UpdatedOn?: number }): Json {
    return { CreatedOn: utcText(rec.CreatedOn), UpdatedOn: utcText(rec.UpdatedOn ?? rec.CreatedOn), UpdatedBy: 'sandbox@nexudus.invalid', IsNew: false };
  }

  private coworkerName(id: number | null): string | null {
    return id === null ? null : (this.store.coworkers.get(id)?.FullName ?? null);
  }

  business(b: BusinessRec): Json {
    return { Id: b.Id, UniqueId: b.UniqueId, Name: b.Name, SimpleTimeZoneId: b.SimpleTimeZoneId, TimeZone: b.TimeZone };
  }

  coworker(c: CoworkerRec): Json {
    return {
      Id: c.Id,
      UniqueId: c.UniqueId,
      CoworkerType: 1,
      FullName: c.FullName,
      Email: c.Email,
      Active: c.Active,
      AccessCardId: c.AccessCardId,
      KeyFobNumber: c.KeyFobNumber,
      AccessPincode: c.AccessPincode,
      ...this.audit(c),
    };
  }

  resource(r: ResourceRec): Json {
    return {
      Id: r.Id,
      UniqueId: r.UniqueId,
      Name: r.Name,
      BusinessId: r.BusinessId,
      ResourceTypeId: r.ResourceTypeId,
      ResourceTypeName: r.ResourceTypeName,
      Archived: r.Archived,
    };
  }

  desk(d: DeskRec): Json {
    const contracts = this.store.contracts.all().filter((c) => c.Desks.includes(d.Id));
    const holder = contracts.find((c) => c.Active && !c.Cancelled);
    return {
      Id: d.Id,
      UniqueId: d.UniqueId,
      Name: d.Name,
      BusinessId: d.BusinessId,
      ItemType: d.ItemType,
      ResourceId: d.ResourceId,
      CoworkerId: holder?.CoworkerId ?? null,
      CoworkerFullName: holder ? this.coworkerName(holder.CoworkerId) : null,
      CoworkerContractIds: contracts.length > 0 ? contracts.map((c) => c.Id).join(',') : null,
      Archived: d.Archived,
    };
  }

  timePass(t: TimePassRec): Json {
    return { Id: t.Id, UniqueId: t.UniqueId, Name: t.Name, BusinessId: t.BusinessId, MinutesIncluded: t.MinutesIncluded };
  }

  pass(p: PassRec): Json {
    const zone = this.zoneOf(p.BusinessId);
    const checkedIn = this.store.checkins.all().some((c) => c.CoworkerTimePassGuid === p.UniqueId && c.ToTime === null);
    return {
      Id: p.Id,
      UniqueId: p.UniqueId,
      CoworkerId: p.CoworkerId,
      CoworkerFullName: this.coworkerName(p.CoworkerId),
      BusinessId: p.BusinessId,
      TimePassId: p.TimePassId,
      TimePassName: this.store.timePasses.get(p.TimePassId)?.Name ?? null,
      Used: p.Used,
      CheckedIn: checkedIn,
      UsedDate: this.date(p.UsedDate, zone),
      RemainingUses: p.RemainingUses,
      TotalUses: p.TotalUses,
      ExpireDate: this.date(p.ExpireDate, zone),
      IsFromTariff: p.IsFromTariff,
      CoworkerContractUniqueId: p.CoworkerContractUniqueId,
      ...this.audit(p),
    };
  }

  contract(c: ContractRec, shape: Shape): Json {
    const zone = this.zoneOf(c.IssuedById);
    const coworker = this.store.coworkers.get(c.CoworkerId);
    const record: Json = {
      Id: c.Id,
      UniqueId: c.UniqueId,
      IssuedById: c.IssuedById,
      IssuedByName: this.store.businesses.get(c.IssuedById)?.Name ?? null,
      CoworkerId: c.CoworkerId,
      CoworkerFullName: coworker?.FullName ?? null,
      CoworkerEmail: coworker?.Email ?? null,
      CoworkerActive: coworker?.Active ?? null,
      TariffId: c.TariffId,
      TariffName: c.TariffName,
      StartDate: this.date(c.StartDate, zone),
      RenewalDate: this.date(c.RenewalDate, zone),
      CancellationDate: this.date(c.CancellationDate, zone),
      Active: c.Active,
      Cancelled: c.Cancelled,
      MainContract: c.MainContract,
      ...this.audit(c),
    };
    if (shape === 'full') record.Desks = c.Desks.map((id) => ({ Id: id, Name: this.store.desks.get(id)?.Name ?? null }));
    return record;
  }

  booking(b: BookingRec): Json {
    const resource = this.store.resources.get(b.ResourceId);
    const zone = this.zoneOf(resource?.BusinessId);
    return {
      Id: b.Id,
      UniqueId: b.UniqueId,
      ResourceId: b.ResourceId,
      ResourceName: resource?.Name ?? null,
      ResourceResourceTypeId: resource?.ResourceTypeId ?? null,
      ResourceResourceTypeName: resource?.ResourceTypeName ?? null,
      FloorPlanDeskId: b.FloorPlanDeskId,
      FloorPlanDeskName: b.FloorPlanDeskId === null ? null : (this.store.desks.get(b.FloorPlanDeskId)?.Name ?? null),
      CoworkerId: b.CoworkerId,
      CoworkerFullName: this.coworkerName(b.CoworkerId),
      FromTime: this.date(b.FromTime, zone),
      ToTime: this.date(b.ToTime, zone),
      FromTimeLocal: this.local(b.FromTime, zone),
      ToTimeLocal: this.local(b.ToTime, zone),
      Notes: b.Notes,
      Tentative: b.Tentative,
      Online: false,
      RepeatSeriesUniqueId: b.RepeatSeriesUniqueId,
      ...this.audit(b),
    };
  }

  checkin(c: CheckinRec): Json {
    const zone = this.zoneOf(c.BusinessId);
    return {
      Id: c.Id,
      UniqueId: c.UniqueId,
      BusinessId: c.BusinessId,
      BusinessName: this.store.businesses.get(c.BusinessId)?.Name ?? null,
      CoworkerId: c.CoworkerId,
      CoworkerFullName: this.coworkerName(c.CoworkerId),
      Source: c.Source,
      FromTime: this.date(c.FromTime, zone),
      ToTime: this.date(c.ToTime, zone),
      FromTimeLocal: this.local(c.FromTime, zone),
      ToTimeLocal: this.local(c.ToTime, zone),
      CoworkerTimePassGuid: c.CoworkerTimePassGuid,
      ...this.audit(c),
    };
  }

  failedCheckin(f: FailedCheckinRec): Json {
    const zone = this.zoneOf(f.BusinessId);
    return {
      Id: f.Id,
      UniqueId: f.UniqueId,
      BusinessId: f.BusinessId,
      BusinessName: this.store.businesses.get(f.BusinessId)?.Name ?? null,
      CoworkerId: f.CoworkerId,
      CoworkerFullName: this.coworkerName(f.CoworkerId),
      CheckinAttemptTime: this.date(f.CheckinAttemptTime, zone),
      CheckinAttemptTimeLocal: this.local(f.CheckinAttemptTime, zone),
      Source: f.Source,
      Description: f.Description,
      ...this.audit(f),
    };
  }

  webhook(w: WebhookRec, shape: Shape): Json {
    const record: Json = {
      Id: w.Id,
      UniqueId: w.UniqueId,
      BusinessId: w.BusinessId,
      Name: w.Name,
      Action: w.Action,
      URL: w.URL,
      Active: w.Active,
      LastError: w.LastError,
      ErrorCount: w.ErrorCount,
      LastTrigger: w.LastTrigger === null ? null : utcText(w.LastTrigger),
      ...this.audit(w),
    };
    if (shape === 'full') record.Description = w.Description;
    return record;
  }
}
