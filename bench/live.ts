/**
 * Live-changes benchmark: does the person at the door go first when the API allowances are short?
 *
 *   npm run bench:live [-- --quick] [-- --bookings 200 --customers 100 --updates 300 --live 20 --maxWaitSeconds 420]
 *
 * The product as `npm start` runs it (dev server on a db file, worker and ingress processes), the
 * Kisi sandbox at Kisi's limit (5 requests/s per key, 429 above) and the Nexudus sandbox at
 * Nexudus' (1 call per 100 ms and 120 per minute per user, 409 above; the client's gate also keeps
 * 5,000/h and writes 60/min), the product's pacing as shipped. Twice: with the priority lanes
 * (API_PRIORITIES=on, the default) and without them (API_PRIORITIES=off: one queue in arrival
 * order), each on a fresh stack, everything else equal.
 *
 * Each run, after a warm-up: a reconcile every minute (the Temporal schedule), and at once
 *   - `bookings` BookingCreate webhooks for `customers` customers, windows opening over the coming
 *     hours (65 min to 5 h ahead: the scheduled lane),
 *   - a burst of `updates` AccessControlUpdate webhooks for the same customers (each one's sync
 *     reads the customer, passes, contracts and bookings from Nexudus, and converges cards in Kisi),
 *   - and during the burst `live` live changes, one every `liveSpreadSeconds / live` s, each for a
 *     customer of its own, in turn: a booking made 2 minutes before it starts; a day pass bought
 *     now (Nexudus has no pass webhook: its AccessControlUpdate); a contract starting today
 *     (CoworkerContractCreate); a door unlock on a check-in door (the signed Kisi lock.unlock event).
 *
 * Measured, from the sandboxes' own records: webhook POSTed -> the Kisi sandbox created (or moved)
 * the role assignment of that person in that group (its assignment history); unlock POSTed -> the
 * Nexudus sandbox created the check-in (its record's CreatedOn). p50, p99 and max per run, side by
 * side, and the ratio off/on. Target: live p99 under 2 s with priorities on. And the pre-scheduled
 * bookings still exact: the valid_from Kisi received equals the window start (start - lead), written
 * before the window opened. Where the time went, per live change: the activities of the workflows
 * involved, time queued in Temporal's task queue (scheduled -> started) and time running (in the
 * request gates and on the wire).
 */
import os from 'node:os';
import path from 'node:path';
import type { temporal } from '@temporalio/proto';
import { ensureReconcileSchedule } from '../src/reconcile/schedule';
import { reconcileRunsQuery } from '../src/temporal/visibility-queries';
import { checkinWorkflowId, customerSyncWorkflowId, grantWorkflowId, membershipWorkflowId } from '../src/domain/ids';
import { buildUnlockEvent } from '../dev/sandbox/kisi';
import { deliverEvent } from '../dev/sandbox/kisi-webhook';
import type { KisiSeed } from '../dev/sandbox/kisi';
import type { NexudusSeed } from '../dev/sandbox/nexudus';
import { seededRandom } from '../dev/lib/seeded-random';
import { benchMain, numericArgs } from './lib/cli';
import { closedLoop } from './lib/load';
import { machineInfo, type MachineInfo } from './lib/machine';
import type { BenchResult, TableRow } from './lib/results';
import { Stack, STACK_SECRETS, closeOnSignals } from './lib/stack';
import { percentile } from './lib/stats';
import { WebhookSender } from './lib/webhooks';
import { BUSINESS_ID, World, iso, wholeSecond } from './lib/world';

export interface LiveBenchOptions {
  /** Pre-scheduled bookings (windows 65 min to 5 h ahead), delivered as the burst starts. */
  bookings: number;
  /** Customers the bookings and the AccessControlUpdate burst are for. */
  customers: number;
  /** AccessControlUpdate webhooks in the burst (spread over the customers). */
  updates: number;
  /** Live changes during the burst (cycling booking, day pass, contract, door unlock). */
  live: number;
  /** The first live change this long after the burst began. */
  liveStartSeconds: number;
  /** The live changes are spread over this long. */
  liveSpreadSeconds: number;
  /** Webhooks of the burst in flight at once. */
  concurrency: number;
  /** After the burst began: stop waiting for live changes and bookings after this long. */
  maxWaitSeconds: number;
  reconcileEverySeconds: number;
  /** 1: the smaller smoke run of `--quick`. */
  quick?: number;
  outDir?: string;
  log?: (line: string) => void;
}

export const DEFAULT_LIVE_OPTIONS: LiveBenchOptions = {
  bookings: 200,
  customers: 100,
  updates: 300,
  live: 20,
  liveStartSeconds: 5,
  liveSpreadSeconds: 60,
  concurrency: 16,
  maxWaitSeconds: 420,
  reconcileEverySeconds: 60,
};

