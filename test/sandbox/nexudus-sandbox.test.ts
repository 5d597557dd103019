/**
 * The Nexudus sandbox on its own: auth, REST shapes, paging and filters, time formats, check-in
 * rules, webhooks (signature, retries, disabling, duplicates, order), limits and faults.
 */
import { createHmac } from 'node:crypto';
import type { Server } from 'node:http';
import express from 'express';
import request from 'supertest';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, signNexudusBody, type NexudusSandbox, type NexudusSandboxOptions } from '../../dev/sandbox/nexudus';
import { parseSeed, SeedError, type NexudusSeed } from '../../dev/sandbox/nexudus/seed';

const BASIC = `Basic ${Buffer.from(`${DEFAULT_SANDBOX_USER.username}:${DEFAULT_SANDBOX_USER.password}`).toString('base64')}`;
const SECRET = 'shh-it-is-a-secret';

const ADA = 2000001;
const ALAN = 2000002;
const GRACE = 2000003;
const ZOE = 2000004;
const INES = 2000005;
const BUSINESS = 1000001;
const THAMES = 3000001;

interface Received {
  path: string;
  signature: string | undefined;
  body: string;
  at: number;
}

/** A webhook receiver answering `status()`; keeps the raw body to check signatures byte for byte. */
async function startReceiver(status: () => number = () => 200) {
  const received: Received[] = [];
  const app = express();
  app.use(express.text({ type: '*/*' }));
  app.post('/{*rest}', (req, res) => {
    received.push({ path: req.path, signature: req.get('X-Nexudus-Hook-Signature'), body: req.body as string, at: Date.now() });
    res.status(status()).json({ ok: true });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }),
  };
}

function sandbox(options: NexudusSandboxOptions = {}): NexudusSandbox {
  return createNexudusSandbox({ rateLimit: false, webhookSecret: SECRET, ...options });
}

const api = (sb: NexudusSandbox) => ({
  get: (path: string) => request(sb.app).get(`/api/${path}`).set('Authorization', BASIC),
  post: (path: string, body: object) => request(sb.app).post(`/api/${path}`).set('Authorization', BASIC).send(body),
  put: (path: string, body: object) => request(sb.app).put(`/api/${path}`).set('Authorization', BASIC).send(body),
  del: (path: string) => request(sb.app).delete(`/api/${path}`).set('Authorization', BASIC),
});

describe('seed', () => {
  it('loads the default seed file and validates it', () => {
    const sb = sandbox();
    expect(sb.state.counts()).toMatchObject({ businesses: 1, coworkers: 5, resources: 3, floorPlanDesks: 4, timePasses: 2, coworkerTimePasses: 4, contracts: 2, bookings: 3 });
    expect(sb.state.businessTimeZone).toBe('Europe/London');
  });

  it('names the bad field of an invalid seed', () => {
    expect(() => parseSeed({ businesses: [{ Id: 1, Name: 'X', TimeZone: 'Mars/Olympus' }] })).toThrow(/businesses\.0\.TimeZone: expected an IANA time zone name/);
    expect(() => parseSeed({ businesses: [{ Id: 1, Name: 'X', TimeZone: 'UTC' }], coworkers: [{ Id: 2, FullName: 'A', Email: 'not-an-email' }] })).toThrow(SeedError);
    expect(() =>
      parseSeed({ businesses: [{ Id: 1, Name: 'X', TimeZone: 'UTC' }], bookings: [{ Id: 3, ResourceId: 99, FromTime: 'now', ToTime: 'now+1h' }] }),
    ).toThrow(/bookings\.0\.ResourceId: no resource 99/);
  });

  it('replaces the state over POST /__sandbox/seed and rejects an invalid one', async () => {
    const sb = sandbox();
    const seed: NexudusSeed = {
      businesses: [{ Id: 10, Name: 'Tiny', TimeZone: 'America/New_York' }],
      coworkers: [{ Id: 11, FullName: 'Solo', Email: 'solo@example.com' }],
    };
    await request(sb.app).post('/__sandbox/seed').send(seed).expect(200);
    expect(sb.state.counts()).toMatchObject({ businesses: 1, coworkers: 1, bookings: 0 });
    const bad = await request(sb.app).post('/__sandbox/seed').send({ businesses: [] }).expect(400);
    expect(bad.body.error).toMatch(/businesses: a seed needs at least one business/);
    await request(sb.app).post('/__sandbox/reset').expect(200);
    expect(sb.state.counts().coworkers).toBe(1);
  });
});

describe('authentication', () => {
  it('grants a bearer token for a form-encoded password grant and refuses JSON', async () => {
    const sb = sandbox();
    const form = await request(sb.app)
      .post('/api/token')
      .type('form')
      .send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: DEFAULT_SANDBOX_USER.password })
      .expect(200);
    expect(form.body).toMatchObject({ token_type: 'bearer', expires_in: 604799 });
    expect(typeof form.body.access_token).toBe('string');
    await request(sb.app).get('/api/spaces/coworkers').set('Authorization', `Bearer ${form.body.access_token}`).expect(200);

    const json = await request(sb.app).post('/api/token').send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: DEFAULT_SANDBOX_USER.password }).expect(400);
    expect(json.body.error).toBe('unsupported_grant_type');
    const wrong = await request(sb.app).post('/api/token').type('form').send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: 'nope' }).expect(400);
    expect(wrong.body.error).toBe('invalid_grant');
  });

  it('refreshes with a refresh token once; a newer refresh token retires the older one', async () => {
    const sb = sandbox();
    const login = () => request(sb.app).post('/api/token').type('form').send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: DEFAULT_SANDBOX_USER.password });
    const first = (await login()).body;
    const refreshed = await request(sb.app)
      .post('/api/token')
      .set('client_id', DEFAULT_SANDBOX_USER.username)
      .type('form')
      .send({ grant_type: 'refresh_token', refresh_token: first.refresh_token })
      .expect(200);
    expect(refreshed.body.access_token).not.toBe(first.access_token);
    await request(sb.app).post('/api/token').type('form').send({ grant_type: 'refresh_token', refresh_token: first.refresh_token }).expect(400);
  });

  it('answers 401 without or with wrong credentials, 403 without the role', async () => {
    const sb = sandbox({ users: [DEFAULT_SANDBOX_USER, { username: 'reader@example.com', password: 'pw', roles: ['Coworker-List'] }] });
    await request(sb.app).get('/api/spaces/bookings').expect(401);
    await request(sb.app).get('/api/spaces/bookings').set('Authorization', 'Bearer made-up').expect(401);
    const reader = `Basic ${Buffer.from('reader@example.com:pw').toString('base64')}`;
    await request(sb.app).get('/api/spaces/coworkers').set('Authorization', reader).expect(200);
    const denied = await request(sb.app).get('/api/spaces/bookings').set('Authorization', reader).expect(403);
    expect(denied.body.Message).toMatch(/Booking-List/);
  });

  it('expires tokens after their lifetime', async () => {
    const sb = sandbox({ tokenTtlSeconds: 1 });
    const { body } = await request(sb.app).post('/api/token').type('form').send({ grant_type: 'password', username: DEFAULT_SANDBOX_USER.username, password: DEFAULT_SANDBOX_USER.password });
    await request(sb.app).get('/api/sys/businesses').set('Authorization', `Bearer ${body.access_token}`).expect(200);
    await new Promise((r) => setTimeout(r, 1100));
    await request(sb.app).get('/api/sys/businesses').set('Authorization', `Bearer ${body.access_token}`).expect(401);
  });
});

