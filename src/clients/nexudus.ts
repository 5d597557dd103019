/**
 * The Nexudus REST client. Every answer is validated with the zod schemas of
 * src/domain/nexudus-entities.ts; every failure becomes an ApiError (errors.ts decides retryability).
 * It never retries by itself (Temporal does), except once after a 401 with a fresh token.
 *
 * What it relies on (sources: developers.nexudus.com REST reference, "Token Authentication", the
 * older Nexudus API docs on GitHub, public code that calls the API; UNVERIFIED items say so):
 * - Auth: `POST {base}/token`, form-encoded `grant_type=password&username&password` ->
 *   `{access_token, expires_in, refresh_token}` (a JSON body fails with unsupported_grant_type);
 *   refresh with `grant_type=refresh_token` and a `client_id` header (the email when none was given).
 *   Or Basic `email:password` on every call.
 * - Lists: `page` from 1, `size` at most 1000 ("size=25 (maximum=1000)" in the old docs), answer
 *   `{Records, HasNextPage, TotalPages, ...}`. Filters `Entity_Field=v`; ranges `from_Entity_Field`,
 *   `to_Entity_Field`, documented as "on or after/before", format `YYYY-MM-DDTHH:mm`. Whether range
 *   values are read as UTC or as the location's wall clock is UNVERIFIED: we send UTC, rounded
 *   outwards to the minute. List answers may omit collection fields (`Desks` of a contract):
 *   `getContract(id)` has them; so does `listFloorPlanDesks()` (`CoworkerContractIds`).
 * - Text filters may match by "contains" (UNVERIFIED): findCoworkerByEmail re-checks the email exactly.
 * - Writes answer `{Status, Message, Value, WasSuccessful, Errors: [{PropertyName, Message, AttemptedValue}]}`;
 *   validation failures come as HTTP 400 with `WasSuccessful: false`. `Value` is documented as
 *   "the Id of the newly created record": seen as `{Id}`, read also as a bare number.
 * - A refused check-in: Nexudus does not document the answer. We read `WasSuccessful: false`
 *   (with HTTP 200, 400 or 422) as a refusal, and anything else non-2xx as an error.
 * - Throttling: HTTP 409 with `Retry-After` (seconds). We pause the shared gate and throw a
 *   retryable ApiError. Limits, per user: 1 call per 100 ms, 120 per minute, 5,000 per hour and
 *   200,000 per day; writes 60 per minute and 5,000 per day. The gate keeps all of them (rolling
 *   windows, so calendar windows hold too), in the lane of the caller's call context.
 *
 * Invalid records: a GET by id whose record fails validation throws a non-retryable ApiError
 * (`code: 'invalid_response'`, the bad fields in `fieldErrors`). In a list, by default, an invalid
 * record is skipped and reported (`onInvalidRecord`, else a process warning): one visitor booking
 * without a customer must not stop a whole reconcile. `invalidRecords: 'fail'` makes lists strict.
 *
 * Secrets: the password and tokens live in private fields, never in errors or logs (errors carry
 * method, path without query, status, and Nexudus' field messages).
 */
import axios, { type AxiosInstance, type AxiosRequestConfig } from 'axios';
import { z } from 'zod';
import {
  bookingSchema,
  businessSchema,
  checkinSchema,
  contractSchema,
  coworkerSchema,
  coworkerTimePassSchema,
  failedCheckinSchema,
  floorPlanDeskSchema,
  resourceSchema,
  timePassSchema,
  webhookSchema,
  type NexudusBooking,
  type NexudusBusiness,
  type NexudusCheckin,
  type NexudusContract,
  type NexudusCoworker,
  type NexudusCoworkerTimePass,
  type NexudusFailedCheckin,
  type NexudusFloorPlanDesk,
  type NexudusResource,
  type NexudusTimePass,
  type NexudusWebhook,
} from '../domain/nexudus-entities';
import { currentCallContext, noteCancelledCall } from './call-context';
import { ApiError, isApiError } from './errors';
import { GateCancelledError, RequestGate, type RollingCap } from './request-gate';
import { toApiError } from './http';

