/**
 * Issue 15, day passes: Nexudus has no pass webhook, so a pass bought at the desk surfaces only
 * through its customer's AccessControlUpdate, whose sync waits in the scheduled lane behind a 9:00
 * burst. The ingress pokes the pass watcher (workflows/pass-watch.ts) on each AccessControlUpdate,
 * and the watcher's one look, in the live lane, brings the pass to its grant without waiting for
 * that sync. Real signed webhooks through the ingress, on the dev server (the look lists the
 * customer's grants through visibility), with the Kisi and Nexudus sandboxes.
 *
 * The customer's sync is held at its customer read (where the gate's queue holds it during a
 * burst) by wrapping the Nexudus client the worker's activities share: the pass reaches Kisi while
 * it waits.
 *
 * The watcher's own behaviour (coalescing, the mark, continue-as-new, the idle end) and its replay
 * histories: test/workflows/pass-watch.test.ts.
 */
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { passWatchStatusQuery, passWatchWorkflowId, type PassWatchStatus, type RecentPassesResult } from '../../src/contract/pass-watch';
import { grantWorkflowId } from '../../src/domain/ids';
import { listRunningGrants } from '../../src/reconcile/visibility';
import { DAY_PASS, eventually, GROUP_DAY_PASS, IngressHarness } from './harness';

jest.setTimeout(90_000);

let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start();
});
afterAll(async () => {
  await h?.close();
});
const releases: Array<() => void> = [];
afterEach(() => {
  // A failed test must not leave a sync held: the worker's shutdown would wait for it.
  for (const release of releases.splice(0)) release();
  jest.restoreAllMocks();
});

/** Holds the customer sync's reads of `customerId` until `release()` (other activities' reads pass). */
function holdSyncReads(customerId: number) {
  const original = h.nexudusClient.getCoworker.bind(h.nexudusClient);
  const reads: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  releases.push(() => release());
  let held!: () => void;
  const holding = new Promise<void>((r) => (held = r));
  jest.spyOn(h.nexudusClient, 'getCoworker').mockImplementation(async (id, options) => {
    if (id !== customerId) return original(id, options);
    let activity = 'outside an activity';
    try {
      activity = Context.current().info.activityType;
    } catch {
      // the ingress, or a test
    }
    reads.push(activity);
    if (activity === 'syncCustomerRecord') {
      held();
      await released;
    }
    return original(id, options);
  });
  return { reads, holding, release };
}

const watcher = () => h.client.workflow.getHandle(passWatchWorkflowId(h.taskQueue));
const watchStatus = () => watcher().query<PassWatchStatus>(passWatchStatusQuery);

/** The answers of the watcher's completed looks, in order. */
async function looks(): Promise<RecentPassesResult[]> {
  const events = (await watcher().fetchHistory()).events ?? [];
  return events.flatMap((e) => {
    const payload = e.activityTaskCompletedEventAttributes?.result?.payloads?.[0];
    return payload?.data ? [JSON.parse(Buffer.from(payload.data).toString('utf8')) as RecentPassesResult] : [];
  });
}

