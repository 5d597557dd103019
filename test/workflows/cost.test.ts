/**
 * What one isolated booking costs on Temporal over its whole life, counted from the real
 * histories of its grant and membership workflows. Target: 10 or fewer billable actions.
 */
import { grantWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { addCosts, historyCost, ZERO_COST } from '../../src/temporal/history-cost';
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

test('an isolated booking costs at most 10 billable actions', async () => {
  const start = await hourAhead(h, 24);
  const id = newSourceId();
  await h.deliver(await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(start + 2 * HOUR);
  await grantResult(h, 'booking', id);
  const membership = h.client.workflow.getHandle(membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES));
  await membership.result();

  let total = ZERO_COST;
  for (const workflowId of [grantWorkflowId('booking', id), membershipWorkflowId(ADA.customerId, GROUP_ROOM_THAMES)]) {
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
  expect(total.billable).toBeLessThanOrEqual(10);
});
