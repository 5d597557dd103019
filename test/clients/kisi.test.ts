/**
 * KisiClient against the Kisi sandbox over real HTTP. Every request the client sends and every
 * answer it gets is held against Kisi's OpenAPI description (test/helpers/kisi.ts).
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { withCallContext } from '../../src/clients/call-context';
import { ApiError, isNotFound, MAX_RETRY_AFTER_MS, parseRetryAfter } from '../../src/clients/errors';
import { KisiClient, KisiValidationError, parseCollectionRange, parseKisiErrorBody } from '../../src/clients/kisi';
import { isMemberAt } from '../../dev/sandbox/kisi';
import { maxInRollingSecond } from '../../bench/lib/stats';
import { freshKisiKey, startKisiHarness, type KisiHarness } from '../helpers/kisi';

const PLACE = 1;
const GROUP = 101; // "Members 24/7": front door, coworking floor, meeting room A
const RESTRICTED_GROUP = 106;
const FRONT_DOOR = 1001;

let h: KisiHarness;

beforeAll(async () => {
  // The sandbox's own rate limit is exercised in its own test; here clients run fast.
  h = await startKisiHarness({ rateLimit: false });
});
afterEach(async () => {
  h.expectContractClean();
  await fetch(`${h.url}/__sandbox/reset`, { method: 'POST' });
});
afterAll(() => h.close());

/** Fast client: its own key, 50 rps, so functional tests do not wait on the 5 rps pacing. */
const fast = (extra: Partial<ConstructorParameters<typeof KisiClient>[0]> = {}) => h.client({ maxRps: 50, ...extra });

async function caught(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

async function setFaults(config: unknown): Promise<void> {
  const res = await fetch(`${h.url}/__sandbox/faults`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(config) });
  expect(res.status).toBe(200);
}

describe('users', () => {
  it('creates, finds (case-insensitively), reads and updates a user', async () => {
    const kisi = fast();
    expect(await kisi.findUserByEmail('ann@example.com')).toBeUndefined();
    const created = await kisi.createUser({ email: 'ann@example.com', name: 'Ann Lee', sendEmails: false, metadata: { nexudus_id: 42 } });
    expect(created).toMatchObject({ email: 'ann@example.com', name: 'Ann Lee', metadata: { nexudus_id: 42 } });
    expect((await kisi.findUserByEmail('ANN@example.com'))?.id).toBe(created.id);
    // A plus in an address survives query encoding (it is not read as a space).
    const plus = await kisi.createUser({ email: 'ann+flex@example.com', name: 'Ann Flex', sendEmails: false });
    expect((await kisi.findUserByEmail('ann+flex@example.com'))?.id).toBe(plus.id);
    await kisi.updateUser(created.id, { name: 'Ann Lee-Smith', metadata: { nexudus_id: 42, plan: 'flex' } });
    expect(await kisi.getUser(created.id)).toMatchObject({ name: 'Ann Lee-Smith', metadata: { nexudus_id: 42, plan: 'flex' } });
    const post = h.exchanges.find((x) => x.method === 'POST' && x.path === '/users');
    expect(post?.requestBody).toEqual({ user: { email: 'ann@example.com', name: 'Ann Lee', send_emails: false, metadata: { nexudus_id: 42 } } });
    expect(post?.status).toBe(200);
  });
});

describe('places, groups, locks', () => {
  it('lists places, groups of a place, a group, locks and a group\'s doors', async () => {
    const kisi = fast();
    expect((await kisi.listPlaces()).map((p) => p.id).sort()).toEqual([1, 2]);
    const groups = await kisi.listGroups(PLACE);
    expect(groups.every((g) => g.place_id === PLACE)).toBe(true);
    expect(groups.map((g) => g.id)).toEqual(expect.arrayContaining([101, 102, 103, 104, 105, 106]));
    expect(await kisi.getGroup(GROUP)).toMatchObject({ id: GROUP, name: 'Members 24/7', place_id: PLACE });
    const locks = await kisi.listLocks(PLACE);
    expect(locks.map((l) => l.id).sort()).toEqual([1001, 1002, 1003, 1004, 1005]);
    const doors = await kisi.listGroupLocks(GROUP);
    expect(doors.map((d) => d.lock_id).sort()).toEqual([1001, 1002, 1003]);
    expect(doors.every((d) => d.group_id === GROUP)).toBe(true);
  });
});

