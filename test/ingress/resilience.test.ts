/**
 * Nothing silently stuck: the forwarder survives its own store failing mid-run (an injected
 * "database or disk is full" on every write it makes), /healthz turns red while it fails and green
 * again, and the backlog is delivered once the fault is gone; a stopped forwarder and an event
 * older than INBOX_MAX_AGE fail /healthz too; with the breaker open and no forwarder the hot path
 * probes Temporal and closes it; a Temporal INVALID_ARGUMENT makes the event dead instead of
 * retried for ever, and the record's next event is not blocked. On a real dev server and worker.
 */
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import type { Inbox } from '../../src/ingress/inbox';
import { eventually, GROUP_ROOM_THAMES, HOUR, IngressHarness, iso, ROOM_THAMES } from './harness';

jest.setTimeout(120_000);

let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start({ temporalDb: true, ingress: { inboxMaxAgeMs: 60_000 } });
});
afterAll(async () => {
  await h?.close();
});

let seq = 0;
function newCustomer(tag: string) {
  const email = `${tag}-${++seq}-${randomBytes(3).toString('hex')}@example.com`;
  return { customerId: h.nexudus.state.addCoworker({ FullName: `Resilience ${tag}`, Email: email }).Id as number, email };
}
const hoursAhead = (hours: number) => Math.ceil(Date.now() / HOUR) * HOUR + hours * HOUR;

/** Every write the forwarder makes to the inbox fails as on a full disk, until `heal()`. */
function breakStore(inbox: Inbox): { heal: () => void; failures: () => number } {
  const methods = ['delivered', 'retryLater', 'kill'] as const;
  const originals = methods.map((m) => [m, inbox[m]] as const);
  let failures = 0;
  for (const m of methods) {
    (inbox as unknown as Record<string, unknown>)[m] = () => {
      failures++;
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
  }
  return {
    heal: () => {
      for (const [m, original] of originals) (inbox as unknown as Record<string, unknown>)[m] = original;
    },
    failures: () => failures,
  };
}

test('the forwarder\'s store fails mid-run: /healthz turns red, the forwarder keeps trying, and once the fault is gone the backlog is delivered and /healthz is green', async () => {
  const customers = [newCustomer('full'), newCustomer('full')];
  const start = hoursAhead(40);
  const bookings = customers.map((c) => h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: c.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.stopTemporal();
  for (const booking of bookings) expect((await h.postNexudus('BookingCreate', [booking])).body).toMatchObject({ result: 'queued' });
  expect(h.ingress.inbox.stats().backlog).toBe(2);

  const fault = breakStore(h.ingress.inbox);
  await h.startTemporal();
  const red = await eventually(async () => {
    const res = await request(h.ingress.app).get('/healthz');
    return res.status === 503 && res;
  }, '/healthz red', 30_000);
  expect(red.body).toEqual({ status: 'unhealthy', problems: [expect.stringMatching(/^the inbox forwarder has been failing for \d+ s: database or disk is full$/)] });
  // It keeps trying (with a growing pause), it has not stopped: the errors are counted.
  await eventually(() => fault.failures() >= 4, 'more failed rounds');
  expect(h.ingress.forwarder.health().running).toBe(true);
  expect(h.ingress.inbox.stats().backlog).toBe(2);
  expect((await request(h.ingress.app).get('/metrics')).text).toMatch(/ingress_forwarder_errors_total [1-9]\d*/);

  fault.heal();
  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the backlog delivered', 30_000);
  await eventually(async () => (await request(h.ingress.app).get('/healthz')).status === 200, '/healthz green');
  for (const [i, c] of customers.entries()) {
    await eventually(() => h.assignments(c.email, GROUP_ROOM_THAMES).length === 1, 'the Kisi assignment');
    // Delivered more than once while its removal failed: still one grant, one run.
    expect(await h.runs(`booking-${bookings[i]!.Id}`)).toBe(1);
  }
});

test('/healthz is red while the forwarder is not running, green once it runs again', async () => {
  await h.ingress.forwarder.stop();
  const red = await request(h.ingress.app).get('/healthz');
  expect(red.status).toBe(503);
  expect(red.body.problems).toEqual(['the inbox forwarder is not running']);
  h.ingress.forwarder.start();
  expect((await request(h.ingress.app).get('/healthz')).status).toBe(200);
});

test('an event older than INBOX_MAX_AGE fails /healthz; delivered, it is green again', async () => {
  await h.restartIngress({ inboxMaxAgeMs: 1_000 });
  const who = newCustomer('stale');
  const start = hoursAhead(41);
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  await h.stopTemporal();
  expect((await h.postNexudus('BookingCreate', [booking])).body).toMatchObject({ result: 'queued' });
  const red = await eventually(async () => {
    const res = await request(h.ingress.app).get('/healthz');
    return res.status === 503 && res;
  }, '/healthz red');
  expect(red.body.problems).toEqual([expect.stringMatching(/^the oldest queued event has waited \d+ s \(INBOX_MAX_AGE 1 s\)$/)]);
  await h.startTemporal();
  await eventually(async () => (await request(h.ingress.app).get('/healthz')).status === 200, '/healthz green', 30_000);
  await h.restartIngress();
});

test('breaker open and no forwarder: the hot path probes Temporal and closes the breaker by itself', async () => {
  await h.ingress.forwarder.stop();
  await h.stopTemporal();
  const first = newCustomer('probe');
  const start = hoursAhead(42);
  const queued = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: first.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  expect((await h.postNexudus('BookingCreate', [queued])).body).toMatchObject({ result: 'queued' });
  expect(h.ingress.breaker.isOpen).toBe(true);
  await h.startTemporal();
  // One probe every 5 s: within a few deliveries one goes through, and from then on all do.
  const second = newCustomer('probe');
  const delivered = await eventually(async () => {
    const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: second.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
    const res = await h.postNexudus('BookingCreate', [booking]);
    return res.status === 200 && res;
  }, 'a delivery straight to Temporal', 30_000);
  expect(delivered.body).toMatchObject({ result: 'delivered' });
  expect(h.ingress.breaker.isOpen).toBe(false);
  h.ingress.forwarder.start();
  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the queued one delivered by the forwarder', 30_000);
});

test('Temporal refuses an event as invalid (INVALID_ARGUMENT): it is dead with Temporal\'s reason, not retried for ever, and the record\'s next event goes through', async () => {
  const who = newCustomer('invalid');
  const start = hoursAhead(43);
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  // A 3,000-character email: over the server's 2 KB limit for a search attribute value.
  const res = await h.postNexudus('BookingCreate', [{ ...booking, CoworkerEmail: `${'x'.repeat(3_000)}@example.com` }]);
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ result: 'dead', reason: expect.stringMatching(/^Temporal refused the delivery as invalid: /) });
  const dead = await h.ops('get', `/reports/dead-events/${res.body.deadEventId}`);
  expect(dead.body).toMatchObject({ cause: 'temporal-invalid-argument', entityKey: `booking-${booking.Id}` });
  expect(h.ingress.inbox.hasBacklog(`booking-${booking.Id}`)).toBe(false);
  const next = await h.postNexudus('BookingUpdate', [booking]);
  expect(next.status).toBe(200);
  await eventually(() => h.assignments(who.email, GROUP_ROOM_THAMES).length === 1, 'the Kisi assignment');
});
