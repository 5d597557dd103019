/**
 * The Kisi REST client (https://api.kisi.io). Thin on purpose: one method per Kisi operation the
 * product uses, every list read to its last page, every failure an ApiError. It never retries:
 * Temporal activities retry, and ApiError.retryable decides whether they should. The one thing it
 * does on its own is honour the rate limit: requests of one API key are paced process-wide, in the
 * lane of the caller's call context (call-context.ts), and a 429 pushes every later request of that
 * key back. The context's AbortSignal cancels a queued request (never sent) or an in-flight one.
 */
import { createHash } from 'node:crypto';
import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';
import { currentCallContext, noteCancelledCall } from './call-context';
import { ApiError } from './errors';
import { RequestGate } from './request-gate';
import { toApiError } from './http';

export interface KisiClientOptions {
  apiKey: string;
  baseUrl: string;
  timeoutMs?: number;
  maxRps?: number;
  /** false: the gate ignores lanes, one queue in arrival order (API_PRIORITIES=off). Default true. */
  priorities?: boolean;
  integrationIdentifier?: string;
  /** test hook: observe every request/response (used by the contract tests) */
  onExchange?: (x: KisiExchange) => void;
}

/** One request and its answer, as the contract tests see it. The API key is redacted. */
export interface KisiExchange {
  method: string;
  /** Path relative to the base URL, without query string (`/role_assignments/12`). */
  path: string;
  query: Record<string, string>;
  requestHeaders: Record<string, string>;
  requestBody?: unknown;
  /** Undefined when no answer arrived (network error, timeout). */
  status?: number;
  responseHeaders?: Record<string, string>;
  responseBody?: unknown;
  error?: ApiError;
}

export interface KisiUser { id: number; email: string; name: string | null; metadata?: Record<string, unknown> | null; [k: string]: unknown }
export interface KisiPlace { id: number; name: string; [k: string]: unknown }
export interface KisiGroup { id: number; name: string; place_id: number | null; [k: string]: unknown }
export interface KisiLock { id: number; name: string; place_id: number; [k: string]: unknown }
export interface KisiGroupLock { id: number; group_id: number; lock_id: number; [k: string]: unknown }
export interface KisiRoleAssignment { id: number; role_id: string; user_id: number; group_id: number; valid_from: string | null; valid_until: string | null; created_at?: string; [k: string]: unknown }
export interface KisiCard { id: number; token: string; [k: string]: unknown }
export interface KisiCardAssignment { id: number; card_id: number; user_id: number; [k: string]: unknown }

/** Kisi's own limit on cards per user that this product manages (a member has at most four cards). */
export const MAX_CARDS_PER_USER = 4;
/** Kisi refuses offsets above this on every list endpoint. */
const MAX_OFFSET = 20_000;
/** The role a plain group member gets; Kisi's name for "may use this group's doors". */
const GROUP_MEMBER_ROLE = 'group_basic';
/** The only card type whose create body carries a `token` (Kisi's Mifare DESFire credentials). */
const DEFAULT_CARD_TYPE = 'mifare_desfire';
/** How long a 429 without Retry-After holds back every request of the key (Kisi's window is 1 s). */
export const DEFAULT_429_PAUSE_MS = 1000;

/** Largest `limit` each list endpoint accepts (the spec's `maximum`): fewer pages, within contract. */
const PAGE_LIMIT = {
  '/users': 100,
  '/places': 250,
  '/groups': 250,
  '/locks': 250,
  '/group_locks': 250,
  '/role_assignments': 250,
  '/cards': 250,
  '/card_assignments': 250,
} as const;
type ListPath = keyof typeof PAGE_LIMIT;

/**
 * One gate per API key for the whole process: Kisi counts requests per user, so two clients
 * (activities, reconcile, CLI) built with one key must queue behind each other, live lane first.
 * Starts are spaced (5 rps => 200 ms) and a 429 pauses them; the completion window makes sure the
 * server never sees more than maxRps arrivals in a second even when some requests are slow to get
 * there. No rolling caps, so no lane shares: a freed slot of the second goes to the best lane.
 * Keyed by a hash so the key itself is never held in a structure that might be dumped (and by
 * whether priorities are on: a process runs with one setting, tests build both).
 */
const gates = new Map<string, RequestGate>();