describe('group membership', () => {
  it('creates, lists, moves and deletes a time-boxed assignment; the sandbox honours the window', async () => {
    const kisi = fast();
    const user = await kisi.createUser({ email: 'bo@example.com', name: 'Bo', sendEmails: false });
    const from = '2030-01-01T09:00:00Z';
    const until = '2030-01-01T17:00:00+00:00';
    const ra = await kisi.createGroupRoleAssignment({ userId: user.id, groupId: GROUP, validFrom: from, validUntil: until });
    expect(ra).toMatchObject({ user_id: user.id, group_id: GROUP, role_id: 'group_basic' });
    expect(Date.parse(ra.valid_from!)).toBe(Date.parse(from));
    expect(Date.parse(ra.valid_until!)).toBe(Date.parse(until));
    // Modern fields on the wire; the deprecated ones are not sent.
    const body = h.exchanges.find((x) => x.method === 'POST' && x.path === '/role_assignments')?.requestBody as { role_assignment: Record<string, unknown> };
    expect(body.role_assignment).toMatchObject({ applies_to_type: 'Group', applies_to_id: GROUP, assignee_type: 'User', assignee_id: user.id, notify: false });
    expect(body.role_assignment).not.toHaveProperty('user_id');

    expect(isMemberAt(h.sandbox.state, user.id, GROUP, '2030-01-01T12:00:00Z')).toBe(true);
    expect(isMemberAt(h.sandbox.state, user.id, GROUP, '2030-01-01T17:00:00Z')).toBe(false);
    expect(isMemberAt(h.sandbox.state, user.id, GROUP, '2029-12-31T12:00:00Z')).toBe(false);

    expect((await kisi.listGroupRoleAssignments({ userId: user.id })).map((a) => a.id)).toEqual([ra.id]);
    expect((await kisi.listGroupRoleAssignments({ groupId: GROUP })).map((a) => a.id)).toEqual([ra.id]);
    expect((await kisi.listGroupRoleAssignments({ userId: user.id, groupId: 102 }))).toEqual([]);
    const listQuery = h.exchanges.filter((x) => x.method === 'GET' && x.path === '/role_assignments').map((x) => x.query);
    expect(listQuery[0]).toMatchObject({ applies_to_type: 'Group', assignee_type: 'User', assignee_id: String(user.id), limit: '250', offset: '0' });
    expect(listQuery[0]).not.toHaveProperty('user_id');

    await kisi.updateRoleAssignmentWindow(ra.id, { validFrom: from, validUntil: null });
    const [moved] = await kisi.listGroupRoleAssignments({ userId: user.id, groupId: GROUP });
    expect(moved?.valid_until).toBeNull();
    expect(isMemberAt(h.sandbox.state, user.id, GROUP, '2099-01-01T00:00:00Z')).toBe(true);

    await kisi.deleteRoleAssignment(ra.id);
    await kisi.deleteRoleAssignment(ra.id); // already gone: still success
    expect(h.exchanges.filter((x) => x.method === 'DELETE').map((x) => x.status)).toEqual([204, 404]);
    expect(await kisi.listGroupRoleAssignments({ userId: user.id })).toEqual([]);
    expect(h.sandbox.state.history.map((e) => e.action)).toEqual(['created', 'window_changed', 'deleted']);
  });

  it('reads every page: 600 assignments of one group in pages of 250', async () => {
    const users = Array.from({ length: 600 }, (_, i) => ({ id: 5000 + i, email: `member${i}@example.com`, name: `Member ${i}` }));
    const res = await fetch(`${h.url}/__sandbox/seed`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        places: [{ id: 1, name: 'P' }],
        groups: [{ id: GROUP, name: 'Members', place_id: 1 }, { id: 102, name: 'Other', place_id: 1 }],
        users,
        role_assignments: [...users.map((u) => ({ user_id: u.id, group_id: GROUP })), { user_id: 5000, group_id: 102 }],
      }),
    });
    expect(res.status).toBe(204);
    const kisi = fast();
    const from = h.exchanges.length;
    const all = await kisi.listGroupRoleAssignments({ groupId: GROUP });
    expect(all).toHaveLength(600);
    expect(new Set(all.map((a) => a.user_id)).size).toBe(600);
    const pages = h.exchanges.slice(from).filter((x) => x.path === '/role_assignments');
    expect(pages.map((p) => [p.query.offset, p.query.limit, p.responseHeaders?.['x-collection-range']])).toEqual([
      ['0', '250', '0-249/600'],
      ['250', '250', '250-499/600'],
      ['500', '250', '500-599/600'],
    ]);
    // Users list at most 100 per page (the spec's cap for /users).
    await kisi.findUserByEmail('member7@example.com');
    expect(h.exchanges.slice(from).find((x) => x.path === '/users')?.query.limit).toBe('100');
  });

  it('an empty list is one request answered */0', async () => {
    const kisi = fast();
    const from = h.exchanges.length;
    expect(await kisi.listGroupRoleAssignments({ userId: 987654 })).toEqual([]);
    const calls = h.exchanges.slice(from);
    expect(calls.map((x) => [x.path, x.responseHeaders?.['x-collection-range']])).toEqual([['/role_assignments', '*/0']]);
  });
});