/** Signals a workflow has received (each delivery to a grant is one). */
async function signalsOf(workflowId: string): Promise<number> {
  const events = (await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  return events.filter((e) => e.workflowExecutionSignaledEventAttributes).length;
}

test('a day pass bought at the desk reaches Kisi through the pass watcher while its customer\'s sync waits; a look with nothing new sends nothing', async () => {
  const email = `daypass-${randomBytes(3).toString('hex')}@example.com`;
  const customerId = h.nexudus.state.addCoworker({ FullName: 'Day Pass Buyer', Email: email }).Id as number;
  const hold = holdSyncReads(customerId);

  // Bought at the desk: Nexudus announces it only with the customer's AccessControlUpdate.
  const pass = h.nexudus.state.addCoworkerTimePass({ CoworkerId: customerId, TimePassId: DAY_PASS });
  const [coworker] = h.nexudus.state.coworkers().filter((c) => c.Id === customerId);
  const res = await h.postNexudus('AccessControlUpdate', [coworker]);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ outcome: 'sync-requested' });
  await hold.holding; // the customer's sync is waiting for its read

  const grantId = grantWorkflowId('pass', pass.Id as number);
  await eventually(() => h.assignments(email, GROUP_DAY_PASS).length === 1, 'the day pass in Kisi');
  // The membership tells the grant after its Kisi write.
  await eventually(async () => (await h.status(grantId)).state === 'granted', 'the grant granted');
  // ... while the sync still waits: only the watcher's look can have started the grant.
  expect(hold.reads.filter((r) => r === 'syncCustomerRecord')).toHaveLength(1);
  const first = await looks();
  expect(first.reduce((n, l) => n + l.delivered, 0)).toBeGreaterThanOrEqual(1);
  expect(h.ingress.passWatch.sent).toBeGreaterThanOrEqual(1);
  // Operators see the pokes in /metrics.
  const metrics = (await request(h.ingress.app).get('/metrics')).text;
  expect(metrics).toMatch(/ingress_pass_watch_pokes_total\{outcome="requested"\} [1-9]/);
  expect(metrics).toMatch(/ingress_pass_watch_pokes_total\{outcome="sent"\} [1-9]/);

  // Once visibility shows the grant holding the pass, a new look (after the poke throttle's second)
  // lists the pass again (the overlap) and sends nothing: its grant follows it.
  await eventually(async () => (await listRunningGrants(h.client, h.taskQueue, ['pass'], customerId)).get(grantId)?.state === 'granted', 'the grant in visibility');
  await eventually(async () => {
    const s = await watchStatus();
    return !s.looking && !s.pending;
  }, 'the watcher idle');
  const signalsBefore = await signalsOf(grantId);
  const looksBefore = (await watchStatus()).looks;
  await new Promise((r) => setTimeout(r, 1_100));
  expect((await h.postNexudus('AccessControlUpdate', [coworker])).status).toBe(200);
  await eventually(async () => {
    const s = await watchStatus();
    return s.looks > looksBefore && !s.looking && !s.pending;
  }, 'one more look');
  const last = (await looks()).at(-1)!;
  expect(last.listed).toBeGreaterThanOrEqual(1);
  expect(last.delivered).toBe(0);
  expect(await signalsOf(grantId)).toBe(signalsBefore);
  expect((await watchStatus()).lastError).toBeNull();

  // The sync, released, finds the pass's grant already following it.
  hold.release();
  await eventually(async () => {
    const events = (await h.client.workflow.getHandle(`customer-sync-${customerId}`).fetchHistory()).events ?? [];
    return events.some((e) => e.activityTaskCompletedEventAttributes);
  }, 'the customer sync done');
  expect(await signalsOf(grantId)).toBe(signalsBefore);
  expect(h.assignments(email, GROUP_DAY_PASS)).toHaveLength(1);
});

test('CoworkerUpdate (the person record) does not poke the watcher', async () => {
  const customerId = h.nexudus.state.addCoworker({ FullName: 'Someone', Email: `cu-${randomBytes(3).toString('hex')}@example.com` }).Id as number;
  const [coworker] = h.nexudus.state.coworkers().filter((c) => c.Id === customerId);
  await new Promise((r) => setTimeout(r, 1_100));
  const requested = h.ingress.passWatch.requested;
  expect((await h.postNexudus('CoworkerUpdate', [coworker])).status).toBe(200);
  expect(h.ingress.passWatch.requested).toBe(requested);
});

test('a pass that needs no grant (an unmapped type) costs the look no customer read', async () => {
  const email = `bundle-${randomBytes(3).toString('hex')}@example.com`;
  const customerId = h.nexudus.state.addCoworker({ FullName: 'Bundle Buyer', Email: email }).Id as number;
  const hold = holdSyncReads(customerId);
  const UNMAPPED_BUNDLE = 5_000_002; // in the Nexudus seed, not in the harness' access map
  h.nexudus.state.addCoworkerTimePass({ CoworkerId: customerId, TimePassId: UNMAPPED_BUNDLE });
  const [coworker] = h.nexudus.state.coworkers().filter((c) => c.Id === customerId);
  const looksBefore = (await watchStatus().catch(() => ({ looks: 0 }))).looks;
  await new Promise((r) => setTimeout(r, 600)); // past the poke throttle's interval
  expect((await h.postNexudus('AccessControlUpdate', [coworker])).status).toBe(200);
  await eventually(async () => {
    const s = await watchStatus();
    return s.looks > looksBefore && !s.looking && !s.pending;
  }, 'a look after the poke');
  const last = (await looks()).at(-1)!;
  expect(last.listed).toBeGreaterThanOrEqual(1);
  expect(last.delivered).toBe(0);
  // The customer's own sync read them (held); the look did not.
  expect(hold.reads.filter((r) => r === 'deliverRecentPasses')).toEqual([]);
  hold.release();
});
