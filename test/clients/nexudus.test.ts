/**
 * NexudusClient against the Nexudus sandbox on free ports: every operation, token handling,
 * Basic auth, paging, filters, validation of answers, every error class, pacing, check-ins, and
 * both time formats.
 */
import type { Server } from 'node:http';
import { inspect } from 'node:util';
import express from 'express';
import request from 'supertest';
import { NexudusClient, type InvalidRecordReport, type NexudusClientOptions } from '../../src/clients/nexudus';
import { ApiError, isNotFound } from '../../src/clients/errors';
import { contractDeskIds } from '../../src/domain/nexudus-entities';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, type NexudusSandbox, type NexudusSandboxOptions } from '../../src/sandbox/nexudus';

const ADA = 2000001;
const ALAN = 2000002;
const GRACE = 2000003;
const ZOE = 2000004;
const BUSINESS = 1000001;
const THAMES = 3000001;
const SEVERN = 3000002;
/** For tests that are not about pacing: no client-side waits. */
const UNPACED = { minIntervalMs: 0, perMinute: 1_000_000 };

interface Harness {
  sb: NexudusSandbox;
  apiUrl: string;
  client(options?: Partial<NexudusClientOptions>): NexudusClient;
  /** Arrival time of every /api request at the server. */
  arrivals: number[];
  close(): Promise<void>;
}

const open: Harness[] = [];