describe('REST shapes, paging and filters', () => {
  it('pages with page/size and reports HasNextPage and TotalPages', async () => {
    const sb = sandbox();
    const one = await api(sb).get('spaces/coworkers?page=1&size=2').expect(200);
    expect(one.body).toMatchObject({ CurrentPage: 1, CurrentPageSize: 2, TotalItems: 5, TotalPages: 3, HasNextPage: true, HasPreviousPage: false, FirstItem: 1, LastItem: 2 });
    const three = await api(sb).get('spaces/coworkers?page=3&size=2').expect(200);
    expect(three.body.Records).toHaveLength(1);
    expect(three.body.HasNextPage).toBe(false);
    const big = await api(sb).get('spaces/coworkers?size=5000').expect(200);
    expect(big.body.CurrentPageSize).toBe(1000);
    const bad = await api(sb).get('spaces/coworkers?page=0').expect(400);
    expect(bad.body.Message).toMatch(/page/);
    const desc = await api(sb).get('spaces/coworkers?orderBy=Id&dir=-1').expect(200);
    expect(desc.body.Records.map((c: { Id: number }) => c.Id)).toEqual([INES, ZOE, GRACE, ALAN, ADA]);
  });

  it('filters by reference, boolean and text (contains), and rejects unknown filters', async () => {
    const sb = sandbox();
    const byCoworker = await api(sb).get(`spaces/bookings?Booking_Coworker=${ADA}`).expect(200);
    expect(byCoworker.body.Records.map((b: { Id: number }) => b.Id)).toEqual([7000001]);
    const byResource = await api(sb).get(`spaces/bookings?Booking_Resource=${THAMES}`).expect(200);
    expect(byResource.body.TotalItems).toBe(1);
    const active = await api(sb).get('spaces/coworkers?Coworker_Active=false').expect(200);
    expect(active.body.Records.map((c: { Id: number }) => c.Id)).toEqual([INES]);
    const contains = await api(sb).get('spaces/coworkers?Coworker_Email=EXAMPLE.COM').expect(200);
    expect(contains.body.TotalItems).toBe(5);
    const nested = await api(sb).get('spaces/bookings?Booking_Coworker_FullName=zoë').expect(200);
    expect(nested.body.TotalItems).toBe(1);
    const typo = await api(sb).get('spaces/bookings?Booking_Cowrker=1').expect(400);
    expect(typo.body.Message).toMatch(/Booking_Cowrker/);
    // Parameters without the entity prefix are not filters.
    await api(sb).get('spaces/bookings?status=Confirmed').expect(200);
  });

  it('filters ranges inclusively on instants, whatever the text format', async () => {
    for (const timeFormat of ['utc-z', 'local-fake-z'] as const) {
      const sb = sandbox({ timeFormat });
      sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ALAN, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' });
      sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ALAN, FromTime: '2026-07-01T12:00:00Z', ToTime: '2026-07-01T13:00:00Z' });
      const overlap = await api(sb).get('spaces/bookings?from_Booking_ToTime=2026-07-01T11:00&to_Booking_FromTime=2026-07-01T11:30').expect(200);
      expect(overlap.body.Records.map((b: { FromTimeLocal: string }) => b.FromTimeLocal)).toEqual(['2026-07-01T11:00:00']);
      const bad = await api(sb).get('spaces/bookings?from_Booking_ToTime=yesterday').expect(400);
      expect(bad.body.Message).toMatch(/from_Booking_ToTime/);
    }
  });

  it('gives GET by id the full record and omits collections from lists', async () => {
    const sb = sandbox();
    const one = await api(sb).get('billing/coworkercontracts/6000001').expect(200);
    expect(one.body.Desks).toEqual([{ Id: 4000002, Name: 'Dedicated Desk D1' }]);
    expect(one.body).toMatchObject({ CoworkerId: GRACE, CoworkerEmail: 'grace@example.com', Active: true, Cancelled: false });
    const list = await api(sb).get('billing/coworkercontracts').expect(200);
    expect(list.body.Records[0]).not.toHaveProperty('Desks');
    const desk = await api(sb).get('sys/floorplandesks/4000002').expect(200);
    expect(desk.body).toMatchObject({ ItemType: 2, CoworkerId: GRACE, CoworkerContractIds: '6000001' });
    await api(sb).get('spaces/bookings/123').expect(404);
    await api(sb).get('spaces/bookings/abc').expect(404);
  });

  it('accepts a filter on every field a record carries (the filter field lists are complete)', async () => {
    const sb = sandbox();
    sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ADA, FromTime: new Date(), Source: 2 });
    sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: GRACE, FromTime: new Date(), Source: 2 });
    sb.state.addWebhook({ Name: 'w', Action: 'BookingCreate', URL: 'http://127.0.0.1:9/x' });
    const paths: Array<[string, string]> = [
      ['spaces/bookings', 'Booking'],
      ['spaces/coworkers', 'Coworker'],
      ['billing/coworkertimepasses', 'CoworkerTimePass'],
      ['billing/coworkercontracts', 'CoworkerContract'],
      ['billing/timepasses', 'TimePass'],
      ['spaces/resources', 'Resource'],
      ['sys/floorplandesks', 'FloorPlanDesk'],
      ['sys/businesses', 'Business'],
      ['spaces/checkins', 'Checkin'],
      ['spaces/failedcheckins', 'FailedCheckin'],
      ['sys/webhooks', 'WebHook'],
    ];
    for (const [path, entity] of paths) {
      const { body } = await api(sb).get(path).expect(200);
      expect(body.Records.length).toBeGreaterThan(0);
      for (const key of Object.keys(body.Records[0] as object)) {
        const res = await api(sb).get(`${path}?${entity}_${key}=x`);
        expect([path, key, res.status]).toEqual([path, key, 200]);
      }
    }
  });
});

