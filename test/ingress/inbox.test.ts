/**
 * The durable inbox on its own (a real SQLite file): arrival order per record, heads only, dead
 * events that stop blocking, durability across reopening, and the single-writer lock.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Inbox, InboxLockedError, type NewInboxEvent } from '../../src/ingress/inbox';

let dir: string;
let file: string;
const open: Inbox[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inbox-test-'));
  file = path.join(dir, 'nested', 'inbox.db');
});
afterEach(() => {
  for (const inbox of open.splice(0)) inbox.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function openInbox(): Inbox {
  const inbox = Inbox.open(file, { lockTimeoutMs: 0 });
  open.push(inbox);
  return inbox;
}

let t = 1_700_000_000_000;
function event(entityKey: string, action = 'BookingUpdate'): NewInboxEvent {
  return { entityKey, source: 'nexudus', action, body: JSON.stringify([{ Id: Number(entityKey.split('-')[1]) }]), entityIndex: 0, receivedAt: ++t, requestId: `r${t}` };
}

test('hands out only the oldest pending event of each record, records in arrival order', () => {
  const inbox = openInbox();
  const a1 = inbox.enqueue(event('booking-1', 'BookingCreate'));
  const b1 = inbox.enqueue(event('booking-2'));
  const a2 = inbox.enqueue(event('booking-1', 'BookingDelete'));
  expect(inbox.dueHeads(Date.now(), 10).map((e) => e.id)).toEqual([a1, b1]);
  expect(inbox.hasBacklog('booking-1')).toBe(true);
  inbox.delivered(a1);
  expect(inbox.dueHeads(Date.now(), 10).map((e) => [e.id, e.action])).toEqual([
    [b1, 'BookingUpdate'],
    [a2, 'BookingDelete'],
  ]);
  inbox.delivered(a2);
  expect(inbox.hasBacklog('booking-1')).toBe(false);
  expect(inbox.stats()).toMatchObject({ backlog: 1, entities: 1, dead: 0 });
});

test('a record waiting for a retry holds back its later events, not the other records', () => {
  const inbox = openInbox();
  const a1 = inbox.enqueue(event('contract-1'));
  inbox.enqueue(event('contract-1'));
  const b1 = inbox.enqueue(event('contract-2'));
  const now = Date.now();
  inbox.retryLater(a1, now + 60_000, 'nexudus GET /billing/coworkercontracts/{id}: HTTP 503');
  expect(inbox.dueHeads(now, 10).map((e) => e.id)).toEqual([b1]);
  expect(inbox.nextDueAt()).toBeLessThanOrEqual(now);
  inbox.delivered(b1);
  expect(inbox.nextDueAt()).toBe(now + 60_000);
  const [retried] = inbox.dueHeads(now + 60_000, 10);
  expect(retried).toMatchObject({ id: a1, attempts: 1, lastError: expect.stringContaining('503') });
});

test('a dead event is kept with its reason and no longer blocks its record', () => {
  const inbox = openInbox();
  const poison = inbox.enqueue(event('booking-9', 'BookingCreate'));
  const next = inbox.enqueue(event('booking-9', 'BookingDelete'));
  inbox.kill(poison, 'booking 9 does not exist in Nexudus (404 on re-read)', 'not-found');
  expect(inbox.dueHeads(Date.now(), 10).map((e) => e.id)).toEqual([next]);
  expect(inbox.stats()).toMatchObject({ backlog: 1, dead: 1 });
  expect(inbox.listDead()).toEqual([
    expect.objectContaining({ id: poison, entityKey: 'booking-9', action: 'BookingCreate', reason: expect.stringContaining('404'), cause: 'not-found', bodyKept: true }),
  ]);
  inbox.delivered(next);
  expect(inbox.hasBacklog('booking-9')).toBe(false);
  expect(inbox.stats()).toMatchObject({ backlog: 0, dead: 1, oldestReceivedAt: null });
});

test('events survive closing and reopening, with their order and the backlog index', () => {
  const first = Inbox.open(file, { lockTimeoutMs: 0 });
  const ids = [first.enqueue(event('customer-5', 'AccessControlUpdate')), first.enqueue(event('customer-5', 'CoworkerDelete'))];
  first.close();
  // After a clean close the WAL is folded in: the main file alone holds the events.
  expect(fs.existsSync(`${file}-wal`) ? fs.statSync(`${file}-wal`).size : 0).toBe(0);
  const again = openInbox();
  expect(again.hasBacklog('customer-5')).toBe(true);
  expect(again.stats()).toMatchObject({ backlog: 2, entities: 1 });
  const [head] = again.dueHeads(Date.now(), 10);
  expect(head).toMatchObject({ id: ids[0], action: 'AccessControlUpdate', source: 'nexudus', entityIndex: 0 });
});

test('one writer: a second inbox on the same file is refused while the first is open, and opens once it is closed', () => {
  const first = Inbox.open(file, { lockTimeoutMs: 0 });
  first.enqueue(event('booking-3'));
  expect(() => Inbox.open(file, { lockTimeoutMs: 0 })).toThrow(InboxLockedError);
  expect(() => Inbox.open(file, { lockTimeoutMs: 0 })).toThrow(/held by another ingress process/);
  first.close();
  const second = openInbox();
  expect(second.stats().backlog).toBe(1);
});

test('dead events are capped (the newest kept) so a flood of poison cannot fill the disk', () => {
  const inbox = openInbox();
  const insert = inbox['db'].transaction(() => {
    for (let i = 0; i < 10_005; i++) inbox.enqueueDead(event(`booking-${i + 1}`), `poison ${i}`, 'invalid-entity');
  });
  insert();
  expect(inbox.stats().dead).toBe(10_000);
  expect(inbox.listDead({ limit: 1 })[0]!.reason).toBe('poison 10004');
});

test('dead events: retried back into their record\'s order, dropped, purged after the retention; an unkept body is not retryable', () => {
  const inbox = Inbox.open(file, { lockTimeoutMs: 0, deadRetentionMs: 60_000 });
  open.push(inbox);
  const a = inbox.enqueueDead(event('booking-7'), 'invalid BookingUpdate body', 'invalid-entity', { now: 1_000 });
  const b = inbox.enqueueDead(event('booking-8'), 'not JSON', 'not-json', { bodyKept: false, now: 1_000 });
  const c = inbox.enqueueDead(event('booking-9'), 'gone', 'not-found', { now: 100_000 });
  expect(inbox.listDead().map((d) => d.id)).toEqual([c, b, a]);
  expect(inbox.listDead({ beforeId: c, limit: 1 }).map((d) => d.id)).toEqual([b]);
  expect(inbox.event(a)).toMatchObject({ status: 'dead', body: event('booking-7').body, cause: 'invalid-entity' });

  expect(inbox.retryDead(a)).toBe(true);
  expect(inbox.hasBacklog('booking-7')).toBe(true);
  expect(inbox.dueHeads(Date.now(), 10).map((e) => [e.id, e.attempts])).toEqual([[a, 0]]);
  expect(inbox.retryDead(a)).toBe(false); // pending now, not dead
  expect(() => inbox.retryDead(b)).toThrow(/was not kept/);

  expect(inbox.purgeExpiredDead(70_000)).toBe(1); // b died at 1 s, the retention is 60 s; c is younger
  expect(inbox.listDead().map((d) => d.id)).toEqual([c]);
  expect(inbox.dropDead(c)).toBe(true);
  expect(inbox.dropDead(c)).toBe(false);
  expect(inbox.stats()).toMatchObject({ dead: 0, backlog: 1 });
});

test('the file and its WAL are readable by their owner only', () => {
  const inbox = openInbox();
  inbox.enqueue(event('booking-1'));
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  expect(fs.statSync(`${file}-wal`).mode & 0o777).toBe(0o600);
  expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
});
