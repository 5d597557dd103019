/**
 * Kisi unlock events into Nexudus check-ins, through the real app on a dev server with a worker:
 * the Kisi sandbox sends signed lock.unlock events to the ingress; the check-in workflow resolves
 * the Kisi user and asks the Nexudus sandbox, which refuses customers without a valid pass.
 * Then /reports/failed-checkins from Temporal's visibility and Nexudus' own list.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { signKisiBody, type UnlockEvent } from '../../dev/sandbox/kisi';
import type { CheckinResult } from '../../src/contract/checkin';
import { ADA, eventually, FRONT_DOOR, GRACE, IngressHarness, KISI_ADA, KISI_GRACE, KISI_SECRET, KISI_STRANGER, SERVER_ROOM } from './harness';

jest.setTimeout(60_000);

let h: IngressHarness;
const testStarted = new Date(Date.now() - 60_000).toISOString();
beforeAll(async () => {
  // Reports answer from a one-minute cache; this suite polls one until visibility lists both.
  h = await IngressHarness.start({ ingress: { reportCacheMs: 0 } });
});
afterAll(async () => {
  await h?.close();
});

/** What the Kisi sandbox sends for `userId` at `lockId` (its /__sandbox/unlock, signed with the harness' key). */
async function unlockThroughSandbox(lockId: number, userId: number, success = true): Promise<{ event: UnlockEvent; status: number | null }> {
  const res = await request(h.kisi.app).post('/__sandbox/unlock').send({ lockId, userId, success });
  expect(res.status).toBe(200);
  return res.body as { event: UnlockEvent; status: number | null };
}

function unlockEvent(overrides: Partial<Record<keyof UnlockEvent, unknown>> = {}): Record<string, unknown> {
  return {
    uuid: randomUUID(),
    type: 'lock.unlock',
    actor_type: 'User',
    actor_id: KISI_ADA,
    actor_name: 'Ada Lovelace',
    actor_email: ADA.email,
    object_type: 'Lock',
    object_id: FRONT_DOOR,
    object_name: 'Front door',
    organization_id: 1,
    place_id: 1,
    success: true,
    error_code: null,
    error_message: null,
    created_at: new Date().toISOString(),
    ...overrides,
  };
}

async function checkinResult(uuid: string): Promise<CheckinResult> {
  return (await h.client.workflow.getHandle(`checkin-${uuid}`).result()) as CheckinResult;
}

test('an unlock of a check-in door by a customer with a valid pass checks them in (Source 2, at the unlock time)', async () => {
  const { event, status } = await unlockThroughSandbox(FRONT_DOOR, KISI_ADA);
  expect(status).toBe(200);
  const result = await checkinResult(event.uuid);
  expect(result).toMatchObject({ outcome: 'checked-in', customerId: ADA.customerId, reason: null });
  const checkins = h.nexudus.state.checkins().filter((c) => c.CoworkerId === ADA.customerId);
  expect(checkins).toHaveLength(1);
  expect(checkins[0]).toMatchObject({ Source: 2, FromTime: event.created_at.replace(/\.\d{3}Z$/, 'Z') });
  const described = await h.client.workflow.getHandle(`checkin-${event.uuid}`).describe();
  expect(described.typedSearchAttributes.getAll().find((p) => p.key.name === 'GrantState')?.value).toBe('granted');
});

test('the same Kisi event delivered again (after, and twice at once) starts one check-in workflow', async () => {
  const event = unlockEvent({ created_at: new Date().toISOString() });
  const first = await h.postKisi(event);
  expect(first.status).toBe(200);
  expect(first.body).toMatchObject({ result: 'delivered', outcome: 'checkin-started', workflowId: `checkin-${event.uuid}` });
  await checkinResult(event.uuid as string);
  // Repeated after: answered from the recent-events memory.
  const again = await h.postKisi(event);
  expect(again.status).toBe(200);
  expect(again.body.outcome).toBe('checkin-duplicate');
  // Two copies of a new event at once: the second misses the memory and meets REJECT_DUPLICATE.
  const twin = unlockEvent();
  const answers = await Promise.all([h.postKisi(twin), h.postKisi(twin)]);
  expect(answers.map((a) => a.body.outcome).sort()).toEqual(['checkin-duplicate', 'checkin-started']);
  await checkinResult(twin.uuid as string);
  expect(await h.runs(`checkin-${twin.uuid}`)).toBe(1);
});

