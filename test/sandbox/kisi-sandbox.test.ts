/**
 * The Kisi sandbox on its own: Kisi's status codes, error bodies, filters and paging for requests a
 * well-behaved client never sends, its control routes, seed loading and membership windows. Every
 * answer is held against Kisi's OpenAPI description (the harness collects violations).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createKisiSandbox, isMemberAt, KisiState, loadKisiSeed } from '../../dev/sandbox/kisi';
import { startKisiHarness, type KisiHarness } from '../helpers/kisi';

const KEY = 'KISI-LOGIN sandbox-test-key';
let h: KisiHarness;

beforeAll(async () => {
  h = await startKisiHarness({ rateLimit: false });
});
afterEach(async () => {
  h.expectContractClean();
  await request(h.sandbox.app).post('/__sandbox/reset').expect(204);
});
afterAll(() => h.close());

const api = () => request(h.sandbox.app);
const get = (path: string) => api().get(path).set('Authorization', KEY).set('Accept', 'application/json');
const post = (path: string, body: unknown) => api().post(path).set('Authorization', KEY).send(body as object);
const patch = (path: string, body: unknown) => api().patch(path).set('Authorization', KEY).send(body as object);
const del = (path: string) => api().delete(path).set('Authorization', KEY);

async function newUser(email = 'ann@example.com'): Promise<number> {
  const res = await post('/users', { user: { email, name: 'Ann' } }).expect(200);
  return (res.body as { id: number }).id;
}

const assignment = (userId: number, groupId: number, extra: Record<string, unknown> = {}) => ({
  role_assignment: { role_id: 'group_basic', applies_to_type: 'Group', applies_to_id: groupId, assignee_type: 'User', assignee_id: userId, ...extra },
});

describe('authentication', () => {
  it('401 {error, code} without a KISI-LOGIN key', async () => {
    for (const auth of [undefined, 'Bearer abc', 'KISI-LOGIN ', 'KISI-LOGIN']) {
      const r = api().get('/places');
      const res = await (auth === undefined ? r : r.set('Authorization', auth));
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: 'Unauthorized', code: expect.any(String) });
    }
    await get('/places').expect(200);
  });

  it('only the configured keys when there are some (option or seed)', async () => {
    const strict = createKisiSandbox({ rateLimit: false, apiKeys: ['k1'] });
    await request(strict.app).get('/places').set('Authorization', 'KISI-LOGIN k2').expect(401);
    await request(strict.app).get('/places').set('Authorization', 'KISI-LOGIN k1').expect(200);
    const seeded = createKisiSandbox({ rateLimit: false, seed: { api_keys: ['s1'], places: [{ id: 1, name: 'P' }] } });
    await request(seeded.app).get('/places').set('Authorization', 'KISI-LOGIN k1').expect(401);
    await request(seeded.app).get('/places').set('Authorization', 'KISI-LOGIN s1').expect(200);
  });
});

describe('paging', () => {
  it('limit/offset with X-Collection-Range, per-endpoint defaults and caps, */0 when empty', async () => {
    const page1 = await get('/groups?limit=4&offset=0').expect(200);
    expect(page1.headers['x-collection-range']).toBe('0-3/7');
    const page2 = await get('/groups?limit=4&offset=4').expect(200);
    expect(page2.headers['x-collection-range']).toBe('4-6/7');
    expect([...page1.body, ...page2.body].map((g: { id: number }) => g.id)).toEqual([101, 102, 103, 104, 105, 106, 201]);
    // Default limit of /groups is 10; /role_assignments is empty.
    expect((await get('/groups').expect(200)).body).toHaveLength(7);
    const empty = await get('/role_assignments').expect(200);
    expect(empty.headers['x-collection-range']).toBe('*/0');
    expect(empty.body).toEqual([]);
    const past = await get('/groups?offset=50').expect(200);
    expect(past.headers['x-collection-range']).toBe('*/7');
  });

  it('clamps a limit above the endpoint maximum', async () => {
    const users = Array.from({ length: 120 }, (_, i) => ({ id: i + 1, email: `u${i}@example.com`, name: `U${i}` }));
    await api().post('/__sandbox/seed').send({ users }).expect(204);
    // The spec caps /users at 100 (a client asking for more breaks the contract; the sandbox is lenient).
    const res = await get('/users?limit=100').expect(200);
    expect(res.body).toHaveLength(100);
    expect(res.headers['x-collection-range']).toBe('0-99/120');
  });
});