export const QUICK_LIVE_OPTIONS: LiveBenchOptions = {
  ...DEFAULT_LIVE_OPTIONS,
  bookings: 40,
  customers: 20,
  updates: 60,
  live: 8,
  liveSpreadSeconds: 20,
  maxWaitSeconds: 180,
  quick: 1,
};

/** Live p99 must stay under this (issue 15). */
const TARGET_P99_MS = 2_000;
const LEAD_MS = 15 * 60_000;
const LAG_MS = 15 * 60_000;
const ROOMS = 2;
/** Nexudus and Kisi ids of what the live changes use, beside the World's rooms. */
const DAY_PASS_TYPE = 5_000_001;
const BUNDLE_PASS_TYPE = 5_000_002;
const DESK_BASE = 4_000_001;
const PASS_GROUP = 9_201;
const DESK_GROUP = 9_202;
const CHECKIN_LOCK = 1_001;

const KINDS = ['booking 2 min before start', 'day pass bought now', 'contract starting today', 'door unlock'] as const;
type Kind = (typeof KINDS)[number];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface LatencyStats {
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** Changes measured (reached plus not reached within the wait). */
  n: number;
  /** Not reached within the wait: counted at the wait's end, so the figures are lower bounds. */
  notReached: number;
}

function latencyStats(samples: LiveSample[]): LatencyStats {
  const values = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  const round = (v: number) => Math.round(v);
  return {
    p50Ms: values.length ? round(percentile(values, 50)) : null,
    p99Ms: values.length ? round(percentile(values, 99)) : null,
    maxMs: values.length ? round(values[values.length - 1]!) : null,
    n: values.length,
    notReached: samples.filter((s) => !s.reached).length,
  };
}

interface ActivityTiming {
  workflowId: string;
  activity: string;
  /** Scheduled -> started: waiting in Temporal's task queue for a worker slot (null while open). */
  queuedMs: number | null;
  /** Started -> closed: the activity's own time, its calls' wait in the request gates included (null while open). */
  runMs: number | null;
  /**
   * Still open when the run ended: Temporal writes an attempt's start only when it closes, so only
   * the time since it was scheduled is known.
   */
  openForMs?: number;
  attempt: number;
}

interface LiveSample {
  index: number;
  kind: Kind;
  customerId: number;
  sentAtOffsetS: number;
  latencyMs: number;
  reached: boolean;
  webhookStatus: number | null;
  /** The webhook's round trip through the ingress (signature, inbox, hand-over to Temporal). */
  ingressMs: number | null;
  /** The activities that ran for it between the webhook and the write it waited for. */
  activities?: ActivityTiming[];
}

interface ScheduledExactness {
  bookings: number;
  /** valid_from Kisi received equals start - lead, written before the window opened. */
  exact: number;
  /** valid_from differed from start - lead. */
  wrongStart: number;
  /** Written only after the window had opened. */
  writtenLate: number;
  /** Not in Kisi when the run ended. */
  missing: number;
  /** Largest |valid_from - (start - lead)| among those written, in s. */
  maxStartGapS: number | null;
  /** When the last of them reached Kisi, after the burst began (s). */
  lastWrittenAfterS: number | null;
}

export interface LiveRun {
  priorities: 'on' | 'off';
  live: LatencyStats;
  checkin: LatencyStats;
  byKind: Record<string, LatencyStats>;
  scheduledExact: ScheduledExactness;
  samples: LiveSample[];
  burst: { sent: number; errors: number; acceptedInS: number; statuses: Record<string, number> };
  kisi: { requests: number; rejected429: number; byRoute: Record<string, number>; maxInAnySecond: number; per10s: number[] };
  /** API calls that reached the sandbox during the run; per10s: arrivals in each 10 s from the burst's start. */
  nexudus: { requests: number; rejected409: number; byRoute: Record<string, number>; per10s: number[] };
  reconcileRuns: number;
  loadAverage: { atStart: number; max: number; mean: number };
  wallSeconds: number;
}