describe('check-ins counted once per visit', () => {
  const adaCheckins = () => h.nexudus.state.checkins().filter((c) => c.CoworkerId === ADA.customerId);
  beforeEach(() => {
    h.nexudus.state.checkout({ coworkerId: ADA.customerId });
    h.nexudus.faults.clear();
  });

  test('two different unlocks of one visit make one check-in; after a check-out the next unlock checks in again', async () => {
    const before = adaCheckins().length;
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    const arrival = unlockEvent({ created_at: ago(30) });
    expect(await checkinResult((await h.postKisi(arrival)).body.workflowId.slice('checkin-'.length))).toMatchObject({ outcome: 'checked-in' });
    const again = unlockEvent({ created_at: ago(25) });
    expect(await checkinResult((await h.postKisi(again)).body.workflowId.slice('checkin-'.length))).toMatchObject({ outcome: 'already-checked-in' });
    expect(adaCheckins()).toHaveLength(before + 1);
    // Left and came back: a new visit.
    h.nexudus.state.checkout({ coworkerId: ADA.customerId }, Date.now() - 20 * 60_000);
    const back = unlockEvent({ created_at: ago(10) });
    expect(await checkinResult((await h.postKisi(back)).body.workflowId.slice('checkin-'.length))).toMatchObject({ outcome: 'checked-in' });
    expect(adaCheckins()).toHaveLength(before + 2);
  });

  test('two unlocks at the same moment (two doors) make one check-in: the customer\'s unlocks are taken one at a time', async () => {
    const before = adaCheckins().length;
    const [a, b] = [unlockEvent({ created_at: new Date(Date.now() - 2000).toISOString() }), unlockEvent({ created_at: new Date(Date.now() - 1000).toISOString() })];
    await Promise.all([h.postKisi(a), h.postKisi(b)]);
    const outcomes = [(await checkinResult(a.uuid as string)).outcome, (await checkinResult(b.uuid as string)).outcome].sort();
    expect(outcomes).toEqual(['already-checked-in', 'checked-in']);
    expect(adaCheckins()).toHaveLength(before + 1);
  });

  test('Nexudus made the check-in but its answer was lost: the retry finds it, one check-in', async () => {
    const before = adaCheckins().length;
    h.nexudus.faults.configure({ rules: [{ route: 'POST /api/spaces/checkins', lostAnswerRate: 1 }] });
    // Minutes apart from the other tests' unlocks: an unlock within the same second is the same visit.
    const event = unlockEvent({ created_at: new Date(Date.now() - 7 * 60_000).toISOString() });
    await h.postKisi(event);
    await eventually(() => h.nexudus.faults.current().stats.lostAnswers > 0, 'a lost answer');
    h.nexudus.faults.clear();
    expect(await checkinResult(event.uuid as string)).toMatchObject({ outcome: 'checked-in', checkinId: expect.any(Number) });
    expect(adaCheckins()).toHaveLength(before + 1);
  });
});

test('a customer without a valid pass: Nexudus refuses, the workflow ends needs-attention with the reason', async () => {
  const { event } = await unlockThroughSandbox(FRONT_DOOR, KISI_GRACE);
  const result = await checkinResult(event.uuid);
  expect(result).toMatchObject({ outcome: 'refused', customerId: GRACE.customerId, reason: expect.stringContaining('valid pass') });
  const described = await h.client.workflow.getHandle(`checkin-${event.uuid}`).describe();
  expect(described.typedSearchAttributes.getAll().find((p) => p.key.name === 'GrantState')?.value).toBe('needs-attention');
  expect(h.nexudus.state.failedCheckins().filter((f) => f.CoworkerId === GRACE.customerId)).toHaveLength(1);
});

test('a Kisi user who is no Nexudus customer: needs-attention, unknown-customer', async () => {
  const { event } = await unlockThroughSandbox(FRONT_DOOR, KISI_STRANGER);
  expect(await checkinResult(event.uuid)).toMatchObject({ outcome: 'unknown-customer', customerId: null });
});

test.each([
  ['a door that does not check in', { object_id: SERVER_ROOM }, /does not check customers in/],
  ['a door the map does not know', { object_id: 4242 }, /does not check customers in/],
  ['a refused unlock', { success: false }, /refused by Kisi/],
  ['another event type', { type: 'lock.lock_down' }, /not handled/],
  ['an unlock by a non-user actor', { actor_type: 'Link' }, /not a user/],
])('%s: 202 ignored, no workflow', async (_name, overrides, reason) => {
  const event = unlockEvent(overrides);
  const res = await h.postKisi(event);
  expect(res.status).toBe(202);
  expect(res.body.ignored).toMatch(reason);
  expect(await h.exists(`checkin-${event.uuid}`)).toBe(false);
});

test('signatures: sha256=<hex> and bare hex (either case) are accepted; missing, wrong or another key\'s are 401', async () => {
  for (const form of [(s: string) => s, (s: string) => s.slice('sha256='.length), (s: string) => s.slice('sha256='.length).toUpperCase()]) {
    const event = unlockEvent({ object_id: SERVER_ROOM });
    expect((await h.postKisi(event, { signature: form(signKisiBody(JSON.stringify(event), KISI_SECRET)) })).status).toBe(202);
  }
  for (const signature of [null, 'sha256=', 'sha256=abc', signKisiBody('{}', KISI_SECRET)]) {
    const event = unlockEvent();
    const res = await h.postKisi(event, { signature });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: 'invalid signature', details: { header: 'X-Signature' } });
    expect(await h.exists(`checkin-${event.uuid}`)).toBe(false);
  }
  const other = unlockEvent();
  expect((await h.postKisi(other, { secret: 'not-the-key' })).status).toBe(401);
  expect(await h.exists(`checkin-${other.uuid}`)).toBe(false);
});