describe('users', () => {
  it('creates (200), finds by email, filters, updates (204), 404 for unknown ids', async () => {
    const id = await newUser('Ann@Example.com');
    expect((await get('/users?email=ann@example.com').expect(200)).body.map((u: { id: number }) => u.id)).toEqual([id]);
    expect((await get('/users?query=ann').expect(200)).body).toHaveLength(1);
    expect((await get('/users?email=nobody@example.com').expect(200)).body).toEqual([]);
    await patch(`/users/${id}`, { user: { name: 'Ann B', metadata: { plan: 'flex' } } }).expect(204);
    expect((await get(`/users/${id}`).expect(200)).body).toMatchObject({ name: 'Ann B', metadata: { plan: 'flex' }, email: 'Ann@Example.com' });
    expect((await get('/users/999999').expect(404)).body).toEqual({ error: expect.any(String), code: expect.any(String) });
    await patch('/users/999999', { user: { name: 'x' } }).expect(404);
  });

  it('422 {errors} for a missing or invalid email, a duplicate email and bad metadata', async () => {
    expect((await post('/users', { user: { name: 'No mail' } }).expect(422)).body).toEqual({ errors: { email: ["can't be blank"] } });
    expect((await post('/users', { user: { email: 'not-an-email' } }).expect(422)).body).toEqual({ errors: { email: ['is invalid'] } });
    expect((await post('/users', {}).expect(422)).body).toEqual({ errors: { user: ["can't be blank"] } });
    await newUser('dup@example.com');
    expect((await post('/users', { user: { email: 'DUP@example.com' } }).expect(422)).body).toEqual({ errors: { email: ['has already been taken'] } });
    expect((await post('/users', { user: { email: 'm@example.com', metadata: { nested: { no: 1 } } } }).expect(422)).body.errors).toHaveProperty('metadata');
  });
});