export interface NexudusClientOptions {
  baseUrl: string;
  username: string;
  password: string;
  auth?: 'bearer' | 'basic';
  timeoutMs?: number;
  /**
   * Nexudus' limits by default (NEXUDUS_LIMITS), shared process-wide per base URL and user. When
   * given, exactly the fields given apply (tests and benches pass `{ minIntervalMs: 0, perMinute: 1e6 }`
   * for an unpaced client).
   */
  rateLimit?: NexudusRateLimit;
  /** false: the gate ignores lanes, one queue in arrival order (API_PRIORITIES=off). Default true. */
  priorities?: boolean;
  /** Records per page for lists (default and maximum 1000). */
  pageSize?: number;
  /** 'skip' (default): drop invalid list records and report them; 'fail': throw like a GET by id. */
  invalidRecords?: 'skip' | 'fail';
  /** Told about each skipped list record (field paths and messages only, never values). */
  onInvalidRecord?: (report: InvalidRecordReport) => void;
}

export interface InvalidRecordReport {
  path: string;
  /** The record's Id when it could be read. */
  id: unknown;
  issues: string[];
}

export type CheckinResult = { ok: true; id: number | null } | { ok: false; reason: string };

export interface NexudusRateLimit {
  minIntervalMs: number;
  perMinute: number;
  perHour?: number;
  perDay?: number;
  writesPerMinute?: number;
  writesPerDay?: number;
}

/** Nexudus' published limits per API user (docs/architecture.md "Priority lanes"), all kept by the client's gate. */
export const NEXUDUS_LIMITS: Required<NexudusRateLimit> = {
  minIntervalMs: 100,
  perMinute: 120,
  perHour: 5_000,
  perDay: 200_000,
  writesPerMinute: 60,
  writesPerDay: 5_000,
};
export const NEXUDUS_MAX_PAGE_SIZE = 1000;
/** A runaway guard: 1000 pages of 1000 records is far beyond any location. */
const MAX_PAGES = 1000;

/** One gate per base URL, user, limit and priority setting, shared by every client in the process. */
const gates = new Map<string, RequestGate>();

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function gateFor(baseUrl: string, username: string, limit: NexudusRateLimit, priorities: boolean): RequestGate {
  const key = [baseUrl, username.toLowerCase(), limit.minIntervalMs, limit.perMinute, limit.perHour, limit.perDay, limit.writesPerMinute, limit.writesPerDay, priorities].join('\u0000');
  let gate = gates.get(key);
  if (!gate) {
    const caps: RollingCap[] = [{ max: limit.perMinute, windowMs: MINUTE }];
    if (limit.perHour !== undefined) caps.push({ max: limit.perHour, windowMs: HOUR });
    if (limit.perDay !== undefined) caps.push({ max: limit.perDay, windowMs: DAY });
    if (limit.writesPerMinute !== undefined) caps.push({ max: limit.writesPerMinute, windowMs: MINUTE, writesOnly: true });
    if (limit.writesPerDay !== undefined) caps.push({ max: limit.writesPerDay, windowMs: DAY, writesOnly: true });
    // One at a time, each starting minIntervalMs after the previous one *finished*: Nexudus judges
    // "one call per 100 ms" by arrivals at its server, and a start-to-start gap guarantees nothing
    // there (a delayed request followed by a prompt one arrive together).
    gate = new RequestGate({ minIntervalMs: limit.minIntervalMs, perWindow: 1, windowMs: limit.minIntervalMs, caps }, { lanes: priorities });
    gates.set(key, gate);
  }
  return gate;
}

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  refresh_token: z.string().min(1).optional(),
});

const pageEnvelopeSchema = z.looseObject({
  Records: z.array(z.unknown()),
  CurrentPage: z.number().optional(),
  TotalPages: z.number().optional(),
  HasNextPage: z.boolean().optional(),
});

/** Nexudus' write answer; every field optional because refusals vary. */
const writeEnvelopeSchema = z.looseObject({
  Status: z.number().optional(),
  Message: z.string().nullable().optional(),
  Value: z.unknown().optional(),
  WasSuccessful: z.boolean().optional(),
  Errors: z.array(z.looseObject({ PropertyName: z.string().nullable().optional(), Message: z.string().nullable().optional() })).nullable().optional(),
});

