/**
 * The sandbox's Nexudus: every change goes through here, whether it came over REST or from a test
 * helper, so both fire the same webhooks. Changes announce themselves through `onEvent`
 * (the webhook dispatcher listens) with the action name and the entity as rendered for REST.
 *
 * What fires what (after Nexudus' help pages; see docs/reference nexudus.md):
 *   booking create/update/delete   BookingCreate / BookingUpdate / BookingDelete (+ AccessControlUpdate on delete)
 *   contract create/update/delete  CoworkerContractCreate / ...Update / ...Delete, ...Activate when it becomes
 *                                  active, ...Cancel when it becomes cancelled, always AccessControlUpdate
 *   customer pass create/update/delete   AccessControlUpdate only (no pass webhook exists), body = the customer
 *   customer create/update/delete  CoworkerCreate (+ AccessControlUpdate) / CoworkerUpdate, plus AccessControlUpdate
 *                                  only when access changes (Active, AccessCardId, KeyFobNumber, AccessPincode:
 *                                  "activated or suspended", "access details (card, fob, PIN)") / CoworkerDelete
 *   check-in accepted / refused    CheckinCreated + AccessControlUpdate / FailedCheckin
 *   check-out (ToTime set)         CheckinUpdated + CoworkerCheckout + AccessControlUpdate
 *   tick(at)                       AccessControlUpdate for each customer whose booking starts within 15 minutes
 *                                  or ended 15 minutes ago since the previous tick (Nexudus does this on its
 *                                  own clock; the sandbox waits to be told the time, so tests control it)
 *
 * Customer lifecycle (nexudus.md): customers may share an email address (two records, one
 * person); a customer is suspended or deactivated with `Active: false`; card and fob numbers
 * change and are re-issued to other customers (`reissueCard`). Deleting a customer deletes their
 * bookings, contracts and passes with them and sends only CoworkerDelete (whether Nexudus keeps,
 * refuses or cascades these, and whether it sends their own delete webhooks, is UNVERIFIED).
 *
 * `UpdatedOn` moves on every change: rendered with whole seconds, a record changed again within
 * the second of its previous change is stamped one second after it (so each version is newer).
 */
import { localDay, resolveSeedTime, type TimeFormat } from './clock';
import {
  bookingInput,
  checkinInput,
  contractInput,
  coworkerInput,
  fail,
  NotFoundFailure,
  parseInput,
  passInput,
  webhookInput,
  withId,
  type BookingInput,
  type CheckinInput,
  type ContractInput,
  type CoworkerInput,
  type PassInput,
  type WebhookInput,
} from './inputs';
import { actionId } from './actions';
import { Renderer, type Json } from './render';
import type { ParsedSeed } from './seed';
import { Store, type BookingRec, type CheckinRec, type ContractRec, type CoworkerRec, type PassRec, type WebhookRec } from './store';

export interface SandboxEvent {
  action: string;
  entity: Json;
  businessId: number | null;
}

export type CheckinResult = { ok: true; checkin: Json } | { ok: false; reason: string; failedCheckin: Json | null };

export class NexudusSandboxState {
  readonly store = new Store();
  readonly render: Renderer;
  /** Set by the sandbox: the webhook dispatcher. */
  onEvent: (event: SandboxEvent) => void = () => undefined;
  private seed: ParsedSeed;
  /** The instant up to which scheduled AccessControlUpdates have been sent. */
  private lastTick = 0;

  constructor(
    seed: ParsedSeed,
    public timeFormat: TimeFormat = 'utc-z',
    private readonly now: () => number = Date.now,
  ) {
    this.render = new Renderer(this.store, () => this.timeFormat);
    this.seed = seed;
    this.load(seed);
  }

