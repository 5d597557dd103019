/**
 * The activities this product annotates run their API calls in the right lane: check-ins are live
 * (the person is at the door). Recorded by the clients' stand-ins at call time.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createCheckinActivities } from '../../activities/checkins';
import { currentCallContext } from '../../src/clients/call-context';
import type { AccessMap } from '../../src/config/access-map';
import type { Lane } from '../../src/domain/lanes';

test('check-in activities call Kisi and Nexudus in the live lane', async () => {
  const lanes: Array<[string, Lane]> = [];
  const note = (what: string) => lanes.push([what, currentCallContext().lane]);
  const map = { nexudusBusinessId: 1000001, timeZone: 'Europe/London' } as unknown as AccessMap;
  const acts = createCheckinActivities({
    kisi: { getUser: async (id) => (note('kisi.getUser'), { id, email: 'ada@example.com', name: 'Ada' }) },
    nexudus: {
      findCoworkersByEmail: async () => (note('nexudus.findCoworkersByEmail'), [{ Id: 7, Email: 'ada@example.com' } as never]),
      listCheckins: async () => (note('nexudus.listCheckins'), []),
      createCheckin: async () => (note('nexudus.createCheckin'), { ok: true as const, id: 1 }),
    },
    accessMap: () => map,
    temporal: undefined as never,
    taskQueue: 'unused',
    emailKey: (email) => email,
  });
  const env = new MockActivityEnvironment({ startToCloseTimeoutMs: 600_000 });
  expect(await env.run(() => acts.resolveCustomerForKisiUser({ kisiUserId: 5, email: null }))).toEqual({ customerId: 7, email: 'ada@example.com' });
  expect(await env.run(() => acts.createDoorCheckin({ customerId: 7, at: '2026-03-02T09:00:00Z' }))).toEqual({ ok: true, id: 1 });
  expect(lanes).toEqual([
    ['kisi.getUser', 'live'],
    ['nexudus.findCoworkersByEmail', 'live'],
    ['nexudus.listCheckins', 'live'],
    ['nexudus.createCheckin', 'live'],
  ]);
});
