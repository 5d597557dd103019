/**
 * Hostile input, reproducibly (seeded), over real HTTP against both webhook routes: at least 500
 * correctly signed bodies of every shape the product cannot use (truncated, not JSON, wrong types,
 * unknown actions, invalid UTF-8, bodies that name records Nexudus does not have) plus wrongly
 * signed and oversized ones. A correctly signed delivery is never refused: each gets 2xx (or 413
 * when over the size limit), nothing starts in Temporal, and each one ends as a dead event that an
 * operator can see (those naming a record after its re-read from Nexudus answered 404). Only a
 * missing or wrong signature is 401.
 */
import { createHmac } from 'node:crypto';
import { signKisiBody } from '../../dev/sandbox/kisi';
import { signNexudusBody } from '../../dev/sandbox/nexudus';
import { SUPPORTED_NEXUDUS_ACTIONS, type SupportedNexudusAction } from '../../src/ingress/nexudus-events';
import { eventually, FRONT_DOOR, IngressHarness, KISI_ADA, KISI_SECRET, NEXUDUS_SECRET } from './harness';
import { seededRandom } from '../../dev/lib/seeded-random';

jest.setTimeout(120_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261127);
const CASES = 800;

let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start({ worker: false });
});
afterAll(async () => {
  await h?.close();
});

interface Case {
  name: string;
  path: string;
  body: Buffer;
  headers: Record<string, string>;
  /** The answers this case may get. */
  expect: number[];
  /** Correctly signed and within the size limit: must end as dead events. */
  signedUsable?: false;
}

const NEXUDUS_ACTIONS = Object.keys(SUPPORTED_NEXUDUS_ACTIONS) as SupportedNexudusAction[];
const UNSUPPORTED = ['TariffCreate', 'bookingcreate', 'CoworkerCreate', '__proto__', 'constructor', '%00', 'x'.repeat(200), 'Booking%20Create', '..%2F..%2Fetc'];
const CONTENT_TYPES = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x'];