function gateFor(apiKey: string, maxRps: number, priorities: boolean): RequestGate {
  const id = `${createHash('sha256').update(apiKey).digest('hex')}${priorities ? '' : ':fifo'}`;
  let gate = gates.get(id);
  if (!gate) {
    // The first client of a key fixes the rate; later clients of the same key share it.
    gate = new RequestGate({ minIntervalMs: Math.ceil(1000 / maxRps), perWindow: Math.max(1, Math.floor(maxRps)), windowMs: 1000 }, { lanes: priorities });
    gates.set(id, gate);
  }
  return gate;
}

/** Reads Kisi's error bodies: `{error, code}` (401/403/404) and `{errors: {field: [msg]}}` (422). */
export function parseKisiErrorBody(data: unknown): { code?: string; fieldErrors?: Record<string, string[]>; message?: string } {
  if (typeof data !== 'object' || data === null) return {};
  const body = data as Record<string, unknown>;
  const out: { code?: string; fieldErrors?: Record<string, string[]> } = {};
  if (typeof body.code === 'string') out.code = body.code;
  if (typeof body.errors === 'object' && body.errors !== null && !Array.isArray(body.errors)) {
    const fields: Record<string, string[]> = {};
    for (const [field, messages] of Object.entries(body.errors as Record<string, unknown>)) {
      if (Array.isArray(messages)) fields[field] = messages.map(String);
      else if (typeof messages === 'string') fields[field] = [messages];
    }
    out.fieldErrors = fields;
  }
  return out;
}

/** `10-19/15` or `*\/0` -> numbers; undefined when absent or unreadable. */
export function parseCollectionRange(value: unknown): { start?: number; end?: number; total: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\s*(?:(\d+)-(\d+)|\*)\/(\d+)\s*$/.exec(value);
  if (!m) return undefined;
  return {
    start: m[1] === undefined ? undefined : Number(m[1]),
    end: m[2] === undefined ? undefined : Number(m[2]),
    total: Number(m[3]),
  };
}

/**
 * Thrown before anything is sent when the caller asks for something Kisi cannot hold (more than
 * four cards). An ApiError with status 422 so that activities classify it like Kisi's own
 * validation answer: not retryable, a person must fix the data.
 */
export class KisiValidationError extends ApiError {
  constructor(method: string, path: string, fieldErrors: Record<string, string[]>) {
    super({
      service: 'kisi',
      method,
      path,
      status: 422,
      code: 'client_validation',
      fieldErrors,
      message: `kisi ${method} ${path}: refused before sending: ${Object.entries(fieldErrors)
        .map(([k, v]) => `${k} ${v.join(', ')}`)
        .join('; ')}`,
    });
    this.name = 'KisiValidationError';
  }
}

type Query = Record<string, string | number | undefined>;

export class KisiClient {
  private readonly http: AxiosInstance;
  private readonly gate: RequestGate;
  private readonly onExchange?: (x: KisiExchange) => void;
  /** What onExchange reports as sent headers: the real ones with the key redacted. */
  private readonly shownHeaders: Record<string, string>;