describe('cards', () => {
  it('creates and finds cards, assigns and unassigns them', async () => {
    const kisi = fast();
    const user = await kisi.createUser({ email: 'cy@example.com', name: 'Cy', sendEmails: false });
    expect(await kisi.findCardsByToken('04A1B2C3D4')).toEqual([]);
    const card = await kisi.createCard({ token: '04A1B2C3D4' });
    expect(card).toMatchObject({ token: '04A1B2C3D4', type: 'mifare_desfire' });
    expect((await kisi.findCardsByToken('04A1B2C3D4')).map((c) => c.id)).toEqual([card.id]);
    const ca = await kisi.createCardAssignment({ userId: user.id, cardId: card.id, twoFactorPin: '1234' });
    expect(ca).toMatchObject({ user_id: user.id, card_id: card.id });
    expect((await kisi.listCardAssignments({ userId: user.id })).map((a) => a.id)).toEqual([ca.id]);
    await kisi.deleteCardAssignment(ca.id);
    await kisi.deleteCardAssignment(ca.id);
    expect(await kisi.listCardAssignments({ userId: user.id })).toEqual([]);
  });

  it('syncUserCards converges on the wanted card numbers and is idempotent', async () => {
    const kisi = fast();
    const user = await kisi.createUser({ email: 'di@example.com', name: 'Di', sendEmails: false });
    expect(await kisi.syncUserCards(user.id, ['1111', '2222'])).toEqual({ added: 2, removed: 0 });
    expect(await kisi.syncUserCards(user.id, ['2222', '3333'])).toEqual({ added: 1, removed: 1 });
    expect(await kisi.syncUserCards(user.id, ['3333', '2222', ' 2222 '])).toEqual({ added: 0, removed: 0 });
    const held = (await kisi.listCardAssignments({ userId: user.id })).map((a) => h.sandbox.state.cards.get(a.card_id)?.token).sort();
    expect(held).toEqual(['2222', '3333']);
    // The card of '1111' still exists (Kisi keeps cards) and is reused when it comes back.
    const before = h.sandbox.state.cards.size;
    expect(await kisi.syncUserCards(user.id, ['1111'])).toEqual({ added: 1, removed: 2 });
    expect(h.sandbox.state.cards.size).toBe(before);
    expect(await kisi.syncUserCards(user.id, [])).toEqual({ added: 0, removed: 1 });
  });

  it('refuses more than four cards before sending anything, without naming the cards', async () => {
    const kisi = fast();
    const sent = h.exchanges.length;
    const e = await caught(kisi.syncUserCards(1, ['9000001', '9000002', '9000003', '9000004', '9000005']));
    expect(e).toBeInstanceOf(KisiValidationError);
    expect(e.retryable).toBe(false);
    expect(e.status).toBe(422);
    expect(e.fieldErrors?.cards?.[0]).toMatch(/at most 4/);
    expect(JSON.stringify(e.toJSON())).not.toMatch(/900000/);
    expect(h.exchanges.length).toBe(sent);
  });
});

