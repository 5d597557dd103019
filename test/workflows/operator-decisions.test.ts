/**
 * Operator decisions stick (issue "Only the access we granted", item 4), on the dev server: a real
 * Temporal server with real time. (The time-skipping test server's native build cannot continue a
 * workflow as new once a cancellation was requested: it answers "StartWorkflowExecutionRequest
 * missing method getNamespace".) Windows here are hours ahead so that nothing waits for them,
 * except the last test, whose window is seconds long.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { grantWorkflowId } from '../../src/domain/ids';
import { ADA, DEFAULT_MAP, GROUP_ROOM_THAMES, GrantHarness, HOUR, expectAround, iso, newSourceId } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let h: GrantHarness;
beforeAll(async () => {
  env = await createDevServerEnv();
  h = await GrantHarness.start({ env });
});
afterAll(async () => {
  await h?.close();
  await env?.teardown();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

test('cancelling a grant revokes the access it gave; the decision holds, in a running workflow, until the record changes', async () => {
  const start = Date.now() + 10 * 60_000; // inside its 15-minute lead: access now
  const id = newSourceId();
  const booked = await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR), UpdatedOn: iso(start - 3 * HOUR) });
  await h.deliver(booked);
  await h.waitForState('booking', id, 'granted');
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, Date.now())).toBe(true);
  const handle = h.client.workflow.getHandle(grantWorkflowId('booking', id));
  const cancelledAt = Date.now();
  await handle.cancel();
  await h.until(() => h.assignments(ADA.email, GROUP_ROOM_THAMES).length === 0, 'the assignment removed');
  expectAround(h.writes().at(-1)?.at, cancelledAt, 3_000);
  const cancelled = await h.waitForState('booking', id, 'cancelled');
  expect(cancelled.operatorCancelled).toMatchObject({ sourceVersion: iso(start - 3 * HOUR) });
  // The decision is held by a run that is still running: it outlives Temporal's retention of closed runs.
  expect((await handle.describe()).status.name).toBe('RUNNING');
  // The same version of the record again (a repeated webhook, a customer sync, reconcile): still cancelled.
  expect(await h.deliver(booked)).toBe('delivered');
  await new Promise((r) => setTimeout(r, 1_000));
  expect(await h.status('booking', id)).toMatchObject({ state: 'cancelled' });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  // A newer version of the record grants again.
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + 2 * HOUR), UpdatedOn: iso(start - HOUR) }));
  await h.waitForState('booking', id, 'granted');
  expect(h.isMember(ADA.email, GROUP_ROOM_THAMES, Date.now())).toBe(true);
});

test('an operator\'s retry lifts a cancellation', async () => {
  const start = Date.now() + 5 * 60_000;
  const id = newSourceId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  const handle = h.client.workflow.getHandle(grantWorkflowId('booking', id));
  await handle.cancel();
  await h.waitForState('booking', id, 'cancelled');
  await handle.signal('retry');
  await h.waitForState('booking', id, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toHaveLength(1);
});

test('a cancelled grant ends, cancelled, when its window is over, and a late webhook does not start it again', async () => {
  await h.reset({ ...DEFAULT_MAP, timing: { lead: '0s', lag: '0s' } });
  const start = Date.now() + 1_000;
  const id = newSourceId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + 4_000), UpdatedOn: iso(start - HOUR) }));
  await h.waitForState('booking', id, 'granted');
  const handle = h.client.workflow.getHandle(grantWorkflowId('booking', id));
  await handle.cancel();
  expect(await handle.result()).toMatchObject({ state: 'cancelled', reason: 'cancelled' });
  expect(h.assignments(ADA.email, GROUP_ROOM_THAMES)).toEqual([]);
  expect(await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start + 5 * HOUR), ToTime: iso(start + 6 * HOUR), UpdatedOn: iso(start) }))).toBe('closed');
});
