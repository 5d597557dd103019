/**
 * Shapes of the Nexudus records we read (REST answers and webhook bodies). Nexudus publishes no
 * schema, so every object is loose (unknown fields pass), only the fields we use are checked,
 * ids accept numbers or numeric strings, and dates stay strings until src/domain/time.ts reads them.
 */
import { z } from 'zod';

export const nexudusId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]);
const optionalId = z.union([nexudusId, z.null()]).optional();
const dateText = z.string().min(1);
const optionalDate = z.union([dateText, z.null()]).optional();
const optionalText = z.union([z.string(), z.null()]).optional();
const optionalBool = z.union([z.boolean(), z.null()]).optional();
const optionalInt = z.union([z.number().int(), z.null()]).optional();

export const bookingSchema = z.looseObject({
  Id: nexudusId,
  UniqueId: optionalText,
  ResourceId: nexudusId,
  ResourceName: optionalText,
  FloorPlanDeskId: optionalId,
  /** Null for a booking without a customer (e.g. a visitor's): nothing to grant. */
  CoworkerId: optionalId,
  CoworkerFullName: optionalText,
  CoworkerEmail: optionalText,
  FromTime: dateText,
  ToTime: dateText,
  FromTimeLocal: optionalDate,
  ToTimeLocal: optionalDate,
  Tentative: optionalBool,
  Cancelled: optionalBool,
  RepeatSeriesUniqueId: optionalText,
  CreatedOn: optionalDate,
  UpdatedOn: optionalDate,
});
export type NexudusBooking = z.output<typeof bookingSchema>;

export const coworkerSchema = z.looseObject({
  Id: nexudusId,
  FullName: optionalText,
  Email: optionalText,
  Active: optionalBool,
  AccessCardId: optionalText,
  AccessPincode: optionalText,
  KeyFobNumber: optionalText,
  UpdatedOn: optionalDate,
});
export type NexudusCoworker = z.output<typeof coworkerSchema>;

export const timePassSchema = z.looseObject({
  Id: nexudusId,
  Name: optionalText,
  /** null means a day pass. */
  MinutesIncluded: optionalInt,
});
export type NexudusTimePass = z.output<typeof timePassSchema>;

export const coworkerTimePassSchema = z.looseObject({
  Id: nexudusId,
  CoworkerId: nexudusId,
  BusinessId: optionalId,
  TimePassId: nexudusId,
  TimePassName: optionalText,
  Used: optionalBool,
  UsedDate: optionalDate,
  RemainingUses: optionalInt,
  TotalUses: optionalInt,
  ExpireDate: optionalDate,
  IsFromTariff: optionalBool,
  CoworkerContractUniqueId: optionalText,
  UniqueId: optionalText,
  /** True while the customer is checked in on this pass. */
  CheckedIn: optionalBool,
  CreatedOn: optionalDate,
  UpdatedOn: optionalDate,
});
export type NexudusCoworkerTimePass = z.output<typeof coworkerTimePassSchema>;

/** Contract desks arrive as ids or as `{Id, Name}` objects depending on the endpoint. */
const deskRef = z.union([nexudusId, z.looseObject({ Id: nexudusId, Name: optionalText })]);

export const contractSchema = z.looseObject({
  Id: nexudusId,
  /** Passes granted by this contract point back to it through `CoworkerContractUniqueId`. */
  UniqueId: optionalText,
  IssuedById: optionalId,
  CoworkerId: nexudusId,
  CoworkerEmail: optionalText,
  CoworkerFullName: optionalText,
  TariffId: optionalId,
  TariffName: optionalText,
  StartDate: dateText,
  RenewalDate: optionalDate,
  CancellationDate: optionalDate,
  Active: optionalBool,
  Cancelled: optionalBool,
  MainContract: optionalBool,
  Desks: z.union([z.array(deskRef), z.null()]).optional(),
  CreatedOn: optionalDate,
  UpdatedOn: optionalDate,
});
export type NexudusContract = z.output<typeof contractSchema>;

/** The floor-plan desk ids of a contract, whatever shape `Desks` came in. */
export function contractDeskIds(contract: NexudusContract): number[] {
  return (contract.Desks ?? []).map((d) => (typeof d === 'number' ? d : d.Id));
}

export const resourceSchema = z.looseObject({
  Id: nexudusId,
  Name: optionalText,
  ResourceTypeId: optionalId,
  Archived: optionalBool,
});
export type NexudusResource = z.output<typeof resourceSchema>;