  constructor(options: KisiClientOptions) {
    if (!options.apiKey) throw new Error('KisiClient: apiKey is required');
    const headers: Record<string, string> = {
      Authorization: `KISI-LOGIN ${options.apiKey}`,
      Accept: 'application/json',
      'Content-Type': 'application/json',
    };
    if (options.integrationIdentifier) headers['X-Kisi-Integration-Identifier'] = options.integrationIdentifier;
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs ?? 10_000,
      headers,
      // Kisi answers JSON or nothing (204); keep axios from guessing other formats.
      responseType: 'json',
    });
    this.shownHeaders = { ...headers, Authorization: 'KISI-LOGIN [redacted]' };
    this.gate = gateFor(options.apiKey, options.maxRps ?? 5, options.priorities ?? true);
    this.onExchange = options.onExchange;
  }

  // ---- users ---------------------------------------------------------------------------------

  async findUserByEmail(email: string): Promise<KisiUser | undefined> {
    // `email` is a filter, not a lookup key: compare ourselves (case-insensitively, as Kisi stores it).
    const users = await this.list<KisiUser>('/users', { email });
    const wanted = email.trim().toLowerCase();
    return users.find((u) => typeof u.email === 'string' && u.email.toLowerCase() === wanted);
  }

  async getUser(id: number): Promise<KisiUser> {
    return (await this.send<KisiUser>('GET', `/users/${id}`)).data;
  }

  async createUser(input: { email: string; name: string; sendEmails: boolean; metadata?: Record<string, unknown> }): Promise<KisiUser> {
    const user: Record<string, unknown> = { email: input.email, name: input.name, send_emails: input.sendEmails };
    if (input.metadata !== undefined) user.metadata = input.metadata;
    return (await this.send<KisiUser>('POST', '/users', { body: { user } })).data;
  }

  async updateUser(id: number, input: { name?: string; metadata?: Record<string, unknown> }): Promise<void> {
    const user: Record<string, unknown> = {};
    if (input.name !== undefined) user.name = input.name;
    if (input.metadata !== undefined) user.metadata = input.metadata;
    await this.send('PATCH', `/users/${id}`, { body: { user } });
  }

  // ---- places, groups, locks -----------------------------------------------------------------

  listPlaces(): Promise<KisiPlace[]> {
    return this.list<KisiPlace>('/places', {});
  }

  listGroups(placeId: number): Promise<KisiGroup[]> {
    return this.list<KisiGroup>('/groups', { place_id: placeId });
  }

  async getGroup(id: number): Promise<KisiGroup> {
    return (await this.send<KisiGroup>('GET', `/groups/${id}`)).data;
  }

  listLocks(placeId: number): Promise<KisiLock[]> {
    return this.list<KisiLock>('/locks', { place_id: placeId });
  }

  listGroupLocks(groupId: number): Promise<KisiGroupLock[]> {
    return this.list<KisiGroupLock>('/group_locks', { group_id: groupId });
  }

  // ---- group membership (role assignments) ---------------------------------------------------

  /** group role assignments (applies_to_type=Group), all pages; filter by user and/or group */
  async listGroupRoleAssignments(filter: { userId?: number; groupId?: number }): Promise<KisiRoleAssignment[]> {
    // The modern filters; `user_id` / `group_id` are deprecated in the spec.
    const query: Query = { applies_to_type: 'Group' };
    if (filter.groupId !== undefined) query.applies_to_id = filter.groupId;
    if (filter.userId !== undefined) {
      query.assignee_type = 'User';
      query.assignee_id = filter.userId;
    }
    const raw = await this.list<Record<string, unknown>>('/role_assignments', query);
    return raw
      .map(normalizeRoleAssignment)
      .filter((ra): ra is KisiRoleAssignment => ra !== undefined)
      .filter((ra) => (filter.userId === undefined || ra.user_id === filter.userId) && (filter.groupId === undefined || ra.group_id === filter.groupId));
  }

  async createGroupRoleAssignment(input: { userId: number; groupId: number; validFrom: string | null; validUntil: string | null }): Promise<KisiRoleAssignment> {
    const body = {
      role_assignment: {
        role_id: GROUP_MEMBER_ROLE,
        applies_to_type: 'Group',
        applies_to_id: input.groupId,
        assignee_type: 'User',
        assignee_id: input.userId,
        valid_from: input.validFrom,
        valid_until: input.validUntil,
        // The product tells members itself; Kisi's own email would duplicate it.
        notify: false,
      },
    };
    const { data } = await this.send<Record<string, unknown>>('POST', '/role_assignments', { body });
    const ra = normalizeRoleAssignment(data);
    if (!ra) throw malformed('POST', '/role_assignments', 'role assignment without id, user or group');
    return ra;
  }

  async updateRoleAssignmentWindow(id: number, window: { validFrom: string | null; validUntil: string | null }): Promise<void> {
    await this.send('PATCH', `/role_assignments/${id}`, {
      body: { role_assignment: { valid_from: window.validFrom, valid_until: window.validUntil } },
    });
  }

  /** 404 (already gone) counts as success */
  async deleteRoleAssignment(id: number): Promise<void> {
    await this.sendDelete(`/role_assignments/${id}`);
  }

  // ---- cards ---------------------------------------------------------------------------------

  async findCardsByToken(token: string): Promise<KisiCard[]> {
    const cards = await this.list<KisiCard>('/cards', { token });
    return cards.filter((c) => c.token === token);
  }

  async createCard(input: { token: string; type?: string }): Promise<KisiCard> {
    const card = { token: input.token, type: input.type ?? DEFAULT_CARD_TYPE };
    return (await this.send<KisiCard>('POST', '/cards', { body: { card } })).data;
  }

  /** Card assignments of a user, or of a card (to whom it is assigned), all pages. */
  async listCardAssignments(filter: { userId: number } | { cardId: number }): Promise<KisiCardAssignment[]> {
    const query: Query = 'userId' in filter ? { assignee_type: 'User', assignee_id: filter.userId } : { card_id: filter.cardId };
    const raw = await this.list<Record<string, unknown>>('/card_assignments', query);
    return raw
      .map(normalizeCardAssignment)
      .filter((ca): ca is KisiCardAssignment => ca !== undefined && ('userId' in filter ? ca.user_id === filter.userId : ca.card_id === filter.cardId));
  }

  async createCardAssignment(input: { userId: number; cardId: number; twoFactorPin?: string }): Promise<KisiCardAssignment> {
    const cardAssignment: Record<string, unknown> = { assignee_type: 'User', assignee_id: input.userId, card_id: input.cardId };
    if (input.twoFactorPin !== undefined) cardAssignment.two_factor_pin = input.twoFactorPin;
    const { data } = await this.send<Record<string, unknown>>('POST', '/card_assignments', { body: { card_assignment: cardAssignment } });
    const ca = normalizeCardAssignment(data);
    if (!ca) throw malformed('POST', '/card_assignments', 'card assignment without id, card or user');
    return ca;
  }

  /** 404 counts as success */
  async deleteCardAssignment(id: number): Promise<void> {
    await this.sendDelete(`/card_assignments/${id}`);
  }

  /**
   * make the user's card assignments equal to these card numbers (at most four; throws a clear
   * non-retryable ApiError-like validation error beyond four); creates missing cards; returns counts
   *
   * Removes before it adds, so the user never holds more than the target number of cards.
   * Idempotent: a second call with the same tokens changes nothing. A card number already held by
   * someone else makes Kisi answer 422 (not retryable): two members cannot share a card.
   */
  async syncUserCards(userId: number, tokens: string[]): Promise<{ added: number; removed: number }> {
    const wanted = [...new Set(tokens.map((t) => t.trim()).filter((t) => t !== ''))];
    if (wanted.length > MAX_CARDS_PER_USER) {
      // No card numbers in the message: they open doors.
      throw new KisiValidationError('POST', '/card_assignments', {
        cards: [`at most ${MAX_CARDS_PER_USER} cards per user, got ${wanted.length}`],
      });
    }
    const current = await this.listCardAssignments({ userId });
    const assignedCardIds = new Set(current.map((a) => a.card_id));

    // token -> the card to hold it: prefer a card this user already has, else any, else a new one.
    const keepCardIds = new Set<number>();
    const toAssign: number[] = [];
    for (const token of wanted) {
      const cards = await this.findCardsByToken(token);
      const mine = cards.find((c) => assignedCardIds.has(c.id));
      if (mine) {
        keepCardIds.add(mine.id);
        continue;
      }
      const card = cards[0] ?? (await this.createCard({ token }));
      keepCardIds.add(card.id);
      toAssign.push(card.id);
    }

    let removed = 0;
    for (const assignment of current) {
      if (keepCardIds.has(assignment.card_id)) continue;
      await this.deleteCardAssignment(assignment.id);
      removed++;
    }
    let added = 0;
    for (const cardId of toAssign) {
      await this.createCardAssignment({ userId, cardId });
      added++;
    }
    return { added, removed };
  }

  // ---- transport -----------------------------------------------------------------------------

  /** Reads every page of a list endpoint, following `X-Collection-Range`. */
  private async list<T>(path: ListPath, filters: Query): Promise<T[]> {
    const limit = PAGE_LIMIT[path];
    const items: T[] = [];
    for (let offset = 0; ; offset += limit) {
      if (offset > MAX_OFFSET) {
        // Kisi refuses offsets past this, and a truncated list would read as "no more members":
        // fail, not retryable (a retry would hit the same wall).
        throw new KisiValidationError('GET', path, { offset: [`must be at most ${MAX_OFFSET}: more than ${MAX_OFFSET + limit} items match, narrow the filter`] });
      }
      const res = await this.send<unknown>('GET', path, { query: { ...filters, limit, offset } });
      if (!Array.isArray(res.data)) throw malformed('GET', path, 'expected a JSON array');
      const page = res.data as T[];
      items.push(...page);
      const range = parseCollectionRange(res.headers['x-collection-range']);
      if (page.length === 0) break;
      if (range ? offset + page.length >= range.total : page.length < limit) break;
    }
    return items;
  }

  private async sendDelete(path: string): Promise<void> {
    try {
      await this.send('DELETE', path);
    } catch (e) {
      // Already gone is what we wanted: deletes are retried by activities and must be idempotent.
      if (e instanceof ApiError && e.status === 404) return;
      throw e;
    }
  }

  private async send<T>(method: Method, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<AxiosResponse<T>> {
    const query = cleanQuery(opts.query);
    const { lane, signal } = currentCallContext();
    let res: AxiosResponse<T>;
    try {
      res = await this.gate.run(() => this.http.request<T>({ method, url: path, params: query, data: opts.body, signal }), {
        lane,
        signal,
        write: method.toUpperCase() !== 'GET',
        // A 429: everyone behind us in this process waits too; the activity's retry lands after it.
        pauseAfter: (e) => {
          const error = toApiError('kisi', e, parseKisiErrorBody);
          return error.status === 429 ? (error.retryAfterMs ?? DEFAULT_429_PAUSE_MS) : undefined;
        },
      });
    } catch (e) {
      const error = toApiError('kisi', e, parseKisiErrorBody, { method, path });
      if (error.transport === 'cancelled') noteCancelledCall();
      this.observe(method, path, query, opts.body, axios.isAxiosError(e) ? e.response : undefined, error);
      throw error;
    }
    this.observe(method, path, query, opts.body, res);
    return res;
  }

  private observe(method: string, path: string, query: Record<string, string>, body: unknown, res?: AxiosResponse, error?: ApiError): void {
    if (!this.onExchange) return;
    const responseHeaders: Record<string, string> = {};
    if (res) for (const [k, v] of Object.entries(res.headers)) if (v !== undefined && v !== null) responseHeaders[k.toLowerCase()] = String(v);
    this.onExchange({
      method: method.toUpperCase(),
      path,
      query,
      requestHeaders: { ...this.shownHeaders },
      requestBody: body,
      status: res?.status,
      responseHeaders: res ? responseHeaders : undefined,
      responseBody: res?.data === '' ? undefined : res?.data,
      error,
    });
  }
}

