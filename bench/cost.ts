/**
 * Cost benchmark: billable Temporal actions and history events over the whole life of a grant,
 * read from the real histories of its grant workflow and its membership workflows (every run of a
 * continue-as-new chain) with bench/lib/history-cost.ts.
 *
 *   npm run bench:cost
 *
 * On the time-skipping test server (months pass in seconds) with a real worker and the sandboxes
 * (test/helpers/grant-harness.ts), deliveries made with deliverSpec exactly as the ingress makes
 * them. Lives measured:
 *   - an isolated booking: created a day ahead, one hour, nothing else happens;
 *   - a booking moved once before it starts;
 *   - a day pass: bought, used on its third day (valid to local midnight), ends;
 *   - a 3-month contract for a dedicated desk: created, its cancellation recorded a month before it
 *     takes effect, ends.
 */
import { grantWorkflowId, membershipWorkflowId, type GrantKind } from '../src/domain/ids';
import type { GrantSpec } from '../src/domain/grant-spec';
import { addCosts, historyCost, ZERO_COST, type HistoryCost } from './lib/history-cost';
import { ADA, ALAN, DAY, DESK_D1, GrantHarness, HOUR, grantResult, iso, newSourceId } from '../test/helpers/grant-harness';
import { quietSdkLogs } from './lib/sdk';
import { benchMain, numericArgs } from './lib/cli';
import { machineInfo } from './lib/machine';
import type { BenchResult } from './lib/results';

export interface CostBenchOptions {
  outDir?: string;
  log?: (line: string) => void;
}

interface Life {
  name: string;
  kind: GrantKind;
  sourceId: number;
  customerId: number;
  groups: number[];
  /** Deliveries the record's life produced (create, updates). */
  deliveries: number;
}

interface LifeCost {
  name: string;
  deliveries: number;
  total: HistoryCost;
  byWorkflow: Record<string, HistoryCost & { runs: number }>;
}

/** Every run of a workflow id, newest first, following continue-as-new back to the first. */
async function costOfWorkflow(h: GrantHarness, workflowId: string): Promise<HistoryCost & { runs: number }> {
  let total = ZERO_COST;
  let runs = 0;
  let runId: string | undefined;
  for (;;) {
    const history = await h.client.workflow.getHandle(workflowId, runId).fetchHistory();
    total = addCosts(total, historyCost(history.events ?? []));
    runs++;
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) break;
  }
  return { ...total, runs };
}

async function measure(h: GrantHarness, life: Life): Promise<LifeCost> {
  await grantResult(h, life.kind, life.sourceId);
  // Memberships are the Kisi user's: found from the grant's own status (the user it resolved).
  const kisiUserId = (await h.status(life.kind, life.sourceId)).kisiUserId!;
  const ids = [grantWorkflowId(life.kind, life.sourceId), ...life.groups.map((g) => membershipWorkflowId(kisiUserId, g))];
  // Memberships end once their last lease is released and Kisi is cleaned up: their whole life too.
  for (const id of ids.slice(1)) await h.client.workflow.getHandle(id).result();
  const byWorkflow: LifeCost['byWorkflow'] = {};
  let total = ZERO_COST;
  for (const id of ids) {
    const cost = await costOfWorkflow(h, id);
    byWorkflow[id] = cost;
    total = addCosts(total, cost);
  }
  return { name: life.name, deliveries: life.deliveries, total, byWorkflow };
}

async function deliver(h: GrantHarness, spec: GrantSpec): Promise<void> {
  const outcome = await h.deliver(spec);
  if (outcome !== 'delivered') throw new Error(`${spec.kind}-${spec.sourceId}: delivery answered ${outcome}`);
}

/** A whole hour at least a day after the harness's virtual now. */
async function dayAhead(h: GrantHarness): Promise<number> {
  return Math.ceil((await h.now()) / HOUR) * HOUR + DAY;
}

async function isolatedBooking(h: GrantHarness): Promise<Life> {
  const id = newSourceId();
  const start = await dayAhead(h);
  await deliver(h, await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR), UpdatedOn: iso(await h.now()) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(start + 2 * HOUR);
  return { name: 'Booking, isolated (1 h, created a day ahead)', kind: 'booking', sourceId: id, customerId: ADA.customerId, groups: (await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR) })).groups, deliveries: 1 };
}