const checkinInputSchema = z.object({
  businessId: z.number().int().positive(),
  coworkerId: z.number().int().positive(),
  fromTime: z.string().refine((t) => !Number.isNaN(Date.parse(t)), { message: 'expected an ISO 8601 date-time' }),
});

/** Reads Nexudus error bodies: the write envelope, the token endpoint's `{error}`, or `{Message}`. */
export function parseNexudusErrorBody(data: unknown): { code?: string; fieldErrors?: Record<string, string[]>; message?: string } {
  if (typeof data === 'string') return data.trim() ? { message: data.trim().slice(0, 300) } : {};
  if (!data || typeof data !== 'object') return {};
  const body = data as Record<string, unknown>;
  const out: { code?: string; fieldErrors?: Record<string, string[]>; message?: string } = {};
  if (typeof body.error === 'string') out.code = body.error;
  if (typeof body.Message === 'string') out.message = body.Message;
  if (Array.isArray(body.Errors)) {
    const fieldErrors: Record<string, string[]> = {};
    for (const e of body.Errors) {
      if (!e || typeof e !== 'object') continue;
      const { PropertyName, Message } = e as Record<string, unknown>;
      const field = typeof PropertyName === 'string' && PropertyName ? PropertyName : '(record)';
      (fieldErrors[field] ??= []).push(typeof Message === 'string' ? Message : 'invalid');
    }
    if (Object.keys(fieldErrors).length > 0) out.fieldErrors = fieldErrors;
  }
  return out;
}