  /** Replaces everything with `seed` (check-ins, failed check-ins and webhooks start empty unless seeded). */
  load(seed: ParsedSeed): void {
    this.seed = seed;
    const s = this.store;
    s.clear();
    const at = this.now();
    const zoneOfBusiness = new Map(seed.businesses.map((b) => [b.Id, b.TimeZone]));
    const firstZone = seed.businesses[0]!.TimeZone;
    const time = (text: string, zone: string, field: string): number => {
      const ms = resolveSeedTime(text, zone, at);
      if (ms === undefined) throw new Error(`seed: ${field}: cannot read time ${JSON.stringify(text)}`);
      return ms;
    };
    const optionalTime = (text: string | null | undefined, zone: string, field: string) => (text == null ? null : time(text, zone, field));

    for (const b of seed.businesses) s.businesses.put({ Id: b.Id, UniqueId: s.uuid(), Name: b.Name, TimeZone: b.TimeZone, SimpleTimeZoneId: b.SimpleTimeZoneId ?? null });
    for (const c of seed.coworkers) {
      s.coworkers.put({
        Id: c.Id,
        UniqueId: s.uuid(),
        FullName: c.FullName,
        Email: c.Email,
        Active: c.Active,
        AccessCardId: c.AccessCardId ?? null,
        KeyFobNumber: c.KeyFobNumber ?? null,
        AccessPincode: c.AccessPincode ?? null,
        BusinessId: c.BusinessId ?? null,
        CreatedOn: at,
        UpdatedOn: at,
      });
    }
    for (const r of seed.resources) {
      s.resources.put({ Id: r.Id, UniqueId: s.uuid(), Name: r.Name, BusinessId: r.BusinessId, ResourceTypeId: r.ResourceTypeId ?? null, ResourceTypeName: r.ResourceTypeName ?? null, Archived: r.Archived });
    }
    for (const d of seed.floorPlanDesks) {
      s.desks.put({ Id: d.Id, UniqueId: s.uuid(), Name: d.Name, BusinessId: d.BusinessId, ItemType: d.ItemType, ResourceId: d.ResourceId ?? null, Archived: d.Archived });
    }
    for (const t of seed.timePasses) s.timePasses.put({ Id: t.Id, UniqueId: s.uuid(), Name: t.Name, BusinessId: t.BusinessId, MinutesIncluded: t.MinutesIncluded, Uses: t.Uses });
    seed.coworkerTimePasses.forEach((p, i) => {
      const type = s.timePasses.get(p.TimePassId)!;
      const businessId = p.BusinessId ?? type.BusinessId;
      const zone = zoneOfBusiness.get(businessId) ?? firstZone;
      const total = type.Uses;
      const remaining = total === null ? null : (p.RemainingUses ?? (p.Used ? 0 : total));
      s.passes.put({
        Id: p.Id,
        UniqueId: s.uuid(),
        CoworkerId: p.CoworkerId,
        BusinessId: businessId,
        TimePassId: p.TimePassId,
        Used: remaining === null ? p.Used : remaining === 0,
        UsedDate: optionalTime(p.UsedDate, zone, `coworkerTimePasses.${i}.UsedDate`),
        RemainingUses: remaining,
        TotalUses: total,
        ExpireDate: optionalTime(p.ExpireDate, zone, `coworkerTimePasses.${i}.ExpireDate`),
        IsFromTariff: p.CoworkerContractUniqueId != null,
        CoworkerContractUniqueId: p.CoworkerContractUniqueId ?? null,
        CreatedOn: at,
        UpdatedOn: at,
      });
    });
    seed.contracts.forEach((c, i) => {
      const issuedBy = c.IssuedById ?? seed.businesses[0]!.Id;
      const zone = zoneOfBusiness.get(issuedBy) ?? firstZone;
      s.contracts.put({
        Id: c.Id,
        UniqueId: s.uuid(),
        CoworkerId: c.CoworkerId,
        IssuedById: issuedBy,
        TariffId: c.TariffId ?? null,
        TariffName: c.TariffName ?? null,
        StartDate: time(c.StartDate, zone, `contracts.${i}.StartDate`),
        RenewalDate: optionalTime(c.RenewalDate, zone, `contracts.${i}.RenewalDate`),
        CancellationDate: optionalTime(c.CancellationDate, zone, `contracts.${i}.CancellationDate`),
        Active: c.Active,
        Cancelled: c.Cancelled,
        MainContract: c.MainContract,
        Desks: c.Desks,
        CreatedOn: at,
        UpdatedOn: at,
      });
    });
    seed.bookings.forEach((b, i) => {
      const zone = zoneOfBusiness.get(s.resources.get(b.ResourceId)!.BusinessId) ?? firstZone;
      s.bookings.put({
        Id: b.Id,
        UniqueId: s.uuid(),
        ResourceId: b.ResourceId,
        CoworkerId: b.CoworkerId ?? null,
        FloorPlanDeskId: b.FloorPlanDeskId ?? null,
        FromTime: time(b.FromTime, zone, `bookings.${i}.FromTime`),
        ToTime: time(b.ToTime, zone, `bookings.${i}.ToTime`),
        Tentative: b.Tentative,
        Notes: b.Notes ?? null,
        RepeatSeriesUniqueId: null,
        CreatedOn: at,
        UpdatedOn: at,
      });
    });
    const maxId = Math.max(
      0,
      ...[seed.businesses, seed.coworkers, seed.resources, seed.floorPlanDesks, seed.timePasses, seed.coworkerTimePasses, seed.contracts, seed.bookings].flatMap((list) => list.map((r) => r.Id)),
    );
    s.reserveAbove(maxId);
    for (const w of seed.webhooks) this.addWebhook({ Name: w.Name, Action: w.Action, URL: w.URL, Active: w.Active, BusinessId: w.BusinessId ?? null });
    this.lastTick = at;
  }