describe("Kisi's rules for people and cards (what the product must cope with)", () => {
  const cardAssignment = (userId: number, cardId: number) => ({ card_assignment: { assignee_type: 'User', assignee_id: userId, card_id: cardId } });
  const newCard = async (token: string) => (await post('/cards', { card: { token, type: 'mifare_desfire' } }).expect(200)).body.id as number;

  it('emails are unique per organization, compared case-insensitively: a second POST /users is 422 "has already been taken"', async () => {
    const first = await newUser('Pat.Doe@Example.com');
    for (const taken of ['pat.doe@example.com', 'PAT.DOE@EXAMPLE.COM', 'Pat.Doe@Example.com']) {
      const res = await post('/users', { user: { email: taken, name: 'Someone else' } }).expect(422);
      expect(res.body).toEqual({ errors: { email: ['has already been taken'] } });
    }
    // Nothing was created: the one user keeps the address.
    expect((await get('/users?email=PAT.DOE@example.com').expect(200)).body.map((u: { id: number }) => u.id)).toEqual([first]);
    expect([...h.sandbox.state.users.values()].filter((u) => u.email.toLowerCase() === 'pat.doe@example.com')).toHaveLength(1);
  });

  it('PATCH /users/{id} cannot change the email: 422 errors.email ["cannot be changed"], and nothing of that request is applied', async () => {
    const id = await newUser('keep@example.com');
    const before = (await get(`/users/${id}`).expect(200)).body;
    for (const email of ['new@example.com', 'KEEP@example.com', 'keep@example.com', null]) {
      const res = await patch(`/users/${id}`, { user: { email, name: 'Renamed', notes: 'x' } }).expect(422);
      expect(res.body).toEqual({ errors: { email: ['cannot be changed'] } });
    }
    expect((await get(`/users/${id}`).expect(200)).body).toEqual(before);
    expect((await get('/users?email=new@example.com').expect(200)).body).toEqual([]);
    // Without an email the same change goes through (204).
    await patch(`/users/${id}`, { user: { name: 'Renamed' } }).expect(204);
    expect((await get(`/users/${id}`).expect(200)).body).toMatchObject({ name: 'Renamed', email: 'keep@example.com' });
  });

  it('card tokens are unique per organization: a second POST /cards with a taken token is 422 "has already been taken"', async () => {
    const first = await newCard('04AABBCCDD');
    const res = await post('/cards', { card: { token: '04AABBCCDD', type: 'mifare_desfire' } }).expect(422);
    expect(res.body).toEqual({ errors: { token: ['has already been taken'] } });
    expect((await get('/cards?token=04AABBCCDD').expect(200)).body.map((c: { id: number }) => c.id)).toEqual([first]);
    // Kisi's tokens are case sensitive (printed on the card): another case is another card.
    await newCard('04aabbccdd');
  });

  it('a card is assigned to at most one user at a time: 422 for another user until the first assignment is removed', async () => {
    const leaver = await newUser('leaver@example.com');
    const joiner = await newUser('joiner@example.com');
    const card = await newCard('REISSUED-1');
    const held = (await post('/card_assignments', cardAssignment(leaver, card)).expect(200)).body as { id: number };
    const refused = await post('/card_assignments', cardAssignment(joiner, card)).expect(422);
    expect(refused.body).toEqual({ errors: { card_id: ['has already been taken'] } });
    // A deactivated assignment still holds the card.
    h.sandbox.state.cardAssignments.get(held.id)!.status = 'deactivated';
    await post('/card_assignments', cardAssignment(joiner, card)).expect(422);
    expect((await get(`/card_assignments?card_id=${card}`).expect(200)).body.map((a: { user_id: number }) => a.user_id)).toEqual([leaver]);
    // Re-issue: remove the leaver's assignment, then the card can go to the joiner.
    await del(`/card_assignments/${held.id}`).expect(204);
    await post('/card_assignments', cardAssignment(joiner, card)).expect(200);
    expect((await get(`/cards?token=REISSUED-1`).expect(200)).body).toEqual([expect.objectContaining({ id: card, user_id: joiner, assigned: true })]);
  });

  it('two group role assignments of one user in one group stay allowed (a hand-made one beside the product\'s)', async () => {
    const u = await newUser('both@example.com');
    const handMade = (await post('/role_assignments', assignment(u, 101)).expect(200)).body as { id: number };
    const ours = (await post('/role_assignments', assignment(u, 101, { valid_until: '2030-01-01T00:00:00Z' })).expect(200)).body as { id: number };
    expect(ours.id).not.toBe(handMade.id);
    expect((await get(`/role_assignments?assignee_type=User&assignee_id=${u}&applies_to_type=Group&applies_to_id=101`).expect(200)).body).toHaveLength(2);
  });

  it('a seed that breaks these rules is refused (duplicate email in any case, duplicate token, a card assigned twice)', async () => {
    const base = { places: [{ id: 1, name: 'P' }] };
    const users = [{ id: 1, email: 'a@example.com' }, { id: 2, email: 'b@example.com' }];
    const refuse = async (seed: object, pattern: RegExp) => {
      const res = await api().post('/__sandbox/seed').send({ ...base, ...seed }).expect(422);
      expect(JSON.stringify(res.body.errors)).toMatch(pattern);
    };
    await refuse({ users: [...users, { id: 3, email: 'A@Example.com' }] }, /user 3: email A@Example\.com is already taken by user 1/);
    await refuse({ users, cards: [{ id: 1, token: 'T' }, { id: 2, token: 'T' }] }, /card 2: token already taken by card 1/);
    await refuse({ users, cards: [{ id: 1, token: 'T' }], card_assignments: [{ card_id: 1, user_id: 1 }, { card_id: 1, user_id: 2 }] }, /card 1 is already assigned/);
    await api().post('/__sandbox/seed').send({ ...base, users, cards: [{ id: 1, token: 'T' }, { id: 2, token: 't' }], card_assignments: [{ card_id: 1, user_id: 1 }, { card_id: 2, user_id: 1 }] }).expect(204);
  });
});