async function movedBooking(h: GrantHarness): Promise<Life> {
  const id = newSourceId();
  const start = await dayAhead(h);
  const created = await h.now();
  const spec = await h.bookingSpec({ Id: id, FromTime: iso(start), ToTime: iso(start + HOUR), UpdatedOn: iso(created) });
  await deliver(h, spec);
  await h.waitForState('booking', id, 'granted');
  await h.sleep(2 * HOUR);
  const moved = start + 3 * HOUR;
  await deliver(h, await h.bookingSpec({ Id: id, FromTime: iso(moved), ToTime: iso(moved + HOUR), UpdatedOn: iso(await h.now()) }));
  await h.waitForState('booking', id, 'granted');
  await h.sleepUntil(moved + 2 * HOUR);
  return { name: 'Booking moved once before it starts', kind: 'booking', sourceId: id, customerId: ADA.customerId, groups: spec.groups, deliveries: 2 };
}

async function dayPass(h: GrantHarness): Promise<Life> {
  const id = newSourceId();
  const bought = await h.now();
  const expire = Math.ceil(bought / DAY) * DAY + 30 * DAY;
  const first = await h.passSpec({ Id: id, CoworkerId: ALAN.customerId, Used: false, RemainingUses: 1, ExpireDate: iso(expire), UpdatedOn: iso(bought) });
  await deliver(h, first);
  await h.waitForState('pass', id, 'granted');
  await h.sleep(2 * DAY + 10 * HOUR);
  const used = await h.now();
  await deliver(h, await h.passSpec({ Id: id, CoworkerId: ALAN.customerId, Used: true, RemainingUses: 0, UsedDate: iso(used), ExpireDate: iso(expire), UpdatedOn: iso(used) }));
  await h.sleepUntil(used + 2 * DAY);
  return { name: 'Day pass: bought, used on day 3, valid to local midnight', kind: 'pass', sourceId: id, customerId: ALAN.customerId, groups: first.groups, deliveries: 2 };
}

async function threeMonthContract(h: GrantHarness): Promise<Life> {
  const id = newSourceId();
  const start = Math.ceil((await h.now()) / DAY) * DAY + DAY;
  const end = start + 91 * DAY;
  const created = await h.now();
  const spec = await h.contractSpec({ Id: id, StartDate: iso(start), Desks: [DESK_D1], UpdatedOn: iso(created) } as Parameters<GrantHarness['contractSpec']>[0]);
  await deliver(h, spec);
  await h.waitForState('contract', id, 'granted');
  // The customer gives notice a month before the end: the cancellation date is recorded then.
  await h.sleepUntil(end - 30 * DAY);
  await deliver(h, await h.contractSpec({ Id: id, StartDate: iso(start), Desks: [DESK_D1], CancellationDate: iso(end), UpdatedOn: iso(await h.now()) } as Parameters<GrantHarness['contractSpec']>[0]));
  await h.waitForState('contract', id, 'granted');
  await h.sleepUntil(end + DAY);
  return { name: '3-month contract (dedicated desk), notice a month ahead', kind: 'contract', sourceId: id, customerId: ADA.customerId, groups: spec.groups, deliveries: 2 };
}

export async function runCostBench(options: CostBenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const machine = await machineInfo();
  quietSdkLogs();
  const h = await GrantHarness.start();
  const costs: LifeCost[] = [];
  try {
    for (const life of [isolatedBooking, movedBooking, dayPass, threeMonthContract]) {
      await h.reset();
      const lived = await life(h);
      const cost = await measure(h, lived);
      log(`${cost.name}: ${cost.total.billable} billable actions, ${cost.total.upserts} upserts, ${cost.total.events} events`);
      costs.push(cost);
    }
  } finally {
    await h.close();
  }
  const describe = (c: HistoryCost) =>
    `${c.billable} actions (starts ${c.starts}, signals ${c.signals}, timers ${c.timers}, activity attempts ${c.activityAttempts}) + ${c.upserts} search-attribute upserts; ${c.events} history events`;
  const isolated = costs[0]!;
  return {
    name: 'cost',
    machine,
    parameters: { server: 'time-skipping test server', worker: 'in-process, sandboxes over HTTP' },
    rows: costs.map((c, i) => ({
      what: `${c.name} (${c.deliveries} deliver${c.deliveries === 1 ? 'y' : 'ies'})`,
      value: describe(c.total),
      ...(i === 0 ? { target: '≤ 10 actions, upserts included', met: isolated.total.billable + isolated.total.upserts <= 10 } : {}),
    })),
    details: { lives: costs },
    notes: [
      'Actions = workflow starts (signal-with-start counts once) + signals + timers + activity attempts, summed over the grant workflow and its membership workflows, every run.',
      'Temporal Cloud also bills search-attribute upserts; they are listed separately. Workflow tasks, queries and history events are not billed as actions.',
      'A pass reaches its grant through the customer-sync workflow (AccessControlUpdate): that sync is per customer, not per pass, and is not included.',
    ],
  };
}

if (require.main === module) {
  const options = numericArgs({});
  benchMain(() => runCostBench(options), options.outDir);
}
