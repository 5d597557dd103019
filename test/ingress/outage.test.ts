/**
 * Never losing an event: the dev server keeps its data in a file and is stopped and started again
 * under the ingress. While Temporal is away webhooks are answered 202 from the durable inbox; once
 * it is back the forwarder delivers them, each record's events in arrival order. Also: Nexudus
 * away during a re-read, a poison event, and the single-writer rule for the inbox file.
 */
import fs from 'node:fs';
import type { temporal } from '@temporalio/proto';
import request from 'supertest';
import { InboxLockedError } from '../../src/ingress/inbox';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { randomUUID } from 'node:crypto';
import { ADA, DESK_D1, eventually, FRONT_DOOR, GROUP_MEMBERS, GROUP_ROOM_THAMES, HOUR, IngressHarness, iso, KISI_ADA, ROOM_THAMES } from './harness';

jest.setTimeout(90_000);

const MIN = 60_000;
let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start({ temporalDb: true });
});
afterAll(async () => {
  await h?.close();
});

let seq = 0;
function newCustomer(tag: string) {
  const email = `${tag}-${++seq}-${Date.now()}@example.com`;
  return { customerId: h.nexudus.state.addCoworker({ FullName: `Outage ${tag}`, Email: email }).Id as number, email };
}
const nextSecond = () => new Promise((r) => setTimeout(r, 1010 - (Date.now() % 1000)));
const hoursAhead = (hours: number) => Math.ceil(Date.now() / HOUR) * HOUR + hours * HOUR;

/** The specs a grant received through `sourceChanged`, in the order its history recorded them. */
async function signalledSpecs(workflowId: string): Promise<GrantSpec[]> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const converter = h.client.options.loadedDataConverter.payloadConverter;
  return (history.events ?? [])
    .map((e: temporal.api.history.v1.IHistoryEvent) => e.workflowExecutionSignaledEventAttributes)
    .filter((a): a is temporal.api.history.v1.IWorkflowExecutionSignaledEventAttributes => !!a && a.signalName === 'sourceChanged')
    .map((a) => converter.fromPayload<GrantSpec>(a.input!.payloads![0]!));
}

test('Temporal stopped: webhooks are answered 202 from the inbox, /readyz says 503 with the backlog; after the restart each record\'s events arrive in order', async () => {
  const who = newCustomer('order');
  const start = hoursAhead(30);
  const v1 = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  await nextSecond();
  const v2 = h.nexudus.state.updateBooking(v1.Id as number, { ToTime: iso(start + 2 * HOUR) });
  await nextSecond();
  const v3 = h.nexudus.state.updateBooking(v1.Id as number, { ToTime: iso(start + 3 * HOUR) });
  const other = newCustomer('tomb');
  const gone = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: other.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  const [ada] = h.nexudus.state.coworkers().filter((c) => c.Id === ADA.customerId);

  await h.stopTemporal();
  const sent: Array<[string, unknown]> = [
    ['BookingCreate', v1],
    ['BookingUpdate', v2],
    ['BookingDelete', { Id: gone.Id }],
    ['BookingUpdate', v3],
    ['BookingCreate', gone],
    ['AccessControlUpdate', ada],
  ];
  for (const [action, record] of sent) {
    const res = await h.postNexudus(action, [record]);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ result: 'queued', reason: expect.any(String) });
  }
  // A door check-in waits too.
  const unlock = { uuid: randomUUID(), type: 'lock.unlock', actor_type: 'User', actor_id: KISI_ADA, object_type: 'Lock', object_id: FRONT_DOOR, object_name: 'Front door', success: true, created_at: new Date().toISOString() };
  const kisi = await h.postKisi(unlock);
  expect(kisi.status).toBe(202);
  expect(kisi.body).toMatchObject({ result: 'queued', entityKey: `checkin-${unlock.uuid}` });
  expect(h.ingress.breaker.isOpen).toBe(true);
  // On disk only what the product reads: Ada's record came with her PIN, card and fob numbers.
  expect(ada).toMatchObject({ AccessPincode: '48213', AccessCardId: '04A1B2C3D4E5F6', KeyFobNumber: 'F0B1001' });
  const onDisk = [h.inboxFile, `${h.inboxFile}-wal`].filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f).toString('latin1')).join('');
  expect(onDisk).toContain(`"Id":${ADA.customerId}`);
  for (const secret of ['48213', '04A1B2C3D4E5F6', 'F0B1001', 'AccessPincode']) expect(onDisk).not.toContain(secret);
  expect(fs.statSync(h.inboxFile).mode & 0o777).toBe(0o600);
  const ready = await request(h.ingress.app).get('/readyz');
  expect(ready.status).toBe(503);
  expect(ready.body).toMatchObject({ status: 'not-ready', temporal: 'unreachable', inbox: { backlog: 7, entities: 4, dead: 0, temporalBreaker: 'open' } });
  expect(ready.body.inbox.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
  const metrics = await request(h.ingress.app).get('/metrics');
  expect(metrics.text).toContain('ingress_inbox_backlog 7');
  expect(metrics.text).toMatch(/ingress_webhooks_total\{source="nexudus",action="BookingUpdate",outcome="queued"\} 2/);

  await h.startTemporal();
  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the backlog delivered', 30_000);
  expect(h.ingress.inbox.stats().dead).toBe(0);
  expect(h.ingress.breaker.isOpen).toBe(false);

  // booking v1 -> v2 -> v3, in that order, ending with v3's window in Kisi.
  // A signal that arrives during a workflow task enters the history when that task completes.
  const signalled = await eventually(async () => {
    const specs = await signalledSpecs(`booking-${v1.Id}`);
    return specs.length >= 3 && specs;
  }, 'three signals in the history');
  expect(signalled.map((s) => s.window?.until)).toEqual([start + HOUR + 15 * MIN, start + 2 * HOUR + 15 * MIN, start + 3 * HOUR + 15 * MIN]);
  await eventually(() => h.assignments(who.email, GROUP_ROOM_THAMES)[0]?.valid_until === iso(start + 3 * HOUR + 15 * MIN), 'v3 in Kisi');
  // The delete came first for the other booking: its create started nothing.
  expect(await h.runs(`booking-${gone.Id}`)).toBe(1);
  expect(await h.client.workflow.getHandle(`booking-${gone.Id}`).result()).toMatchObject({ reason: 'ended', grantedAt: null });
  expect(h.kisiUserId(other.email)).toBeUndefined();
  expect(await h.exists(`customer-sync-${ADA.customerId}`)).toBe(true);
  expect(await h.client.workflow.getHandle(`checkin-${unlock.uuid}`).result()).toMatchObject({ outcome: 'checked-in', customerId: ADA.customerId });
  expect(h.nexudus.state.checkins().filter((c) => c.CoworkerId === ADA.customerId)).toHaveLength(1);

  const readyAgain = await request(h.ingress.app).get('/readyz');
  expect(readyAgain.status).toBe(200);
  expect(readyAgain.body.inbox).toMatchObject({ backlog: 0, oldestAgeSeconds: null, temporalBreaker: 'closed' });
});