async function runOnce(priorities: 'on' | 'off', o: LiveBenchOptions, log: (line: string) => void): Promise<LiveRun> {
  const started = Date.now();
  const L = o.live;
  const C = o.customers;
  // Customers: 0..C-1 book and get the burst; C..C+L-1 one live change each; C+L warms up.
  const warm = C + L;
  const world = new World({ customers: C + L + 1, rooms: ROOMS, lead: `${LEAD_MS / 60_000}m`, lag: `${LAG_MS / 60_000}m`, kisiUsers: true });
  const unlockers = Array.from({ length: L }, (_, j) => j).filter((j) => KINDS[j % KINDS.length] === 'door unlock');
  const contractors = Array.from({ length: L }, (_, j) => j).filter((j) => KINDS[j % KINDS.length] === 'contract starting today');
  const deskOf = (j: number) => DESK_BASE + contractors.indexOf(j);

  const accessMap = {
    ...world.accessMap(),
    passes: { [String(DAY_PASS_TYPE)]: { groups: [PASS_GROUP], name: 'Day Pass' } },
    floorPlanItems: Object.fromEntries(contractors.map((j) => [String(deskOf(j)), { groups: [DESK_GROUP], name: `Desk ${deskOf(j)}` }])),
    doors: { [String(CHECKIN_LOCK)]: { onUnlock: 'checkin' as const, name: 'Front door' } },
  };
  const kisiSeed: KisiSeed = {
    ...world.kisiSeed(),
    groups: [...world.kisiSeed().groups!, { id: PASS_GROUP, name: 'Day pass', place_id: 1 }, { id: DESK_GROUP, name: 'Desks', place_id: 1 }],
    locks: [{ id: CHECKIN_LOCK, name: 'Front door', description: null, place_id: 1 }],
  } as KisiSeed;
  const baseSeed = world.nexudusSeed();
  const nexudusSeed = {
    ...baseSeed,
    floorPlanDesks: contractors.map((j) => ({ Id: deskOf(j), Name: `Desk ${deskOf(j)}`, BusinessId: BUSINESS_ID, ItemType: 2 })),
    timePasses: [
      { Id: DAY_PASS_TYPE, Name: 'Day Pass', BusinessId: BUSINESS_ID, MinutesIncluded: null, Uses: 1 },
      { Id: BUNDLE_PASS_TYPE, Name: '10-Day Pass Bundle', BusinessId: BUSINESS_ID, MinutesIncluded: null, Uses: 10 },
    ],
    // The door-unlock customers hold a pass (unmapped: no grant), so Nexudus accepts their check-in.
    coworkerTimePasses: unlockers.map((j, k) => ({ Id: 5_100_001 + k, CoworkerId: world.customerId(C + j), TimePassId: BUNDLE_PASS_TYPE, ExpireDate: 'today+30d 00:00' })),
  } as NexudusSeed;

  const stack = await Stack.start({
    name: `live-${priorities}`,
    accessMap,
    kisi: { seed: kisiSeed },
    nexudus: { seed: nexudusSeed },
    env: { API_PRIORITIES: priorities },
    // Off means off everywhere: the request gates in one lane and Temporal's task queues in
    // arrival order (the server ignores the starts' priority keys without its new matcher).
    ...(priorities === 'off' ? { temporalDynamicConfig: { 'matching.useNewMatcher': false } } : {}),
    log,
  });
  const unregisterSignals = closeOnSignals(() => stack.close());
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET, { maxSockets: o.concurrency + L });
  const kisi = stack.kisi.state;
  const nexudus = stack.nexudus.state;
  const userIds = new Map([...kisi.users.values()].map((u) => [u.email, u.id]));
  const userOf = (customer: number) => userIds.get(world.email(customer))!;
  const coworkers = new Map(nexudus.coworkers().map((c) => [c.Id as number, c]));
  const loads: number[] = [];
  const loadTimer = setInterval(() => loads.push(os.loadavg()[0]!), 5_000);
  const loadAtStart = os.loadavg()[0]!;

  /** The first assignment write (create or move) for the user in the group at or after `since`. */
  const kisiWrite = (userId: number, groupId: number, fromIndex: number, since: number) => {
    const h = kisi.history;
    for (let i = fromIndex; i < h.length; i++) {
      const e = h[i]!;
      if (e.user_id === userId && e.group_id === groupId && e.action !== 'deleted' && Date.parse(e.at) >= since) return e;
    }
    return undefined;
  };
  /** When the Nexudus sandbox recorded a check-in (or a refused one) of the customer at or after `since`. */
  const checkinAt = (customerId: number, since: number) => {
    const at = [...nexudus.store.checkins.all(), ...nexudus.store.failedCheckins.all()]
      .filter((c) => c.CoworkerId === customerId && c.CreatedOn >= since)
      .map((c) => c.CreatedOn);
    return at.length ? Math.min(...at) : undefined;
  };
  const until = async (check: () => boolean, deadline: number, pollMs = 20) => {
    while (!check()) {
      if (Date.now() > deadline) return false;
      await sleep(pollMs);
    }
    return true;
  };

  try {
    // ---- warm-up: bundles, tokens, connections, the check-in path ------------------------------
    const warmFrom = wholeSecond(Date.now() + 3 * 3_600_000);
    const warmBooking = nexudus.addBooking({ ResourceId: world.resourceId(0), CoworkerId: world.customerId(warm), FromTime: iso(warmFrom), ToTime: iso(warmFrom + 3_600_000) });
    const warmIndex = kisi.history.length;
    await sender.postOk('BookingCreate', warmBooking);
    if (!(await until(() => kisiWrite(userOf(warm), world.groupId(0), warmIndex, 0) !== undefined, Date.now() + 90_000, 100))) throw new Error('warm-up booking not in Kisi within 90 s');
    const warmUnlock = buildUnlockEvent(kisi, CHECKIN_LOCK, userOf(warm), true)!;
    const warmUnlockAt = Date.now();
    await deliverEvent(`${stack.ingressUrl}/webhooks/kisi`, warmUnlock, STACK_SECRETS.KISI_WEBHOOK_SECRET);
    await until(() => checkinAt(world.customerId(warm), warmUnlockAt) !== undefined, Date.now() + 60_000, 100);
    await ensureReconcileSchedule(stack.client, { taskQueue: stack.taskQueue, everyMs: o.reconcileEverySeconds * 1000, driftPolicy: 'report' });
    log(`[${priorities}] warmed up in ${((Date.now() - started) / 1000).toFixed(0)} s; reconcile every ${o.reconcileEverySeconds} s`);

    // ---- the burst --------------------------------------------------------------------------------
    const t0 = Date.now();
    const deadline = t0 + o.maxWaitSeconds * 1000;
    const random = seededRandom(15);
    const planned = Array.from({ length: o.bookings }, (_, i) => {
      // Opening (start - lead) 65 min to 5 h ahead, whole seconds as Nexudus writes them.
      const from = wholeSecond(t0 + LEAD_MS + 65 * 60_000 + Math.floor(random() * 235 * 60_000));
      return { customer: i % C, room: Math.floor(i / C) % ROOMS, from, to: from + 3_600_000, historyIndex: kisi.history.length };
    });
    const updates = Array.from({ length: o.updates }, (_, k) => k % C).sort(() => random() - 0.5);
    const jobs: Array<() => Promise<unknown>> = [
      ...planned.map((p) => () => sender.postOk('BookingCreate', nexudus.addBooking({ ResourceId: world.resourceId(p.room), CoworkerId: world.customerId(p.customer), FromTime: iso(p.from), ToTime: iso(p.to) }))),
      ...updates.map((c) => () => sender.postOk('AccessControlUpdate', coworkers.get(world.customerId(c)))),
    ];
    const statuses = new Map<string, number>();
    const burst = closedLoop(jobs.length, o.concurrency, async (i) => {
      const answer = (await jobs[i]!()) as { status: number };
      statuses.set(String(answer.status), (statuses.get(String(answer.status)) ?? 0) + 1);
    }).then((run) => ({ run, doneAt: Date.now() }));
    log(`[${priorities}] burst: ${o.bookings} BookingCreate + ${o.updates} AccessControlUpdate for ${C} customers; ${L} live changes from +${o.liveStartSeconds} s over ${o.liveSpreadSeconds} s`);

    // ---- the live changes, during the burst ------------------------------------------------------
    const samples: LiveSample[] = [];
    const workflowsOf = new Map<number, string[]>();
    const liveChange = async (j: number): Promise<void> => {
      await sleep(Math.max(0, t0 + o.liveStartSeconds * 1000 + (j * o.liveSpreadSeconds * 1000) / L - Date.now()));
      const kind = KINDS[j % KINDS.length]!;
      const customer = C + j;
      const customerId = world.customerId(customer);
      const userId = userOf(customer);
      const historyIndex = kisi.history.length;
      let groupId = 0;
      let post: () => Promise<{ status: number }>;
      let workflows: string[];
      if (kind === 'booking 2 min before start') {
        const room = j % ROOMS;
        groupId = world.groupId(room);
        const from = wholeSecond(Date.now() + 120_000);
        const booking = nexudus.addBooking({ ResourceId: world.resourceId(room), CoworkerId: customerId, FromTime: iso(from), ToTime: iso(from + 3_600_000) });
        post = () => sender.post('BookingCreate', booking);
        workflows = [grantWorkflowId('booking', booking.Id as number), membershipWorkflowId(userId, groupId)];
      } else if (kind === 'day pass bought now') {
        groupId = PASS_GROUP;
        const pass = nexudus.addCoworkerTimePass({ CoworkerId: customerId, TimePassId: DAY_PASS_TYPE });
        post = () => sender.post('AccessControlUpdate', coworkers.get(customerId));
        workflows = [customerSyncWorkflowId(customerId), grantWorkflowId('pass', pass.Id as number), membershipWorkflowId(userId, groupId)];
      } else if (kind === 'contract starting today') {
        groupId = DESK_GROUP;
        const today = new Date();
        today.setUTCHours(0, 0, 0, 0);
        const contract = nexudus.addContract({ CoworkerId: customerId, TariffName: 'Dedicated Desk Monthly', StartDate: today.toISOString(), Desks: [deskOf(j)] });
        post = () => sender.post('CoworkerContractCreate', contract);
        workflows = [grantWorkflowId('contract', contract.Id as number), membershipWorkflowId(userId, groupId)];
      } else {
        const event = buildUnlockEvent(kisi, CHECKIN_LOCK, userId, true)!;
        post = async () => {
          const delivery = await deliverEvent(`${stack.ingressUrl}/webhooks/kisi`, event, STACK_SECRETS.KISI_WEBHOOK_SECRET, 30_000);
          return { status: delivery.status ?? 0 };
        };
        workflows = [checkinWorkflowId(event.uuid), customerSyncWorkflowId(customerId)];
      }
      workflowsOf.set(j, workflows);
      const sentAt = Date.now();
      let webhookStatus: number | null = null;
      let ingressMs: number | null = null;
      const answered = post().then(
        (a) => {
          webhookStatus = a.status;
          ingressMs = Date.now() - sentAt;
        },
        () => undefined,
      );
      let reachedAt: number | undefined;
      await until(() => {
        reachedAt = kind === 'door unlock' ? checkinAt(customerId, sentAt) : (() => {
          const e = kisiWrite(userId, groupId, historyIndex, sentAt);
          return e && Date.parse(e.at);
        })();
        return reachedAt !== undefined;
      }, deadline);
      await answered;
      const reached = reachedAt !== undefined;
      const latencyMs = (reachedAt ?? Math.max(Date.now(), deadline)) - sentAt;
      samples.push({ index: j, kind, customerId, sentAtOffsetS: Math.round((sentAt - t0) / 100) / 10, latencyMs, reached, webhookStatus, ingressMs });
      log(`[${priorities}] live ${j + 1}/${L} ${kind}: ${reached ? `${latencyMs} ms` : `not reached within ${o.maxWaitSeconds} s of the burst`}`);
    };
    await Promise.all(Array.from({ length: L }, (_, j) => liveChange(j)));
    samples.sort((a, b) => a.index - b.index);

    // ---- the pre-scheduled bookings ------------------------------------------------------------
    const writeOf = (p: (typeof planned)[number]) => kisiWrite(userOf(p.customer), world.groupId(p.room), p.historyIndex, 0);
    await until(() => planned.every((p) => writeOf(p) !== undefined), deadline, 500);
    const { run: burstRun, doneAt: burstDoneAt } = await burst;
    let exact = 0;
    let wrongStart = 0;
    let writtenLate = 0;
    let missing = 0;
    let maxGap: number | null = null;
    let lastWritten: number | null = null;
    for (const p of planned) {
      const e = writeOf(p);
      if (!e) {
        missing++;
        continue;
      }
      const opening = p.from - LEAD_MS;
      const at = Date.parse(e.at);
      lastWritten = Math.max(lastWritten ?? 0, at);
      // An open start (null) for a window that opens later is wrong too: it would open the door now.
      const gap = e.valid_from === null ? null : Math.abs(Date.parse(e.valid_from) - opening);
      if (gap !== null) maxGap = Math.max(maxGap ?? 0, gap);
      if (gap !== 0) wrongStart++;
      else if (at > opening) writtenLate++;
      else exact++;
    }

    // ---- where the time went: the activities of each live change's workflows -------------------
    for (const s of samples) {
      const sentAt = t0 + s.sentAtOffsetS * 1000 - 100;
      s.activities = await activityTimings(stack, workflowsOf.get(s.index) ?? [], sentAt, sentAt + s.latencyMs + 200);
    }

    // Kisi's side: what arrived during the run, and the most in any rolling second.
    const kisiRequests = stack.kisi.requests.filter((r) => r.at >= t0);
    const byRoute: Record<string, number> = {};
    for (const r of kisiRequests) byRoute[`${r.method} ${r.route}`] = (byRoute[`${r.method} ${r.route}`] ?? 0) + 1;
    const times = kisiRequests.map((r) => r.at).sort((a, b) => a - b);
    let maxInSecond = 0;
    for (let i = 0, k = 0; i < times.length; i++) {
      while (times[i]! - times[k]! >= 1000) k++;
      maxInSecond = Math.max(maxInSecond, i - k + 1);
    }
    const nexudusState = (await (await fetch(`${stack.nexudusApiUrl.replace(/\/api$/, '')}/__sandbox/state`)).json()) as { rateLimit: { rejected: number } };
    const nexudusRequests = stack.nexudus.requests.filter((r) => r.at >= t0);
    const nexudusByRoute: Record<string, number> = {};
    for (const r of nexudusRequests) nexudusByRoute[`${r.method} ${r.route}`] = (nexudusByRoute[`${r.method} ${r.route}`] ?? 0) + 1;
    const per10s = (at: number[]) => {
      const out: number[] = [];
      for (const t of at) {
        const bucket = Math.floor((t - t0) / 10_000);
        while (out.length <= bucket) out.push(0);
        out[bucket]!++;
      }
      return out;
    };
    const reconcileRuns = (await stack.client.workflow.count(reconcileRunsQuery(stack.taskQueue)).catch(() => ({ count: -1 }))).count;

    const live = samples.filter((s) => s.kind !== 'door unlock');
    const checkin = samples.filter((s) => s.kind === 'door unlock');
    return {
      priorities,
      live: latencyStats(live),
      checkin: latencyStats(checkin),
      byKind: Object.fromEntries(KINDS.map((k) => [k, latencyStats(samples.filter((s) => s.kind === k))])),
      scheduledExact: { bookings: planned.length, exact, wrongStart, writtenLate, missing, maxStartGapS: maxGap === null ? null : maxGap / 1000, lastWrittenAfterS: lastWritten === null ? null : Math.round((lastWritten - t0) / 100) / 10 },
      samples,
      burst: { sent: jobs.length, errors: burstRun.errors, acceptedInS: Math.round((burstDoneAt - t0) / 100) / 10, statuses: Object.fromEntries(statuses) },
      kisi: { requests: kisiRequests.length, rejected429: stack.kisi.rateLimit.rejected, byRoute, maxInAnySecond: maxInSecond, per10s: per10s(times) },
      nexudus: { requests: nexudusRequests.length, rejected409: nexudusState.rateLimit.rejected, byRoute: nexudusByRoute, per10s: per10s(nexudusRequests.map((r) => r.at)) },
      reconcileRuns,
      loadAverage: { atStart: round2(loadAtStart), max: round2(Math.max(loadAtStart, ...loads)), mean: round2(loads.length ? loads.reduce((a, b) => a + b, 0) / loads.length : loadAtStart) },
      wallSeconds: Math.round((Date.now() - started) / 1000),
    };
  } finally {
    clearInterval(loadTimer);
    sender.close();
    await stack.close();
    unregisterSignals();
  }
}