function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.map(String).join('.') || '(record)'}: ${i.message}`);
}

function invalidResponse(method: string, path: string, what: string, error: z.ZodError): ApiError {
  const fieldErrors: Record<string, string[]> = {};
  for (const i of error.issues) (fieldErrors[i.path.map(String).join('.') || '(record)'] ??= []).push(i.message);
  return new ApiError({
    service: 'nexudus',
    method,
    path,
    status: 200,
    code: 'invalid_response',
    fieldErrors,
    message: `nexudus ${method} ${path}: invalid ${what}: ${issuesOf(error).join('; ')}`,
  });
}

/** `YYYY-MM-DDTHH:mm` in UTC, rounded down (`from`) or up (`to`) so the range only widens. */
function failedCheckinParams(filter: { from?: string; to?: string }): Record<string, string> {
  const params: Record<string, string> = {};
  if (filter.from !== undefined) params.from_FailedCheckin_CheckinAttemptTime = rangeValue(filter.from, 'down', 'from');
  if (filter.to !== undefined) params.to_FailedCheckin_CheckinAttemptTime = rangeValue(filter.to, 'up', 'to');
  return params;
}

function rangeValue(iso: string, round: 'down' | 'up', name: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new RangeError(`nexudus: ${name} must be an ISO 8601 date-time, got ${JSON.stringify(iso)}`);
  const minute = round === 'down' ? Math.floor(ms / 60_000) : Math.ceil(ms / 60_000);
  return new Date(minute * 60_000).toISOString().slice(0, 16);
}

function assertId(id: number, what: string): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`nexudus: ${what} must be a positive integer, got ${String(id)}`);
}

export class NexudusClient {
  private readonly http: AxiosInstance;
  private readonly gate: RequestGate;
  private readonly baseUrl: string;
  private readonly authMode: 'bearer' | 'basic';
  private readonly pageSize: number;
  private readonly invalidRecords: 'skip' | 'fail';
  private readonly onInvalidRecord: (report: InvalidRecordReport) => void;
  readonly #username: string;
  readonly #password: string;
  #token: { value: string; refresh?: string; expiresAt: number; refreshAt: number } | undefined;
  #tokenRequest: Promise<string> | undefined;

  constructor(options: NexudusClientOptions) {
    if (!options.baseUrl) throw new Error('nexudus: baseUrl is required');
    if (!options.username || !options.password) throw new Error('nexudus: username and password are required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#username = options.username;
    this.#password = options.password;
    this.authMode = options.auth ?? 'bearer';
    this.pageSize = Math.min(Math.max(1, Math.floor(options.pageSize ?? NEXUDUS_MAX_PAGE_SIZE)), NEXUDUS_MAX_PAGE_SIZE);
    this.invalidRecords = options.invalidRecords ?? 'skip';
    this.onInvalidRecord =
      options.onInvalidRecord ??
      ((r) => process.emitWarning(`nexudus: skipped an invalid record from ${r.path} (Id ${String(r.id)}): ${r.issues.join('; ')}`, 'NexudusInvalidRecord'));
    this.gate = gateFor(this.baseUrl, options.username, options.rateLimit ?? NEXUDUS_LIMITS, options.priorities ?? true);
    this.http = axios.create({
      baseURL: `${this.baseUrl}/`,
      timeout: options.timeoutMs ?? 15_000,
      headers: { Accept: 'application/json' },
      // No proxies from the environment: credentials go straight to Nexudus.
      proxy: false,
    });
  }

  // ---- customers ----------------------------------------------------------------------------

  /**
   * `beforeSend` runs once the gate has let the request through, just before it is sent (again
   * before a resend after a 401): the customer sync learns there which of its requests the read
   * answers. It must not throw.
   */
  async getCoworker(id: number, options: { beforeSend?: () => Promise<void> } = {}): Promise<NexudusCoworker> {
    assertId(id, 'coworker id');
    return this.getOne(`spaces/coworkers/${id}`, coworkerSchema, 'coworker', options.beforeSend);
  }

  /** One customer with this email (exact, case-insensitive): the first active one, else the first. */
  async findCoworkerByEmail(email: string): Promise<NexudusCoworker | undefined> {
    const matches = await this.findCoworkersByEmail(email);
    return matches.find((c) => c.Active !== false) ?? matches[0];
  }

  /**
   * Every customer with this email (exact, case-insensitive), in Id order: customers may share an
   * email (two Nexudus records, one person). An empty email matches nobody.
   */
  async findCoworkersByEmail(email: string): Promise<NexudusCoworker[]> {
    if (!email.trim()) return [];
    return this.listCoworkers({ email });
  }

  /**
   * Customers (every page), optionally only those changed at or after `updatedFrom` (ISO; sent
   * rounded down to the minute, so a few changed shortly before may come too) and only those whose
   * email is exactly `email` (case-insensitive: the API's `Coworker_Email` filter may be a
   * "contains", so matches are re-checked here).
   */
  async listCoworkers(filter: { updatedFrom?: string; email?: string } = {}): Promise<NexudusCoworker[]> {
    const params: Record<string, string> = {};
    if (filter.updatedFrom !== undefined) params.from_Coworker_UpdatedOn = rangeValue(filter.updatedFrom, 'down', 'updatedFrom');
    const email = filter.email?.trim();
    if (email !== undefined) {
      if (!email) throw new RangeError('nexudus: listCoworkers: email must not be empty');
      params.Coworker_Email = email;
    }
    const wanted = email?.toLowerCase();
    const coworkers = await this.list('spaces/coworkers', coworkerSchema, params);
    return wanted === undefined ? coworkers : coworkers.filter((c) => (c.Email ?? '').trim().toLowerCase() === wanted);
  }

  // ---- bookings -----------------------------------------------------------------------------

  async getBooking(id: number): Promise<NexudusBooking> {
    assertId(id, 'booking id');
    return this.getOne(`spaces/bookings/${id}`, bookingSchema, 'booking');
  }

  /** Bookings overlapping [from, to] (ISO UTC): ending at or after `from` and starting at or before `to`. */
  async listBookings(filter: { from?: string; to?: string; coworkerId?: number; resourceId?: number }): Promise<NexudusBooking[]> {
    const params: Record<string, string | number> = {};
    if (filter.from !== undefined) params.from_Booking_ToTime = rangeValue(filter.from, 'down', 'from');
    if (filter.to !== undefined) params.to_Booking_FromTime = rangeValue(filter.to, 'up', 'to');
    if (filter.coworkerId !== undefined) {
      assertId(filter.coworkerId, 'coworkerId');
      params.Booking_Coworker = filter.coworkerId;
    }
    if (filter.resourceId !== undefined) {
      assertId(filter.resourceId, 'resourceId');
      params.Booking_Resource = filter.resourceId;
    }
    return this.list('spaces/bookings', bookingSchema, params);
  }

  // ---- contracts and passes ----------------------------------------------------------------

  async getContract(id: number): Promise<NexudusContract> {
    assertId(id, 'contract id');
    return this.getOne(`billing/coworkercontracts/${id}`, contractSchema, 'contract');
  }

  /** Note: list answers may lack `Desks`; see the header comment. */
  async listContracts(filter: { coworkerId?: number; activeOnly?: boolean }): Promise<NexudusContract[]> {
    const params: Record<string, string | number> = {};
    if (filter.coworkerId !== undefined) {
      assertId(filter.coworkerId, 'coworkerId');
      params.CoworkerContract_Coworker = filter.coworkerId;
    }
    if (filter.activeOnly) params.CoworkerContract_Active = 'true';
    return this.list('billing/coworkercontracts', contractSchema, params);
  }

  async getCoworkerTimePass(id: number): Promise<NexudusCoworkerTimePass> {
    assertId(id, 'coworker time pass id');
    return this.getOne(`billing/coworkertimepasses/${id}`, coworkerTimePassSchema, 'coworker time pass');
  }

  /**
   * Passes of a customer, of a pass type, and/or changed at or after `updatedFrom` (ISO; sent
   * rounded down to the minute like listCoworkers', so a few changed shortly before may come too).
   * `updatedFrom` is how the pass watcher (workflows/pass-watch.ts) finds passes bought at the desk:
   * Nexudus has no pass webhook.
   */
  async listCoworkerTimePasses(filter: { coworkerId?: number; timePassId?: number; updatedFrom?: string }): Promise<NexudusCoworkerTimePass[]> {
    const params: Record<string, string | number> = {};
    if (filter.updatedFrom !== undefined) params.from_CoworkerTimePass_UpdatedOn = rangeValue(filter.updatedFrom, 'down', 'updatedFrom');
    if (filter.coworkerId !== undefined) {
      assertId(filter.coworkerId, 'coworkerId');
      params.CoworkerTimePass_Coworker = filter.coworkerId;
    }
    if (filter.timePassId !== undefined) {
      assertId(filter.timePassId, 'timePassId');
      params.CoworkerTimePass_TimePass = filter.timePassId;
    }
    return this.list('billing/coworkertimepasses', coworkerTimePassSchema, params);
  }

  async listTimePasses(): Promise<NexudusTimePass[]> {
    return this.list('billing/timepasses', timePassSchema, {});
  }

  // ---- places ------------------------------------------------------------------------------

  async listResources(): Promise<NexudusResource[]> {
    return this.list('spaces/resources', resourceSchema, {});
  }

  async listFloorPlanDesks(): Promise<NexudusFloorPlanDesk[]> {
    return this.list('sys/floorplandesks', floorPlanDeskSchema, {});
  }

  async getBusiness(id: number): Promise<NexudusBusiness> {
    assertId(id, 'business id');
    return this.getOne(`sys/businesses/${id}`, businessSchema, 'business');
  }

  async listBusinesses(): Promise<NexudusBusiness[]> {
    return this.list('sys/businesses', businessSchema, {});
  }

  // ---- check-ins -----------------------------------------------------------------------------

  /**
   * Source 2 = door access. Resolves { ok: true, id } or { ok: false, reason } when Nexudus refuses
   * (e.g. no valid pass); throws ApiError for transport/auth/throttling failures.
   * Not idempotent: a retry after a lost answer may record a second check-in (Nexudus offers no
   * idempotency key); callers that care list check-ins first.
   */
  async createCheckin(input: { businessId: number; coworkerId: number; fromTime: string }): Promise<CheckinResult> {
    const parsed = checkinInputSchema.safeParse(input);
    if (!parsed.success) throw new RangeError(`nexudus: createCheckin: ${issuesOf(parsed.error).join('; ')}`);
    const body = {
      BusinessId: parsed.data.businessId,
      CoworkerId: parsed.data.coworkerId,
      FromTime: new Date(Date.parse(parsed.data.fromTime)).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      Source: 2,
    };
    let data: unknown;
    try {
      data = await this.request({ method: 'POST', url: 'spaces/checkins', data: body });
    } catch (e) {
      const refusal = isApiError(e) && (e.status === 400 || e.status === 422) ? this.refusalOf(e) : undefined;
      if (refusal !== undefined) return { ok: false, reason: refusal };
      throw e;
    }
    const answer = writeEnvelopeSchema.safeParse(data ?? {});
    if (!answer.success) throw invalidResponse('POST', '/spaces/checkins', 'write answer', answer.error);
    if (answer.data.WasSuccessful === false) return { ok: false, reason: reasonOf(answer.data) };
    return { ok: true, id: idOf(answer.data.Value) ?? idOf(data) };
  }

  /**
   * Check-ins (every page) of a customer and/or location that began in [from, to] (ISO; sent to the
   * minute, widened outwards). Open ones have `ToTime` null. Filters as Nexudus' reference names
   * them: `Checkin_Coworker`, `Checkin_Business`, `from_/to_Checkin_FromTime`.
   */
  async listCheckins(filter: { coworkerId?: number; businessId?: number; from?: string; to?: string }): Promise<NexudusCheckin[]> {
    const params: Record<string, string | number> = {};
    if (filter.coworkerId !== undefined) {
      assertId(filter.coworkerId, 'coworkerId');
      params.Checkin_Coworker = filter.coworkerId;
    }
    if (filter.businessId !== undefined) {
      assertId(filter.businessId, 'businessId');
      params.Checkin_Business = filter.businessId;
    }
    if (filter.from !== undefined) params.from_Checkin_FromTime = rangeValue(filter.from, 'down', 'from');
    if (filter.to !== undefined) params.to_Checkin_FromTime = rangeValue(filter.to, 'up', 'to');
    return this.list('spaces/checkins', checkinSchema, params);
  }

  /** Failed check-ins, optionally only those attempted at or after `from` (ISO UTC). */
  async listFailedCheckins(filter: { from?: string; to?: string } = {}): Promise<NexudusFailedCheckin[]> {
    return this.list('spaces/failedcheckins', failedCheckinSchema, failedCheckinParams(filter));
  }

  /**
   * Failed check-ins within a budget: at most `maxPages` pages, and each page only when
   * `mayRequest` says yes (a caller's own allowance, beside the client's pacing). `truncated` says
   * that pages were left unread.
   */
  async listFailedCheckinsWithin(
    filter: { from?: string; to?: string },
    budget: { maxPages: number; mayRequest?: () => boolean },
  ): Promise<{ items: NexudusFailedCheckin[]; truncated: boolean }> {
    const items: NexudusFailedCheckin[] = [];
    let pages = 0;
    const allowed = () => pages < budget.maxPages && (budget.mayRequest?.() ?? true);
    for await (const page of this.pages('spaces/failedcheckins', failedCheckinSchema, failedCheckinParams(filter), allowed)) {
      if (page === 'stopped') return { items, truncated: true };
      items.push(...page.records);
      pages++;
    }
    return { items, truncated: false };
  }

  // ---- webhooks -----------------------------------------------------------------------------

  async listWebhooks(): Promise<NexudusWebhook[]> {
    return this.list('sys/webhooks', webhookSchema, {});
  }

  // ---- plumbing -----------------------------------------------------------------------------

  /** The refusal reason carried by a 400/422 answer in Nexudus' write envelope, if it is one. */
  private refusalOf(error: ApiError & { body?: unknown }): string | undefined {
    const answer = writeEnvelopeSchema.safeParse(error.body);
    if (!answer.success || answer.data.WasSuccessful !== false) return undefined;
    return reasonOf(answer.data);
  }

  private async getOne<S extends z.ZodType>(path: string, schema: S, what: string, beforeSend?: () => Promise<void>): Promise<z.output<S>> {
    const data = await this.request({ method: 'GET', url: path }, false, beforeSend);
    const parsed = schema.safeParse(data);
    if (!parsed.success) throw invalidResponse('GET', `/${path.replace(/\/\d+$/, '/{id}')}`, what, parsed.error);
    return parsed.data;
  }

  /** Every page, ordered by Id so records do not move between pages; de-duplicated by Id. */
  private async list<S extends z.ZodType>(path: string, schema: S, params: Record<string, string | number>): Promise<Array<z.output<S>>> {
    const out: Array<z.output<S>> = [];
    for await (const page of this.pages(path, schema, params)) if (page !== 'stopped') out.push(...page.records);
    return out;
  }

  /** The pages of a listing, one request each, as they come; `more` says whether another follows. */
  private async *pages<S extends z.ZodType>(
    path: string,
    schema: S,
    params: Record<string, string | number>,
    mayRequest?: () => boolean,
  ): AsyncGenerator<{ records: Array<z.output<S>>; more: boolean } | 'stopped'> {
    const seen = new Set<unknown>();
    for (let page = 1; page <= MAX_PAGES; page++) {
      if (mayRequest && !mayRequest()) {
        yield 'stopped';
        return;
      }
      const out: Array<z.output<S>> = [];
      const data = await this.request({ method: 'GET', url: path, params: { ...params, page, size: this.pageSize, orderBy: 'Id', dir: 1 } });
      const envelope = pageEnvelopeSchema.safeParse(data);
      if (!envelope.success) throw invalidResponse('GET', `/${path}`, 'list answer', envelope.error);
      for (const record of envelope.data.Records) {
        const parsed = schema.safeParse(record);
        const rawId = record && typeof record === 'object' ? (record as Record<string, unknown>).Id : undefined;
        if (!parsed.success) {
          if (this.invalidRecords === 'fail') throw invalidResponse('GET', `/${path}`, `record (Id ${String(rawId)})`, parsed.error);
          this.onInvalidRecord({ path: `/${path}`, id: rawId, issues: issuesOf(parsed.error) });
          continue;
        }
        const key = (parsed.data as { Id?: unknown }).Id ?? rawId;
        if (key !== undefined && seen.has(key)) continue;
        seen.add(key);
        out.push(parsed.data);
      }
      const { HasNextPage, TotalPages, Records } = envelope.data;
      const more = (HasNextPage ?? (TotalPages !== undefined ? page < TotalPages : Records.length >= this.pageSize)) && Records.length > 0;
      yield { records: out, more };
      if (!more) return;
    }
    throw new ApiError({ service: 'nexudus', method: 'GET', path: `/${path}`, status: 200, code: 'too_many_pages', message: `nexudus GET /${path}: more than ${MAX_PAGES} pages` });
  }

  /** One call: auth header, pacing in the caller's lane, error translation, one retry with a fresh token after a 401. */
  private async request(config: AxiosRequestConfig, retriedAfter401 = false, beforeSend?: () => Promise<void>): Promise<unknown> {
    const { lane, signal } = currentCallContext();
    const where = { method: (config.method ?? 'GET').toUpperCase(), path: `/${config.url ?? ''}` };
    // The token request is shared by every caller waiting for it: one caller's cancellation stops
    // that caller's wait, not the request.
    const token = this.authMode === 'bearer' ? await abortable(this.accessToken(), signal).catch((e: unknown) => Promise.reject(this.translate(e, where))) : undefined;
    const headers = { ...(config.headers as Record<string, string> | undefined) };
    headers.Authorization = token !== undefined ? `Bearer ${token}` : this.basicHeader();
    try {
      const send = () => this.http.request({ ...config, headers, signal });
      const response = await this.gate.run(beforeSend ? () => beforeSend().then(send) : send, {
        lane,
        signal,
        write: isWrite(where.method),
        pauseAfter: throttlePause,
      });
      return response.data;
    } catch (e) {
      const error = this.translate(e, where);
      if (error.status === 401 && this.authMode === 'bearer' && !retriedAfter401) {
        this.dropToken(token);
        return this.request(config, true, beforeSend);
      }
      throw error;
    }
  }

  /** ApiError from an axios failure, keeping the answer body (for refusals) off the enumerable fields. */
  private translate(e: unknown, where?: { method: string; path: string }): ApiError {
    const error = toApiError('nexudus', e, parseNexudusErrorBody, where);
    if (error.transport === 'cancelled' && error !== e) noteCancelledCall();
    if (axios.isAxiosError(e) && e.response) Object.defineProperty(error, 'body', { value: e.response.data, enumerable: false });
    const parsed = axios.isAxiosError(e) && e.response ? parseNexudusErrorBody(e.response.data) : {};
    if (parsed.message && !error.fieldErrors) Object.defineProperty(error, 'message', { value: `${error.message}: ${parsed.message.slice(0, 200)}` });
    return error;
  }

  private basicHeader(): string {
    return `Basic ${Buffer.from(`${this.#username}:${this.#password}`, 'utf8').toString('base64')}`;
  }

  private dropToken(used: string | undefined): void {
    if (this.#token && this.#token.value === used) this.#token = { ...this.#token, refreshAt: 0, expiresAt: 0 };
  }

  /** A valid access token; concurrent callers share one token request. */
  private accessToken(): Promise<string> {
    const now = Date.now();
    if (this.#token && now < this.#token.refreshAt) return Promise.resolve(this.#token.value);
    this.#tokenRequest ??= this.fetchToken().finally(() => {
      this.#tokenRequest = undefined;
    });
    return this.#tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    const refresh = this.#token?.refresh;
    if (refresh) {
      try {
        return await this.tokenGrant({ grant_type: 'refresh_token', refresh_token: refresh }, { client_id: this.#username });
      } catch (e) {
        // A refresh token retired by another client (same user) or expired: fall back to the password.
        if (!isApiError(e) || e.transport !== undefined || e.status === 409 || (e.status ?? 0) >= 500) throw e;
      }
    }
    return this.tokenGrant({ grant_type: 'password', username: this.#username, password: this.#password });
  }

  private async tokenGrant(form: Record<string, string>, headers: Record<string, string> = {}): Promise<string> {
    let data: unknown;
    try {
      // Live, because every call of this client waits for it; no signal, because it is shared by
      // every caller waiting for it (each caller's own cancellation ends only its wait: abortable).
      const response = await this.gate.run(
        () =>
          this.http.post('token', new URLSearchParams(form).toString(), {
            headers: { ...headers, 'Content-Type': 'application/x-www-form-urlencoded' },
          }),
        { lane: 'live', write: true, pauseAfter: throttlePause },
      );
      data = response.data;
    } catch (e) {
      throw this.translate(e);
    }
    const parsed = tokenAnswerSchema.safeParse(data);
    if (!parsed.success) throw invalidResponse('POST', '/token', 'token answer', parsed.error);
    const now = Date.now();
    const lifetime = parsed.data.expires_in * 1000;
    // Refresh ahead of expiry: 10% of the lifetime, at most 5 minutes.
    const margin = Math.min(lifetime * 0.1, 300_000);
    this.#token = { value: parsed.data.access_token, refresh: parsed.data.refresh_token, expiresAt: now + lifetime, refreshAt: now + lifetime - margin };
    return parsed.data.access_token;
  }
}

/** What counts against the write limits: every method but GET/HEAD (the token POST too: an over-count is safe). */
function isWrite(method: string | undefined): boolean {
  const m = (method ?? 'GET').toUpperCase();
  return m !== 'GET' && m !== 'HEAD';
}

/** Waits for `promise` unless `signal` fires first (then rejects with GateCancelledError). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(new GateCancelledError(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new GateCancelledError(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Nexudus throttles with 409 and Retry-After: every later call in the process waits that long. */
function throttlePause(e: unknown): number | undefined {
  const error = toApiError('nexudus', e, parseNexudusErrorBody);
  return error.status === 409 ? (error.retryAfterMs ?? 1000) : undefined;
}

function reasonOf(envelope: z.output<typeof writeEnvelopeSchema>): string {
  const messages = (envelope.Errors ?? []).map((e) => e.Message).filter((m): m is string => typeof m === 'string' && m.length > 0);
  return messages.length > 0 ? messages.join('; ') : envelope.Message || 'refused by Nexudus';
}

/** The id in a write answer's `Value`: `{Id}` or a bare number (or numeric text). */
function idOf(value: unknown): number | null {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  if (value && typeof value === 'object' && 'Id' in value) return idOf((value as { Id: unknown }).Id);
  return null;
}