export const floorPlanDeskSchema = z.looseObject({
  Id: nexudusId,
  Name: optionalText,
  /** 1 office, 2 dedicated desk, 3 hot desk, 4 other, 5 room. */
  ItemType: optionalInt,
  ResourceId: optionalId,
  CoworkerId: optionalId,
  CoworkerContractIds: optionalText,
  Archived: optionalBool,
});
export type NexudusFloorPlanDesk = z.output<typeof floorPlanDeskSchema>;

export const checkinSchema = z.looseObject({
  Id: optionalId,
  BusinessId: nexudusId,
  CoworkerId: nexudusId,
  FromTime: dateText,
  ToTime: optionalDate,
  FromTimeLocal: optionalDate,
  ToTimeLocal: optionalDate,
  /** 2 = door access. */
  Source: optionalInt,
  /** UniqueId of the customer pass the check-in consumed. */
  CoworkerTimePassGuid: optionalText,
});
export type NexudusCheckin = z.output<typeof checkinSchema>;

export const failedCheckinSchema = z.looseObject({
  Id: nexudusId,
  CoworkerId: optionalId,
  CoworkerFullName: optionalText,
  BusinessId: optionalId,
  CreatedOn: optionalDate,
  Reason: optionalText,
  /** Nexudus' documented field for why the check-in was refused (developers.nexudus.com, FailedCheckin). */
  Description: optionalText,
  CheckinAttemptTime: optionalDate,
  CheckinAttemptTimeLocal: optionalDate,
  Source: optionalInt,
});
export type NexudusFailedCheckin = z.output<typeof failedCheckinSchema>;

export const webhookSchema = z.looseObject({
  Id: nexudusId,
  BusinessId: optionalId,
  Name: optionalText,
  Action: z.union([z.number().int(), z.string()]),
  URL: optionalText,
  Active: optionalBool,
  ErrorCount: optionalInt,
  LastError: optionalText,
  LastTrigger: optionalDate,
});
export type NexudusWebhook = z.output<typeof webhookSchema>;

export const businessSchema = z.looseObject({
  Id: nexudusId,
  Name: optionalText,
  TimeZone: optionalText,
  /** What the REST API documents for a location's zone: an id into `sys/simpletimezones` (Windows zone names). */
  SimpleTimeZoneId: optionalId,
});
export type NexudusBusiness = z.output<typeof businessSchema>;

/** Nexudus list answers. */
export function pageSchema<T extends z.ZodTypeAny>(record: T) {
  return z.looseObject({
    Records: z.array(record),
    CurrentPage: z.number().int().optional(),
    CurrentPageSize: z.number().int().optional(),
    TotalItems: z.number().int().optional(),
    TotalPages: z.number().int().optional(),
    HasNextPage: z.boolean().optional(),
    HasPreviousPage: z.boolean().optional(),
  });
}

/** eWebhookAction: the action names this product understands, with Nexudus' numeric ids. */
export const WEBHOOK_ACTION_IDS = {
  CoworkerUpdate: 2,
  CoworkerCreate: 3,
  BookingCreate: 6,
  BookingUpdate: 7,
  BookingDelete: 8,
  CoworkerContractActivate: 10,
  CoworkerContractCancel: 11,
  CoworkerContractRenew: 12,
  CoworkerContractUpgradeDowngrade: 13,
  CoworkerContractActivateFirst: 14,
  CoworkerDelete: 50,
  CoworkerContractUpdate: 60,
  AccessControlUpdate: 61,
  CoworkerContractCreate: 62,
  CoworkerContractDelete: 77,
} as const;
export type WebhookActionName = keyof typeof WEBHOOK_ACTION_IDS;

/**
 * The access-card numbers of a customer, at most four: Nexudus keeps them in `AccessCardId`
 * (several separated by commas, semicolons or spaces: UNVERIFIED how Nexudus joins them, all are
 * accepted) plus `KeyFobNumber`. The 5-digit PIN is not a card and Kisi has no stand-alone PIN.
 */
export function accessCardNumbers(coworker: Pick<NexudusCoworker, 'AccessCardId' | 'KeyFobNumber'>): string[] {
  const raw = [coworker.AccessCardId ?? '', coworker.KeyFobNumber ?? ''].join(',');
  const numbers = raw
    .split(/[,;\s]+/)
    .map((t) => t.trim())
    .filter((t) => t !== '');
  return [...new Set(numbers)].slice(0, 4);
}
