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
import { withCallContext } from '../../src/clients/call-context';
import { ApiError, isNotFound } from '../../src/clients/errors';
import { contractDeskIds } from '../../src/domain/nexudus-entities';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, type NexudusSandbox, type NexudusSandboxOptions } from '../../dev/sandbox/nexudus';

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
  /** Path and query of every /api request, in arrival order. */
  urls: string[];
  /** `METHOD /api/path` of every /api request, in arrival order. */
  paths: string[];
  close(): Promise<void>;
}

const open: Harness[] = [];

/** A sandbox behind a thin server that records arrival times. */
async function start(options: NexudusSandboxOptions = {}): Promise<Harness> {
  const sb = createNexudusSandbox({ rateLimit: false, ...options });
  const arrivals: number[] = [];
  const urls: string[] = [];
  const paths: string[] = [];
  const outer = express();
  outer.use((req, _res, next) => {
    if (req.path.startsWith('/api')) {
      arrivals.push(Date.now());
      urls.push(req.originalUrl);
      paths.push(`${req.method} ${req.path}`);
    }
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
    urls,
    paths,
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
    expect(ada).toMatchObject({ Id: ADA, FullName: 'Ada Lovelace', Email: 'ada@example.com', AccessCardId: '04A1B2C3D4E5F6', KeyFobNumber: 'F0B1001', AccessPincode: '48213', Active: true });
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

describe('customers for the lifecycle (shared emails, changes since)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
  });

  /** The query of the requests to `path` made by `fn`, as objects. */
  const queriesOf = async (path: string, fn: () => Promise<unknown>) => {
    const from = h.urls.length;
    await fn();
    return h.urls.slice(from).filter((u) => u.startsWith(`/api/${path}?`)).map((u) => Object.fromEntries(new URL(u, 'http://x').searchParams));
  };

  it('findCoworkersByEmail returns every customer with that exact email (any case), findCoworkerByEmail the first active one', async () => {
    const client = h.client();
    const inactiveTwin = h.sb.state.addCoworker({ FullName: 'Grace (old account)', Email: 'GRACE@example.com', Active: false }).Id as number;
    const twin = h.sb.state.addCoworker({ FullName: 'Grace (company)', Email: 'grace@example.com' }).Id as number;
    h.sb.state.addCoworker({ FullName: 'Not Grace', Email: 'disgrace@example.com' });
    // Grace's own record goes inactive: the first active match is then the company twin.
    h.sb.state.updateCoworker(GRACE, { Active: false });
    expect((await client.findCoworkersByEmail(' Grace@Example.com ')).map((c) => c.Id)).toEqual([GRACE, inactiveTwin, twin]);
    expect((await client.findCoworkerByEmail('grace@example.com'))?.Id).toBe(twin);
    h.sb.state.updateCoworker(twin, { Active: false });
    expect((await client.findCoworkerByEmail('grace@example.com'))?.Id).toBe(GRACE);
    expect(await client.findCoworkersByEmail('race@example.com')).toEqual([]);
    expect(await client.findCoworkersByEmail('  ')).toEqual([]);
  });

  it('listCoworkers walks every page with the largest page size, filtered by from_Coworker_UpdatedOn and an exact email', async () => {
    const client = h.client();
    const all = await queriesOf('spaces/coworkers', () => client.listCoworkers());
    expect(all).toEqual([expect.objectContaining({ page: '1', size: '1000', orderBy: 'Id', dir: '1' })]);
    // The range is sent to the minute: `since` lies a minute ahead of every other record, and the
    // two changes are stamped a second after it (moved on in the store; the sandbox stamps "now").
    const since = new Date(Date.now() + 60_000).toISOString();
    for (const id of [ADA, ZOE]) {
      h.sb.state.updateCoworker(id, { FullName: `Changed ${id}` });
      h.sb.state.store.coworkers.get(id)!.UpdatedOn = Date.parse(since) + 1000;
    }
    const small = h.client({ pageSize: 1 });
    const changed = await queriesOf('spaces/coworkers', async () => expect((await small.listCoworkers({ updatedFrom: since })).map((c) => c.Id)).toEqual([ADA, ZOE]));
    expect(changed).toEqual([
      expect.objectContaining({ page: '1', size: '1', from_Coworker_UpdatedOn: since.slice(0, 16) }),
      expect.objectContaining({ page: '2', size: '1', from_Coworker_UpdatedOn: since.slice(0, 16) }),
    ]);
    expect((await client.listCoworkers({ updatedFrom: since, email: 'ZOE@example.com' })).map((c) => c.Id)).toEqual([ZOE]);
    const byEmail = await queriesOf('spaces/coworkers', () => client.listCoworkers({ email: ' zoe@example.com ' }));
    expect(byEmail[0]).toMatchObject({ Coworker_Email: 'zoe@example.com' });
    await expect(client.listCoworkers({ email: ' ' })).rejects.toThrow(RangeError);
    await expect(client.listCoworkers({ updatedFrom: 'yesterday' })).rejects.toThrow(RangeError);
  });

  it('listCoworkerTimePasses filters by from_CoworkerTimePass_UpdatedOn (the pass watcher\'s look), to the minute', async () => {
    const client = h.client();
    // As above: `since` lies a minute ahead of every other record; one pass is stamped after it.
    const since = new Date(Date.now() + 60_000).toISOString();
    h.sb.state.store.passes.get(5100003)!.UpdatedOn = Date.parse(since) + 1000;
    const sent = await queriesOf('billing/coworkertimepasses', async () => expect((await client.listCoworkerTimePasses({ updatedFrom: since })).map((p) => p.Id)).toEqual([5100003]));
    expect(sent).toEqual([expect.objectContaining({ from_CoworkerTimePass_UpdatedOn: since.slice(0, 16) })]);
    // Combined with the customer filter; nothing changed since a minute later.
    const owner = (await client.getCoworkerTimePass(5100003)).CoworkerId;
    expect((await client.listCoworkerTimePasses({ updatedFrom: since, coworkerId: owner })).map((p) => p.Id)).toEqual([5100003]);
    expect(await client.listCoworkerTimePasses({ updatedFrom: new Date(Date.parse(since) + 120_000).toISOString() })).toEqual([]);
    await expect(client.listCoworkerTimePasses({ updatedFrom: 'today' })).rejects.toThrow(RangeError);
  });
});