  /**
   * Advances the sandbox's access-control clock to `at`: every customer with a booking whose
   * start - 15 min or end + 15 min falls in (previous tick, at] gets one AccessControlUpdate.
   * Answers the customers notified.
   */
  tick(at: number = this.now()): number[] {
    const from = this.lastTick;
    if (at <= from) return [];
    const lead = 15 * 60_000;
    const due = new Set<number>();
    for (const b of this.store.bookings.all()) {
      if (b.CoworkerId === null) continue;
      const moments = [b.FromTime - lead, b.ToTime + lead];
      if (moments.some((m) => m > from && m <= at)) due.add(b.CoworkerId);
    }
    this.lastTick = at;
    for (const coworkerId of due) this.accessControlUpdate(coworkerId);
    return [...due];
  }

  /** Back to the seed this state was last loaded with. */
  reset(): void {
    this.load(this.seed);
  }

  // ---- look-ups ----------------------------------------------------------------------------

  /** The `UpdatedOn` of a change to a record last changed at `previous`: now, and always a newer second. */
  private touch(previous: number): number {
    return Math.max(this.now(), Math.floor(previous / 1000) * 1000 + 1000);
  }

  private mustGet<T>(value: T | undefined, entity: string, id: number): T {
    if (value === undefined) throw new NotFoundFailure(entity, id);
    return value;
  }

  private emit(action: string, entity: Json, businessId: number | null): void {
    this.onEvent({ action, entity, businessId });
  }

  private accessControlUpdate(coworkerId: number | null): void {
    if (coworkerId === null) return;
    const coworker = this.store.coworkers.get(coworkerId);
    if (coworker) this.emit('AccessControlUpdate', this.render.coworker(coworker), coworker.BusinessId);
  }

  private defaultBusinessId(): number {
    return this.store.businesses.all()[0]!.Id;
  }

  private checkRef(table: { get(id: number): unknown }, id: number | null | undefined, field: string, entity: string): void {
    if (id != null && table.get(id) === undefined) fail(field, `${entity} ${id} does not exist`, id);
  }

  // ---- customers -----------------------------------------------------------------------------

  addCoworker(input: CoworkerInput): Json {
    const v = parseInput(coworkerInput, input);
    this.checkRef(this.store.businesses, v.BusinessId, 'BusinessId', 'Business');
    const at = this.now();
    const rec = this.store.coworkers.put({
      Id: this.store.nextId(),
      UniqueId: this.store.uuid(),
      FullName: v.FullName,
      Email: v.Email,
      Active: v.Active ?? true,
      AccessCardId: v.AccessCardId ?? null,
      KeyFobNumber: v.KeyFobNumber ?? null,
      // Nexudus assigns every customer a 5-digit PIN.
      AccessPincode: v.AccessPincode ?? String(10000 + Math.floor(Math.random() * 90000)),
      BusinessId: v.BusinessId ?? this.defaultBusinessId(),
      CreatedOn: at,
      UpdatedOn: at,
    });
    const rendered = this.render.coworker(rec);
    this.emit('CoworkerCreate', rendered, rec.BusinessId);
    this.accessControlUpdate(rec.Id);
    return rendered;
  }