/** A sandbox behind a thin server that records arrival times. */
async function start(options: NexudusSandboxOptions = {}): Promise<Harness> {
  const sb = createNexudusSandbox({ rateLimit: false, ...options });
  const arrivals: number[] = [];
  const outer = express();
  outer.use((req, _res, next) => {
    if (req.path.startsWith('/api')) arrivals.push(Date.now());
    next();
  });
  outer.use(sb.app);
  const server: Server = await new Promise((resolve) => {
    const s = outer.listen(0, '127.0.0.1', () => resolve(s));
  });
  const apiUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/api`;
  const harness: Harness = {
    sb,
    apiUrl,
    arrivals,
    client: (o = {}) => new NexudusClient({ baseUrl: apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: UNPACED, ...o }),
    close: () =>
      new Promise<void>((done) => {
        sb.webhooks.clear();
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
  open.push(harness);
  return harness;
}

afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
});

async function rejection(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]!);

describe('operations', () => {
  let h: Harness;
  let client: NexudusClient;
  beforeAll(async () => {
    h = await start();
    client = h.client();
  });

  it('reads customers by id and by exact email', async () => {
    const ada = await client.getCoworker(ADA);
    expect(ada).toMatchObject({ Id: ADA, FullName: 'Ada Lovelace', Email: 'ada@example.com', AccessCardId: '04A1B2C3D4E5F6', KeyFobNumber: 'FOB-1001', AccessPincode: '48213', Active: true });
    // The API filter matches by "contains"; the client must not take a longer address for Ada's.
    h.sb.state.addCoworker({ FullName: 'Not Ada', Email: 'not.ada@example.com.au' });
    expect((await client.findCoworkerByEmail(' ADA@example.com '))?.Id).toBe(ADA);
    expect(await client.findCoworkerByEmail('example.com')).toBeUndefined();
    expect(await client.findCoworkerByEmail('nobody@example.com')).toBeUndefined();
    expect(await client.findCoworkerByEmail('')).toBeUndefined();
  });

  it('reads a booking and lists bookings overlapping a range, by customer and by resource', async () => {
    expect(await client.getBooking(7000001)).toMatchObject({ Id: 7000001, ResourceId: THAMES, ResourceName: 'Meeting Room Thames', CoworkerId: ADA });
    const add = (from: string, to: string, resource = THAMES, coworker = ALAN) =>
      h.sb.state.addBooking({ ResourceId: resource, CoworkerId: coworker, FromTime: `2030-07-01T${from}:00Z`, ToTime: `2030-07-01T${to}:00Z` }).Id as number;
    const early = add('10:00', '11:00');
    const middle = add('12:00', '13:00', SEVERN);
    const late = add('14:00', '15:00', THAMES, ZOE);
    const ids = async (filter: Parameters<NexudusClient['listBookings']>[0]) => (await client.listBookings(filter)).map((b) => b.Id);
    expect(await ids({ from: '2030-07-01T11:30:00Z', to: '2030-07-01T12:30:00Z' })).toEqual([middle]);
    expect(await ids({ from: '2030-07-01T10:30:00.000Z', to: '2030-07-01T14:30:00.000Z' })).toEqual([early, middle, late]);
    expect(await ids({ from: '2030-07-01T00:00:00Z', coworkerId: ALAN })).toEqual([early, middle]);
    expect(await ids({ from: '2030-07-01T00:00:00Z', resourceId: THAMES })).toEqual([early, late]);
    expect(await ids({ to: '2030-07-01T09:00:00Z', coworkerId: ZOE })).toEqual([7000002]);
    await expect(client.listBookings({ from: 'tomorrow' })).rejects.toThrow(RangeError);
  });

  it('reads contracts (desks on GET by id), filters them by customer and activity', async () => {
    const grace = await client.getContract(6000001);
    expect(contractDeskIds(grace)).toEqual([4000002]);
    expect(grace).toMatchObject({ CoworkerId: GRACE, CoworkerEmail: 'grace@example.com', TariffName: 'Dedicated Desk Monthly' });
    expect((await client.listContracts({ coworkerId: GRACE })).map((c) => c.Id)).toEqual([6000001]);
    h.sb.state.updateContract(6000002, { Active: false });
    expect((await client.listContracts({ activeOnly: true })).map((c) => c.Id)).toEqual([6000001]);
    const all = await client.listContracts({});
    expect(all.map((c) => c.Id)).toEqual([6000001, 6000002]);
    // Documented: list answers omit collections, so desks come from getContract or the floor plan.
    expect(all.every((c) => c.Desks === undefined)).toBe(true);
    h.sb.state.updateContract(6000002, { Active: true });
  });

  it('reads customer passes, pass types, resources, floor-plan desks and businesses', async () => {
    expect(await client.getCoworkerTimePass(5100002)).toMatchObject({ CoworkerId: ALAN, TimePassId: 5000002, RemainingUses: 7, TotalUses: 10, TimePassName: '10-Day Pass Bundle' });
    expect((await client.listCoworkerTimePasses({ coworkerId: ALAN })).map((p) => p.Id)).toEqual([5100002]);
    expect((await client.listCoworkerTimePasses({ timePassId: 5000001 })).map((p) => p.Id)).toEqual([5100001, 5100003, 5100004]);
    expect((await client.listCoworkerTimePasses({ coworkerId: ADA, timePassId: 5000002 })).map((p) => p.Id)).toEqual([]);
    const types = await client.listTimePasses();
    expect(types.map((t) => [t.Name, t.MinutesIncluded])).toEqual([
      ['Day Pass', null],
      ['10-Day Pass Bundle', null],
    ]);
    expect((await client.listResources()).map((r) => r.Name)).toEqual(['Meeting Room Thames', 'Meeting Room Severn', 'Podcast Booth']);
    const desks = await client.listFloorPlanDesks();
    expect(desks.map((d) => [d.Id, d.ItemType])).toEqual([
      [4000001, 1],
      [4000002, 2],
      [4000003, 2],
      [4000004, 3],
    ]);
    expect(desks.find((d) => d.Id === 4000002)).toMatchObject({ CoworkerId: GRACE, CoworkerContractIds: '6000001' });
    expect(await client.getBusiness(BUSINESS)).toMatchObject({ Id: BUSINESS, TimeZone: 'Europe/London', SimpleTimeZoneId: 2023 });
    expect((await client.listBusinesses()).map((b) => b.Id)).toEqual([BUSINESS]);
  });

  it('lists webhooks with their health fields', async () => {
    h.sb.state.addWebhook({ Name: 'bookings', Action: 'BookingCreate', URL: 'https://ingress.example.com/webhooks/nexudus/BookingCreate' });
    const hooks = await client.listWebhooks();
    expect(hooks).toEqual([expect.objectContaining({ Name: 'bookings', Action: 6, Active: true, ErrorCount: 0, LastError: null, BusinessId: BUSINESS })]);
  });

  it('rejects ids that cannot be Nexudus ids before calling', async () => {
    const before = h.arrivals.length;
    await expect(client.getBooking(0)).rejects.toThrow(RangeError);
    await expect(client.getCoworker(1.5)).rejects.toThrow(RangeError);
    expect(h.arrivals.length).toBe(before);
  });
});

describe('check-ins', () => {
  it('records an accepted door check-in (Source 2) and answers its id', async () => {
    const h = await start();
    const result = await h.client().createCheckin({ businessId: BUSINESS, coworkerId: ADA, fromTime: new Date().toISOString() });
    expect(result).toEqual({ ok: true, id: expect.any(Number) });
    const recorded = h.sb.state.checkins();
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ Id: result.ok ? result.id : -1, CoworkerId: ADA, Source: 2 });
  });

  it.each(['http-400', 'http-200'] as const)('answers a refusal (%s) with its reason; Nexudus logs a failed check-in the client can list', async (checkinRefusal) => {
    const h = await start({ checkinRefusal });
    const client = h.client();
    const started = new Date(Date.now() - 60_000).toISOString();
    const result = await client.createCheckin({ businessId: BUSINESS, coworkerId: ZOE, fromTime: new Date().toISOString() });
    expect(result).toEqual({ ok: false, reason: expect.stringMatching(/does not have any valid pass/) });
    const failed = await client.listFailedCheckins({ from: started });
    expect(failed).toEqual([expect.objectContaining({ CoworkerId: ZOE, BusinessId: BUSINESS, Source: 2, Description: expect.stringMatching(/valid pass/) })]);
    expect(await client.listFailedCheckins({ from: new Date(Date.now() + 3_600_000).toISOString() })).toEqual([]);
    expect(await client.listFailedCheckins()).toHaveLength(1);
    expect(h.sb.state.checkins()).toHaveLength(0);
  });

  it('throws for server failures during a check-in, and refuses bad input before sending', async () => {
    const h = await start();
    h.sb.script({ method: 'POST', path: '/api/spaces/checkins', status: 503 });
    const error = await rejection(h.client().createCheckin({ businessId: BUSINESS, coworkerId: ADA, fromTime: new Date().toISOString() }));
    expect(error).toMatchObject({ status: 503, retryable: true });
    await expect(h.client().createCheckin({ businessId: BUSINESS, coworkerId: ADA, fromTime: 'now' })).rejects.toThrow(RangeError);
    await expect(h.client().createCheckin({ businessId: -1, coworkerId: ADA, fromTime: new Date().toISOString() })).rejects.toThrow(RangeError);
  });

  it('reads the id from Value as {Id} or a bare number, and tolerates an answer without one', async () => {
    const h = await start();
    const input = { businessId: BUSINESS, coworkerId: ADA, fromTime: new Date().toISOString() };
    h.sb.script({ method: 'POST', path: '/api/spaces/checkins', status: 200, body: { Status: 200, Value: 4242, WasSuccessful: true } });
    expect(await h.client().createCheckin(input)).toEqual({ ok: true, id: 4242 });
    h.sb.script({ method: 'POST', path: '/api/spaces/checkins', status: 200, body: { Status: 200, Message: 'ok', Value: null, WasSuccessful: true } });
    expect(await h.client().createCheckin(input)).toEqual({ ok: true, id: null });
    h.sb.script({ method: 'POST', path: '/api/spaces/checkins', status: 422, body: { Message: 'Unprocessable', WasSuccessful: false, Errors: null } });
    expect(await h.client().createCheckin(input)).toEqual({ ok: false, reason: 'Unprocessable' });
    h.sb.script({ method: 'POST', path: '/api/spaces/checkins', status: 400, body: 'Bad Request' });
    expect(await rejection(h.client().createCheckin(input))).toMatchObject({ status: 400, retryable: false });
  });
});

describe('authentication', () => {
  it('fetches one bearer token and reuses it; concurrent first calls share one token request', async () => {
    const h = await start();
    const client = h.client();
    await Promise.all([client.getCoworker(ADA), client.getCoworker(ALAN), client.listResources(), client.getBusiness(BUSINESS), client.listTimePasses()]);
    await client.getCoworker(GRACE);
    expect(h.sb.auth.stats).toMatchObject({ passwordGrants: 1, refreshGrants: 0, tokensIssued: 1, unauthorized: 0 });
  });

  it('refreshes the token before it expires (no 401 on the way)', async () => {
    const h = await start({ tokenTtlSeconds: 2 });
    const client = h.client();
    await client.getCoworker(ADA);
    await new Promise((r) => setTimeout(r, 1850));
    await client.getCoworker(ADA);
    expect(h.sb.auth.stats).toMatchObject({ passwordGrants: 1, refreshGrants: 1, unauthorized: 0 });
  });

  it('gets a fresh token once after a 401 and retries the call', async () => {
    const h = await start();
    const client = h.client();
    await client.getCoworker(ADA);
    h.sb.auth.revokeAccessTokens();
    expect((await client.getCoworker(ALAN)).Id).toBe(ALAN);
    expect(h.sb.auth.stats).toMatchObject({ unauthorized: 1, refreshGrants: 1, passwordGrants: 1 });
  });

  it('falls back to the password when the refresh token was retired by another login', async () => {
    const h = await start();
    const client = h.client();
    await client.getCoworker(ADA);
    await request(h.sb.app).post('/api/token').type('form').send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: DEFAULT_SANDBOX_USER.password }).expect(200);
    h.sb.auth.revokeAccessTokens();
    expect((await client.getCoworker(ALAN)).Id).toBe(ALAN);
    expect(h.sb.auth.stats).toMatchObject({ passwordGrants: 3, refreshGrants: 0, unauthorized: 1 });
  });

  it('retries a 401 only once', async () => {
    const h = await start();
    const client = h.client();
    h.sb.script({ method: 'GET', path: '/api/sys/businesses', status: 401, body: { Message: 'Authorization has been denied for this request.' }, times: 2 });
    const error = await rejection(client.listBusinesses());
    expect(error).toMatchObject({ status: 401, retryable: false });
    // Exactly two attempts used the two scripted answers: the next call goes through.
    expect(await client.listBusinesses()).toHaveLength(1);
  });

  it('speaks Basic auth when asked (no token requests)', async () => {
    const h = await start();
    expect((await h.client({ auth: 'basic' }).getCoworker(ADA)).Id).toBe(ADA);
    expect(h.sb.auth.stats.tokensIssued).toBe(0);
    const error = await rejection(h.client({ auth: 'basic', password: 'wrong' }).getCoworker(ADA));
    expect(error).toMatchObject({ status: 401, retryable: false });
  });

  it('reports wrong credentials as a non-retryable invalid_grant, without leaking the password or tokens', async () => {
    const h = await start();
    const password = 'correct-horse-battery-staple';
    const error = await rejection(h.client({ password }).getCoworker(ADA));
    expect(error).toMatchObject({ status: 400, code: 'invalid_grant', retryable: false, path: '/token' });
    expect(JSON.stringify(error)).not.toContain(password);
    expect(error.message).not.toContain(password);
    expect(inspect(error, { depth: 5 })).not.toContain(password);

    const client = h.client();
    await client.getCoworker(ADA);
    expect(inspect(client, { depth: 5, showHidden: true })).not.toContain(DEFAULT_SANDBOX_USER.password);
    const tokens = JSON.stringify((await request(h.sb.app).get('/__sandbox/state')).body);
    expect(inspect(client, { depth: 5 })).not.toMatch(/Bearer [A-Za-z0-9_-]{20,}/);
    expect(tokens).not.toContain(DEFAULT_SANDBOX_USER.password);
  });
});

describe('paging and answer validation', () => {
  it('walks every page (page from 1, size as configured, ordered by Id)', async () => {
    const h = await start();
    for (let i = 0; i < 5; i++) h.sb.state.addCoworkerTimePass({ CoworkerId: ZOE, TimePassId: 5000001 });
    const before = h.arrivals.length;
    const passes = await h.client({ auth: 'basic', pageSize: 2 }).listCoworkerTimePasses({});
    expect(passes).toHaveLength(9);
    expect(passes.map((p) => p.Id)).toEqual([...passes.map((p) => p.Id)].sort((a, b) => a - b));
    expect(h.arrivals.length - before).toBe(5);
    // The default page size is Nexudus' maximum: one request.
    const one = h.arrivals.length;
    expect(await h.client({ auth: 'basic' }).listCoworkerTimePasses({})).toHaveLength(9);
    expect(h.arrivals.length - one).toBe(1);
  });

  it('stops on HasNextPage, TotalPages or a short page, whichever the answer carries', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic', pageSize: 2 });
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: { Records: [{ Id: 1 }, { Id: 2 }], TotalPages: 2 } });
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: { Records: [{ Id: 3 }] } });
    expect((await client.listResources()).map((r) => r.Id)).toEqual([1, 2, 3]);
    // A record repeated across pages (the list shifted while paging) is returned once.
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: { Records: [{ Id: 1 }, { Id: 2 }], HasNextPage: true } });
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: { Records: [{ Id: 2 }, { Id: 3 }], HasNextPage: false } });
    expect((await client.listResources()).map((r) => r.Id)).toEqual([1, 2, 3]);
  });

  it('throws a non-retryable error naming the field when a record is invalid', async () => {
    const h = await start();
    h.sb.script({ path: '/api/spaces/bookings/7000001', status: 200, body: { Id: 7000001, ResourceId: THAMES, CoworkerId: ADA, ToTime: '2030-01-01T10:00:00Z' } });
    const error = await rejection(h.client().getBooking(7000001));
    expect(error).toMatchObject({ code: 'invalid_response', retryable: false });
    expect(Object.keys(error.fieldErrors ?? {})).toEqual(['FromTime']);
    expect(error.message).toMatch(/FromTime/);
  });

  it('skips and reports invalid list records by default, or fails when asked', async () => {
    const h = await start();
    const reports: InvalidRecordReport[] = [];
    const list = { Records: [{ Id: 1, Name: 'Room' }, { Name: 'no id' }, { Id: 3, Archived: 'yes' }], HasNextPage: false };
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: list });
    const kept = await h.client({ onInvalidRecord: (r) => reports.push(r) }).listResources();
    expect(kept.map((r) => r.Id)).toEqual([1]);
    expect(reports).toEqual([
      { path: '/spaces/resources', id: undefined, issues: [expect.stringMatching(/^Id: /)] },
      { path: '/spaces/resources', id: 3, issues: [expect.stringMatching(/^Archived: /)] },
    ]);
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: list });
    const error = await rejection(h.client({ invalidRecords: 'fail' }).listResources());
    expect(error).toMatchObject({ code: 'invalid_response', retryable: false });
    expect(Object.keys(error.fieldErrors ?? {})).toEqual(['Id']);
    h.sb.script({ path: '/api/spaces/resources', status: 200, body: { Items: [] } });
    expect(await rejection(h.client().listResources())).toMatchObject({ code: 'invalid_response' });
  });
});

describe('errors', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start({ users: [DEFAULT_SANDBOX_USER, { username: 'limited@example.com', password: 'pw', roles: ['Coworker-Read'] }] });
  });

  it('403 without the role: not retryable', async () => {
    const limited = h.client({ username: 'limited@example.com', password: 'pw' });
    expect((await limited.getCoworker(ADA)).Id).toBe(ADA);
    expect(await rejection(limited.listBookings({}))).toMatchObject({ status: 403, retryable: false, path: '/spaces/bookings' });
  });

  it('404 for an unknown id: isNotFound, not retryable', async () => {
    const error = await rejection(h.client().getBooking(424242));
    expect(isNotFound(error)).toBe(true);
    expect(error.retryable).toBe(false);
  });

  it('400 and 422 validation answers: field errors, not retryable', async () => {
    h.sb.script({ path: '/api/spaces/bookings/7000001', status: 400, body: { Status: 400, Message: 'Id: is not valid', Value: null, WasSuccessful: false, Errors: [{ PropertyName: 'Id', Message: 'is not valid', AttemptedValue: 1 }] } });
    const bad = await rejection(h.client().getBooking(7000001));
    expect(bad).toMatchObject({ status: 400, retryable: false, fieldErrors: { Id: ['is not valid'] } });
    h.sb.script({ path: '/api/spaces/bookings/7000001', status: 422, body: { Message: 'Unprocessable booking' } });
    const unprocessable = await rejection(h.client().getBooking(7000001));
    expect(unprocessable).toMatchObject({ status: 422, retryable: false });
    expect(unprocessable.message).toMatch(/Unprocessable booking/);
  });

  it('409 with Retry-After: retryable, and every later call waits that long', async () => {
    const client = h.client({ auth: 'basic' });
    h.sb.script({ path: '/api/sys/businesses', status: 409, headers: { 'Retry-After': '1' }, body: { Message: 'You must wait before accessing this url again.' } });
    const started = Date.now();
    const error = await rejection(client.listBusinesses());
    expect(error).toMatchObject({ status: 409, retryable: true, retryAfterMs: 1000 });
    await client.listBusinesses();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('409 without Retry-After: retryable, and the client pauses a second', async () => {
    const client = h.client({ auth: 'basic', rateLimit: { minIntervalMs: 1, perMinute: 1_000_000 } });
    h.sb.script({ path: '/api/sys/businesses', status: 409 });
    const started = Date.now();
    const error = await rejection(client.listBusinesses());
    expect(error).toMatchObject({ status: 409, retryable: true, retryAfterMs: undefined });
    await client.listBusinesses();
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it('5xx: retryable', async () => {
    h.sb.script({ path: '/api/sys/businesses/*', status: 503 });
    expect(await rejection(h.client().getBusiness(BUSINESS))).toMatchObject({ status: 503, retryable: true });
    h.sb.faults.configure({ rules: [{ route: 'GET /api/spaces/resources', errorRate: 1 }] });
    try {
      const error = await rejection(h.client().listResources());
      expect(error.status).toBeGreaterThanOrEqual(500);
      expect(error.retryable).toBe(true);
    } finally {
      h.sb.faults.clear();
    }
  });

  it('network error: retryable', async () => {
    const dead = createNexudusSandbox();
    const listening = await dead.listen(0, '127.0.0.1');
    await listening.close();
    const client = new NexudusClient({ baseUrl: listening.apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: UNPACED });
    expect(await rejection(client.getCoworker(ADA))).toMatchObject({ transport: 'network', retryable: true, status: undefined });
  });

  it('timeout: retryable', async () => {
    h.sb.faults.configure({ rules: [{ route: 'GET /api/spaces/coworkers', latencyMs: 500 }] });
    try {
      const error = await rejection(h.client({ auth: 'basic', timeoutMs: 100 }).getCoworker(ADA));
      expect(error).toMatchObject({ transport: 'timeout', retryable: true });
    } finally {
      h.sb.faults.clear();
    }
  });
});

/**
 * Client and server share this process's event loop, so on a busy machine a paced call can reach
 * the server a few tens of ms late and the next one on time. The sandbox forgives 40 ms of such
 * jitter here; an unpaced client (calls ~1 ms apart) is still throttled (last test).
 */
describe('pacing (sandbox enforces 1 per 100 ms and 120 per minute)', () => {
  const LIMITS = { perMinute: 120, minIntervalMs: 100, jitterGraceMs: 40 };
  const expectPaced = (arrivals: number[]) => {
    for (const gap of gaps(arrivals)) expect(gap).toBeGreaterThanOrEqual(60);
    expect(arrivals[arrivals.length - 1]! - arrivals[0]!).toBeGreaterThanOrEqual((arrivals.length - 1) * 100 - 40);
  };

  it('spaces sequential calls 100 ms apart, token request included, without a single 409', async () => {
    const h = await start({ rateLimit: LIMITS });
    const client = new NexudusClient({ baseUrl: h.apiUrl, ...DEFAULT_SANDBOX_USER });
    for (let i = 0; i < 5; i++) await client.getCoworker(ADA);
    expect(h.arrivals).toHaveLength(6);
    expectPaced(h.arrivals);
    expect((await request(h.sb.app).get('/__sandbox/state')).body.rateLimit.rejected).toBe(0);
  });

  it('queues concurrent calls from two clients of the same user on one shared pacer', async () => {
    const h = await start({ rateLimit: LIMITS });
    const a = new NexudusClient({ baseUrl: h.apiUrl, ...DEFAULT_SANDBOX_USER, auth: 'basic' });
    const b = new NexudusClient({ baseUrl: h.apiUrl, ...DEFAULT_SANDBOX_USER, auth: 'basic' });
    const results = await Promise.all([a.getCoworker(ADA), b.getCoworker(ALAN), a.listResources(), b.getBusiness(BUSINESS), a.getBooking(7000001), b.listTimePasses()]);
    expect(results).toHaveLength(6);
    expectPaced(h.arrivals);
    expect((await request(h.sb.app).get('/__sandbox/state')).body.rateLimit.rejected).toBe(0);
  });

  it('proves the sandbox would have throttled an unpaced client', async () => {
    const h = await start({ rateLimit: LIMITS });
    const client = h.client({ auth: 'basic' });
    const outcomes = await Promise.allSettled([client.getCoworker(ADA), client.getCoworker(ALAN), client.getCoworker(GRACE)]);
    const throttled = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason as ApiError);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled.every((e) => e.status === 409 && e.retryable)).toBe(true);
  });
});

describe('time formats', () => {
  it("returns Nexudus' strings untouched: UTC FromTime with 'utc-z', the wall clock with a fake Z with 'local-fake-z'", async () => {
    for (const timeFormat of ['utc-z', 'local-fake-z'] as const) {
      const h = await start({ timeFormat });
      const id = h.sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ADA, FromTime: '2030-07-01T10:00:00Z', ToTime: '2030-07-01T11:00:00Z' }).Id as number;
      const booking = await h.client().getBooking(id);
      expect(booking.FromTimeLocal).toBe('2030-07-01T11:00:00');
      expect(booking.FromTime).toBe(timeFormat === 'utc-z' ? '2030-07-01T10:00:00Z' : '2030-07-01T11:00:00Z');
      const [listed] = await h.client().listBookings({ from: '2030-07-01T00:00:00Z', coworkerId: ADA });
      expect(listed).toMatchObject({ FromTime: booking.FromTime, ToTimeLocal: '2030-07-01T12:00:00' });
    }
  });
});