describe('time formats', () => {
  it('writes FromTime as UTC with Z and FromTimeLocal as the London wall clock (summer and winter)', () => {
    const sb = sandbox();
    const summer = sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:30:00Z' });
    expect(summer).toMatchObject({ FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:30:00Z', FromTimeLocal: '2026-07-01T11:00:00', ToTimeLocal: '2026-07-01T12:30:00' });
    const winter = sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-11-28T10:00:00Z', ToTime: '2026-11-28T11:00:00Z' });
    expect(winter).toMatchObject({ FromTime: '2026-11-28T10:00:00Z', FromTimeLocal: '2026-11-28T10:00:00' });
  });

  it("writes the wall clock with a fake Z in 'local-fake-z' and can switch at run time", async () => {
    const sb = sandbox({ timeFormat: 'local-fake-z' });
    const b = sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' });
    expect(b).toMatchObject({ FromTime: '2026-07-01T11:00:00Z', FromTimeLocal: '2026-07-01T11:00:00' });
    await request(sb.app).post('/__sandbox/config').send({ timeFormat: 'utc-z' }).expect(200);
    const again = await api(sb).get(`spaces/bookings/${b.Id as number}`).expect(200);
    expect(again.body.FromTime).toBe('2026-07-01T10:00:00Z');
    sb.config.timeFormat = 'local-fake-z';
    expect(sb.state.bookings().find((x) => x.Id === b.Id)?.FromTime).toBe('2026-07-01T11:00:00Z');
  });

  it('uses the configured business zone (New York) and offers a Nexudus-like TimeZone field', async () => {
    const sb = sandbox({
      seed: { businesses: [{ Id: 1, Name: 'NYC', TimeZone: 'America/New_York', SimpleTimeZoneId: 77 }], resources: [{ Id: 2, Name: 'Room', BusinessId: 1 }] },
    });
    const b = sb.state.addBooking({ ResourceId: 2, FromTime: '2026-01-15T15:00:00Z', ToTime: '2026-01-15T16:00:00Z' });
    expect(b.FromTimeLocal).toBe('2026-01-15T10:00:00');
    const business = await api(sb).get('sys/businesses/1').expect(200);
    expect(business.body).toMatchObject({ TimeZone: 'America/New_York', SimpleTimeZoneId: 77 });
  });
});

describe('writes', () => {
  it('creates, updates and deletes with the Nexudus answer envelope', async () => {
    const sb = sandbox();
    const created = await api(sb).post('spaces/bookings', { ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' }).expect(200);
    expect(created.body).toMatchObject({ Status: 200, WasSuccessful: true, Errors: null, Message: expect.stringMatching(/created/) });
    const id = created.body.Value.Id as number;
    await api(sb).put('spaces/bookings', { Id: id, ToTime: '2026-07-01T12:00:00Z' }).expect(200);
    expect((await api(sb).get(`spaces/bookings/${id}`)).body.ToTime).toBe('2026-07-01T12:00:00Z');
    await api(sb).del(`spaces/bookings/${id}`).expect(200);
    await api(sb).get(`spaces/bookings/${id}`).expect(404);
    await api(sb).del(`spaces/bookings/${id}`).expect(404);
  });

  it('answers 400 with WasSuccessful false and one error per bad field', async () => {
    const sb = sandbox();
    const missing = await api(sb).post('spaces/bookings', { CoworkerId: ADA, FromTime: 'soon' }).expect(400);
    expect(missing.body.WasSuccessful).toBe(false);
    expect(missing.body.Errors.map((e: { PropertyName: string }) => e.PropertyName).sort()).toEqual(['FromTime', 'ResourceId', 'ToTime']);
    const backwards = await api(sb).post('spaces/bookings', { ResourceId: THAMES, FromTime: '2026-07-01T11:00:00Z', ToTime: '2026-07-01T10:00:00Z' }).expect(400);
    expect(backwards.body.Message).toMatch(/ToTime: must be after FromTime/);
    const unknown = await api(sb).post('billing/coworkertimepasses', { CoworkerId: 42, TimePassId: 5000001 }).expect(400);
    expect(unknown.body.Errors[0]).toMatchObject({ PropertyName: 'CoworkerId', AttemptedValue: 42 });
    const badEmail = await api(sb).post('spaces/coworkers', { FullName: 'Ada Again', Email: 'ada at example.com' }).expect(400);
    expect(badEmail.body.Errors[0].PropertyName).toBe('Email');
    const noId = await api(sb).put('spaces/coworkers', { FullName: 'Nobody' }).expect(400);
    expect(noId.body.Errors[0].PropertyName).toBe('Id');
    const malformed = await request(sb.app).post('/api/spaces/bookings').set('Authorization', BASIC).set('Content-Type', 'application/json').send('{"ResourceId":').expect(400);
    expect(malformed.body.WasSuccessful).toBe(false);
  });
});

describe('customer lifecycle', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    receiver.received.length = 0;
  });

  /** A sandbox with webhooks for these actions, and what it sent (action and body), in order. */
  const watched = (actions: string[], options: NexudusSandboxOptions = {}) => {
    const sb = sandbox(options);
    for (const action of actions) sb.state.addWebhook({ Name: action, Action: action, URL: `${receiver.url}/hooks/${action}` });
    const sent = async () => {
      await sb.webhooks.idle();
      return receiver.received.map((r) => ({ action: r.path.replace('/hooks/', ''), entity: (JSON.parse(r.body) as Array<Record<string, unknown>>)[0]! }));
    };
    return { sb, sent };
  };
  const CUSTOMER_ACTIONS = ['CoworkerCreate', 'CoworkerUpdate', 'CoworkerDelete', 'AccessControlUpdate'];

  it('customers may share an email address (any case): created, changed to it, and both found by Coworker_Email', async () => {
    const sb = sandbox();
    const twin = await api(sb).post('spaces/coworkers', { FullName: 'Ada at her other company', Email: 'ADA@example.com' }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ALAN, Email: 'ada@example.com' }).expect(200);
    const found = await api(sb).get('spaces/coworkers?Coworker_Email=ada@example.com').expect(200);
    expect(found.body.Records.map((c: { Id: number }) => c.Id)).toEqual([ADA, ALAN, twin.body.Value.Id]);
    expect(sb.state.addCoworker({ FullName: 'Third', Email: 'ada@example.com' }).Email).toBe('ada@example.com');
  });

  it('a change of email or name sends CoworkerUpdate only; activation, card, fob and PIN changes add AccessControlUpdate', async () => {
    const { sb, sent } = watched(CUSTOMER_ACTIONS);
    await api(sb).put('spaces/coworkers', { Id: ADA, Email: 'ada.new@example.com' }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, FullName: 'Ada King' }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, Active: false }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, Active: true }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, AccessCardId: '04FFFFFFFFFFFF' }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, KeyFobNumber: null }).expect(200);
    await api(sb).put('spaces/coworkers', { Id: ADA, AccessPincode: '11111' }).expect(200);
    // Saved unchanged: still an update, but no access change.
    await api(sb).put('spaces/coworkers', { Id: ADA, Active: true }).expect(200);
    const events = await sent();
    expect(events.map((e) => e.action)).toEqual([
      'CoworkerUpdate',
      'CoworkerUpdate',
      'CoworkerUpdate', 'AccessControlUpdate',
      'CoworkerUpdate', 'AccessControlUpdate',
      'CoworkerUpdate', 'AccessControlUpdate',
      'CoworkerUpdate', 'AccessControlUpdate',
      'CoworkerUpdate', 'AccessControlUpdate',
      'CoworkerUpdate',
    ]);
    expect(events[0]!.entity).toMatchObject({ Id: ADA, Email: 'ada.new@example.com' });
    expect(events[2]!.entity).toMatchObject({ Id: ADA, Active: false });
    expect(events[3]!.entity).toMatchObject({ Id: ADA, Active: false, Email: 'ada.new@example.com', FullName: 'Ada King' });
    expect((await api(sb).get(`spaces/coworkers/${ADA}`).expect(200)).body).toMatchObject({ Email: 'ada.new@example.com', FullName: 'Ada King', Active: true, AccessCardId: '04FFFFFFFFFFFF', KeyFobNumber: null, AccessPincode: '11111' });
  });

  it('UpdatedOn moves on every change, also several changes within one second', async () => {
    const sb = sandbox();
    const stamps = [sb.state.coworkers().find((c) => c.Id === GRACE)!.UpdatedOn as string];
    for (const Active of [false, true, false]) {
      await api(sb).put('spaces/coworkers', { Id: GRACE, Active }).expect(200);
      stamps.push((await api(sb).get(`spaces/coworkers/${GRACE}`).expect(200)).body.UpdatedOn as string);
    }
    const times = stamps.map((t) => Date.parse(t));
    for (let i = 1; i < times.length; i++) expect(times[i]).toBeGreaterThan(times[i - 1]!);
    // Never more than a second ahead per change made within the same second.
    expect(times[3]! - Date.now()).toBeLessThanOrEqual(3000);
  });

  it('a customer is deleted with their bookings, contracts and passes: CoworkerDelete only, check-ins stay', async () => {
    const { sb, sent } = watched([...CUSTOMER_ACTIONS, 'BookingDelete', 'CoworkerContractDelete']);
    sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ALAN, FromTime: new Date(), Source: 2 });
    expect((await sent()).map((e) => e.action)).toEqual(['AccessControlUpdate']);
    receiver.received.length = 0;
    expect(sb.state.bookings().some((b) => b.CoworkerId === ALAN)).toBe(true);
    expect(sb.state.contracts().some((c) => c.CoworkerId === ALAN)).toBe(true);
    const gone = await api(sb).del(`spaces/coworkers/${ALAN}`).expect(200);
    expect(gone.body.Value).toEqual({ Id: ALAN });
    await api(sb).get(`spaces/coworkers/${ALAN}`).expect(404);
    expect((await api(sb).get(`spaces/bookings?Booking_Coworker=${ALAN}`).expect(200)).body.TotalItems).toBe(0);
    expect((await api(sb).get(`billing/coworkercontracts?CoworkerContract_Coworker=${ALAN}`).expect(200)).body.TotalItems).toBe(0);
    expect((await api(sb).get(`billing/coworkertimepasses?CoworkerTimePass_Coworker=${ALAN}`).expect(200)).body.TotalItems).toBe(0);
    expect((await api(sb).get(`spaces/checkins?Checkin_Coworker=${ALAN}`).expect(200)).body.TotalItems).toBe(1);
    // The private office is free again.
    expect((await api(sb).get('sys/floorplandesks/4000001').expect(200)).body).toMatchObject({ CoworkerId: null });
    const events = await sent();
    expect(events.map((e) => e.action)).toEqual(['CoworkerDelete']);
    expect(events[0]!.entity).toMatchObject({ Id: ALAN, Email: 'alan@example.com' });
  });

  it('GET spaces/coworkers pages and filters by from_Coworker_UpdatedOn and Coworker_Email', async () => {
    const sb = sandbox();
    const loaded = Date.parse(sb.state.coworkers()[0]!.UpdatedOn as string);
    // The changes happen in a later second than the seed's load (a new record is stamped "now").
    await new Promise((r) => setTimeout(r, 1010 - (Date.now() % 1000)));
    sb.state.updateCoworker(ZOE, { Email: 'zoe.new@example.com' });
    sb.state.updateCoworker(ADA, { Active: false });
    sb.state.addCoworker({ FullName: 'Zoe Twin', Email: 'ZOE.NEW@example.com' });
    const since = new Date(loaded + 1000).toISOString().replace('.000Z', 'Z');
    const pages: number[][] = [];
    for (let page = 1; page <= 3; page++) {
      const res = await api(sb).get(`spaces/coworkers?from_Coworker_UpdatedOn=${since}&page=${page}&size=2&orderBy=Id&dir=1`).expect(200);
      pages.push(res.body.Records.map((c: { Id: number }) => c.Id));
      expect(res.body).toMatchObject({ TotalItems: 3, TotalPages: 2, HasNextPage: page < 2 });
    }
    expect(pages[0]).toEqual([ADA, ZOE]);
    expect(pages[1]).toHaveLength(1);
    expect(pages[2]).toEqual([]);
    const byEmail = await api(sb).get(`spaces/coworkers?Coworker_Email=zoe.new@example.com&from_Coworker_UpdatedOn=${since}`).expect(200);
    expect(byEmail.body.Records.map((c: { Email: string }) => c.Email)).toEqual(['zoe.new@example.com', 'ZOE.NEW@example.com']);
  });
});