const round2 = (v: number) => Math.round(v * 100) / 100;

/** Activities of `workflowIds` scheduled within [from, to]: time queued for a worker and time running. */
async function activityTimings(stack: Stack, workflowIds: string[], from: number, to: number): Promise<ActivityTiming[]> {
  const out: ActivityTiming[] = [];
  for (const workflowId of workflowIds) {
    let events: temporal.api.history.v1.IHistoryEvent[];
    try {
      events = (await stack.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    } catch {
      continue; // not started (or already gone): nothing ran there
    }
    const scheduled = new Map<string, { name: string; at: number }>();
    const startedAt = new Map<string, { at: number; attempt: number }>();
    for (const e of events) {
      const at = msOf(e.eventTime);
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), { name: s.activityType?.name ?? '?', at });
      const st = e.activityTaskStartedEventAttributes;
      if (st) startedAt.set(String(st.scheduledEventId), { at, attempt: st.attempt ?? 1 });
      const closed = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes ?? e.activityTaskCanceledEventAttributes;
      if (closed) {
        const id = String(closed.scheduledEventId);
        const sch = scheduled.get(id);
        const sta = startedAt.get(id);
        if (sch && sch.at >= from && sch.at <= to) {
          out.push({ workflowId, activity: sch.name, queuedMs: sta ? sta.at - sch.at : at - sch.at, runMs: sta ? at - sta.at : null, attempt: sta?.attempt ?? 1 });
        }
        scheduled.delete(id);
      }
    }
    // Still open at the end: queued or running since it was scheduled.
    for (const sch of scheduled.values()) {
      if (sch.at < from || sch.at > to) continue;
      out.push({ workflowId, activity: sch.name, queuedMs: null, runMs: null, openForMs: Date.now() - sch.at, attempt: 1 });
    }
  }
  return out;
}