describe('errors become ApiErrors with the right retryability', () => {
  it('401: unknown key', async () => {
    const locked = await startKisiHarness({ rateLimit: false, apiKeys: ['the-only-key'] });
    try {
      const e = await caught(locked.client({ apiKey: freshKisiKey('wrong'), maxRps: 50 }).listPlaces());
      expect(e).toMatchObject({ service: 'kisi', status: 401, code: 'sbx401', retryable: false, method: 'GET', path: '/places' });
      expect(await locked.client({ apiKey: 'the-only-key', maxRps: 50 }).listPlaces()).toHaveLength(2);
      locked.expectContractClean();
    } finally {
      await locked.close();
    }
  });

  it('403: a group this key may not manage', async () => {
    const kisi = fast();
    const user = await kisi.createUser({ email: 'ed@example.com', name: 'Ed', sendEmails: false });
    const e = await caught(kisi.createGroupRoleAssignment({ userId: user.id, groupId: RESTRICTED_GROUP, validFrom: null, validUntil: null }));
    expect(e).toMatchObject({ status: 403, code: 'sbx403', retryable: false });
  });

  it('404: unknown ids, not retryable; never the query string in the error', async () => {
    const kisi = fast();
    const e = await caught(kisi.getUser(999_999));
    expect(e).toMatchObject({ status: 404, retryable: false, path: '/users/999999' });
    expect(isNotFound(e)).toBe(true);
    await caught(kisi.getGroup(999_999)).then((g) => expect(g.status).toBe(404));
  });

  it('422 with field errors: duplicate email, window ending before it starts, unknown group', async () => {
    const kisi = fast();
    const user = await kisi.createUser({ email: 'fay@example.com', name: 'Fay', sendEmails: false });
    const dup = await caught(kisi.createUser({ email: 'FAY@example.com', name: 'Fay again', sendEmails: false }));
    expect(dup).toMatchObject({ status: 422, retryable: false, fieldErrors: { email: ['has already been taken'] } });
    const window = await caught(kisi.createGroupRoleAssignment({ userId: user.id, groupId: GROUP, validFrom: '2030-01-02T00:00:00Z', validUntil: '2030-01-01T00:00:00Z' }));
    expect(window).toMatchObject({ status: 422, retryable: false, fieldErrors: { valid_until: ['must be after valid_from'] } });
    const group = await caught(kisi.createGroupRoleAssignment({ userId: user.id, groupId: 424242, validFrom: null, validUntil: null }));
    expect(group.fieldErrors).toEqual({ applies_to: ['must exist'] });
    expect(window.message).toMatch(/valid_until must be after valid_from/);
  });

  it('429 with Retry-After: retryable, and every later request of the key waits it out', async () => {
    const kisi = fast();
    await setFaults({ rules: [{ route: 'GET /places', throttleRate: 1, retryAfterSeconds: 1 }] });
    const e = await caught(kisi.listPlaces());
    const failedAt = Date.now();
    expect(e).toMatchObject({ status: 429, retryable: true, retryAfterMs: 1000 });
    await setFaults({ rules: [] });
    await kisi.getGroup(GROUP);
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(950);
  });

  it('429 without Retry-After: retryable, default pause of one second', async () => {
    const kisi = fast();
    await setFaults({ rules: [{ route: 'GET /groups', throttleRate: 1 }] });
    const e = await caught(kisi.getGroup(GROUP));
    const failedAt = Date.now();
    expect(e).toMatchObject({ status: 429, retryable: true });
    expect(e.retryAfterMs).toBeUndefined();
    await setFaults({ rules: [] });
    await kisi.listPlaces();
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(950);
  });

  it('5xx: retryable; faults set and cleared at run time', async () => {
    const kisi = fast();
    await setFaults({ rules: [{ route: 'GET /places', errorRate: 1 }], seed: 7 });
    const e = await caught(kisi.listPlaces());
    expect([500, 502, 503]).toContain(e.status);
    expect(e.retryable).toBe(true);
    const faults = (await (await fetch(`${h.url}/__sandbox/faults`)).json()) as { rules: unknown[]; stats: { errors: number } };
    expect(faults.rules).toHaveLength(1);
    expect(faults.stats.errors).toBeGreaterThanOrEqual(1);
    expect(await kisi.getGroup(GROUP)).toMatchObject({ id: GROUP }); // other routes unaffected
    await setFaults({ rules: [] });
    expect(await kisi.listPlaces()).toHaveLength(2);
  });

  it('network error (nothing listening): retryable, transport network', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const kisi = new KisiClient({ apiKey: freshKisiKey(), baseUrl: `http://127.0.0.1:${port}`, maxRps: 50 });
    const e = await caught(kisi.listPlaces());
    expect(e).toMatchObject({ transport: 'network', retryable: true, status: undefined });
  });

  it('timeout: retryable, transport timeout', async () => {
    const kisi = fast({ timeoutMs: 200 });
    await setFaults({ rules: [{ route: 'GET /places', latencyMs: 1500 }] });
    const started = Date.now();
    const e = await caught(kisi.listPlaces());
    expect(e).toMatchObject({ transport: 'timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(1400);
    await setFaults({ rules: [] });
    await new Promise((r) => setTimeout(r, 1400)); // let the delayed answer go before the contract check
  });
});

describe('pacing', () => {
  it('20 requests of one key take at least 3.8 s at 5 rps, never more than 5 arrivals in a second', async () => {
    const kisi = h.client({ maxRps: 5 });
    const from = h.sandbox.requests.length;
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => kisi.getGroup(GROUP)));
    const elapsed = Date.now() - started;
    const arrivals = h.sandbox.requests.slice(from).map((r) => r.at);
    expect(arrivals).toHaveLength(20);
    expect(elapsed).toBeGreaterThanOrEqual(3750);
    // What Kisi enforces: never more than 5 arrivals in a rolling second. (Single gaps between two
    // arrivals can be short: a request slow to arrive lands close to the next one.)
    expect(span(arrivals)).toBeGreaterThanOrEqual(3700);
    expect(maxInRollingSecond(arrivals)).toBeLessThanOrEqual(5);
    console.log(`pacing: 20 requests in ${elapsed} ms, arrivals spread over ${span(arrivals)} ms, at most ${maxInRollingSecond(arrivals)} in any second, smallest gap ${minGap(arrivals)} ms`);
  });

  it('two clients with one key share one limit', async () => {
    const key = freshKisiKey('shared');
    const a = h.client({ apiKey: key, maxRps: 5 });
    const b = h.client({ apiKey: key, maxRps: 5 });
    const from = h.sandbox.requests.length;
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).getGroup(GROUP)));
    const elapsed = Date.now() - started;
    const arrivals = h.sandbox.requests.slice(from).map((r) => r.at);
    expect(elapsed).toBeGreaterThanOrEqual(3750);
    expect(span(arrivals)).toBeGreaterThanOrEqual(3700);
    expect(maxInRollingSecond(arrivals)).toBeLessThanOrEqual(5);
    // A third client with another key is not held back by them.
    const other = h.client({ maxRps: 5 });
    const t = Date.now();
    await Promise.all([other.getGroup(GROUP), other.getGroup(GROUP)]);
    expect(Date.now() - t).toBeLessThan(1000);
    console.log(`shared key: 20 requests from two clients in ${elapsed} ms, at most ${maxInRollingSecond(arrivals)} in any second`);
  });
});