test.each([
  ['no actor', { actor_id: undefined }],
  ['a uuid with spaces', { uuid: 'not a uuid' }],
  ['a date that is not one', { created_at: 'yesterday' }],
  ['success as text', { success: 'true' }],
])('an unlock with %s, correctly signed: 202, kept as a dead event with the issues, no workflow', async (_name, overrides) => {
  const event = unlockEvent(overrides);
  const res = await h.postKisi(event);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ result: 'dead', reason: expect.stringMatching(/^invalid Kisi event: /), deadEventId: expect.any(Number) });
  const dead = await h.ops('get', `/reports/dead-events/${res.body.deadEventId}`);
  expect(dead.body).toMatchObject({ source: 'kisi', cause: 'invalid-event', bodyKept: true });
  expect(await h.exists(`checkin-${event.uuid}`)).toBe(false);
});

test('a Kisi body that is not JSON, correctly signed: 202 and a dead event; only a bad signature is refused', async () => {
  const res = await h.postKisi(null, { raw: '{"type": "lock.unlock", ' });
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ result: 'dead', reason: expect.stringMatching(/not JSON/) });
});

test('GET /reports/failed-checkins: our needs-attention check-ins with their reasons, and Nexudus\' failed check-ins', async () => {
  await eventually(async () => {
    const res = await h.ops('get', '/reports/failed-checkins').query({ from: testStarted });
    return res.body.temporal?.items?.length >= 2;
  }, 'visibility to list both failed check-ins');
  const res = await h.ops('get', '/reports/failed-checkins').query({ from: testStarted });
  expect(res.status).toBe(200);
  // Whole minutes: the range the report covered, from the minute of `from` to the next whole minute.
  expect(res.body.from).toBe(new Date(Math.floor(Date.parse(testStarted) / 60_000) * 60_000).toISOString());
  expect(Date.parse(res.body.to)).toBeGreaterThanOrEqual(Date.now());
  const items = res.body.temporal.items as Array<Record<string, unknown>>;
  expect(items.map((i) => i.outcome).sort()).toEqual(['refused', 'unknown-customer']);
  expect(items.find((i) => i.outcome === 'refused')).toMatchObject({
    kisiUserId: KISI_GRACE,
    customerId: GRACE.customerId,
    lockId: FRONT_DOOR,
    lockName: 'Front door',
    status: 'COMPLETED',
    reason: expect.stringContaining('valid pass'),
  });
  expect(items.find((i) => i.outcome === 'unknown-customer')).toMatchObject({ kisiUserId: KISI_STRANGER, reason: expect.stringContaining('matches no Nexudus customer') });
  expect(res.body.nexudus.items).toEqual([expect.objectContaining({ customerId: GRACE.customerId, source: 2, reason: expect.stringContaining('valid pass') })]);

  // A later range leaves them out; a bad date, a range over 31 days or a reversed one is a 400.
  const later = await h.ops('get', '/reports/failed-checkins').query({ from: new Date(Date.now() + 120_000).toISOString(), to: new Date(Date.now() + 3_600_000).toISOString() });
  expect(later.status).toBe(200);
  expect(later.body.temporal.items).toEqual([]);
  expect(later.body.nexudus.items).toEqual([]);
  for (const query of [{ from: 'last week' }, { from: '2026-01-01T00:00:00Z', to: '2026-02-15T00:00:00Z' }, { from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }]) {
    const bad = await h.ops('get', '/reports/failed-checkins').query(query);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: 'invalid query', details: [expect.objectContaining({ path: 'from' })] });
  }
  // Without the token: 401, with nothing of the report.
  const anonymous = await request(h.ingress.app).get('/reports/failed-checkins');
  expect(anonymous.status).toBe(401);
  expect(anonymous.body).toEqual({ error: 'unauthorized', details: { reason: expect.any(String) } });
});

test('GET /metrics counts Kisi events by outcome', async () => {
  const res = await request(h.ingress.app).get('/metrics');
  expect(res.text).toMatch(/ingress_webhooks_total\{source="kisi",action="lock.unlock",outcome="delivered"\} \d+/);
  expect(res.text).toMatch(/ingress_webhooks_total\{source="kisi",action="lock.unlock",outcome="duplicate"\} 2/);
  expect(res.text).toMatch(/ingress_webhooks_total\{source="kisi",action="other",outcome="ignored"\} 1/);
});