describe('role assignments', () => {
  it('creates with a window (200), filters by modern and legacy parameters, moves the window, deletes (204 then 404)', async () => {
    const u1 = await newUser('a@example.com');
    const u2 = await newUser('b@example.com');
    const ra = (await post('/role_assignments', assignment(u1, 101, { valid_from: '2030-01-01T10:00:00+01:00', valid_until: '2030-01-02T00:00:00Z' })).expect(200)).body;
    expect(ra).toMatchObject({ applies_to_type: 'Group', applies_to_id: 101, assignee_id: u1, user_id: u1, group_id: 101, valid_from: '2030-01-01T09:00:00.000Z', valid_until: '2030-01-02T00:00:00.000Z' });
    // The deprecated request shape still works.
    await post('/role_assignments', { role_assignment: { role_id: 'group_basic', user_id: u2, group_id: 102 } }).expect(200);
    await post('/role_assignments', assignment(u2, 201)).expect(200);

    const ids = async (q: string) => (await get(`/role_assignments?${q}`).expect(200)).body.map((x: { assignee_id: number; applies_to_id: number }) => [x.assignee_id, x.applies_to_id]);
    expect(await ids(`assignee_type=User&assignee_id=${u1}`)).toEqual([[u1, 101]]);
    expect(await ids('applies_to_type=Group&applies_to_id=102')).toEqual([[u2, 102]]);
    expect(await ids(`user_id=${u2}`)).toEqual([[u2, 102], [u2, 201]]);
    expect(await ids('group_id=101')).toEqual([[u1, 101]]);
    expect(await ids('place_id=2')).toEqual([[u2, 201]]);
    expect(await ids('applies_to_type=Place')).toEqual([]);
    expect(await ids('query=a@example')).toEqual([[u1, 101]]);

    await patch(`/role_assignments/${ra.id}`, { role_assignment: { valid_until: null } }).expect(204);
    expect((await get(`/role_assignments/${ra.id}`).expect(200)).body).toMatchObject({ valid_from: '2030-01-01T09:00:00.000Z', valid_until: null });
    await del(`/role_assignments/${ra.id}`).expect(204);
    await del(`/role_assignments/${ra.id}`).expect(404);
    await patch(`/role_assignments/${ra.id}`, { role_assignment: { valid_until: null } }).expect(404);

    const history = h.sandbox.state.history.filter((e) => e.assignment_id === ra.id);
    expect(history.map((e) => e.action)).toEqual(['created', 'window_changed', 'deleted']);
    expect(history[1]).toMatchObject({ previous: { valid_until: '2030-01-02T00:00:00.000Z' }, valid_until: null });
    for (const e of history) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
  });

  it('422 for missing fields, unknown group or user, invalid dates, end before start; 403 for a restricted group', async () => {
    const u = await newUser();
    const errors = async (body: unknown) => (await post('/role_assignments', body).expect(422)).body.errors as Record<string, string[]>;
    expect(await errors({ role_assignment: { applies_to_type: 'Group', applies_to_id: 101, assignee_type: 'User', assignee_id: u } })).toEqual({ role_id: ["can't be blank"] });
    expect(await errors({ role_assignment: { role_id: 'group_basic' } })).toMatchObject({ applies_to_type: expect.any(Array), applies_to_id: expect.any(Array), assignee_type: expect.any(Array), assignee_id: expect.any(Array) });
    expect(await errors(assignment(u, 4242))).toEqual({ applies_to: ['must exist'] });
    expect(await errors(assignment(987654, 101))).toEqual({ assignee: ['must exist'] });
    expect(await errors(assignment(u, 101, { valid_from: 'next tuesday' }))).toEqual({ valid_from: ['is not a valid date-time'] });
    expect(await errors(assignment(u, 101, { valid_until: '2030-02-30T00:00:00' }))).toEqual({ valid_until: ['is not a valid date-time'] });
    expect(await errors(assignment(u, 101, { valid_from: '2030-01-02T00:00:00Z', valid_until: '2030-01-01T00:00:00Z' }))).toEqual({ valid_until: ['must be after valid_from'] });
    expect(await errors(assignment(u, 101, { role_id: 'place_admin' }))).toEqual({ role_id: ['is not included in the list'] });
    expect((await post('/role_assignments', assignment(u, 106)).expect(403)).body).toEqual({ error: expect.any(String), code: expect.any(String) });
    const ra = (await post('/role_assignments', assignment(u, 101)).expect(200)).body as { id: number };
    expect((await patch(`/role_assignments/${ra.id}`, { role_assignment: { valid_from: '2030-01-02T00:00:00Z', valid_until: '2030-01-01T00:00:00Z' } }).expect(422)).body.errors).toHaveProperty('valid_until');
    expect(h.sandbox.state.roleAssignments.size).toBe(1);
  });

  it('duplicates: allowed by default (visible), rejected with 422 when configured', async () => {
    const u = await newUser();
    await post('/role_assignments', assignment(u, 101)).expect(200);
    await post('/role_assignments', assignment(u, 101)).expect(200);
    expect((await get(`/role_assignments?assignee_type=User&assignee_id=${u}`).expect(200)).body).toHaveLength(2);

    const strict = await startKisiHarness({ rateLimit: false, duplicateAssignments: 'reject' });
    try {
      const s = () => request(strict.sandbox.app);
      const id = (await s().post('/users').set('Authorization', KEY).send({ user: { email: 'x@example.com' } }).expect(200)).body.id as number;
      await s().post('/role_assignments').set('Authorization', KEY).send(assignment(id, 101)).expect(200);
      const dup = await s().post('/role_assignments').set('Authorization', KEY).send(assignment(id, 101)).expect(422);
      expect(dup.body).toEqual({ errors: { assignee_id: ['has already been taken'] } });
      strict.expectContractClean();
    } finally {
      await strict.close();
    }
  });
});