function msOf(ts: temporal.api.history.v1.IHistoryEvent['eventTime']): number {
  if (!ts) return NaN;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : Number(ts.seconds?.toString() ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/** Per activity type over every live change of a run: how long its attempts queued and ran (median and max). */
interface ActivitySummary {
  n: number;
  queuedP50Ms: number | null;
  queuedMaxMs: number | null;
  runP50Ms: number | null;
  runMaxMs: number | null;
  /** Still open when the run ended, and the longest of them (since scheduled). */
  open: number;
  openMaxMs: number | null;
}

function activitySummary(run: LiveRun): Record<string, ActivitySummary> {
  const by = new Map<string, ActivityTiming[]>();
  for (const s of run.samples) for (const a of s.activities ?? []) by.set(a.activity, [...(by.get(a.activity) ?? []), a]);
  const p50 = (v: number[]) => (v.length ? Math.round(percentile(v, 50)) : null);
  const max = (v: number[]) => (v.length ? Math.round(v.at(-1)!) : null);
  return Object.fromEntries(
    [...by].map(([name, list]) => {
      const sorted = (f: (a: ActivityTiming) => number | null | undefined) => list.flatMap((a) => { const v = f(a); return v === null || v === undefined ? [] : [v]; }).sort((a, b) => a - b);
      const queued = sorted((a) => a.queuedMs);
      const ran = sorted((a) => a.runMs);
      const open = sorted((a) => a.openForMs);
      return [name, { n: list.length, queuedP50Ms: p50(queued), queuedMaxMs: max(queued), runP50Ms: p50(ran), runMaxMs: max(ran), open: open.length, openMaxMs: max(open) }];
    }),
  );
}

const activityText = (summary: Record<string, ActivitySummary>) =>
  Object.entries(summary)
    .map(([name, a]) => `${name} ×${a.n}: queued p50 ${a.queuedP50Ms ?? '-'} / max ${a.queuedMaxMs ?? '-'} ms, run p50 ${a.runP50Ms ?? '-'} / max ${a.runMaxMs ?? '-'} ms${a.open ? `, ${a.open} still open at the end (up to ${a.openMaxMs} ms)` : ''}`)
    .join('; ');

const fmt = (s: LatencyStats) =>
  s.n === 0 ? 'none measured' : `p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms (n=${s.n}${s.notReached ? `, ${s.notReached} not reached within the wait: lower bounds` : ''})`;
const ratio = (off: number | null, on: number | null) => (off === null || on === null || on === 0 ? null : Math.round((off / on) * 10) / 10);
const exactText = (e: ScheduledExactness) =>
  `${e.exact}/${e.bookings} exact (valid_from = start - lead, written before it); wrong start ${e.wrongStart}, written late ${e.writtenLate}, missing ${e.missing}; largest gap ${e.maxStartGapS ?? '-'} s; last written +${e.lastWrittenAfterS ?? '-'} s`;

export async function runLiveBench(options: LiveBenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const machine: MachineInfo = await machineInfo();
  const on = await runOnce('on', options, log);
  const off = await runOnce('off', options, log);
  return liveResultOf(options, machine, on, off);
}

/**
 * The result of the two runs: also how bench/results/live.{json,md} can be rendered again from the
 * runs a result recorded (`details.on`, `details.off`) when only the presentation changes.
 */
export function liveResultOf(options: LiveBenchOptions, machine: MachineInfo, on: LiveRun, off: LiveRun): BenchResult & Record<string, unknown> {
  const met = on.live.p99Ms !== null && on.live.p99Ms < TARGET_P99_MS && on.live.notReached === 0;
  const checkinMet = on.checkin.p99Ms !== null && on.checkin.p99Ms < TARGET_P99_MS && on.checkin.notReached === 0;
  const exactMet = on.scheduledExact.exact === on.scheduledExact.bookings;
  const liveRatio = { p50: ratio(off.live.p50Ms, on.live.p50Ms), p99: ratio(off.live.p99Ms, on.live.p99Ms), max: ratio(off.live.maxMs, on.live.maxMs) };
  const checkinRatio = { p50: ratio(off.checkin.p50Ms, on.checkin.p50Ms), p99: ratio(off.checkin.p99Ms, on.checkin.p99Ms), max: ratio(off.checkin.maxMs, on.checkin.maxMs) };
  const rows: TableRow[] = [
    { what: `Live changes, webhook → Kisi write, priorities on (${on.live.n})`, value: fmt(on.live), target: `p99 < ${TARGET_P99_MS} ms`, met },
    { what: 'Live changes, webhook → Kisi write, priorities off', value: fmt(off.live) },
    { what: 'Live: off / on', value: `p50 ×${liveRatio.p50 ?? '-'}, p99 ×${liveRatio.p99 ?? '-'}, max ×${liveRatio.max ?? '-'}` },
    { what: `Door unlock → Nexudus check-in, priorities on (${on.checkin.n})`, value: fmt(on.checkin), target: `p99 < ${TARGET_P99_MS} ms`, met: checkinMet },
    { what: 'Door unlock → Nexudus check-in, priorities off', value: fmt(off.checkin) },
    { what: 'Check-in: off / on', value: `p50 ×${checkinRatio.p50 ?? '-'}, p99 ×${checkinRatio.p99 ?? '-'}, max ×${checkinRatio.max ?? '-'}` },
    ...KINDS.filter((k) => k !== 'door unlock').map((k) => ({ what: `  ${k}, on; off`, value: `${fmt(on.byKind[k]!)}; off: ${fmt(off.byKind[k]!)}` })),
    { what: `Pre-scheduled bookings, priorities on (${on.scheduledExact.bookings})`, value: exactText(on.scheduledExact), target: '0 s: all exact', met: exactMet },
    { what: 'Pre-scheduled bookings, priorities off', value: exactText(off.scheduledExact) },
    { what: 'Burst accepted by the ingress, on; off', value: `${on.burst.sent - on.burst.errors}/${on.burst.sent} in ${on.burst.acceptedInS} s; off: ${off.burst.sent - off.burst.errors}/${off.burst.sent} in ${off.burst.acceptedInS} s` },
    { what: 'Kisi requests, 429s, most in any second, on; off', value: `${on.kisi.requests}, ${on.kisi.rejected429}, ${on.kisi.maxInAnySecond}; off: ${off.kisi.requests}, ${off.kisi.rejected429}, ${off.kisi.maxInAnySecond}` },
    { what: 'Nexudus requests, 409s, on; off', value: `${on.nexudus.requests}, ${on.nexudus.rejected409}; off: ${off.nexudus.requests}, ${off.nexudus.rejected409}` },
    { what: 'Nexudus calls per 10 s from the burst\'s start, first 3 min (on)', value: on.nexudus.per10s.slice(0, 18).join(' ') },
    { what: 'Nexudus calls per 10 s from the burst\'s start, first 3 min (off)', value: off.nexudus.per10s.slice(0, 18).join(' ') },
    { what: 'Load average (1 min) at start / mean / max, on; off', value: `${on.loadAverage.atStart} / ${on.loadAverage.mean} / ${on.loadAverage.max}; off: ${off.loadAverage.atStart} / ${off.loadAverage.mean} / ${off.loadAverage.max}` },
  ];
  const summaryOn = activitySummary(on);
  const summaryOff = activitySummary(off);
  const notes = [
    `Target ${met ? 'MET' : 'MISSED'}: live p99 with priorities on ${on.live.p99Ms ?? '-'} ms against ${TARGET_P99_MS} ms${on.live.notReached ? ` (${on.live.notReached} live changes not in Kisi within ${options.maxWaitSeconds} s)` : ''}; door unlock → check-in p99 ${on.checkin.p99Ms ?? '-'} ms.`,
    'Latencies come from the sandboxes\' own records (Kisi assignment history, Nexudus check-in CreatedOn), taken from the moment the bench POSTed the signed webhook; a change not reached within the wait counts with the wait\'s end (a lower bound).',
    `Where the time went (activities of each live change's workflows, priorities on; queued = scheduled → started in Temporal's task queue, run = inside the activity, its gate waits included): ${activityText(summaryOn)}.`,
    `The same with priorities off: ${activityText(summaryOff)}.`,
    'Sandbox limits as the providers publish them: Kisi 5 requests/s per key (429 above), Nexudus 1 call per 100 ms and 120 per minute per user (409 above); the client gates also keep Nexudus\' 5,000/h and writes 60/min, which the sandbox does not check. The machine is shared (other work may run beside the bench): the load average is recorded per run.',
  ];
  const liveOf = (r: LiveRun) => ({ live: r.live, checkin: r.checkin, byKind: r.byKind, scheduledExact: r.scheduledExact });
  const result: BenchResult & Record<string, unknown> = {
    name: options.quick ? 'live-quick' : 'live',
    machine,
    parameters: { ...options, outDir: undefined, log: undefined, leadMinutes: LEAD_MS / 60_000, targetP99Ms: TARGET_P99_MS, kisiRateLimit: '5/s (sandbox on), KISI_MAX_RPS=5', nexudusRateLimit: '1 per 100 ms and 120/min (sandbox on), client gate as shipped' },
    target: { liveP99Ms: TARGET_P99_MS, met, checkinMet, scheduledExactMet: exactMet },
    ...liveOf(on),
    priorityOff: liveOf(off),
    ratio: { live: liveRatio, checkin: checkinRatio },
    rows,
    details: { on: { ...on, activities: summaryOn }, off: { ...off, activities: summaryOff } },
    notes,
  };
  return result;
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  if (quick) process.argv.splice(process.argv.indexOf('--quick'), 1);
  const options = numericArgs(quick ? QUICK_LIVE_OPTIONS : DEFAULT_LIVE_OPTIONS);
  // A smoke run's figures are not the benchmark's: they go to a temporary directory unless --out says otherwise.
  benchMain(() => runLiveBench(options), options.outDir ?? (quick ? path.join(os.tmpdir(), 'bench-live-quick') : undefined));
}