function cleanQuery(query: Query | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) out[k] = String(v);
  return out;
}

function malformed(method: string, path: string, what: string): ApiError {
  // A 2xx we cannot read is most likely a proxy or maintenance page in front of Kisi: transient,
  // so it stays retryable (no status), and the message says what was wrong.
  return new ApiError({ service: 'kisi', method, path, message: `kisi ${method} ${path}: unexpected answer: ${what}` });
}

function asInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

/** Accepts both the modern (`assignee_id`, `applies_to_id`) and the legacy (`user_id`, `group_id`) fields. */
function normalizeRoleAssignment(raw: Record<string, unknown>): KisiRoleAssignment | undefined {
  const id = asInt(raw.id);
  const userId = (raw.assignee_type === undefined || raw.assignee_type === 'User' ? asInt(raw.assignee_id) : undefined) ?? asInt(raw.user_id);
  const groupId = (raw.applies_to_type === undefined || raw.applies_to_type === 'Group' ? asInt(raw.applies_to_id) : undefined) ?? asInt(raw.group_id);
  if (id === undefined || userId === undefined || groupId === undefined) return undefined;
  return {
    ...raw,
    id,
    role_id: typeof raw.role_id === 'string' ? raw.role_id : GROUP_MEMBER_ROLE,
    user_id: userId,
    group_id: groupId,
    valid_from: typeof raw.valid_from === 'string' ? raw.valid_from : null,
    valid_until: typeof raw.valid_until === 'string' ? raw.valid_until : null,
  };
}

function normalizeCardAssignment(raw: Record<string, unknown>): KisiCardAssignment | undefined {
  const id = asInt(raw.id);
  const cardId = asInt(raw.card_id);
  const userId = (raw.assignee_type === undefined || raw.assignee_type === 'User' ? asInt(raw.assignee_id) : undefined) ?? asInt(raw.user_id);
  if (id === undefined || cardId === undefined || userId === undefined) return undefined;
  return { ...raw, id, card_id: cardId, user_id: userId };
}