test('Nexudus away during a re-read: the event waits (/readyz stays 200 with the backlog), a later event of the same record queues behind it', async () => {
  const who = newCustomer('reread');
  const contract = h.nexudus.state.addContract({ CoworkerId: who.customerId, StartDate: iso(Date.now() - 24 * HOUR), Desks: [DESK_D1] });
  const { Desks: _omitted, ...listShaped } = contract;
  await nextSecond();
  // Within KISI_MAX_VALIDITY (a week), so Kisi holds the end itself.
  const cancelAt = hoursAhead(24 * 5);
  const v2 = h.nexudus.state.updateContract(contract.Id as number, { Cancelled: true, CancellationDate: iso(cancelAt) });
  h.nexudus.script({ method: 'GET', path: `/api/billing/coworkercontracts/${contract.Id}`, status: 503, times: 4 });
  const retriesBefore = await forwardedCount('retry');

  const first = await h.postNexudus('CoworkerContractCreate', [listShaped]);
  expect(first.status).toBe(202);
  const second = await h.postNexudus('CoworkerContractCancel', [v2]);
  expect(second.status).toBe(202);
  expect(second.body.reason).toMatch(/earlier events of this record are waiting/);
  const ready = await request(h.ingress.app).get('/readyz');
  expect(ready.status).toBe(200);
  expect(ready.body.inbox.backlog).toBeGreaterThanOrEqual(1);

  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the backlog delivered');
  expect(await forwardedCount('retry')).toBe(retriesBefore + 4);
  await eventually(() => h.assignments(who.email, GROUP_MEMBERS)[0]?.valid_until === iso(cancelAt + 15 * MIN), 'the cancellation in Kisi');
  const specs = await eventually(async () => {
    const list = await signalledSpecs(`contract-${contract.Id}`);
    return list.length >= 2 && list;
  }, 'both signals in the history');
  expect(specs.map((s) => s.window?.until)).toEqual([cancelAt + 15 * MIN, cancelAt + 15 * MIN]);
});

test('a poison event (re-read answers 404) is recorded dead, counted in /readyz, listed for operators, and does not block its record', async () => {
  const id = 79_000_000 + Math.floor(Math.random() * 100_000);
  expect((await h.postNexudus('BookingCreate', [{ Id: id }])).status).toBe(202);
  await eventually(() => h.ingress.inbox.stats().dead > 0, 'the dead event');
  const ready = await request(h.ingress.app).get('/readyz');
  expect(ready.status).toBe(200);
  expect(ready.body.inbox).toMatchObject({ backlog: 0, dead: 1 });
  // Which event and why is operator data: behind the token, not in /readyz.
  expect(ready.body.inbox.recentDead).toBeUndefined();
  const listed = await h.ops('get', '/reports/dead-events');
  expect(listed.status).toBe(200);
  expect(listed.body.items[0]).toMatchObject({ entityKey: `booking-${id}`, action: 'BookingCreate', cause: 'not-found', reason: expect.stringContaining('does not exist in Nexudus') });
  // The record is not stuck behind its dead event.
  const del = await h.postNexudus('BookingDelete', [{ Id: id }]);
  expect(del.status).toBe(200);
  expect(del.body.result).toBe('delivered');
});

test('one writer per inbox file: a second ingress is refused; once the first stops, the next one delivers what it left', async () => {
  const who = newCustomer('handover');
  const start = hoursAhead(50);
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  await h.stopTemporal();
  expect((await h.postNexudus('BookingCreate', [booking])).status).toBe(202);
  expect(() => h.buildIngress()).toThrow(InboxLockedError);

  await h.restartIngress();
  expect(h.ingress.inbox.stats().backlog).toBe(1);
  await h.startTemporal();
  await eventually(() => h.ingress.inbox.stats().backlog === 0, 'the handed-over backlog delivered', 30_000);
  await eventually(() => h.assignments(who.email, GROUP_ROOM_THAMES).length === 1, 'the Kisi assignment');
  expect(await h.runs(`booking-${booking.Id}`)).toBe(1);
});

async function forwardedCount(outcome: string): Promise<number> {
  const metric = await h.ingress.metrics.forwarded.get();
  return metric.values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
}