  updateCoworker(id: number, patch: Partial<CoworkerInput>): Json {
    const current = this.mustGet(this.store.coworkers.get(id), 'Coworker', id);
    const v = parseInput(withId(coworkerInput), { ...patch, Id: id });
    const next: CoworkerRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.FullName !== undefined) next.FullName = v.FullName;
    if (v.Email !== undefined) next.Email = v.Email;
    if (v.Active !== undefined) next.Active = v.Active;
    if (v.AccessCardId !== undefined) next.AccessCardId = v.AccessCardId;
    if (v.KeyFobNumber !== undefined) next.KeyFobNumber = v.KeyFobNumber;
    if (v.AccessPincode !== undefined) next.AccessPincode = v.AccessPincode;
    if (v.BusinessId !== undefined) {
      this.checkRef(this.store.businesses, v.BusinessId, 'BusinessId', 'Business');
      next.BusinessId = v.BusinessId;
    }
    this.store.coworkers.put(next);
    const rendered = this.render.coworker(next);
    this.emit('CoworkerUpdate', rendered, next.BusinessId);
    if (accessChanged(current, next)) this.accessControlUpdate(id);
    return rendered;
  }

  /**
   * Deletes the customer with their bookings, contracts and passes (check-ins and failed check-ins
   * stay: they are history). Only CoworkerDelete is sent, with the customer as it was.
   */
  deleteCoworker(id: number): Json {
    const current = this.mustGet(this.store.coworkers.get(id), 'Coworker', id);
    const rendered = this.render.coworker(current);
    for (const b of this.store.bookings.all()) if (b.CoworkerId === id) this.store.bookings.delete(b.Id);
    for (const c of this.store.contracts.all()) if (c.CoworkerId === id) this.store.contracts.delete(c.Id);
    for (const p of this.store.passes.all()) if (p.CoworkerId === id) this.store.passes.delete(p.Id);
    this.store.coworkers.delete(id);
    this.emit('CoworkerDelete', rendered, current.BusinessId);
    return rendered;
  }

  /**
   * A card or fob number handed to another customer (someone left and their card was re-issued):
   * every customer holding `number` (in `AccessCardId`, which may list several, or as
   * `KeyFobNumber`) loses it, and `toCoworkerId` gets it (added to `AccessCardId`, or as
   * `KeyFobNumber` when `field` says so). Each changed customer is an ordinary update (CoworkerUpdate
   * + AccessControlUpdate). Answers the ids that lost the number.
   */
  reissueCard(number: string, toCoworkerId: number, field: 'AccessCardId' | 'KeyFobNumber' = 'AccessCardId'): { from: number[]; to: Json } {
    const card = number.trim();
    if (!card) fail('number', 'may not be null or empty', number);
    const target = this.mustGet(this.store.coworkers.get(toCoworkerId), 'Coworker', toCoworkerId);
    const from: number[] = [];
    for (const c of this.store.coworkers.all()) {
      if (c.Id === toCoworkerId) continue;
      const cards = cardNumbers(c.AccessCardId);
      const keptCards = cards.filter((n) => !sameCard(n, card));
      const fob = c.KeyFobNumber !== null && sameCard(c.KeyFobNumber, card);
      if (keptCards.length === cards.length && !fob) continue;
      const change: Partial<CoworkerInput> = {};
      if (keptCards.length !== cards.length) change.AccessCardId = keptCards.length > 0 ? keptCards.join(',') : null;
      if (fob) change.KeyFobNumber = null;
      this.updateCoworker(c.Id, change);
      from.push(c.Id);
    }
    const held = cardNumbers(target.AccessCardId);
    const has = field === 'KeyFobNumber' ? target.KeyFobNumber !== null && sameCard(target.KeyFobNumber, card) : held.some((n) => sameCard(n, card));
    if (has) return { from, to: this.render.coworker(target) };
    const to = this.updateCoworker(toCoworkerId, field === 'KeyFobNumber' ? { KeyFobNumber: card } : { AccessCardId: [...held, card].join(',') });
    return { from, to };
  }

  // ---- bookings -------------------------------------------------------------------------------

  addBooking(input: BookingInput): Json {
    const v = parseInput(bookingInput, input);
    const at = this.now();
    const rec: BookingRec = {
      Id: 0,
      UniqueId: this.store.uuid(),
      ResourceId: v.ResourceId,
      CoworkerId: v.CoworkerId ?? null,
      FloorPlanDeskId: v.FloorPlanDeskId ?? null,
      FromTime: v.FromTime,
      ToTime: v.ToTime,
      Tentative: v.Tentative ?? false,
      Notes: v.Notes ?? null,
      RepeatSeriesUniqueId: v.RepeatSeriesUniqueId ?? null,
      CreatedOn: at,
      UpdatedOn: at,
    };
    this.checkBooking(rec);
    rec.Id = this.store.nextId();
    this.store.bookings.put(rec);
    const rendered = this.render.booking(rec);
    this.emit('BookingCreate', rendered, this.businessOfResource(rec.ResourceId));
    return rendered;
  }

  updateBooking(id: number, patch: Partial<BookingInput>): Json {
    const current = this.mustGet(this.store.bookings.get(id), 'Booking', id);
    const v = parseInput(withId(bookingInput), { ...patch, Id: id });
    const next: BookingRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.ResourceId !== undefined) next.ResourceId = v.ResourceId;
    if (v.CoworkerId !== undefined) next.CoworkerId = v.CoworkerId;
    if (v.FloorPlanDeskId !== undefined) next.FloorPlanDeskId = v.FloorPlanDeskId;
    if (v.FromTime !== undefined) next.FromTime = v.FromTime;
    if (v.ToTime !== undefined) next.ToTime = v.ToTime;
    if (v.Tentative !== undefined) next.Tentative = v.Tentative;
    if (v.Notes !== undefined) next.Notes = v.Notes;
    if (v.RepeatSeriesUniqueId !== undefined) next.RepeatSeriesUniqueId = v.RepeatSeriesUniqueId;
    this.checkBooking(next);
    this.store.bookings.put(next);
    const rendered = this.render.booking(next);
    this.emit('BookingUpdate', rendered, this.businessOfResource(next.ResourceId));
    return rendered;
  }

  deleteBooking(id: number): Json {
    const current = this.mustGet(this.store.bookings.get(id), 'Booking', id);
    const rendered = this.render.booking(current);
    this.store.bookings.delete(id);
    this.emit('BookingDelete', rendered, this.businessOfResource(current.ResourceId));
    this.accessControlUpdate(current.CoworkerId);
    return rendered;
  }

  private checkBooking(b: BookingRec): void {
    this.checkRef(this.store.resources, b.ResourceId, 'ResourceId', 'Resource');
    this.checkRef(this.store.coworkers, b.CoworkerId, 'CoworkerId', 'Coworker');
    this.checkRef(this.store.desks, b.FloorPlanDeskId, 'FloorPlanDeskId', 'FloorPlanDesk');
    if (b.ToTime <= b.FromTime) fail('ToTime', 'must be after FromTime', b.ToTime);
  }

  private businessOfResource(resourceId: number): number | null {
    return this.store.resources.get(resourceId)?.BusinessId ?? null;
  }

  // ---- customer passes ------------------------------------------------------------------------

  /** Creates `CreateMultiple` passes (default 1); answers the first. */
  addCoworkerTimePass(input: PassInput): Json {
    const v = parseInput(passInput, input);
    this.checkRef(this.store.coworkers, v.CoworkerId, 'CoworkerId', 'Coworker');
    const type = this.store.timePasses.get(v.TimePassId) ?? fail('TimePassId', `TimePass ${v.TimePassId} does not exist`, v.TimePassId);
    this.checkRef(this.store.businesses, v.BusinessId, 'BusinessId', 'Business');
    const at = this.now();
    const created: PassRec[] = [];
    for (let i = 0; i < (v.CreateMultiple ?? 1); i++) {
      const total = type.Uses;
      const remaining = total === null ? null : (v.RemainingUses ?? (v.Used ? 0 : total));
      const rec = this.store.passes.put({
        Id: this.store.nextId(),
        UniqueId: this.store.uuid(),
        CoworkerId: v.CoworkerId,
        BusinessId: v.BusinessId ?? type.BusinessId,
        TimePassId: v.TimePassId,
        Used: remaining === null ? (v.Used ?? false) : remaining === 0,
        UsedDate: v.UsedDate ?? null,
        RemainingUses: remaining,
        TotalUses: total,
        ExpireDate: v.ExpireDate ?? null,
        IsFromTariff: v.IsFromTariff ?? v.CoworkerContractUniqueId != null,
        CoworkerContractUniqueId: v.CoworkerContractUniqueId ?? null,
        CreatedOn: at,
        UpdatedOn: at,
      });
      created.push(rec);
    }
    this.accessControlUpdate(v.CoworkerId);
    return this.render.pass(created[0]!);
  }

  updateCoworkerTimePass(id: number, patch: Partial<PassInput>): Json {
    const current = this.mustGet(this.store.passes.get(id), 'CoworkerTimePass', id);
    const v = parseInput(withId(passInput), { ...patch, Id: id });
    const next: PassRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.CoworkerId !== undefined) {
      this.checkRef(this.store.coworkers, v.CoworkerId, 'CoworkerId', 'Coworker');
      next.CoworkerId = v.CoworkerId;
    }
    if (v.ExpireDate !== undefined) next.ExpireDate = v.ExpireDate;
    if (v.UsedDate !== undefined) next.UsedDate = v.UsedDate;
    if (v.RemainingUses !== undefined) {
      next.RemainingUses = v.RemainingUses;
      if (v.RemainingUses !== null) next.Used = v.RemainingUses === 0;
    }
    if (v.Used !== undefined) {
      next.Used = v.Used;
      if (next.TotalUses !== null && v.RemainingUses === undefined) next.RemainingUses = v.Used ? 0 : Math.max(next.RemainingUses ?? 0, 1);
    }
    if (v.CoworkerContractUniqueId !== undefined) next.CoworkerContractUniqueId = v.CoworkerContractUniqueId;
    this.store.passes.put(next);
    this.accessControlUpdate(next.CoworkerId);
    if (next.CoworkerId !== current.CoworkerId) this.accessControlUpdate(current.CoworkerId);
    return this.render.pass(next);
  }

  deleteCoworkerTimePass(id: number): Json {
    const current = this.mustGet(this.store.passes.get(id), 'CoworkerTimePass', id);
    const rendered = this.render.pass(current);
    this.store.passes.delete(id);
    this.accessControlUpdate(current.CoworkerId);
    return rendered;
  }

  // ---- contracts ----------------------------------------------------------------------------

  addContract(input: ContractInput): Json {
    const v = parseInput(contractInput, input);
    const at = this.now();
    const rec: ContractRec = {
      Id: 0,
      UniqueId: this.store.uuid(),
      CoworkerId: v.CoworkerId,
      IssuedById: v.IssuedById ?? this.defaultBusinessId(),
      TariffId: v.TariffId ?? null,
      TariffName: v.TariffName ?? null,
      StartDate: v.StartDate,
      RenewalDate: v.RenewalDate ?? null,
      CancellationDate: v.CancellationDate ?? null,
      Active: v.Active ?? true,
      Cancelled: v.Cancelled ?? false,
      MainContract: v.MainContract ?? true,
      Desks: v.Desks ?? [],
      CreatedOn: at,
      UpdatedOn: at,
    };
    this.checkContract(rec);
    rec.Id = this.store.nextId();
    this.store.contracts.put(rec);
    const rendered = this.render.contract(rec, 'full');
    this.emit('CoworkerContractCreate', rendered, rec.IssuedById);
    if (rec.Active) this.emit('CoworkerContractActivate', rendered, rec.IssuedById);
    this.accessControlUpdate(rec.CoworkerId);
    return rendered;
  }

  updateContract(id: number, patch: Partial<ContractInput>): Json {
    const current = this.mustGet(this.store.contracts.get(id), 'CoworkerContract', id);
    const v = parseInput(withId(contractInput), { ...patch, Id: id });
    const next: ContractRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.CoworkerId !== undefined) next.CoworkerId = v.CoworkerId;
    if (v.IssuedById != null) next.IssuedById = v.IssuedById;
    if (v.TariffId !== undefined) next.TariffId = v.TariffId;
    if (v.TariffName !== undefined) next.TariffName = v.TariffName;
    if (v.StartDate !== undefined) next.StartDate = v.StartDate;
    if (v.RenewalDate !== undefined) next.RenewalDate = v.RenewalDate;
    if (v.CancellationDate !== undefined) next.CancellationDate = v.CancellationDate;
    if (v.Active !== undefined) next.Active = v.Active;
    if (v.Cancelled !== undefined) next.Cancelled = v.Cancelled;
    if (v.MainContract !== undefined) next.MainContract = v.MainContract;
    if (v.Desks !== undefined) next.Desks = v.Desks;
    this.checkContract(next);
    this.store.contracts.put(next);
    const rendered = this.render.contract(next, 'full');
    this.emit('CoworkerContractUpdate', rendered, next.IssuedById);
    if (next.Active && !current.Active) this.emit('CoworkerContractActivate', rendered, next.IssuedById);
    if (next.Cancelled && !current.Cancelled) this.emit('CoworkerContractCancel', rendered, next.IssuedById);
    this.accessControlUpdate(next.CoworkerId);
    if (next.CoworkerId !== current.CoworkerId) this.accessControlUpdate(current.CoworkerId);
    return rendered;
  }

  deleteContract(id: number): Json {
    const current = this.mustGet(this.store.contracts.get(id), 'CoworkerContract', id);
    const rendered = this.render.contract(current, 'full');
    this.store.contracts.delete(id);
    this.emit('CoworkerContractDelete', rendered, current.IssuedById);
    this.accessControlUpdate(current.CoworkerId);
    return rendered;
  }

  private checkContract(c: ContractRec): void {
    this.checkRef(this.store.coworkers, c.CoworkerId, 'CoworkerId', 'Coworker');
    this.checkRef(this.store.businesses, c.IssuedById, 'IssuedById', 'Business');
    c.Desks.forEach((d, i) => this.checkRef(this.store.desks, d, `Desks.${i}`, 'FloorPlanDesk'));
  }

  // ---- check-ins ------------------------------------------------------------------------------

  /**
   * A check-in succeeds only while the customer holds a valid pass at that time: not expired, and
   * either used earlier the same local day (re-entry) or with a use left (which it consumes).
   * Otherwise it is refused and logged as a failed check-in, as Nexudus does.
   */
  createCheckin(input: CheckinInput): CheckinResult {
    const v = parseInput(checkinInput, input);
    const business = this.store.businesses.get(v.BusinessId) ?? fail('BusinessId', `Business ${v.BusinessId} does not exist`, v.BusinessId);
    const source = v.Source ?? 1;
    if (v.CoworkerId == null) fail('CoworkerId', 'may not be null', null);
    const coworker = this.store.coworkers.get(v.CoworkerId);
    if (!coworker) fail('CoworkerId', `Coworker ${v.CoworkerId} does not exist`, v.CoworkerId);
    const at = v.FromTime;
    const choice = this.validPass(coworker, business.Id, business.TimeZone, at);
    if (!choice.ok) {
      const failed = this.store.failedCheckins.put({
        Id: this.store.nextId(),
        UniqueId: this.store.uuid(),
        BusinessId: business.Id,
        CoworkerId: coworker.Id,
        CheckinAttemptTime: at,
        Source: source,
        Description: choice.reason,
        CreatedOn: this.now(),
      });
      const rendered = this.render.failedCheckin(failed);
      this.emit('FailedCheckin', rendered, business.Id);
      return { ok: false, reason: choice.reason, failedCheckin: rendered };
    }
    const pass = choice.pass;
    if (!choice.usedToday) {
      const remaining = pass.RemainingUses;
      const next: PassRec = { ...pass, UsedDate: at, UpdatedOn: this.touch(pass.UpdatedOn) };
      if (remaining !== null) {
        next.RemainingUses = remaining - 1;
        next.Used = remaining - 1 === 0;
      } else next.Used = true;
      this.store.passes.put(next);
    }
    const created = this.now();
    const checkin = this.store.checkins.put({
      Id: this.store.nextId(),
      UniqueId: this.store.uuid(),
      BusinessId: business.Id,
      CoworkerId: coworker.Id,
      FromTime: at,
      ToTime: v.ToTime ?? null,
      Source: source,
      CoworkerTimePassGuid: pass.UniqueId,
      CreatedOn: created,
      UpdatedOn: created,
    });
    const rendered = this.render.checkin(checkin);
    this.emit('CheckinCreated', rendered, business.Id);
    this.accessControlUpdate(coworker.Id);
    return { ok: true, checkin: rendered };
  }

  /**
   * PUT spaces/checkins: changes `FromTime` and `ToTime` (a check-out sets `ToTime`; null opens it
   * again). The check-in's customer and location stay (Nexudus replaces the whole record; the
   * sandbox merges and refuses to move a check-in elsewhere). CheckinUpdated always, and
   * CoworkerCheckout + AccessControlUpdate when it closes.
   */
  updateCheckin(id: number, patch: Partial<CheckinInput>): Json {
    const current = this.mustGet(this.store.checkins.get(id), 'Checkin', id);
    const v = parseInput(withId(checkinInput), { ...patch, Id: id });
    if (v.BusinessId !== undefined && v.BusinessId !== current.BusinessId) fail('BusinessId', 'the sandbox does not move a check-in to another location', v.BusinessId);
    if (v.CoworkerId != null && v.CoworkerId !== current.CoworkerId) fail('CoworkerId', 'the sandbox does not move a check-in to another customer', v.CoworkerId);
    const next: CheckinRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.FromTime !== undefined) next.FromTime = v.FromTime;
    if (v.ToTime !== undefined) next.ToTime = v.ToTime;
    if (next.ToTime !== null && next.ToTime < next.FromTime) fail('ToTime', 'must not be before FromTime', v.ToTime ?? null);
    this.store.checkins.put(next);
    const rendered = this.render.checkin(next);
    this.emit('CheckinUpdated', rendered, next.BusinessId);
    if (current.ToTime === null && next.ToTime !== null) {
      this.emit('CoworkerCheckout', rendered, next.BusinessId);
      this.accessControlUpdate(next.CoworkerId);
    }
    return rendered;
  }

  /**
   * Closes open check-ins at `at` (default now): the one named, or every open one of a customer
   * (optionally at one location). Answers the closed check-ins; none open is not an error.
   */
  checkout(target: { checkinId: number } | { coworkerId: number; businessId?: number }, at: number = this.now()): Json[] {
    const open =
      'checkinId' in target
        ? [this.mustGet(this.store.checkins.get(target.checkinId), 'Checkin', target.checkinId)].filter((c) => c.ToTime === null)
        : this.store.checkins.all().filter((c) => c.CoworkerId === target.coworkerId && c.ToTime === null && (target.businessId === undefined || c.BusinessId === target.businessId));
    return open.map((c) => this.updateCheckin(c.Id, { ToTime: Math.max(at, c.FromTime) }));
  }

  private validPass(coworker: CoworkerRec, businessId: number, zone: string, at: number): { ok: true; pass: PassRec; usedToday: boolean } | { ok: false; reason: string } {
    if (!coworker.Active) return { ok: false, reason: `${coworker.FullName} is not an active customer` };
    const held = this.store.passes.all().filter((p) => p.CoworkerId === coworker.Id && p.BusinessId === businessId);
    if (held.length === 0) return { ok: false, reason: `${coworker.FullName} does not have any valid pass` };
    const live = held.filter((p) => p.ExpireDate === null || at < p.ExpireDate);
    const today = localDay(at, zone);
    const reentry = live.find((p) => p.UsedDate !== null && localDay(p.UsedDate, zone) === today);
    if (reentry) return { ok: true, pass: reentry, usedToday: true };
    const usable = live
      .filter((p) => (p.RemainingUses === null ? !p.Used : p.RemainingUses > 0))
      .sort((a, b) => (a.ExpireDate ?? Infinity) - (b.ExpireDate ?? Infinity) || a.Id - b.Id);
    if (usable[0]) return { ok: true, pass: usable[0], usedToday: false };
    return { ok: false, reason: `${coworker.FullName} does not have any valid pass (all passes are used or expired)` };
  }

  // ---- webhooks -----------------------------------------------------------------------------

  addWebhook(input: WebhookInput): Json {
    const v = parseInput(webhookInput, input);
    const action = actionId(v.Action) ?? fail('Action', `unknown webhook action ${JSON.stringify(v.Action)}`, v.Action);
    this.checkRef(this.store.businesses, v.BusinessId, 'BusinessId', 'Business');
    const at = this.now();
    const rec = this.store.webhooks.put({
      Id: this.store.nextId(),
      UniqueId: this.store.uuid(),
      BusinessId: v.BusinessId ?? this.defaultBusinessId(),
      Name: v.Name,
      Action: action,
      Description: v.Description ?? null,
      URL: v.URL,
      Active: v.Active ?? true,
      LastError: null,
      ErrorCount: 0,
      LastTrigger: null,
      CreatedOn: at,
      UpdatedOn: at,
    });
    return this.render.webhook(rec, 'full');
  }

  updateWebhook(id: number, patch: Partial<WebhookInput>): Json {
    const current = this.mustGet(this.store.webhooks.get(id), 'WebHook', id);
    const v = parseInput(withId(webhookInput), { ...patch, Id: id });
    const next: WebhookRec = { ...current, UpdatedOn: this.touch(current.UpdatedOn) };
    if (v.Name !== undefined) next.Name = v.Name;
    if (v.Action !== undefined) next.Action = actionId(v.Action) ?? fail('Action', `unknown webhook action ${JSON.stringify(v.Action)}`, v.Action);
    if (v.URL !== undefined) next.URL = v.URL;
    if (v.Description !== undefined) next.Description = v.Description;
    if (v.Active !== undefined) {
      next.Active = v.Active;
      // Re-enabling a webhook by hand starts its failure count afresh.
      if (v.Active && !current.Active) next.ErrorCount = 0;
    }
    this.store.webhooks.put(next);
    return this.render.webhook(next, 'full');
  }

  deleteWebhook(id: number): Json {
    const current = this.mustGet(this.store.webhooks.get(id), 'WebHook', id);
    this.store.webhooks.delete(id);
    return this.render.webhook(current, 'full');
  }

  // ---- views for tests --------------------------------------------------------------------

  get businessTimeZone(): string {
    return this.render.zoneOf(null);
  }

  coworkers(): Json[] {
    return this.store.coworkers.all().map((c) => this.render.coworker(c));
  }

  bookings(): Json[] {
    return this.store.bookings.all().map((b) => this.render.booking(b));
  }

  coworkerTimePasses(): Json[] {
    return this.store.passes.all().map((p) => this.render.pass(p));
  }

  contracts(): Json[] {
    return this.store.contracts.all().map((c) => this.render.contract(c, 'full'));
  }

  checkins(): Json[] {
    return this.store.checkins.all().map((c) => this.render.checkin(c));
  }

  failedCheckins(): Json[] {
    return this.store.failedCheckins.all().map((f) => this.render.failedCheckin(f));
  }

  webhooks(): Json[] {
    return this.store.webhooks.all().map((w) => this.render.webhook(w, 'full'));
  }

  counts(): Record<string, number> {
    const s = this.store;
    return {
      businesses: s.businesses.size,
      coworkers: s.coworkers.size,
      resources: s.resources.size,
      floorPlanDesks: s.desks.size,
      timePasses: s.timePasses.size,
      coworkerTimePasses: s.passes.size,
      contracts: s.contracts.size,
      bookings: s.bookings.size,
      checkins: s.checkins.size,
      failedCheckins: s.failedCheckins.size,
      webhooks: s.webhooks.size,
    };
  }
}

/** Fields whose change Nexudus announces with AccessControlUpdate: activation and access details. */
function accessChanged(before: CoworkerRec, after: CoworkerRec): boolean {
  return before.Active !== after.Active || before.AccessCardId !== after.AccessCardId || before.KeyFobNumber !== after.KeyFobNumber || before.AccessPincode !== after.AccessPincode;
}

/**
 * The numbers in an `AccessCardId` (several may be listed, separated by commas, semicolons or
 * spaces: how Nexudus separates them is UNVERIFIED). The sandbox's own reading, not the product's.
 */
function cardNumbers(field: string | null): string[] {
  return (field ?? '').split(/[\s,;]+/).filter((n) => n !== '');
}

function sameCard(a: string, b: string): boolean {
  return a.trim().toLowerCase() === b.trim().toLowerCase();
}