describe('cards and card assignments', () => {
  it('creates a card (200), finds it by token, assigns it once, 404 on a gone assignment', async () => {
    const u = await newUser();
    const card = (await post('/cards', { card: { token: 'T-1', type: 'mifare_desfire' } }).expect(200)).body as { id: number; uid: string };
    expect(card.uid).toMatch(/^[0-9A-F]{14}$/);
    expect((await post('/cards', { card: { token: 'T-1', type: 'mifare_desfire' } }).expect(422)).body).toEqual({ errors: { token: ['has already been taken'] } });
    expect((await post('/cards', { card: { type: 'mifare_desfire' } }).expect(422)).body).toEqual({ errors: { token: ["can't be blank"] } });
    expect((await get('/cards?token=T-1').expect(200)).body.map((c: { id: number }) => c.id)).toEqual([card.id]);
    expect((await get('/cards?status=unassigned').expect(200)).body).toHaveLength(1);

    const ca = (await post('/card_assignments', { card_assignment: { assignee_type: 'User', assignee_id: u, card_id: card.id, two_factor_pin: '0042' } }).expect(200)).body as { id: number };
    expect((await post('/card_assignments', { card_assignment: { assignee_type: 'User', assignee_id: u, card_id: card.id } }).expect(422)).body).toEqual({ errors: { card_id: ['has already been taken'] } });
    expect((await post('/card_assignments', { card_assignment: { assignee_type: 'User', assignee_id: u, card_id: 999 } }).expect(422)).body).toEqual({ errors: { card: ['must exist'] } });
    expect((await post('/card_assignments', { card_assignment: { assignee_type: 'User', assignee_id: u, card_id: card.id, two_factor_pin: 'abcd' } }).expect(422)).body).toEqual({ errors: { two_factor_pin: ['is invalid'] } });
    expect((await get(`/card_assignments?assignee_type=User&assignee_id=${u}`).expect(200)).body).toEqual([expect.objectContaining({ id: ca.id, card_id: card.id, user_id: u, two_factor_pin: '0042' })]);
    expect((await get('/cards?status=activated').expect(200)).body).toEqual([expect.objectContaining({ id: card.id, user_id: u, activated: true })]);
    await del(`/card_assignments/${ca.id}`).expect(204);
    await del(`/card_assignments/${ca.id}`).expect(404);
  });
});