describe('check-ins for "counted once"', () => {
  it('listCheckins by customer, location and start range, every page: open ones have ToTime null; Source and CreatedOn come along', async () => {
    const h = await start({
      seed: {
        businesses: [{ Id: 1, Name: 'One', TimeZone: 'Europe/London' }, { Id: 2, Name: 'Two', TimeZone: 'Europe/London' }],
        coworkers: [{ Id: 10, FullName: 'A', Email: 'a@example.com' }, { Id: 11, FullName: 'B', Email: 'b@example.com' }],
        timePasses: [{ Id: 20, Name: 'Monthly', BusinessId: 1 }, { Id: 21, Name: 'Monthly', BusinessId: 2 }],
        coworkerTimePasses: [{ Id: 30, CoworkerId: 10, TimePassId: 20 }, { Id: 31, CoworkerId: 10, TimePassId: 21 }, { Id: 32, CoworkerId: 11, TimePassId: 20 }],
      },
    });
    const checkin = (coworker: number, business: number, from: string) => {
      const r = h.sb.state.createCheckin({ BusinessId: business, CoworkerId: coworker, FromTime: `2030-07-01T${from}:00Z`, Source: 2 });
      if (!r.ok) throw new Error(r.reason);
      return r.checkin.Id as number;
    };
    const early = checkin(10, 1, '08:00');
    const late = checkin(10, 1, '13:00');
    const elsewhere = checkin(10, 2, '14:00');
    const other = checkin(11, 1, '13:30');
    h.sb.state.checkout({ checkinId: early }, Date.parse('2030-07-01T12:00:00Z'));
    const client = h.client({ pageSize: 1 });
    const list = async (filter: Parameters<NexudusClient['listCheckins']>[0]) => client.listCheckins(filter);
    const mine = await list({ coworkerId: 10, businessId: 1, from: '2030-07-01T00:00:00Z', to: '2030-07-01T23:59:59Z' });
    expect(mine).toEqual([
      expect.objectContaining({ Id: early, CoworkerId: 10, BusinessId: 1, Source: 2, FromTime: '2030-07-01T08:00:00Z', ToTime: '2030-07-01T12:00:00Z', CreatedOn: expect.any(String) }),
      expect.objectContaining({ Id: late, ToTime: null, Source: 2 }),
    ]);
    expect((await list({ coworkerId: 10, from: '2030-07-01T12:30:00Z' })).map((c) => c.Id)).toEqual([late, elsewhere]);
    expect((await list({ businessId: 1, to: '2030-07-01T13:00:00Z' })).map((c) => c.Id)).toEqual([early, late]);
    expect((await list({ businessId: 1, from: '2030-07-01T13:00:30Z' })).map((c) => c.Id)).toEqual([late, other]);
    const sent = h.urls.filter((u) => u.startsWith('/api/spaces/checkins?')).map((u) => Object.fromEntries(new URL(u, 'http://x').searchParams));
    expect(sent[0]).toMatchObject({ Checkin_Coworker: '10', Checkin_Business: '1', from_Checkin_FromTime: '2030-07-01T00:00', to_Checkin_FromTime: '2030-07-02T00:00', size: '1' });
    // from 13:00:30 is sent as 13:00 (widened): the 13:00 check-in comes along, as documented.
    expect(sent.at(-1)).toMatchObject({ from_Checkin_FromTime: '2030-07-01T13:00' });
    await expect(list({ coworkerId: 0 })).rejects.toThrow(RangeError);
    await expect(list({ businessId: 1.5 })).rejects.toThrow(RangeError);
    await expect(list({ to: 'later' })).rejects.toThrow(RangeError);
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

describe('lanes, cancellation, Retry-After', () => {
  /** One call per second, so a queue forms at once (basic auth: no token request in between). */
  const SLOW = { minIntervalMs: 1_000, perMinute: 1_000_000 };

  it('a live call goes before the background calls queued for the same user', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic', rateLimit: { minIntervalMs: 100, perMinute: 1_000_000 } });
    const background = withCallContext({ lane: 'background' }, () => Promise.all(Array.from({ length: 6 }, () => client.getCoworker(ADA))));
    const live = withCallContext({ lane: 'live' }, () => client.getBusiness(BUSINESS));
    await Promise.all([background, live]);
    expect(h.paths).toHaveLength(7);
    expect(h.paths.indexOf(`GET /api/sys/businesses/${BUSINESS}`)).toBe(1);
  });

  it('getCoworker\'s beforeSend runs once the gate lets the call through, just before it is sent (a customer sync learns there what its read answers)', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic', rateLimit: SLOW });
    const began = Date.now();
    const first = client.getCoworker(ADA);
    let hookAt = 0;
    let arrivalsAtHook = -1;
    const second = client.getCoworker(ALAN, {
      beforeSend: async () => {
        hookAt = Date.now();
        arrivalsAtHook = h.arrivals.length;
      },
    });
    await Promise.all([first, second]);
    expect(h.paths).toEqual([`GET /api/spaces/coworkers/${ADA}`, `GET /api/spaces/coworkers/${ALAN}`]);
    // After the first call and the gate's second of waiting, before its own request arrived.
    expect(arrivalsAtHook).toBe(1);
    expect(hookAt - began).toBeGreaterThanOrEqual(900);
    expect(h.arrivals[1]!).toBeGreaterThanOrEqual(hookAt);
  });

  it('a queued call whose signal fires is never sent; its error is cancelled, not retryable; the next call takes its turn', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic', rateLimit: SLOW });
    const controller = new AbortController();
    const first = client.getCoworker(ADA);
    const cancelled = withCallContext({ lane: 'live', signal: controller.signal }, () => client.listResources()).catch((e: unknown) => e);
    const next = client.getBusiness(BUSINESS);
    await first;
    controller.abort();
    const error = await cancelled;
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ service: 'nexudus', method: 'GET', path: '/spaces/resources', transport: 'cancelled', retryable: false });
    await next;
    expect(h.paths).toEqual([`GET /api/spaces/coworkers/${ADA}`, `GET /api/sys/businesses/${BUSINESS}`]);
    expect(h.arrivals[1]! - h.arrivals[0]!).toBeLessThan(1_600);
  });

  it('a call in flight whose signal fires is aborted on the wire at once', async () => {
    const hanging = express();
    let arrived!: () => void;
    const arrival = new Promise<void>((r) => (arrived = r));
    let closedAt = 0;
    hanging.post('/api/spaces/checkins', (_req, res) => {
      res.on('close', () => (closedAt = Date.now()));
      arrived(); // and never answer
    });
    const server = await new Promise<Server>((resolve) => {
      const s = hanging.listen(0, '127.0.0.1', () => resolve(s));
    });
    try {
      const client = new NexudusClient({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}/api`, ...DEFAULT_SANDBOX_USER, auth: 'basic', timeoutMs: 10_000 });
      const controller = new AbortController();
      const call = withCallContext({ lane: 'live', signal: controller.signal }, () => client.createCheckin({ businessId: BUSINESS, coworkerId: ADA, fromTime: new Date().toISOString() })).catch((e: unknown) => e);
      await arrival;
      const abortedAt = Date.now();
      controller.abort();
      expect(await call).toMatchObject({ method: 'POST', path: '/spaces/checkins', transport: 'cancelled', retryable: false });
      for (let i = 0; i < 50 && closedAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(closedAt).toBeGreaterThanOrEqual(abortedAt);
      expect(closedAt - abortedAt).toBeLessThan(1_000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('a caller cancelled while the shared token request runs stops waiting; the others get the token', async () => {
    const h = await start();
    h.sb.faults.configure({ rules: [{ route: 'POST /api/token', latencyMs: 600 }] });
    try {
      const client = h.client();
      const controller = new AbortController();
      const cancelled = withCallContext({ signal: controller.signal }, () => client.getCoworker(ADA)).catch((e: unknown) => e);
      const other = client.getCoworker(ALAN);
      await new Promise((r) => setTimeout(r, 100));
      const abortedAt = Date.now();
      controller.abort();
      expect(await cancelled).toMatchObject({ transport: 'cancelled', retryable: false, path: `/spaces/coworkers/${ADA}` });
      expect(Date.now() - abortedAt).toBeLessThan(300); // not after the token came
      expect((await other).Id).toBe(ALAN);
      expect(h.sb.auth.stats).toMatchObject({ passwordGrants: 1 });
      expect(h.paths).toEqual(['POST /api/token', `GET /api/spaces/coworkers/${ALAN}`]);
    } finally {
      h.sb.faults.clear();
    }
  });

  it('writes count against writes per minute; reads pass a write that waits for it', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic', rateLimit: { minIntervalMs: 0, perMinute: 1_000_000, writesPerMinute: 2 } });
    const input = { businessId: BUSINESS, coworkerId: ADA, fromTime: new Date().toISOString() };
    // Live: the lower lanes leave live its share of every cap (of 2 writes a minute, scheduled may use 1).
    await withCallContext({ lane: 'live' }, () => client.createCheckin(input));
    await withCallContext({ lane: 'live' }, () => client.createCheckin(input));
    const controller = new AbortController();
    const third = withCallContext({ lane: 'live', signal: controller.signal }, () => client.createCheckin(input)).catch((e: unknown) => e);
    expect((await client.getCoworker(ALAN)).Id).toBe(ALAN); // a read is not held by the write cap
    await new Promise((r) => setTimeout(r, 500));
    expect(h.sb.state.checkins()).toHaveLength(2); // the third write still waits for the minute
    controller.abort();
    expect(await third).toMatchObject({ transport: 'cancelled' });
    expect(h.paths.filter((p) => p.startsWith('POST'))).toHaveLength(2);
  });

  it('Retry-After is honoured up to a minute: a day reads as 60 s', async () => {
    const h = await start();
    const client = h.client({ auth: 'basic' });
    h.sb.script({ path: '/api/sys/businesses', status: 409, headers: { 'Retry-After': '86400' }, body: { Message: 'You must wait before accessing this url again.' } });
    expect(await rejection(client.listBusinesses())).toMatchObject({ status: 409, retryable: true, retryAfterMs: 60_000 });
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