describe('contract lifecycle', () => {
  it('created inactive, activated, suspended, cancelled without a date, cancellation withdrawn: each a new UpdatedOn', async () => {
    const sb = sandbox();
    const seen: string[] = [];
    sb.state.onEvent = (e) => seen.push(e.action);
    const created = await api(sb).post('billing/coworkercontracts', { CoworkerId: ZOE, StartDate: '2030-01-01T00:00:00Z', Active: false, Desks: [4000003] }).expect(200);
    const id = created.body.Value.Id as number;
    const read = async () => (await api(sb).get(`billing/coworkercontracts/${id}`).expect(200)).body as Record<string, unknown>;
    const versions = [await read()];
    expect(versions[0]).toMatchObject({ Active: false, Cancelled: false, CancellationDate: null });
    expect((await api(sb).get('sys/floorplandesks/4000003').expect(200)).body.CoworkerId).toBeNull();
    for (const change of [{ Active: true }, { Active: false }, { Active: true }, { Cancelled: true }, { Cancelled: false }, { Cancelled: true, CancellationDate: '2030-03-01T00:00:00Z' }, { CancellationDate: null }]) {
      await api(sb).put('billing/coworkercontracts', { Id: id, ...change }).expect(200);
      versions.push(await read());
    }
    expect(versions.map((v) => [v.Active, v.Cancelled, v.CancellationDate])).toEqual([
      [false, false, null],
      [true, false, null],
      [false, false, null],
      [true, false, null],
      [true, true, null],
      [true, false, null],
      [true, true, '2030-03-01T00:00:00Z'],
      [true, true, null],
    ]);
    const stamps = versions.map((v) => Date.parse(v.UpdatedOn as string));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1]!);
    expect(seen.filter((a) => a.startsWith('CoworkerContract'))).toEqual([
      'CoworkerContractCreate',
      'CoworkerContractUpdate', 'CoworkerContractActivate',
      'CoworkerContractUpdate',
      'CoworkerContractUpdate', 'CoworkerContractActivate',
      'CoworkerContractUpdate', 'CoworkerContractCancel',
      'CoworkerContractUpdate',
      'CoworkerContractUpdate', 'CoworkerContractCancel',
      'CoworkerContractUpdate',
    ]);
    expect(seen.filter((a) => a === 'AccessControlUpdate')).toHaveLength(8);
    const cancelled = await api(sb).get(`billing/coworkercontracts?CoworkerContract_Coworker=${ZOE}&CoworkerContract_Cancelled=true`).expect(200);
    expect(cancelled.body.Records).toEqual([expect.objectContaining({ Id: id, Cancelled: true, CancellationDate: null })]);
  });
});

