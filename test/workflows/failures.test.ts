/**
 * Kisi on a bad day, and operators: retried failures converge on one assignment; a refusal puts
 * the grant in needs-attention until an operator fixes the cause and sends `retry`; cancelling a
 * grant is covered by operator-decisions.test.ts (on the dev server).
 */
import type { AccessMapFile } from '../../src/config/access-map';
import { grantWorkflowId } from '../../src/domain/ids';
import { retrySignal } from '../../src/contract/grant';
import { leaseUpdateSignal } from '../../src/contract/membership';
import {
  ADA,
  DEFAULT_MAP,
  GROUP_ROOM_SEVERN,
  GROUP_ROOM_THAMES,
  GrantHarness,
  HOUR,
  MIN,
  ROOM_SEVERN,
  hourAhead,
  iso,
  newSourceId,
} from '../helpers/grant-harness';

jest.setTimeout(180_000);

const UNKNOWN_GROUP = 999_999;
const BROKEN_MAP: AccessMapFile = { ...DEFAULT_MAP, resources: { ...DEFAULT_MAP.resources, [ROOM_SEVERN]: { groups: [UNKNOWN_GROUP] } } };

let h: GrantHarness;
beforeAll(async () => {
  // A short client timeout lets one attempt time out while Kisi still processes it.
  h = await GrantHarness.start({ kisiTimeoutMs: 1_500 });
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

test('Kisi failing three times then succeeding: one assignment in the end', async () => {
  const start = await hourAhead(h, 24);
  const id = newSourceId();
  // Two refusals before Kisi does anything...
  h.kisi.faults.configure({ rules: [{ route: 'POST /role_assignments', errorRate: 1 }] });
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.until(() => h.kisi.faults.stats.errors >= 2, 'two 5xx answers');
  // ...then an answer that never arrives although Kisi creates the assignment (processed after the client gave up).
  h.kisi.faults.configure({ rules: [{ route: 'POST /role_assignments', latencyMs: 2_500 }] });
  await h.until(() => h.kisi.faults.stats.delayed >= 1, 'a slow answer');
  h.kisi.faults.clear();
  const status = await h.waitForState('booking', id, 'granted', 60_000);
  expect(status.lastError).toBeNull();
  expect(h.calls.filter((c) => c.method === 'createGroupRoleAssignment').length).toBeGreaterThanOrEqual(3);
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([
    expect.objectContaining({ valid_from: iso(start - 15 * MIN), valid_until: iso(start + HOUR + 15 * MIN) }),
  ]);
});

test('a 422 puts the grant in needs-attention; after the map is fixed, retry grants access', async () => {
  h.map = (await import('../../src/config/access-map')).AccessMap.parse(BROKEN_MAP);
  const start = await hourAhead(h, 24);
  // The booking exists in Nexudus: the operator's retry re-reads it.
  const booking = { Id: Number(h.nexudus.state.addBooking({ ResourceId: ROOM_SEVERN, CoworkerId: ADA.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }).Id) };
  const spec = await h.bookingSpec({ Id: booking.Id, FromTime: iso(start), ToTime: iso(start + HOUR), ResourceId: ROOM_SEVERN });
  expect(spec.groups).toEqual([UNKNOWN_GROUP]);
  await h.deliver(spec);
  const stuck = await h.waitForState('booking', booking.Id, 'needs-attention');
  expect(stuck.lastError).toMatch(/422/);
  expect(stuck.groupStates).toEqual({ [UNKNOWN_GROUP]: 'failed' });
  // It waits: no retry storm against Kisi.
  const attempts = h.calls.filter((c) => c.method === 'createGroupRoleAssignment').length;
  await h.sleep(30 * MIN);
  expect(h.calls.filter((c) => c.method === 'createGroupRoleAssignment')).toHaveLength(attempts);
  expect((await h.status('booking', booking.Id)).state).toBe('needs-attention');

  // The operator fixes the map and retries.
  h.map = (await import('../../src/config/access-map')).AccessMap.parse(DEFAULT_MAP);
  await h.client.workflow.getHandle(grantWorkflowId('booking', booking.Id)).signal(retrySignal);
  const fixed = await h.waitForState('booking', booking.Id, 'granted');
  expect(fixed).toMatchObject({ groups: [GROUP_ROOM_SEVERN], lastError: null, groupStates: { [GROUP_ROOM_SEVERN]: 'applied', [UNKNOWN_GROUP]: 'released' } });
  expect(h.assignments(ADA.email, GROUP_ROOM_SEVERN)).toEqual([expect.objectContaining({ valid_until: iso(start + HOUR + 15 * MIN) })]);
});

test('a 422 the membership reports before the request activity returns still puts the grant in needs-attention', async () => {
  h.map = (await import('../../src/config/access-map')).AccessMap.parse(BROKEN_MAP);
  const start = await hourAhead(h, 24);
  const id = newSourceId();
  // The request activity signals the membership, then gives the new Kisi user Ada's two cards:
  // slow card writes let the membership's refusal reach the grant before the activity's result
  // (as a cold CI machine once did by chance). The membership reports it once.
  h.kisi.faults.configure({ rules: [{ route: 'POST /card', latencyMs: 1_000 }] });
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR), ResourceId: ROOM_SEVERN }));
  const stuck = await h.waitForState('booking', id, 'needs-attention');
  expect(stuck).toMatchObject({ lastError: expect.stringMatching(/422/), groupStates: { [UNKNOWN_GROUP]: 'failed' } });
  // The request's own result, arriving after, keeps the refusal.
  const events = await requestAnswered(grantWorkflowId('booking', id));
  const refusal = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === leaseUpdateSignal.name);
  const requestDone = events.findIndex((e) => e.activityTaskCompletedEventAttributes);
  expect(refusal).toBeGreaterThan(0);
  expect(requestDone).toBeGreaterThan(refusal); // the case under test: the refusal came first
  expect(await h.status('booking', id)).toMatchObject({ state: 'needs-attention', groupStates: { [UNKNOWN_GROUP]: 'failed' } });
});