function generate(rand: () => number): Case[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const int = (max: number) => Math.floor(rand() * max);
  // Fixed instants keep a seed's cases identical from run to run.
  const future = '2030-01-07T10:00:00Z';
  // Records the sandbox does not hold: a body naming one is re-read, answered 404, and dead.
  const templates = {
    booking: () => ({ Id: 88_000_000 + int(1e6), ResourceId: 3000001, CoworkerId: 2000001, FromTime: future, ToTime: future, CoworkerFullName: 'Zoë Ångström', Tentative: false, UpdatedOn: future }),
    contract: () => ({ Id: 86_000_000 + int(1e6), CoworkerId: 2000002, StartDate: future, Desks: [{ Id: 4000001, Name: 'Office' }], Active: true, Cancelled: false }),
    customer: () => ({ Id: 2_100_000 + int(1e6), FullName: 'Fuzz', Email: 'fuzz@example.com', AccessCardId: '04A1B2C3D4E5F6' }),
  };
  const kisiEvent = () => ({
    uuid: `fuzz-${int(1e9)}`,
    type: 'lock.unlock',
    actor_type: 'User',
    actor_id: KISI_ADA,
    actor_email: 'ada@example.com',
    object_type: 'Lock',
    object_id: FRONT_DOOR,
    object_name: 'Front door',
    success: true,
    created_at: '2026-11-27T10:00:00.000Z',
  });
  const badId = [null, true, false, {}, [], -1, 0, 1.5, 'abc', '', ' 12', '99999999999999999999', 1e300, '0x10', 'NaN'];
  const badByField: Record<string, unknown[]> = {
    FromTime: [1234, {}, [], true, ''],
    ToTime: [false, 0, { at: 1 }, ''],
    StartDate: [42, [], {}, ''],
    ResourceId: ['abc', {}, -3, 2.5, true],
    CoworkerId: ['x', -5, {}, [1], 3.14],
    Tentative: ['yes', 1, {}],
    Desks: ['x', 5, {}, [{ Name: 'no id' }], ['abc']],
    Cancelled: ['no', 0],
  };
  const fieldsOf = { booking: ['FromTime', 'ToTime', 'ResourceId', 'CoworkerId', 'Tentative'], contract: ['StartDate', 'CoworkerId', 'Desks', 'Cancelled'] };
  const badKisi: Array<[string, unknown]> = [
    ['uuid', 'has spaces in it'],
    ['uuid', ''],
    ['uuid', 'x'.repeat(101)],
    ['uuid', 42],
    ['actor_id', 'abc'],
    ['actor_id', -1],
    ['actor_id', {}],
    ['object_id', null],
    ['object_id', 1.5],
    ['created_at', 'yesterday'],
    ['created_at', 1234],
    ['success', 'true'],
    ['success', 1],
    ['type', 123],
    ['type', ''],
  ];

  const cases: Case[] = [];
  const nexudus = (action: string, body: Buffer, sig: string | null, expect: number[], name: string, contentType = pick(CONTENT_TYPES)) =>
    cases.push({ name, path: `/webhooks/nexudus/${action}`, body, headers: { 'Content-Type': contentType, ...(sig === null ? {} : { 'X-Nexudus-Hook-Signature': sig }) }, expect, ...(expect.includes(202) ? {} : { signedUsable: false as const }) });
  const kisi = (body: Buffer, sig: string | null, expect: number[], name: string) =>
    cases.push({ name, path: '/webhooks/kisi', body, headers: { 'Content-Type': pick(CONTENT_TYPES), ...(sig === null ? {} : { 'X-Signature': sig }) }, expect, ...(expect.includes(202) ? {} : { signedUsable: false as const }) });
  const SIGNED = [202];
  const signN = (text: string) => signNexudusBody(text, NEXUDUS_SECRET, pick(['utf8', 'ascii'] as const));
  const signBytes = (bytes: Buffer, secret: string) => createHmac('sha256', secret).update(bytes).digest('hex');

  while (cases.length < CASES) {
    const kind = int(12);
    const action = pick(NEXUDUS_ACTIONS);
    const entity = SUPPORTED_NEXUDUS_ACTIONS[action].entity;
    const template = templates[entity]();
    const valid = JSON.stringify([template]);
    switch (kind) {
      case 0: {
        // Truncated: every strict prefix of an array is not JSON.
        const text = valid.slice(0, int(valid.length - 1));
        nexudus(action, Buffer.from(text), signN(text), SIGNED, `truncated ${action} at ${text.length}`);
        break;
      }
      case 1: {
        const bytes = Buffer.concat([Buffer.from([1]), randomBytesFrom(rand, 1 + int(300))]);
        nexudus(action, bytes, signBytes(bytes, NEXUDUS_SECRET), SIGNED, `garbage bytes for ${action}`);
        break;
      }
      case 2: {
        const record: Record<string, unknown> = { ...template, Id: pick(badId) };
        if (entity === 'customer') delete record.CoworkerId;
        const text = JSON.stringify([record]);
        nexudus(action, Buffer.from(text), signN(text), SIGNED, `${action} with Id ${JSON.stringify(record.Id)}`);
        break;
      }
      case 3: {
        if (entity === 'customer') {
          const text = JSON.stringify([{ ...template, Id: pick(badId), CoworkerId: pick(['x', {}, -2, 1.25]) }]);
          nexudus(action, Buffer.from(text), signN(text), SIGNED, `${action} with a bad CoworkerId`);
          break;
        }
        // A delete that names its record is a tombstone (usable): here the record is named but the
        // body is broken, which for a create or update means a re-read (404 here).
        const live = SUPPORTED_NEXUDUS_ACTIONS[action].deleted ? pick(NEXUDUS_ACTIONS.filter((a) => SUPPORTED_NEXUDUS_ACTIONS[a].entity === entity && !SUPPORTED_NEXUDUS_ACTIONS[a].deleted)) : action;
        const field = pick(fieldsOf[entity]);
        const value = pick(badByField[field]!);
        const text = JSON.stringify([{ ...template, [field]: value }]);
        nexudus(live, Buffer.from(text), signN(text), SIGNED, `${live} with ${field}=${JSON.stringify(value)}`);
        break;
      }
      case 4: {
        const shapes: string[] = ['null', '0', '"text"', 'true', '[]', '[1]', '[[]]', '[null]', '[{}]', '{}', '[{"Id":{}}]', '[{"__proto__":{"Id":5},"constructor":{"prototype":{}}}]', '{"Id":1,"Id":"x"}', `[${Array(101).fill('{"Id":1}').join(',')}]`, '['.repeat(5000) + ']'.repeat(5000)];
        const text = pick(shapes);
        nexudus(action, Buffer.from(text), signN(text), SIGNED, `${action} shaped ${text.slice(0, 40)}`);
        break;
      }
      case 5: {
        if (int(8) !== 0) continue; // oversized bodies are slow to send: fewer of them
        const text = JSON.stringify([{ ...template, Notes: 'x'.repeat(1024 * 1024 + int(1000)) }]);
        nexudus(action, Buffer.from(text), pick([signN(text), null]), [413], `${action} oversized`);
        break;
      }
      case 6: {
        const wrong = pick([
          null,
          '',
          randomBytesFrom(rand, 32).toString('hex'),
          signNexudusBody(valid, 'another-secret', 'utf8'),
          signNexudusBody(`${valid} `, NEXUDUS_SECRET, 'utf8'),
          signNexudusBody(valid, NEXUDUS_SECRET, 'utf8').slice(0, 63),
          `sha256=${'0'.repeat(64)}`,
          'Z'.repeat(64),
        ]);
        nexudus(action, Buffer.from(valid), wrong, [401], `${action} wrongly signed (${String(wrong).slice(0, 12)})`);
        break;
      }
      case 7: {
        const unsupported = pick(UNSUPPORTED);
        const text = pick([valid, '[{"Id":1}]', 'not json']);
        nexudus(unsupported, Buffer.from(text), signN(text), SIGNED, `unsupported action ${unsupported.slice(0, 20)}`);
        break;
      }
      case 8: {
        // Invalid UTF-8 inside the Id string, signed over the bytes sent.
        const bytes = Buffer.concat([Buffer.from('[{"Id":"'), randomBytesFrom(rand, 1 + int(8)).map((b) => 0x80 | b), Buffer.from('"}]')]);
        nexudus(action, bytes, signBytes(bytes, NEXUDUS_SECRET), SIGNED, `${action} with invalid UTF-8`);
        break;
      }
      case 9: {
        const [field, value] = pick(badKisi);
        const text = JSON.stringify({ ...kisiEvent(), [field]: value });
        kisi(Buffer.from(text), signKisiBody(text, KISI_SECRET), SIGNED, `kisi ${field}=${JSON.stringify(value).slice(0, 20)}`);
        break;
      }
      case 10: {
        const text = JSON.stringify(kisiEvent());
        const choice = int(4);
        if (choice === 0) kisi(Buffer.from(text.slice(0, int(text.length - 1))), signKisiBody(text, KISI_SECRET), [401], 'kisi truncated, signed over the whole');
        else if (choice === 1) {
          const cut = text.slice(0, int(text.length - 1));
          kisi(Buffer.from(cut), signKisiBody(cut, KISI_SECRET), SIGNED, 'kisi truncated');
        } else if (choice === 2) kisi(Buffer.from(text), pick([null, '', signKisiBody(text, 'other'), `sha256=${randomBytesFrom(rand, 32).toString('hex')}`]), [401], 'kisi wrongly signed');
        else {
          const shape = pick(['null', '[]', '"x"', '{}', '{"type":null}', '[{"type":"lock.unlock"}]', '42']);
          kisi(Buffer.from(shape), signKisiBody(shape, KISI_SECRET), SIGNED, `kisi shaped ${shape}`);
        }
        break;
      }
      case 11: {
        if (int(8) !== 0) continue;
        const text = JSON.stringify({ ...kisiEvent(), padding: 'y'.repeat(1024 * 1024) });
        kisi(Buffer.from(text), signKisiBody(text, KISI_SECRET), [413], 'kisi oversized');
        break;
      }
    }
  }
  return cases;
}

