/**
 * Request bodies the sandbox accepts (REST and the in-process helpers share them), validated with
 * zod. A failure becomes Nexudus' validation answer: HTTP 400 with `WasSuccessful: false` and one
 * `{PropertyName, Message, AttemptedValue}` per bad field.
 */
import { z } from 'zod';
import { nexudusId } from '../../../src/domain/nexudus-entities';
import { parseInstant } from './clock';

/** A date as JSON carries it (ISO text; no zone = UTC) or, from in-process helpers, a Date or epoch ms. */
export const dateInput = z.union([z.string(), z.number(), z.date()]).transform((value, ctx) => {
  const ms = typeof value === 'number' ? value : value instanceof Date ? value.getTime() : parseInstant(value);
  if (ms === undefined || !Number.isFinite(ms)) {
    ctx.addIssue({ code: 'custom', message: 'is not a valid date (expected ISO 8601, e.g. 2026-11-28T10:00:00Z)' });
    return z.NEVER;
  }
  return ms;
});

const text = z.string().trim().min(1, { message: 'may not be null or empty' });
const optionalText = z.string().nullable().optional();
const optionalId = nexudusId.nullable().optional();

export const bookingInput = z.object({
  ResourceId: nexudusId,
  CoworkerId: optionalId,
  FloorPlanDeskId: optionalId,
  FromTime: dateInput,
  ToTime: dateInput,
  Tentative: z.boolean().optional(),
  Notes: optionalText,
  RepeatSeriesUniqueId: optionalText,
});
export type BookingInput = z.input<typeof bookingInput>;

export const coworkerInput = z.object({
  FullName: text,
  Email: z.email({ message: 'is not a valid email address' }),
  Active: z.boolean().optional(),
  AccessCardId: optionalText,
  KeyFobNumber: optionalText,
  AccessPincode: z.string().regex(/^\d{4,8}$/, { message: 'must be 4 to 8 digits' }).nullable().optional(),
  BusinessId: optionalId,
});
export type CoworkerInput = z.input<typeof coworkerInput>;

export const passInput = z.object({
  CoworkerId: nexudusId,
  BusinessId: optionalId,
  TimePassId: nexudusId,
  /** Nexudus marks it required; the sandbox defaults it to 1. */
  CreateMultiple: z.number().int().min(1).max(100).optional(),
  Used: z.boolean().optional(),
  UsedDate: dateInput.nullable().optional(),
  RemainingUses: z.number().int().min(0).nullable().optional(),
  ExpireDate: dateInput.nullable().optional(),
  IsFromTariff: z.boolean().optional(),
  CoworkerContractUniqueId: optionalText,
});
export type PassInput = z.input<typeof passInput>;

/** Desks as ids or `{Id}` objects (the two shapes seen for contract desks). */
const deskRefs = z.array(z.union([nexudusId, z.looseObject({ Id: nexudusId }).transform((d) => d.Id)]));

export const contractInput = z.object({
  CoworkerId: nexudusId,
  IssuedById: optionalId,
  TariffId: optionalId,
  TariffName: optionalText,
  StartDate: dateInput,
  RenewalDate: dateInput.nullable().optional(),
  CancellationDate: dateInput.nullable().optional(),
  Active: z.boolean().optional(),
  Cancelled: z.boolean().optional(),
  MainContract: z.boolean().optional(),
  Desks: deskRefs.optional(),
});
export type ContractInput = z.input<typeof contractInput>;

export const checkinInput = z.object({
  BusinessId: nexudusId,
  CoworkerId: optionalId,
  FromTime: dateInput,
  ToTime: dateInput.nullable().optional(),
  Source: z.number().int().min(0).max(5).optional(),
});
export type CheckinInput = z.input<typeof checkinInput>;

export const webhookInput = z.object({
  Name: text,
  /** Numeric eWebhookAction or its name. */
  Action: z.union([z.number().int(), text]),
  URL: z.url({ message: 'is not a valid absolute URL' }),
  Active: z.boolean().optional(),
  BusinessId: optionalId,
  Description: optionalText,
});
export type WebhookInput = z.input<typeof webhookInput>;

/** PUT bodies: the Id plus any subset of the create fields (merged over the stored record). */
export const withId = <T extends z.ZodObject>(schema: T) => schema.partial().extend({ Id: nexudusId });

export interface FieldError {
  PropertyName: string;
  Message: string;
  AttemptedValue: unknown;
}

/** A request the sandbox refuses as Nexudus would (400, `WasSuccessful: false`). */
export class ValidationFailure extends Error {
  constructor(readonly errors: FieldError[]) {
    super(errors.map((e) => `${e.PropertyName}: ${e.Message}`).join('; '));
    this.name = 'ValidationFailure';
  }
}

export class NotFoundFailure extends Error {
  constructor(entity: string, id: number) {
    super(`${entity} ${id} not found`);
    this.name = 'NotFoundFailure';
  }
}

/** Parses with `schema` or throws a ValidationFailure naming each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const source = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  throw new ValidationFailure(
    result.error.issues.map((issue) => {
      const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(body)';
      const top = issue.path[0];
      return { PropertyName: field, Message: issue.message, AttemptedValue: typeof top === 'string' ? (source[top] ?? null) : null };
    }),
  );
}

export function fail(PropertyName: string, Message: string, AttemptedValue: unknown = null): never {
  throw new ValidationFailure([{ PropertyName, Message, AttemptedValue }]);
}