describe('check-ins', () => {
  const at = (iso: string) => ({ BusinessId: BUSINESS, Source: 2, FromTime: iso });

  it('accepts a customer with an unused pass, consumes it, and lets them back in the same local day', async () => {
    const sb = sandbox();
    const res = await api(sb).post('spaces/checkins', { ...at('2026-07-01T08:00:00Z'), CoworkerId: ADA }).expect(200);
    expect(res.body).toMatchObject({ WasSuccessful: true, Value: { Id: expect.any(Number) } });
    const pass = (await api(sb).get('billing/coworkertimepasses/5100001')).body;
    expect(pass).toMatchObject({ Used: true, CheckedIn: true, UsedDate: '2026-07-01T08:00:00Z' });
    const checkin = (await api(sb).get(`spaces/checkins/${res.body.Value.Id as number}`)).body;
    expect(checkin).toMatchObject({ CoworkerId: ADA, Source: 2, FromTime: '2026-07-01T08:00:00Z', FromTimeLocal: '2026-07-01T09:00:00', CoworkerTimePassGuid: pass.UniqueId });
    // 23:30 local is still the same day in London.
    await api(sb).post('spaces/checkins', { ...at('2026-07-01T22:30:00Z'), CoworkerId: ADA }).expect(200);
    // 00:30 local the next day is not: the day pass is spent.
    const next = await api(sb).post('spaces/checkins', { ...at('2026-07-01T23:30:00Z'), CoworkerId: ADA }).expect(400);
    expect(next.body).toMatchObject({ WasSuccessful: false, Errors: [{ PropertyName: 'CoworkerId', AttemptedValue: ADA }] });
    expect(sb.state.failedCheckins()).toHaveLength(1);
    expect(sb.state.failedCheckins()[0]).toMatchObject({ CoworkerId: ADA, Source: 2, CheckinAttemptTimeLocal: '2026-07-02T00:30:00', Description: expect.stringMatching(/valid pass/) });
  });

  it('counts down a 10-pass once per day', () => {
    const sb = sandbox();
    expect(sb.state.createCheckin({ ...at('2026-07-01T08:00:00Z'), CoworkerId: ALAN }).ok).toBe(true);
    expect(sb.state.createCheckin({ ...at('2026-07-01T12:00:00Z'), CoworkerId: ALAN }).ok).toBe(true);
    expect(sb.state.coworkerTimePasses().find((p) => p.Id === 5100002)).toMatchObject({ RemainingUses: 6, TotalUses: 10, Used: false });
    expect(sb.state.createCheckin({ ...at('2026-07-02T08:00:00Z'), CoworkerId: ALAN }).ok).toBe(true);
    expect(sb.state.coworkerTimePasses().find((p) => p.Id === 5100002)).toMatchObject({ RemainingUses: 5 });
  });

  it('refuses expired passes, customers without passes and inactive customers, logging each', async () => {
    const sb = sandbox();
    const now = new Date().toISOString();
    for (const coworker of [GRACE, ZOE, INES]) await api(sb).post('spaces/checkins', { ...at(now), CoworkerId: coworker }).expect(400);
    const failed = await api(sb).get('spaces/failedcheckins').expect(200);
    expect(failed.body.Records.map((f: { CoworkerId: number }) => f.CoworkerId)).toEqual([GRACE, ZOE, INES]);
    expect(failed.body.Records[2].Description).toMatch(/not an active customer/);
    expect(sb.state.checkins()).toHaveLength(0);
  });

  it("answers a refusal with HTTP 200 and WasSuccessful false when configured 'http-200'", async () => {
    const sb = sandbox({ checkinRefusal: 'http-200' });
    const res = await api(sb).post('spaces/checkins', { ...at(new Date().toISOString()), CoworkerId: ZOE }).expect(200);
    expect(res.body.WasSuccessful).toBe(false);
  });

  it('lists check-ins by customer, location and time, with open ones (ToTime null), Source and CreatedOn', async () => {
    const sb = sandbox({ seed: { businesses: [{ Id: 1, Name: 'One', TimeZone: 'Europe/London' }, { Id: 2, Name: 'Two', TimeZone: 'Europe/London' }], coworkers: [{ Id: 10, FullName: 'A', Email: 'a@example.com' }, { Id: 11, FullName: 'B', Email: 'b@example.com' }], timePasses: [{ Id: 20, Name: 'Monthly', BusinessId: 1 }, { Id: 21, Name: 'Monthly', BusinessId: 2 }], coworkerTimePasses: [{ Id: 30, CoworkerId: 10, TimePassId: 20 }, { Id: 31, CoworkerId: 10, TimePassId: 21 }, { Id: 32, CoworkerId: 11, TimePassId: 20 }] } });
    const checkin = (coworker: number, business: number, from: string, to?: string) => {
      const r = sb.state.createCheckin({ BusinessId: business, CoworkerId: coworker, FromTime: from, ToTime: to, Source: 2 });
      if (!r.ok) throw new Error(r.reason);
      return r.checkin.Id as number;
    };
    const morning = checkin(10, 1, '2030-07-01T08:00:00Z', '2030-07-01T12:00:00Z');
    const afternoon = checkin(10, 1, '2030-07-01T13:00:00Z');
    const elsewhere = checkin(10, 2, '2030-07-01T14:00:00Z');
    const other = checkin(11, 1, '2030-07-01T09:00:00Z');
    const ids = async (query: string) => (await api(sb).get(`spaces/checkins?${query}`).expect(200)).body.Records.map((c: { Id: number }) => c.Id);
    expect(await ids('Checkin_CoworkerId=10')).toEqual([morning, afternoon, elsewhere]);
    expect(await ids('Checkin_Coworker=10&Checkin_Business=1')).toEqual([morning, afternoon]);
    expect(await ids('Checkin_CoworkerId=10&Checkin_BusinessId=1&from_Checkin_FromTime=2030-07-01T12:30&to_Checkin_FromTime=2030-07-01T23:59')).toEqual([afternoon]);
    expect(await ids('Checkin_BusinessId=1&to_Checkin_FromTime=2030-07-01T09:00')).toEqual([morning, other]);
    expect(await ids('Checkin_Coworker=10&Checkin_ToTime=null')).toEqual([afternoon, elsewhere]);
    const records = (await api(sb).get('spaces/checkins?Checkin_Coworker=10&Checkin_Business=1').expect(200)).body.Records;
    expect(records[0]).toMatchObject({ Id: morning, Source: 2, FromTime: '2030-07-01T08:00:00Z', ToTime: '2030-07-01T12:00:00Z', CreatedOn: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) });
    expect(records[1]).toMatchObject({ Id: afternoon, ToTime: null, ToTimeLocal: null });
  });

  it('checks out with PUT spaces/checkins (ToTime): CheckinUpdated, CoworkerCheckout and AccessControlUpdate; the pass is no longer checked in', async () => {
    const sb = sandbox();
    // Yesterday, in the life of the seeded passes; `day('17:30')` is that day's time in UTC.
    const day = (hhmm: string) => `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T${hhmm}:00Z`;
    const seen: Array<[string, unknown]> = [];
    sb.state.onEvent = (e) => seen.push([e.action, e.entity.Id]);
    const created = await api(sb).post('spaces/checkins', { ...at(day('08:00')), CoworkerId: ADA }).expect(200);
    const id = created.body.Value.Id as number;
    expect((await api(sb).get('billing/coworkertimepasses/5100001')).body.CheckedIn).toBe(true);
    seen.length = 0;
    const res = await api(sb).put('spaces/checkins', { Id: id, BusinessId: BUSINESS, FromTime: day('08:00'), ToTime: day('17:30') }).expect(200);
    expect(res.body).toMatchObject({ WasSuccessful: true, Value: { Id: id } });
    const after = (await api(sb).get(`spaces/checkins/${id}`).expect(200)).body;
    expect(after).toMatchObject({ FromTime: day('08:00'), ToTime: day('17:30'), ToTimeLocal: expect.stringMatching(/T1[78]:30:00$/), Source: 2 });
    expect(Date.parse(after.UpdatedOn)).toBeGreaterThan(Date.parse(after.CreatedOn) - 1);
    expect(seen).toEqual([['CheckinUpdated', id], ['CoworkerCheckout', id], ['AccessControlUpdate', ADA]]);
    expect((await api(sb).get('billing/coworkertimepasses/5100001')).body.CheckedIn).toBe(false);
    // A later edit of a closed check-in is an update only.
    seen.length = 0;
    await api(sb).put('spaces/checkins', { Id: id, ToTime: day('17:00') }).expect(200);
    expect(seen).toEqual([['CheckinUpdated', id]]);
    // Refusals: before FromTime, another customer or location, unknown id, no Checkin-Edit role.
    expect((await api(sb).put('spaces/checkins', { Id: id, ToTime: day('07:00') }).expect(400)).body.Errors[0].PropertyName).toBe('ToTime');
    expect((await api(sb).put('spaces/checkins', { Id: id, CoworkerId: ALAN }).expect(400)).body.Errors[0].PropertyName).toBe('CoworkerId');
    expect((await api(sb).put('spaces/checkins', { Id: id, BusinessId: 42 }).expect(400)).body.Errors[0].PropertyName).toBe('BusinessId');
    await api(sb).put('spaces/checkins', { Id: 123, ToTime: day('17:00') }).expect(404);
    const lister = sandbox({ users: [{ username: 'door@example.com', password: 'pw', roles: ['Checkin-List', 'Checkin-Create'] }] });
    const door = `Basic ${Buffer.from('door@example.com:pw').toString('base64')}`;
    await request(lister.app).put('/api/spaces/checkins').set('Authorization', door).send({ Id: 1, ToTime: day('17:00') }).expect(403);
  });

  it('validates the check-in body (business, coworker, time)', async () => {
    const sb = sandbox();
    const res = await api(sb).post('spaces/checkins', { CoworkerId: ADA }).expect(400);
    expect(res.body.Errors.map((e: { PropertyName: string }) => e.PropertyName).sort()).toEqual(['BusinessId', 'FromTime']);
    await api(sb).post('spaces/checkins', { ...at(new Date().toISOString()), CoworkerId: 999 }).expect(400);
    expect(sb.state.failedCheckins()).toHaveLength(0);
  });
});