function randomBytesFrom(rand: () => number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

test(`${CASES} hostile requests (seed ${SEED}): every correctly signed one is 2xx (413 when too large) and ends as a dead event; nothing starts; only bad signatures are 401`, async () => {
  const cases = generate(seededRandom(SEED));
  const signed = cases.filter((c) => c.signedUsable !== false);
  expect(signed.length).toBeGreaterThanOrEqual(500);
  expect(new Set(signed.map((c) => c.path.split('/')[2])).size).toBe(2); // both routes
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  /** Request id of each correctly signed case, and how many entities its answer named. */
  const expectedDead: Array<{ requestId: string; entities: number; name: string }> = [];
  for (const [i, c] of cases.entries()) {
    const res = await fetch(`${h.url}${c.path}`, { method: 'POST', headers: c.headers, body: typeof c.body === 'string' ? c.body : new Uint8Array(c.body) });
    const text = await res.text();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    const problems: string[] = [];
    if (!c.expect.includes(res.status)) problems.push(`status ${res.status}, expected ${c.expect.join('|')}`);
    if (json === undefined) problems.push('answer is not JSON');
    if (res.status >= 400 && !(json && 'error' in json && 'details' in json)) problems.push('error answer without {error, details}');
    if (/\n\s+at .+:\d+:\d+/.test(text)) problems.push('stack trace in the answer');
    if (res.status === 202 && json) {
      const results = (Array.isArray(json.results) ? json.results : [json]) as Array<Record<string, unknown>>;
      if (!results.every((r) => r.result === 'dead' || r.result === 'queued')) problems.push(`a 202 that is neither dead nor queued: ${text.slice(0, 120)}`);
      expectedDead.push({ requestId: String(json.requestId), entities: results.length, name: c.name });
    }
    if (problems.length > 0) failures.push(`#${i} ${c.name}: ${problems.join('; ')} -> ${text.slice(0, 200)}`);
  }
  console.log(`fuzz seed ${SEED}: ${cases.length} cases (${signed.length} correctly signed), answers ${JSON.stringify(Object.fromEntries([...statuses].sort()))}`);
  expect(failures).toEqual([]);

  // Bodies that named a record wait for its re-read; the sandbox has none of them: all end dead.
  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the re-reads done', 60_000);
  const dead = h.ingress.inbox.listDead({ limit: 100_000 });
  const byRequest = new Map<string, number>();
  for (const d of dead) {
    const id = (d.requestId ?? '').split('#')[0]!;
    byRequest.set(id, (byRequest.get(id) ?? 0) + 1);
  }
  const missing = expectedDead.filter((e) => byRequest.get(e.requestId) !== e.entities).map((e) => `${e.name}: ${byRequest.get(e.requestId) ?? 0} of ${e.entities} dead`);
  expect(missing).toEqual([]);
  expect(h.ingress.inbox.stats()).toMatchObject({ backlog: 0, dead: expectedDead.reduce((n, e) => n + e.entities, 0) });

  const metrics = await (await fetch(`${h.url}/metrics`)).text();
  expect(metrics).not.toMatch(/outcome="delivered"/);
  expect(metrics).toMatch(/ingress_dead_events_total\{source="kisi",cause="invalid-event"\} [1-9]/);
  expect(metrics).toMatch(/ingress_dead_events_total\{source="nexudus",cause="not-found"\} [1-9]/);
  let workflows = 0;
  for await (const _ of h.client.workflow.list()) workflows++;
  expect(workflows).toBe(0);
  expect((await fetch(`${h.url}/healthz`)).status).toBe(200);
});

test('the fuzz generator is reproducible: the same seed gives the same cases', () => {
  const a = generate(seededRandom(7)).map((c) => `${c.path} ${c.body.toString('base64').slice(0, 60)} ${JSON.stringify(c.headers)}`);
  const b = generate(seededRandom(7)).map((c) => `${c.path} ${c.body.toString('base64').slice(0, 60)} ${JSON.stringify(c.headers)}`);
  expect(a).toEqual(b);
});