/** The grant's history once its request activity has completed and the grant has taken the result in. */
async function requestAnswered(workflowId: string) {
  const handle = h.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const events = (await handle.fetchHistory()).events ?? [];
    const done = events.findIndex((e) => e.activityTaskCompletedEventAttributes);
    if (done >= 0 && events.slice(done + 1).some((e) => e.workflowTaskCompletedEventAttributes)) return events;
    if (Date.now() > deadline) throw new Error(`${workflowId}: the request activity did not complete`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a create carried out before an hour-long Kisi outage is taken back when the booking is cancelled meanwhile', async () => {
  const start = await hourAhead(h, 3);
  const id = newSourceId();
  const lostBefore = h.kisi.faults.stats.lostAnswers;
  // Kisi carries out the membership's create but its answer is lost; from the retry's listing on,
  // Kisi's role assignments answer 5xx for over an hour, so the sync gives up.
  h.kisi.faults.configure({ rules: [{ route: 'POST /role_assignments', lostAnswerRate: 1 }] });
  h.beforeKisiCall = (method) => {
    if (method === 'listGroupRoleAssignments' && h.kisi.faults.stats.lostAnswers > lostBefore) h.kisi.faults.configure({ rules: [{ route: '/role_assignments', errorRate: 1 }] });
  };
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  // The sync gives up an hour after it began; the membership's own retry would come 10 minutes later.
  await h.sleep(62 * MIN);
  await h.waitForState('booking', id, 'needs-attention', 60_000);
  const failedAt = await h.now();
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([expect.objectContaining({ valid_until: iso(start + HOUR + 15 * MIN) })]);
  h.beforeKisiCall = undefined;
  h.kisi.faults.clear();
  // Cancelled before the membership's automatic retry: nothing is held and nothing is known in Kisi,
  // yet the membership lists once more and deletes the assignment it may have made.
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }, { deleted: true }));
  await h.client.workflow.getHandle(grantWorkflowId('booking', id)).result();
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'the lost create taken back');
  // Taken back by the cancellation's sync, not by the automatic retry.
  expect(h.writes().find((c) => c.method === 'deleteRoleAssignment')!.at).toBeLessThan(failedAt + 10 * MIN);
  expect(h.writes().filter((c) => c.method === 'deleteRoleAssignment')).toHaveLength(1);
});