describe('places, groups, locks, group locks', () => {
  it('filters by place; group locks need an existing group', async () => {
    expect((await get('/groups?place_id=2').expect(200)).body.map((g: { id: number }) => g.id)).toEqual([201]);
    expect((await get('/groups?lock_id=1005').expect(200)).body.map((g: { id: number }) => g.id)).toEqual([106]);
    expect((await get('/locks?place_id=2').expect(200)).body.map((l: { id: number }) => l.id)).toEqual([2001]);
    expect((await get('/group_locks?group_id=104').expect(200)).body.map((gl: { lock_id: number }) => gl.lock_id)).toEqual([1001, 1004]);
    await get('/group_locks?group_id=999').expect(404);
    await get('/group_locks').expect(400);
    expect((await get('/places/1').expect(200)).body).toMatchObject({ id: 1, locks_count: 5 });
    await get('/groups/999').expect(404);
  });
});

describe('control routes', () => {
  it('state shows users, assignments with validity now, history, cards and request counts', async () => {
    const u = await newUser();
    await post('/role_assignments', assignment(u, 101, { valid_until: '2000-01-01T00:00:00Z' })).expect(200);
    await post('/role_assignments', assignment(u, 102)).expect(200);
    const state = (await api().get('/__sandbox/state').expect(200)).body;
    expect(state.users.map((x: { id: number }) => x.id)).toContain(u);
    expect(state.role_assignments.map((x: { group_id: number; valid_now: boolean }) => [x.group_id, x.valid_now])).toEqual([[101, false], [102, true]]);
    expect(state.assignment_history).toHaveLength(2);
    expect(state.request_counts['POST /role_assignments']).toBe(2);
    expect(state.request_counts['POST /users']).toBe(1);
  });

  it('seed replaces everything (validated), reset goes back to the start seed', async () => {
    const bad = await api().post('/__sandbox/seed').send({ groups: [{ id: 'x' }] }).expect(422);
    expect(Object.keys(bad.body.errors).join()).toMatch(/groups/);
    await api().post('/__sandbox/seed').send({ groups: [{ id: 1, name: 'G', place_id: 9 }] }).expect(422); // unknown place
    await api().post('/__sandbox/seed').send({ places: [{ id: 9, name: 'Nine' }] }).expect(204);
    expect((await get('/places').expect(200)).body.map((p: { id: number }) => p.id)).toEqual([9]);
    await api().post('/__sandbox/reset').expect(204);
    expect((await get('/places').expect(200)).body.map((p: { id: number }) => p.id)).toEqual([1, 2]);
  });

  it('faults are validated, applied per route and cleared', async () => {
    await api().post('/__sandbox/faults').send({ rules: [{ errorRate: 2 }] }).expect(422);
    await api().post('/__sandbox/faults').send({ rules: [{ route: 'POST /users', throttleRate: 1, retryAfterSeconds: 2 }] }).expect(200);
    const throttled = await post('/users', { user: { email: 'z@example.com' } }).expect(429);
    expect(throttled.headers['retry-after']).toBe('2');
    expect(throttled.body).toEqual({ error: expect.any(String), code: expect.any(String) });
    await get('/places').expect(200);
    expect((await api().get('/__sandbox/faults').expect(200)).body.stats.throttled).toBe(1);
    await api().post('/__sandbox/faults').send({ rules: [] }).expect(200);
    await post('/users', { user: { email: 'z@example.com' } }).expect(200);
  });

  it('the rate limit: 5 per second per key, Retry-After on 429, switchable at run time', async () => {
    const limited = await startKisiHarness();
    try {
      const s = () => request(limited.sandbox.app);
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) statuses.push((await s().get('/places').set('Authorization', 'KISI-LOGIN one')).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      const other = await s().get('/places').set('Authorization', 'KISI-LOGIN two');
      expect(other.status).toBe(200); // per key
      const refused = await s().get('/places').set('Authorization', 'KISI-LOGIN one');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      await s().post('/__sandbox/rate_limit').send({ enabled: false }).expect(200);
      await s().get('/places').set('Authorization', 'KISI-LOGIN one').expect(200);
      limited.expectContractClean();
    } finally {
      await limited.close();
    }
  });

  it('unlock needs a known lock and user, and reports delivery failures instead of failing', async () => {
    const nowhere = createKisiSandbox({ rateLimit: false, webhookUrl: 'http://127.0.0.1:9/webhooks/kisi', webhookSecret: 's' });
    await request(nowhere.app).post('/__sandbox/unlock').send({ lockId: 'x' }).expect(422);
    await request(nowhere.app).post('/__sandbox/unlock').send({ lockId: 1001, userId: 5 }).expect(404);
    const id = (await request(nowhere.app).post('/users').set('Authorization', KEY).send({ user: { email: 'q@example.com' } }).expect(200)).body.id as number;
    const res = await request(nowhere.app).post('/__sandbox/unlock').send({ lockId: 1001, userId: id, success: true }).expect(200);
    expect(res.body.status).toBeNull();
    expect(res.body.deliveries[0]).toMatchObject({ url: 'http://127.0.0.1:9/webhooks/kisi', signed: true, error: expect.any(String) });
    expect(res.body.event).toMatchObject({ success: true, object_id: 1001, actor_id: id });
  });

  it('an event webhook registered with POST /integrations receives lock.unlock with its own key', async () => {
    const received: { signature?: string }[] = [];
    const receiver = (await import('express')).default();
    receiver.post('/hook', (req, res) => {
      received.push({ signature: req.get('x-signature') });
      res.status(200).end();
    });
    const server = receiver.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const created = await post('/integrations', { integration: { type: 'event_webhook', name: 'ours', url, enabled_events: ['lock.unlock'], signature_key: 'k' } }).expect(200);
      expect(created.body).toMatchObject({ type: 'event_webhook', url, enabled_events: ['lock.unlock'] });
      expect(created.body).not.toHaveProperty('signature_key');
      await post('/integrations', { integration: { type: 'event_webhook', name: 'bad', url: 'not a url' } }).expect(422);
      const u = await newUser();
      await api().post('/__sandbox/unlock').send({ lockId: 1001, userId: u }).expect(200);
      expect(received).toHaveLength(1);
      expect(received[0]!.signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('seed and membership helpers', () => {
  it('the shipped seed validates: places, groups with places, locks, group locks', () => {
    const seed = loadKisiSeed(join(__dirname, '../../config/sandbox/kisi-seed.json'));
    const state = new KisiState(seed);
    expect(state.places.size).toBeGreaterThanOrEqual(1);
    expect(state.groups.size).toBeGreaterThanOrEqual(3);
    expect(state.locks.size).toBeGreaterThanOrEqual(2);
    expect(state.groupLocks.size).toBeGreaterThanOrEqual(3);
  });

  it('a bad seed file is refused with the file and field named', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kisi-seed-'));
    const file = join(dir, 'seed.json');
    writeFileSync(file, JSON.stringify({ groups: [{ id: 1, name: '' , place_id: null }] }));
    expect(() => loadKisiSeed(file)).toThrow(/seed\.json: groups\.0\.name/);
    writeFileSync(file, '{ nope');
    expect(() => loadKisiSeed(file)).toThrow(/seed\.json/);
  });

  it('isMemberAt: inside the window only, open ends, several assignments', () => {
    const state = new KisiState({
      places: [{ id: 1, name: 'P' }],
      groups: [{ id: 7, name: 'G', place_id: 1 }],
      users: [{ id: 3, email: 'u@example.com' }],
      role_assignments: [
        { user_id: 3, group_id: 7, valid_from: '2030-01-01T09:00:00Z', valid_until: '2030-01-01T17:00:00Z' },
        { user_id: 3, group_id: 7, valid_from: '2030-02-01T00:00:00Z', valid_until: null },
      ],
    });
    expect(isMemberAt(state, 3, 7, '2030-01-01T08:59:59Z')).toBe(false);
    expect(isMemberAt(state, 3, 7, '2030-01-01T09:00:00Z')).toBe(true);
    expect(isMemberAt(state, 3, 7, new Date('2030-01-01T16:59:59Z'))).toBe(true);
    expect(isMemberAt(state, 3, 7, '2030-01-01T17:00:00Z')).toBe(false);
    expect(isMemberAt(state, 3, 7, Date.parse('2099-01-01T00:00:00Z'))).toBe(true);
    expect(isMemberAt(state, 3, 8, '2099-01-01T00:00:00Z')).toBe(false);
    expect(isMemberAt(state, 4, 7, '2099-01-01T00:00:00Z')).toBe(false);
  });
});
