/**
 * What one isolated booking costs on Temporal over its whole life, counted from the real
 * histories of its grant and membership workflows. Target: 10 or fewer billable actions, the
 * search-attribute upserts included (Temporal Cloud bills those too).
 */
import { grantWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { addCosts, historyCost, ZERO_COST } from '../../bench/lib/history-cost';
import { ADA, GROUP_ROOM_THAMES, GrantHarness, HOUR, grantResult, hourAhead, iso, newSourceId } from '../helpers/grant-harness';

jest.setTimeout(120_000);

let h: GrantHarness;
beforeAll(async () => {
  h = await GrantHarness.start();
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());

test('an isolated booking costs at most 10 billable actions, upserts included', async () => {
  const start = await hourAhead(h, 24);
  const id = newSourceId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(start + 2 * HOUR);
  await grantResult(h, 'booking', id);
  const membership = h.client.workflow.getHandle(membershipWorkflowId(h.kisiUserId(ADA.email)!, GROUP_ROOM_THAMES));
  await membership.result();

  let total = ZERO_COST;
  for (const workflowId of [grantWorkflowId('booking', id), membershipWorkflowId(h.kisiUserId(ADA.email)!, GROUP_ROOM_THAMES)]) {
    const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
    const cost = historyCost(history.events ?? []);
    console.log(`${workflowId}: ${JSON.stringify(cost)}`);
    total = addCosts(total, cost);
  }
  console.log(
    `isolated booking, whole life: ${total.billable} billable actions ` +
      `(starts ${total.starts}, signals ${total.signals}, timers ${total.timers}, activity attempts ${total.activityAttempts}); ` +
      `plus ${total.upserts} search-attribute upserts; ${total.events} history events`,
  );
  expect(total.starts).toBe(2);
  // One upsert per state change (scheduled -> granted, with the email; granted -> revoked); no patch marker.
  expect(total.upserts).toBe(2);
  expect(total.billable + total.upserts).toBeLessThanOrEqual(10);
});
