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
  inbox.kill(poison, 'booking 9 does not exist in Nexudus (404 on re-read)');
  expect(inbox.dueHeads(Date.now(), 10).map((e) => e.id)).toEqual([next]);
  expect(inbox.stats()).toMatchObject({ backlog: 1, dead: 1 });
  expect(inbox.recentDead()).toEqual([
    expect.objectContaining({ id: poison, entityKey: 'booking-9', action: 'BookingCreate', reason: expect.stringContaining('404') }),
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
  for (let i = 0; i < 1005; i++) inbox.kill(inbox.enqueue(event(`booking-${i + 1}`)), `poison ${i}`);
  expect(inbox.stats().dead).toBe(1000);
  expect(inbox.recentDead(1)[0]!.reason).toBe('poison 1004');
});