describe('lanes and cancellation', () => {
  it('a live call goes before the background calls queued for the same key', async () => {
    // Warm the sandbox and the contract checks first: their first use compiles schemas, which can
    // hold this process's event loop long enough to reorder arrivals 200 ms apart.
    await fast().listPlaces();
    await fast().getGroup(GROUP);
    const kisi = h.client({ maxRps: 5 });
    const from = h.sandbox.requests.length;
    const background = withCallContext({ lane: 'background' }, () => Promise.all(Array.from({ length: 8 }, () => kisi.getGroup(GROUP))));
    const live = withCallContext({ lane: 'live' }, () => kisi.listPlaces());
    await Promise.all([background, live]);
    const routes = h.sandbox.requests.slice(from).map((r) => r.route);
    expect(routes).toHaveLength(9);
    // The first background call had started; the live one took the next turn.
    expect(routes.indexOf('/places')).toBe(1);
  });

  it('a queued call whose signal fires is never sent; its error is cancelled, not retryable; the next call takes its turn', async () => {
    const kisi = h.client({ maxRps: 1 });
    const from = h.sandbox.requests.length;
    const controller = new AbortController();
    const first = kisi.getGroup(GROUP);
    const cancelled = withCallContext({ signal: controller.signal }, () => kisi.listPlaces()).catch((e: unknown) => e);
    const next = kisi.getGroup(102);
    await first;
    const abortedAt = Date.now();
    controller.abort();
    const error = await cancelled;
    expect(Date.now() - abortedAt).toBeLessThan(100);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ service: 'kisi', method: 'GET', path: '/places', transport: 'cancelled', retryable: false, status: undefined });
    await next;
    const sent = h.sandbox.requests.slice(from);
    expect(sent.map((r) => r.route)).toEqual(['/groups/{id}', '/groups/{id}']);
    // At 1 per second the next call went a second after the first, not two (the cancelled one's turn).
    expect(sent[1]!.at - sent[0]!.at).toBeLessThan(1_600);
  });

  it('a call in flight whose signal fires is aborted on the wire at once', async () => {
    const hanging = express();
    let arrived!: () => void;
    const arrival = new Promise<void>((r) => (arrived = r));
    let closedAt = 0;
    hanging.get('/places', (_req, res) => {
      res.on('close', () => (closedAt = Date.now()));
      arrived(); // and never answer
    });
    const server = hanging.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const kisi = new KisiClient({ apiKey: freshKisiKey(), baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRps: 5, timeoutMs: 10_000 });
      const controller = new AbortController();
      const call = withCallContext({ lane: 'live', signal: controller.signal }, () => kisi.listPlaces()).catch((e: unknown) => e);
      await arrival;
      const abortedAt = Date.now();
      controller.abort();
      const error = await call;
      expect(error).toMatchObject({ method: 'GET', path: '/places', transport: 'cancelled', retryable: false });
      expect(Date.now() - abortedAt).toBeLessThan(500);
      // The server sees the connection go, long before the client's 10 s timeout.
      for (let i = 0; i < 50 && closedAt === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(closedAt).toBeGreaterThanOrEqual(abortedAt);
      expect(closedAt - abortedAt).toBeLessThan(1_000);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('Retry-After is honoured up to a minute: an hour (seconds or an HTTP date) reads as 60 s', async () => {
    const kisi = fast();
    await setFaults({ rules: [{ route: 'GET /places', throttleRate: 1, retryAfterSeconds: 3600 }] });
    const e = await caught(kisi.listPlaces());
    expect(e).toMatchObject({ status: 429, retryable: true, retryAfterMs: MAX_RETRY_AFTER_MS });
    expect(MAX_RETRY_AFTER_MS).toBe(60_000);
    await setFaults({ rules: [] });
    expect(parseRetryAfter(new Date(Date.now() + 2 * 3_600_000).toUTCString())).toBe(60_000);
    expect(parseRetryAfter('7')).toBe(7_000);
    expect(parseRetryAfter('-3')).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('the sandbox rate limit', () => {
  it('a client at 5 rps never trips Kisi\'s 5-per-second limit', async () => {
    const limited = await startKisiHarness({ rateLimit: { perSecond: 5 } });
    try {
      const kisi = limited.client({ maxRps: 5 });
      const results = await Promise.allSettled(Array.from({ length: 25 }, () => kisi.getGroup(GROUP)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(limited.sandbox.rateLimit.rejected).toBe(0);
      expect(maxInRollingSecond(limited.sandbox.requests.map((r) => r.at))).toBeLessThanOrEqual(5);
      limited.expectContractClean();
    } finally {
      await limited.close();
    }
  });


  it('answers 429 past 5 per second; the client pauses the key and then succeeds', async () => {
    const limited = await startKisiHarness({ rateLimit: { perSecond: 5 } });
    try {
      const key = freshKisiKey('burst');
      const throttledAt: number[] = [];
      // A client configured above Kisi's real limit runs into the server's limit.
      const kisi = limited.client({ apiKey: key, maxRps: 50, onExchange: (x) => void (x.status === 429 && throttledAt.push(Date.now())) });
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => kisi.getGroup(GROUP)));
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as ApiError);
      // The first five pass; some later ones are refused (how many depends on how many had started
      // before the first 429 paused the key: those queued behind it wait and then pass).
      expect(results.slice(0, 5).every((r) => r.status === 'fulfilled')).toBe(true);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      for (const e of rejected) expect(e).toMatchObject({ status: 429, retryable: true });
      expect(rejected[0]!.retryAfterMs).toBeGreaterThanOrEqual(1000);
      // The activity's retry: same key, a new attempt, which waits for the pause and then passes.
      expect(await kisi.getGroup(GROUP)).toMatchObject({ id: GROUP });
      const retryArrived = limited.sandbox.requests.at(-1)!.at;
      expect(retryArrived - Math.max(...throttledAt)).toBeGreaterThanOrEqual(950);
      expect(limited.sandbox.rateLimit.rejected).toBe(rejected.length);
      limited.expectContractClean();
    } finally {
      await limited.close();
    }
  });
});

describe('unlock events', () => {
  it('delivers a signed lock.unlock event to the webhook receiver', async () => {
    const secret = 'test-webhook-secret';
    const received: { body: string; signature?: string }[] = [];
    const receiver = express();
    receiver.post('/webhooks/kisi', express.raw({ type: '*/*' }), (req, res) => {
      received.push({ body: (req.body as Buffer).toString('utf8'), signature: req.get('x-signature') });
      res.status(202).end();
    });
    const server = receiver.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const webhookUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/kisi`;
    const events = await startKisiHarness({ rateLimit: false, webhookUrl, webhookSecret: secret });
    try {
      const kisi = events.client({ maxRps: 50 });
      const member = await kisi.createUser({ email: 'gil@example.com', name: 'Gil', sendEmails: false });
      await kisi.createGroupRoleAssignment({ userId: member.id, groupId: GROUP, validFrom: null, validUntil: null });
      const stranger = await kisi.createUser({ email: 'hal@example.com', name: 'Hal', sendEmails: false });

      const post = (body: unknown) => fetch(`${events.url}/__sandbox/unlock`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      const ok = (await (await post({ lockId: FRONT_DOOR, userId: member.id })).json()) as { event: Record<string, unknown>; status: number };
      expect(ok.status).toBe(202);
      const denied = (await (await post({ lockId: FRONT_DOOR, userId: stranger.id })).json()) as { event: Record<string, unknown> };
      expect((await post({ lockId: 999, userId: member.id })).status).toBe(404);

      expect(received).toHaveLength(2);
      for (const r of received) expect(r.signature).toBe(`sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`);
      const first = JSON.parse(received[0]!.body) as Record<string, unknown>;
      expect(first).toEqual(ok.event);
      expect(first).toMatchObject({
        type: 'lock.unlock',
        actor_type: 'User',
        actor_id: member.id,
        actor_name: 'Gil',
        actor_email: 'gil@example.com',
        object_type: 'Lock',
        object_id: FRONT_DOOR,
        object_name: 'Front door',
        organization_id: 1,
        place_id: PLACE,
        success: true,
        error_code: null,
        error_message: null,
      });
      expect(first.uuid).toMatch(/^[0-9a-f-]{36}$/);
      expect(Number.isNaN(Date.parse(String(first.created_at)))).toBe(false);
      expect(denied.event).toMatchObject({ actor_id: stranger.id, success: false, error_code: 'access_denied' });
      events.expectContractClean();
    } finally {
      await events.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('reading Kisi answers', () => {
  it('parses error bodies and collection ranges', () => {
    expect(parseKisiErrorBody({ error: 'Not found', code: 'afc516' })).toEqual({ code: 'afc516' });
    expect(parseKisiErrorBody({ errors: { email: ["can't be blank"], name: 'too long' } })).toEqual({ fieldErrors: { email: ["can't be blank"], name: ['too long'] } });
    expect(parseKisiErrorBody('<html>')).toEqual({});
    expect(parseCollectionRange('10-19/15')).toEqual({ start: 10, end: 19, total: 15 });
    expect(parseCollectionRange('*/0')).toEqual({ start: undefined, end: undefined, total: 0 });
    expect(parseCollectionRange('garbage')).toBeUndefined();
  });

  it('accepts the deprecated user_id / group_id fields when the modern ones are absent', async () => {
    // A server answering in the legacy shape only (not spec-conformant, so not the sandbox).
    const legacy = express();
    const wire: Record<string, string | undefined>[] = [];
    legacy.use((req, _res, next) => {
      wire.push({ authorization: req.get('authorization'), accept: req.get('accept'), integration: req.get('x-kisi-integration-identifier') });
      next();
    });
    legacy.get('/role_assignments', (_req, res) => {
      res.setHeader('X-Collection-Range', '0-1/2');
      res.json([
        { id: 1, role_id: 'group_basic', user_id: 7, group_id: 9, valid_from: null, valid_until: '2030-01-01T00:00:00.000Z' },
        { id: 2, role_id: 'group_basic', assignee_type: 'User', assignee_id: 7, applies_to_type: 'Group', applies_to_id: 9, valid_from: null, valid_until: null },
      ]);
    });
    legacy.get('/card_assignments', (_req, res) => {
      res.setHeader('X-Collection-Range', '0-0/1');
      res.json([{ id: 3, card_id: 4, user_id: 7 }]);
    });
    const server = legacy.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const kisi = new KisiClient({ apiKey: 'legacy-key-1', baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, maxRps: 50, integrationIdentifier: 'nexudus-kisi-access' });
      const list = await kisi.listGroupRoleAssignments({ userId: 7 });
      expect(list.map((a) => [a.id, a.user_id, a.group_id, a.valid_until])).toEqual([
        [1, 7, 9, '2030-01-01T00:00:00.000Z'],
        [2, 7, 9, null],
      ]);
      expect(await kisi.listCardAssignments({ userId: 7 })).toEqual([{ id: 3, card_id: 4, user_id: 7 }]);
      // What went over the wire: Kisi's auth scheme, JSON, the integration identifier.
      expect(wire[0]).toEqual({ authorization: 'KISI-LOGIN legacy-key-1', accept: 'application/json', integration: 'nexudus-kisi-access' });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('paging limits', () => {
  it('stops with a non-retryable error instead of returning a truncated list past offset 20000', async () => {
    const endless = express();
    const offsets: number[] = [];
    endless.get('/role_assignments', (req, res) => {
      const offset = Number(req.query.offset);
      offsets.push(offset);
      res.setHeader('X-Collection-Range', `${offset}-${offset + 249}/100000`);
      res.json(Array.from({ length: 250 }, (_, i) => ({ id: offset + i + 1, role_id: 'group_basic', assignee_type: 'User', assignee_id: 1, applies_to_type: 'Group', applies_to_id: 2, valid_from: null, valid_until: null })));
    });
    const server = endless.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const kisi = new KisiClient({ apiKey: freshKisiKey(), baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, maxRps: 1000 });
      const e = await caught(kisi.listGroupRoleAssignments({ groupId: 2 }));
      expect(e).toBeInstanceOf(KisiValidationError);
      expect(e.retryable).toBe(false);
      expect(e.fieldErrors?.offset?.[0]).toMatch(/20000/);
      expect(Math.max(...offsets)).toBe(20000);
      expect(offsets).toHaveLength(81);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

function span(times: number[]): number {
  return Math.max(...times) - Math.min(...times);
}

function minGap(times: number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let min = Infinity;
  for (let i = 1; i < sorted.length; i++) min = Math.min(min, sorted[i]! - sorted[i - 1]!);
  return min;
}