describe('webhooks', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let status = 200;
  /** What the receiver answers next; by default the `status` variable. */
  let respond: () => number = () => status;
  beforeAll(async () => {
    receiver = await startReceiver(() => respond());
  });
  afterAll(() => receiver.close());
  beforeEach(() => {
    receiver.received.length = 0;
    status = 200;
    respond = () => status;
  });

  const subscribe = async (sb: NexudusSandbox, actions: Array<string | number>) => {
    for (const action of actions) {
      const res = await api(sb).post('sys/webhooks', { Name: `hook ${action}`, Action: action, URL: `${receiver.url}/hooks/${action}`, Active: true }).expect(200);
      expect(res.body.WasSuccessful).toBe(true);
    }
  };

  it('registers by name or numeric id and rejects unknown actions', async () => {
    const sb = sandbox();
    await subscribe(sb, ['BookingCreate', 8]);
    const list = await api(sb).get('sys/webhooks').expect(200);
    expect(list.body.Records.map((w: { Action: number }) => w.Action)).toEqual([6, 8]);
    const bad = await api(sb).post('sys/webhooks', { Name: 'x', Action: 'NoSuchThing', URL: receiver.url }).expect(400);
    expect(bad.body.Errors[0].PropertyName).toBe('Action');
  });

  it('sends booking writes as a signed JSON array holding the REST record', async () => {
    const sb = sandbox();
    await subscribe(sb, ['BookingCreate', 'BookingUpdate', 'BookingDelete', 'AccessControlUpdate']);
    const created = await api(sb).post('spaces/bookings', { ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' }).expect(200);
    const id = created.body.Value.Id as number;
    await api(sb).put('spaces/bookings', { Id: id, Notes: 'moved' }).expect(200);
    await api(sb).del(`spaces/bookings/${id}`).expect(200);
    await sb.webhooks.idle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/BookingCreate', '/hooks/BookingUpdate', '/hooks/BookingDelete', '/hooks/AccessControlUpdate']);
    for (const r of receiver.received) {
      const expected = createHmac('sha256', SECRET).update(r.body).digest('hex').toUpperCase();
      expect(r.signature).toBe(expected);
    }
    const [body] = JSON.parse(receiver.received[0]!.body) as Array<Record<string, unknown>>;
    const rest = (await api(sb).get('spaces/bookings?Booking_Coworker=' + ADA)).body.Records[0];
    expect(Object.keys(body!).sort()).toEqual(Object.keys(rest).sort());
    expect(body).toMatchObject({ Id: id, ResourceId: THAMES, CoworkerId: ADA, FromTime: '2026-07-01T10:00:00Z' });
    expect(JSON.parse(receiver.received[1]!.body)[0].Notes).toBe('moved');
    expect(JSON.parse(receiver.received[3]!.body)[0]).toMatchObject({ Id: ADA, Email: 'ada@example.com' });
  });

  it('fires AccessControlUpdate with the customer for pass changes and contract actions for contracts', async () => {
    const sb = sandbox();
    await subscribe(sb, ['AccessControlUpdate', 'CoworkerContractCreate', 'CoworkerContractActivate', 'CoworkerContractUpdate', 'CoworkerContractCancel', 'CoworkerContractDelete', 'CoworkerUpdate']);
    const pass = sb.state.addCoworkerTimePass({ CoworkerId: ZOE, TimePassId: 5000001 });
    sb.state.updateCoworkerTimePass(pass.Id as number, { Used: true });
    sb.state.deleteCoworkerTimePass(pass.Id as number);
    await sb.webhooks.idle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/AccessControlUpdate', '/hooks/AccessControlUpdate', '/hooks/AccessControlUpdate']);
    expect(receiver.received.every((r) => JSON.parse(r.body)[0].Id === ZOE && JSON.parse(r.body)[0].FullName === 'Zoë Ångström')).toBe(true);

    receiver.received.length = 0;
    const contract = sb.state.addContract({ CoworkerId: ZOE, StartDate: '2026-07-01T00:00:00Z', Desks: [4000003] });
    sb.state.updateContract(contract.Id as number, { Cancelled: true, CancellationDate: '2026-08-01T00:00:00Z' });
    sb.state.deleteContract(contract.Id as number);
    await sb.webhooks.idle();
    expect(receiver.received.map((r) => r.path.replace('/hooks/', ''))).toEqual([
      'CoworkerContractCreate',
      'CoworkerContractActivate',
      'AccessControlUpdate',
      'CoworkerContractUpdate',
      'CoworkerContractCancel',
      'AccessControlUpdate',
      'CoworkerContractDelete',
      'AccessControlUpdate',
    ]);
    expect(JSON.parse(receiver.received[0]!.body)[0]).toMatchObject({ Id: contract.Id, Desks: [{ Id: 4000003 }] });

    receiver.received.length = 0;
    await api(sb).put('spaces/coworkers', { Id: ADA, AccessCardId: 'NEWCARD' }).expect(200);
    await sb.webhooks.idle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/hooks/CoworkerUpdate', '/hooks/AccessControlUpdate']);
    expect(JSON.parse(receiver.received[0]!.body)[0].AccessCardId).toBe('NEWCARD');
  });

  it('sends AccessControlUpdate 15 minutes before a booking starts and 15 minutes after it ends, on the clock it is given', async () => {
    const sb = sandbox();
    await subscribe(sb, ['AccessControlUpdate']);
    sb.state.addBooking({ ResourceId: THAMES, CoworkerId: ZOE, FromTime: '2030-07-01T10:00:00Z', ToTime: '2030-07-01T11:00:00Z' });
    // The first tick passes the seeded bookings (tomorrow and the day after) too.
    const first = await request(sb.app).post('/__sandbox/tick').send({ at: '2030-07-01T09:44:00Z' }).expect(200);
    expect(first.body.notified).toEqual([ADA, ZOE, ALAN]);
    expect(sb.state.tick(Date.parse('2030-07-01T09:44:59Z'))).toEqual([]);
    expect(sb.state.tick(Date.parse('2030-07-01T09:45:00Z'))).toEqual([ZOE]);
    expect(sb.state.tick(Date.parse('2030-07-01T11:14:00Z'))).toEqual([]);
    const late = await request(sb.app).post('/__sandbox/tick').send({ at: '2030-07-01T11:20:00Z' }).expect(200);
    expect(late.body.notified).toEqual([ZOE]);
    await request(sb.app).post('/__sandbox/tick').send({ at: 'later' }).expect(400);
    await sb.webhooks.idle();
    expect(receiver.received.map((r) => JSON.parse(r.body)[0].Id)).toEqual([ADA, ZOE, ALAN, ZOE, ZOE]);
  });

  it("signs over '?' for non-ASCII characters like Nexudus' ASCII sample, or over UTF-8 when configured", async () => {
    for (const signatureEncoding of ['ascii', 'utf8'] as const) {
      receiver.received.length = 0;
      const sb = sandbox({ signatureEncoding });
      await subscribe(sb, ['CoworkerUpdate']);
      sb.state.updateCoworker(ZOE, { KeyFobNumber: 'FOB-2' });
      await sb.webhooks.idle();
      const r = receiver.received[0]!;
      expect(r.body).toContain('Zoë Ångström');
      const utf8 = createHmac('sha256', SECRET).update(Buffer.from(r.body, 'utf8')).digest('hex').toUpperCase();
      const ascii = createHmac('sha256', SECRET).update(r.body.replace(/[^\p{ASCII}]/gu, '?')).digest('hex').toUpperCase();
      expect(utf8).not.toBe(ascii);
      expect(r.signature).toBe(signatureEncoding === 'ascii' ? ascii : utf8);
      expect(r.signature).toBe(signNexudusBody(r.body, SECRET, signatureEncoding));
    }
  });

  it('sends no signature without a secret', async () => {
    const saved = process.env.NEXUDUS_WEBHOOK_SECRET;
    delete process.env.NEXUDUS_WEBHOOK_SECRET;
    try {
      const sb = createNexudusSandbox({ rateLimit: false });
      await subscribe(sb, ['BookingCreate']);
      sb.state.addBooking({ ResourceId: THAMES, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' });
      await sb.webhooks.idle();
      expect(receiver.received[0]!.signature).toBeUndefined();
    } finally {
      if (saved !== undefined) process.env.NEXUDUS_WEBHOOK_SECRET = saved;
    }
  });

  it('duplicates each delivery within [min, max] and shuffles a batch', async () => {
    const sb = sandbox({ delivery: { duplicates: [2, 3], shuffle: true, holdMs: 30, seed: 7 } });
    await subscribe(sb, ['BookingCreate']);
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      ids.push(sb.state.addBooking({ ResourceId: THAMES, FromTime: `2026-07-0${i + 1}T10:00:00Z`, ToTime: `2026-07-0${i + 1}T11:00:00Z` }).Id as number);
    }
    await sb.webhooks.idle();
    const got = receiver.received.map((r) => JSON.parse(r.body)[0].Id as number);
    for (const id of ids) {
      const copies = got.filter((g) => g === id).length;
      expect(copies).toBeGreaterThanOrEqual(2);
      expect(copies).toBeLessThanOrEqual(3);
    }
    const firstSeen = [...new Set(got)];
    expect(firstSeen).not.toEqual(ids);
    expect([...firstSeen].sort()).toEqual([...ids].sort());
  });

  it('retries a failing receiver with growing delays, then disables the webhook after 10 failures', async () => {
    status = 500;
    const delays = [5, 10, 15, 20, 25, 30, 35, 40, 45];
    const sb = sandbox({ delivery: { retryDelaysMs: delays } });
    await subscribe(sb, ['BookingCreate']);
    sb.state.addBooking({ ResourceId: THAMES, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' });
    await sb.webhooks.idle();
    expect(receiver.received).toHaveLength(10);
    const gaps = receiver.received.slice(1).map((r, i) => r.at - receiver.received[i]!.at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(delays[i]! - 2));
    const hook = (await api(sb).get('sys/webhooks').expect(200)).body.Records[0];
    expect(hook).toMatchObject({ Active: false, ErrorCount: 10, LastError: 'HTTP 500' });
    expect(Date.parse(hook.LastTrigger)).toBeGreaterThan(Date.now() - 60_000);
    // Disabled for good: later writes are not sent.
    status = 200;
    sb.state.addBooking({ ResourceId: THAMES, FromTime: '2026-07-02T10:00:00Z', ToTime: '2026-07-02T11:00:00Z' });
    await sb.webhooks.idle();
    expect(receiver.received).toHaveLength(10);
    const state = (await request(sb.app).get('/__sandbox/state').expect(200)).body;
    expect(state.webhooks[0].deliveries).toHaveLength(10);
    expect(state.webhooks[0].deliveries.map((d: { attempt: number }) => d.attempt)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('recovers when the receiver comes back before the tenth failure', async () => {
    const sb = sandbox({ delivery: { retryDelaysMs: [5, 5, 5, 5, 5, 5, 5, 5, 5] } });
    await subscribe(sb, ['BookingCreate']);
    const answers = [503, 503];
    respond = () => answers.shift() ?? 200;
    sb.state.addBooking({ ResourceId: THAMES, FromTime: '2026-07-01T10:00:00Z', ToTime: '2026-07-01T11:00:00Z' });
    await sb.webhooks.idle();
    expect(receiver.received).toHaveLength(3);
    expect(sb.state.webhooks()[0]).toMatchObject({ Active: true, ErrorCount: 0, LastError: 'HTTP 503' });
    expect(sb.webhooks.log.map((a) => [a.attempt, a.ok])).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
  });

  it('POST /__sandbox/emit sends one signed webhook to the ingress and answers its status', async () => {
    const sb = sandbox({ ingressUrl: receiver.url });
    status = 202;
    const res = await request(sb.app).post('/__sandbox/emit').send({ action: 'BookingCreate', entity: { Id: 42, ResourceId: THAMES } }).expect(202);
    expect(res.body.status).toBe(202);
    const r = receiver.received[0]!;
    expect(r.path).toBe('/webhooks/nexudus/BookingCreate');
    expect(JSON.parse(r.body)).toEqual([{ Id: 42, ResourceId: THAMES }]);
    expect(r.signature).toBe(signNexudusBody(r.body, SECRET));
    status = 401;
    await request(sb.app).post('/__sandbox/emit').send({ action: 61, entity: { Id: ADA } }).expect(401);
    expect(receiver.received[1]!.path).toBe('/webhooks/nexudus/AccessControlUpdate');
    await request(sb.app).post('/__sandbox/emit').send({ action: 'Nope', entity: {} }).expect(400);
    const unreachable = sandbox({ ingressUrl: 'http://127.0.0.1:9' });
    await request(unreachable.app).post('/__sandbox/emit').send({ action: 'BookingCreate', entity: { Id: 1 } }).expect(502);
  });

  it('never signs with the real NEXUDUS_WEBHOOK_SECRET: only its own NEXUDUS_SANDBOX_WEBHOOK_SECRET', async () => {
    const saved = { real: process.env.NEXUDUS_WEBHOOK_SECRET, own: process.env.NEXUDUS_SANDBOX_WEBHOOK_SECRET };
    status = 202;
    try {
      process.env.NEXUDUS_WEBHOOK_SECRET = 'the-real-production-secret';
      delete process.env.NEXUDUS_SANDBOX_WEBHOOK_SECRET;
      const unsigned = createNexudusSandbox({ rateLimit: false, ingressUrl: receiver.url });
      await request(unsigned.app).post('/__sandbox/emit').send({ action: 'BookingCreate', entity: { Id: 43 } }).expect(202);
      expect(receiver.received.at(-1)!.signature).toBeUndefined();
      process.env.NEXUDUS_SANDBOX_WEBHOOK_SECRET = 'sandbox-only-secret';
      const own = createNexudusSandbox({ rateLimit: false, ingressUrl: receiver.url });
      await request(own.app).post('/__sandbox/emit').send({ action: 'BookingCreate', entity: { Id: 44 } }).expect(202);
      const r = receiver.received.at(-1)!;
      expect(r.signature).toBe(signNexudusBody(r.body, 'sandbox-only-secret'));
      expect(r.signature).not.toBe(signNexudusBody(r.body, 'the-real-production-secret'));
    } finally {
      for (const [name, value] of [['NEXUDUS_WEBHOOK_SECRET', saved.real], ['NEXUDUS_SANDBOX_WEBHOOK_SECRET', saved.own]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});

describe('control routes for end-to-end tests', () => {
  const control = (sb: NexudusSandbox) => ({
    post: (path: string, body: object) => request(sb.app).post(`/__sandbox/${path}`).send(body),
    del: (path: string) => request(sb.app).delete(`/__sandbox/${path}`),
  });

  it('POST /__sandbox/coworkers/{id} changes a customer like PUT spaces/coworkers (same webhooks); unknown fields, ids and values are refused', async () => {
    const sb = sandbox();
    const seen: string[] = [];
    sb.state.onEvent = (e) => seen.push(e.action);
    const res = await control(sb).post(`coworkers/${GRACE}`, { Email: 'grace.h@example.com', Active: false, AccessCardId: '04C0FFEE000001' }).expect(200);
    expect(res.body).toMatchObject({ Id: GRACE, Email: 'grace.h@example.com', Active: false, AccessCardId: '04C0FFEE000001' });
    expect(seen).toEqual(['CoworkerUpdate', 'AccessControlUpdate']);
    expect((await control(sb).post(`coworkers/${GRACE}`, { Emial: 'typo@example.com' }).expect(400)).body.error[0]).toMatch(/^Emial: not a field/);
    expect((await control(sb).post(`coworkers/${GRACE}`, { Email: 'not an email' }).expect(400)).body.error[0]).toMatch(/^Email:/);
    await control(sb).post('coworkers/123', { Active: true }).expect(404);
    await control(sb).post('coworkers/abc', { Active: true }).expect(400);
    expect((await request(sb.app).get('/__sandbox/state').expect(200)).body.coworkers.find((c: { Id: number }) => c.Id === GRACE)).toMatchObject({ Email: 'grace.h@example.com' });
  });

  it('DELETE /__sandbox/coworkers/{id} deletes a customer and what they hold (CoworkerDelete)', async () => {
    const sb = sandbox();
    const seen: string[] = [];
    sb.state.onEvent = (e) => seen.push(e.action);
    expect((await control(sb).del(`coworkers/${GRACE}`).expect(200)).body).toMatchObject({ Id: GRACE });
    expect(seen).toEqual(['CoworkerDelete']);
    expect(sb.state.contracts().some((c) => c.CoworkerId === GRACE)).toBe(false);
    await control(sb).del(`coworkers/${GRACE}`).expect(404);
  });

  it('POST /__sandbox/contracts/{id} changes a contract (cancel without a date, suspend)', async () => {
    const sb = sandbox();
    const seen: string[] = [];
    sb.state.onEvent = (e) => seen.push(e.action);
    const res = await control(sb).post('contracts/6000001', { Cancelled: true }).expect(200);
    expect(res.body).toMatchObject({ Id: 6000001, Cancelled: true, CancellationDate: null, Desks: [{ Id: 4000002 }] });
    expect(seen).toEqual(['CoworkerContractUpdate', 'CoworkerContractCancel', 'AccessControlUpdate']);
    expect((await control(sb).post('contracts/6000001', { Active: false }).expect(200)).body).toMatchObject({ Active: false });
    await control(sb).post('contracts/6000001', { Cancel: true }).expect(400);
    await control(sb).post('contracts/123', { Active: true }).expect(404);
  });

  it('POST /__sandbox/reissue-card moves a card or fob number to another customer; the previous holders lose only that number', async () => {
    const sb = sandbox();
    const seen: Array<[string, unknown]> = [];
    sb.state.onEvent = (e) => seen.push([e.action, e.entity.Id]);
    // Alan holds two cards; one of them goes to Grace.
    const res = await control(sb).post('reissue-card', { number: '04e5f6a7b8c9d1', toCoworkerId: GRACE }).expect(200);
    expect(res.body.from).toEqual([ALAN]);
    expect(res.body.to).toMatchObject({ Id: GRACE, AccessCardId: '04e5f6a7b8c9d1' });
    const card = (id: number) => sb.state.coworkers().find((c) => c.Id === id)!;
    expect(card(ALAN).AccessCardId).toBe('04E5F6A7B8C9D0');
    expect(seen).toEqual([['CoworkerUpdate', ALAN], ['AccessControlUpdate', ALAN], ['CoworkerUpdate', GRACE], ['AccessControlUpdate', GRACE]]);
    // A second card is added beside the first; Ada's only card leaves her with none.
    await control(sb).post('reissue-card', { number: '04A1B2C3D4E5F6', toCoworkerId: GRACE }).expect(200);
    expect(card(GRACE).AccessCardId).toBe('04e5f6a7b8c9d1,04A1B2C3D4E5F6');
    expect(card(ADA).AccessCardId).toBeNull();
    // A fob, as a fob.
    const fob = await control(sb).post('reissue-card', { number: 'F0B1004', toCoworkerId: ADA, field: 'KeyFobNumber' }).expect(200);
    expect(fob.body).toMatchObject({ from: [ZOE], to: { Id: ADA, KeyFobNumber: 'F0B1004' } });
    expect(card(ZOE).KeyFobNumber).toBeNull();
    seen.length = 0;
    await control(sb).post('reissue-card', { number: 'f0b1004', toCoworkerId: ADA, field: 'KeyFobNumber' }).expect(200);
    expect(seen).toEqual([]);
    // Nobody holding it: the new holder just gets it. Already held: nothing changes.
    expect((await control(sb).post('reissue-card', { number: 'NEW-1', toCoworkerId: INES }).expect(200)).body.from).toEqual([]);
    seen.length = 0;
    await control(sb).post('reissue-card', { number: 'new-1', toCoworkerId: INES }).expect(200);
    expect(seen).toEqual([]);
    await control(sb).post('reissue-card', { number: ' ', toCoworkerId: INES }).expect(400);
    await control(sb).post('reissue-card', { number: 'X', toCoworkerId: 123 }).expect(404);
  });

  it('POST /__sandbox/checkout closes one check-in or every open one of a customer', async () => {
    const sb = sandbox();
    const day = (hhmm: string) => `${new Date(Date.now() - 86_400_000).toISOString().slice(0, 10)}T${hhmm}:00Z`;
    const seen: string[] = [];
    const first = sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ALAN, FromTime: day('08:00'), Source: 2 });
    const second = sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ALAN, FromTime: day('10:00'), Source: 2 });
    const ada = sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ADA, FromTime: day('09:00'), Source: 2 });
    if (!first.ok || !second.ok || !ada.ok) throw new Error('check-ins refused');
    sb.state.onEvent = (e) => seen.push(e.action);
    const one = await control(sb).post('checkout', { checkinId: ada.checkin.Id, at: day('11:00') }).expect(200);
    expect(one.body.checkins).toEqual([expect.objectContaining({ Id: ada.checkin.Id, ToTime: day('11:00') })]);
    expect(seen).toEqual(['CheckinUpdated', 'CoworkerCheckout', 'AccessControlUpdate']);
    const all = await control(sb).post('checkout', { coworkerId: ALAN, at: day('12:00') }).expect(200);
    expect(all.body.checkins.map((c: { Id: number; ToTime: string }) => [c.Id, c.ToTime])).toEqual([[first.checkin.Id, day('12:00')], [second.checkin.Id, day('12:00')]]);
    expect((await control(sb).post('checkout', { coworkerId: ALAN }).expect(200)).body.checkins).toEqual([]);
    await control(sb).post('checkout', { checkinId: 123 }).expect(404);
    await control(sb).post('checkout', { coworker: ALAN }).expect(400);
  });
});

describe('limits and faults', () => {
  it('throttles a burst with 409 and Retry-After (1 per 100 ms)', async () => {
    const sb = createNexudusSandbox();
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await request(sb.app).get('/api/sys/businesses').set('Authorization', BASIC));
    expect(answers[0]!.status).toBe(200);
    expect(answers.slice(1).some((a) => a.status === 409)).toBe(true);
    const throttled = answers.find((a) => a.status === 409)!;
    expect(throttled.headers['retry-after']).toBe('1');
    await new Promise((r) => setTimeout(r, 110));
    await request(sb.app).get('/api/sys/businesses').set('Authorization', BASIC).expect(200);
  });

  it('throttles past the per-minute cap, per user', async () => {
    const sb = createNexudusSandbox({ rateLimit: { perMinute: 3, minIntervalMs: 1 }, users: [DEFAULT_SANDBOX_USER, { username: 'other@example.com', password: 'pw' }] });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(sb.app).get('/api/sys/businesses').set('Authorization', BASIC)).status);
    expect(statuses).toEqual([200, 200, 200, 409]);
    const other = `Basic ${Buffer.from('other@example.com:pw').toString('base64')}`;
    await request(sb.app).get('/api/sys/businesses').set('Authorization', other).expect(200);
    await request(sb.app).post('/__sandbox/config').send({ rateLimit: false }).expect(200);
    await request(sb.app).get('/api/sys/businesses').set('Authorization', BASIC).expect(200);
  });

  it('injects throttling and server errors through /__sandbox/faults', async () => {
    const sb = sandbox();
    await request(sb.app).post('/__sandbox/faults').send({ rules: [{ route: 'GET /api/spaces/bookings', throttleRate: 1, retryAfterSeconds: 2 }] }).expect(200);
    const throttled = await api(sb).get('spaces/bookings').expect(409);
    expect(throttled.headers['retry-after']).toBe('2');
    await api(sb).get('spaces/coworkers').expect(200);
    await request(sb.app).post('/__sandbox/faults').send({ rules: [{ route: '*', errorRate: 1 }] }).expect(200);
    const failed = await api(sb).get('spaces/coworkers');
    expect([500, 502, 503]).toContain(failed.status);
    const bad = await request(sb.app).post('/__sandbox/faults').send({ rules: [{ errorRate: 3 }] }).expect(400);
    expect(JSON.stringify(bad.body.error)).toMatch(/errorRate/);
    expect((await request(sb.app).get('/__sandbox/faults')).body.stats.errors).toBe(1);
  });

  it('plays scripted one-off answers', async () => {
    const sb = sandbox();
    sb.script({ method: 'GET', path: '/api/spaces/bookings/*', status: 422, body: { Message: 'nope' }, times: 2 });
    await api(sb).get('spaces/bookings/7000001').expect(422);
    await api(sb).get('spaces/bookings/7000001').expect(422);
    await api(sb).get('spaces/bookings/7000001').expect(200);
    await request(sb.app).post('/__sandbox/script').send({ path: '/api/sys/businesses', status: 503, headers: { 'Retry-After': '3' } }).expect(200);
    const res = await api(sb).get('sys/businesses').expect(503);
    expect(res.headers['retry-after']).toBe('3');
    await request(sb.app).post('/__sandbox/script').send({ path: '', status: 42 }).expect(400);
  });

  it('reports state: check-ins, failed check-ins, webhooks with deliveries, counts', async () => {
    const sb = sandbox();
    sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ADA, FromTime: new Date(), Source: 2 });
    sb.state.createCheckin({ BusinessId: BUSINESS, CoworkerId: ZOE, FromTime: new Date(), Source: 2 });
    const state = (await request(sb.app).get('/__sandbox/state').expect(200)).body;
    expect(state.counts).toMatchObject({ checkins: 1, failedCheckins: 1 });
    expect(state.checkins[0].CoworkerId).toBe(ADA);
    expect(state.failedCheckins[0].CoworkerId).toBe(ZOE);
    expect(state.timeFormat).toBe('utc-z');
    sb.reset();
    expect(sb.state.counts()).toMatchObject({ checkins: 0, failedCheckins: 0 });
  });
});

describe('listening', () => {
  it('listens on a free port and serves /api there', async () => {
    const sb = sandbox();
    const listening = await sb.listen(0);
    try {
      expect(listening.port).toBeGreaterThan(0);
      expect(listening.apiUrl).toBe(`${listening.url}/api`);
      const res = await fetch(`${listening.apiUrl}/sys/businesses`, { headers: { Authorization: BASIC } });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { Records: unknown[] }).Records).toHaveLength(1);
    } finally {
      await listening.close();
    }
  });
});
