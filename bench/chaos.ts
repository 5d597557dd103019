/**
 * Fault drill: `npm run test:chaos` [-- --seed N --grants 200 --customers 50 --phase 120 --workerStop sigkill|sigterm --tmpfs --keep]
 *
 * The product as `npm start` runs it (dev server on a database file, worker and ingress as separate
 * processes) with the Kisi and Nexudus sandboxes, and a scripted, seeded scenario (bench/chaos/
 * scenario.ts): 200 bookings made in Nexudus over two minutes, about a third of them moved,
 * lengthened, shortened, moved to another room or deleted, with lead and lag of 3 s. Nexudus
 * delivers every webhook 1 to 5 times, in shuffled batches. Meanwhile:
 *   - Kisi fails 30% of calls with 5xx and 10% with 429, with 0-300 ms of added latency (2 minutes);
 *   - the worker is killed with SIGKILL twice and restarted;
 *   - the dev server is stopped and restarted on its database file;
 *   - Temporal is unreachable for 20 s (a partition: the roles reach it through a proxy that drops
 *     every connection) while webhooks keep arriving (the ingress' inbox path).
 * Every second, Kisi's state is held against the drill's own model of who should be in which
 * group (bench/chaos/model.ts, bench/chaos/checker.ts). At the end: Kisi holds nothing, every grant
 * workflow exists and ended for the right reason, no two assignments of one user in one group ever
 * existed (the sandbox's history), the inbox is empty. Prints the tally; exit status 0 only if
 * every check passed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { grantWorkflowId, membershipWorkflowId } from '../src/domain/ids';
import { maxConcurrentAssignments } from './lib/kisi-timeline';
import { machineInfo, describeMachine } from './lib/machine';
import { Stack, closeOnSignals } from './lib/stack';
import { summarize } from './lib/stats';
import { World } from './lib/world';
import { Checker, type Pair } from './chaos/checker';
import { ExpectedAccess, type DisruptionWindow } from './chaos/model';
import { buildScenario, DEFAULT_SCENARIO, type Disruption, type Scenario, type ScenarioOptions, type Step } from './chaos/scenario';

export interface ChaosOptions extends ScenarioOptions {
  /** How the worker is stopped twice: SIGKILL (the drill) or SIGTERM (a drain, for comparison). */
  workerStop: 'sigkill' | 'sigterm';
  /** Allowance for Kisi to reflect a change when nothing is broken (ms). */
  settleMs: number;
  /** Checks this close to a window edge are not judged (ms). */
  edgeMs: number;
  /** After the last window closed: how long the drill waits, at most, for everything to wind down. */
  finalWaitMs: number;
  keepLogs: boolean;
  /** The dev server's database file on disk (default, as npm start keeps it) or on tmpfs (`--tmpfs`). */
  tmpfsDb: boolean;
  log?: (line: string) => void;
}

export const DEFAULT_CHAOS: ChaosOptions = { ...DEFAULT_SCENARIO, workerStop: 'sigkill', settleMs: 20_000, edgeMs: 1_000, finalWaitMs: 90_000, keepLogs: false, tmpfsDb: false };

/**
 * What the product may reasonably need after a disruption ends before it has caught up: the longest
 * activity retry interval (60 s) after Kisi faults; a restarted worker's bundle (seconds) and the
 * 10 s workflow-task timeout of tasks the dead worker held; the forwarder's backoff (up to 30 s)
 * after a partition.
 */
const RECOVERY_MS: Record<string, number> = { 'kisi-faults': 70_000, 'worker-down': 30_000, 'temporal-down': 30_000, partition: 40_000 };

export interface ChaosReport {
  passed: boolean;
  seed: number;
  durationSeconds: number;
  grants: number;
  changes: Record<string, number>;
  faults: Record<string, unknown>;
  retries: { activities: number; retriedActivities: number; extraAttempts: number; pendingRetrying: number };
  checks: Checker['tally'];
  settleSeconds: ReturnType<typeof summarize>;
  finalMismatches: number;
  failures: string[];
  violations: Checker['violations'];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? ((line: string) => console.log(`[chaos] ${line}`));
  const scenario = buildScenario(options);
  const world = new World({ customers: options.customers, rooms: options.rooms, lead: `${options.leadMs / 1000}s`, lag: `${options.lagMs / 1000}s`, kisiUsers: true });
  const machine = await machineInfo();
  log(`machine: ${describeMachine(machine)}`);
  log(`scenario seed ${options.seed}: ${scenario.bookings.length} bookings, ${scenario.steps.length - scenario.bookings.length} changes, windows until +${Math.round(scenario.lastEnd / 1000)} s`);
  const stack = await Stack.start({
    name: 'chaos',
    accessMap: world.accessMap(),
    kisi: { seed: world.kisiSeed(), rateLimit: false },
    nexudus: {
      seed: world.nexudusSeed(),
      delivery: { duplicates: [1, 5], shuffle: true, holdMs: 250, seed: options.seed, retryDelaysMs: [1_000, 2_000, 4_000, 8_000, 15_000, 30_000, 30_000] },
    },
    proxy: true,
    tmpfsDb: options.tmpfsDb,
    // 200 grants in minutes need more than Kisi's 5 requests/s (the scale benchmark measures that limit).
    env: { KISI_MAX_RPS: '50' },
    log,
  });
  const unregisterSignals = closeOnSignals(() => stack.close({ keepDir: true }));
  let passed = false;
  try {
    for (const action of ['BookingCreate', 'BookingUpdate', 'BookingDelete']) stack.nexudus.state.addWebhook({ Name: `drill ${action}`, Action: action, URL: stack.webhookUrl(action) });
    const report = await drive(stack, scenario, world, options, log);
    passed = report.passed;
    if (options.keepLogs || !passed) {
      fs.writeFileSync(path.join(stack.dir, 'chaos-report.json'), `${JSON.stringify(report, null, 2)}\n`);
      log(`report and logs in ${stack.dir}`);
    }
    return report;
  } finally {
    await stack.close({ keepDir: options.keepLogs || !passed });
    unregisterSignals();
  }
}

async function drive(stack: Stack, scenario: Scenario, world: World, options: ChaosOptions, log: (line: string) => void): Promise<ChaosReport> {
  const kisi = stack.kisi.state;
  const model = new ExpectedAccess(options.leadMs, options.lagMs);
  const userIdOf = new Map([...kisi.users.values()].map((u) => [u.email, u.id]));
  const pairs: Pair[] = [];
  for (let c = 0; c < options.customers; c++) {
    for (let r = 0; r < options.rooms; r++) pairs.push({ customer: c, room: r, userId: userIdOf.get(world.email(c))!, groupId: world.groupId(r) });
  }
  const disruptions: DisruptionWindow[] = [];
  const open = (kind: string, from = Date.now()) => {
    const d = { kind, from, until: Infinity, recoveryMs: RECOVERY_MS[kind]! };
    disruptions.push(d);
    return d;
  };
  // Whole seconds: Nexudus' times carry none, so the model's windows and Kisi's agree to the millisecond.
  const t0 = Math.ceil(Date.now() / 1000) * 1000;
  await sleep(t0 - Date.now());
  const checker = new Checker(model, kisi, pairs, { t0, settleMs: options.settleMs, edgeMs: options.edgeMs, disruptions: () => disruptions });
  const rel = (at: number) => `+${((at - t0) / 1000).toFixed(1)} s`;
  const bookingIds = new Map<number, number>();
  const changes: Record<string, number> = {};
  const failures: string[] = [];
  let workerStops = 0;
  let temporalRestarts = 0;
  let partitionedMs = 0;

  // ---- the scenario's steps, each at its time --------------------------------------------------
  const applyStep = (step: Step) => {
    const planned = scenario.bookings[step.booking]!;
    const customerId = world.customerId(planned.customer);
    const at = Date.now();
    if (step.kind === 'create') {
      const created = stack.nexudus.state.addBooking({ ResourceId: world.resourceId(step.room), CoworkerId: customerId, FromTime: iso(t0 + step.from), ToTime: iso(t0 + step.to) });
      bookingIds.set(step.booking, created.Id as number);
    } else if (step.kind === 'delete') {
      stack.nexudus.state.deleteBooking(bookingIds.get(step.booking)!);
    } else {
      stack.nexudus.state.updateBooking(bookingIds.get(step.booking)!, { ResourceId: world.resourceId(step.room), FromTime: iso(t0 + step.from), ToTime: iso(t0 + step.to) });
    }
    changes[step.kind] = (changes[step.kind] ?? 0) + 1;
    const deleted = step.kind === 'delete';
    model.record(step.booking, planned.customer, deleted ? { appliedAt: at, deleted, room: -1, from: 0, to: 0 } : { appliedAt: at, deleted, room: step.room, from: t0 + step.from, to: t0 + step.to });
  };
  const steps = (async () => {
    for (const step of scenario.steps) {
      await sleep(t0 + step.at - Date.now());
      applyStep(step);
    }
  })();

  // ---- the faults -------------------------------------------------------------------------------
  const kisiFaults = { seed: options.seed, rules: [{ route: '*', errorRate: 0.3, throttleRate: 0.1, latencyMs: [0, 300] as [number, number] }] };
  let faultsWindow: DisruptionWindow | undefined;
  const disrupt = async (d: Disruption) => {
    await sleep(t0 + d.at - Date.now());
    switch (d.kind) {
      case 'kisi-faults-on':
        faultsWindow = open('kisi-faults');
        stack.kisi.faults.configure(kisiFaults);
        log(`${rel(Date.now())} Kisi: 30% 5xx, 10% 429, 0-300 ms latency`);
        break;
      case 'kisi-faults-off':
        stack.kisi.faults.clear();
        if (faultsWindow) faultsWindow.until = Date.now();
        log(`${rel(Date.now())} Kisi faults off`);
        break;
      case 'kill-worker': {
        const w = open('worker-down');
        if (options.workerStop === 'sigkill') await stack.killWorker();
        else await stack.stopWorker();
        workerStops++;
        log(`${rel(w.from)} worker ${options.workerStop === 'sigkill' ? 'killed (SIGKILL)' : 'stopped (SIGTERM)'}; restarting`);
        await stack.startWorker();
        w.until = Date.now();
        log(`${rel(w.until)} worker polling again`);
        break;
      }
      case 'restart-temporal': {
        const w = open('temporal-down');
        await stack.stopTemporal();
        log(`${rel(Date.now())} dev server stopped; starting it again on ${stack.dbFile}`);
        await stack.startTemporal();
        w.until = Date.now();
        temporalRestarts++;
        log(`${rel(w.until)} dev server serving again`);
        break;
      }
      case 'partition': {
        const w = open('partition');
        stack.proxy!.partition();
        log(`${rel(w.from)} Temporal unreachable for ${d.durationMs / 1000} s`);
        await sleep(d.durationMs);
        stack.proxy!.heal();
        w.until = Date.now();
        partitionedMs += w.until - w.from;
        log(`${rel(w.until)} Temporal reachable again`);
        break;
      }
    }
  };
  let faultsOver = false;
  const faults = Promise.all(scenario.disruptions.map((d) => disrupt(d).catch((error: unknown) => void failures.push(`disruption ${d.kind} at +${d.at / 1000} s failed: ${(error as Error).message}`)))).then(() => {
    faultsOver = true;
  });

  // ---- check every second until the last window closed and everything settled -----------------
  const lastEnd = t0 + scenario.lastEnd;
  let lastProgress = 0;
  for (;;) {
    const now = Date.now();
    checker.check(now);
    if (now - lastProgress > 15_000) {
      lastProgress = now;
      const u = checker.settlingSummary(now);
      log(`${rel(now)} checks ${checker.tally.pairChecks}, tolerated ${checker.tally.tolerated}, violations ${checker.tally.violations}; settling pairs ${u.pairs}; Kisi assignments ${kisi.roleAssignments.size}`);
    }
    if (now > lastEnd + 2 * options.lagMs && faultsOver) {
      // Done when Kisi holds nothing any more and the state checks have had a few seconds past every
      // deadline; or, with something stuck, once every deadline has passed (the checks then fail).
      const u = checker.settlingSummary(now);
      const drained = kisi.roleAssignments.size === 0 && checker.differing(now).length === 0;
      if ((drained && u.pairs === 0) || now > Math.max(lastEnd, u.latestDeadline) + 5_000 || now > lastEnd + options.finalWaitMs) break;
    }
    await sleep(1_000 - (Date.now() - now));
  }
  await steps;
  await faults;
  const durationSeconds = Math.round((Date.now() - t0) / 1000);
  log(`${rel(Date.now())} scenario over; final checks`);

  // ---- final state ----------------------------------------------------------------------------
  let finalMismatches = 0;
  const problem = (text: string) => {
    finalMismatches++;
    if (failures.length < 200) failures.push(text);
  };
  const leftovers = [...kisi.roleAssignments.values()];
  for (const a of leftovers) problem(`Kisi still holds assignment ${a.id} (user ${a.user_id}, group ${a.group_id}, ${a.valid_from ?? 'open'} → ${a.valid_until ?? 'open'}) after every window closed`);
  for (const d of checker.differing()) problem(`customer ${d.customer} room ${d.room}: Kisi holds ${d.holds}, expected ${d.expected}`);
  const dupes = [...maxConcurrentAssignments(kisi.history)].filter(([, n]) => n > 1);
  for (const [key, n] of dupes) problem(`the sandbox history shows ${n} assignments of user:group ${key} at the same time`);

  let activities = 0;
  let retriedActivities = 0;
  let extraAttempts = 0;
  let pendingRetrying = 0;
  const stranded: string[] = [];
  const memberships = new Set<string>();
  for (const f of model.finals()) {
    const workflowId = grantWorkflowId('booking', bookingIds.get(f.booking)!);
    const handle = stack.client.workflow.getHandle(workflowId);
    let described;
    try {
      described = await handle.describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        problem(`${workflowId}: no grant workflow (the booking's webhooks were lost)`);
        continue;
      }
      throw error;
    }
    if (described.status.name !== 'COMPLETED') {
      problem(`${workflowId}: ${described.status.name}, expected completed (${f.version.deleted ? 'deleted' : 'its window passed'})`);
      stranded.push(...pendingOf(workflowId, described.raw.pendingActivities ?? []));
    } else {
      const result = (await handle.result()) as { reason?: string };
      // A deletion that reaches the grant after its window passed finds it already ended ("expired").
      const allowed = f.version.deleted ? ['ended', 'expired'] : ['expired'];
      if (!allowed.includes(result.reason ?? '')) problem(`${workflowId}: ended "${result.reason}", expected ${allowed.join(' or ')}`);
    }
    for (const step of scenario.steps) {
      if (step.booking === f.booking && step.kind !== 'delete') memberships.add(membershipWorkflowId(world.customerId(f.customer), world.groupId(step.room)));
    }
    ({ activities, retriedActivities, extraAttempts } = await countRetries(stack, workflowId, { activities, retriedActivities, extraAttempts }));
  }
  for (const id of memberships) {
    try {
      const described = await stack.client.workflow.getHandle(id).describe();
      if (described.status.name === 'RUNNING') {
        problem(`${id}: still running`);
        stranded.push(...pendingOf(id, described.raw.pendingActivities ?? []));
      }
      pendingRetrying += (described.raw.pendingActivities ?? []).filter((p) => (p.attempt ?? 1) > 1).length;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      continue;
    }
    ({ activities, retriedActivities, extraAttempts } = await countRetries(stack, id, { activities, retriedActivities, extraAttempts }));
  }
  for (const s of stranded) failures.push(s);
  const readyz = await stack.readyz().catch(() => undefined);
  const inbox = readyz?.body.inbox;
  if (!inbox || inbox.backlog !== 0 || inbox.dead !== 0) problem(`ingress inbox not empty at the end: ${JSON.stringify(inbox)}`);

  const deliveries = stack.nexudus.webhooks.log;
  const faultStats = stack.kisi.faults.current().stats;
  const report: ChaosReport = {
    passed: false,
    seed: options.seed,
    durationSeconds,
    grants: bookingIds.size,
    changes,
    faults: {
      kisiRequests: faultStats.requests,
      kisi5xx: faultStats.errors,
      kisi429: faultStats.throttled,
      kisiDelayed: faultStats.delayed,
      workerStops: `${workerStops} (${options.workerStop})`,
      devServerRestarts: temporalRestarts,
      temporalUnreachableSeconds: Math.round(partitionedMs / 100) / 10,
      webhookDeliveries: deliveries.length,
      webhookCopiesBeyondFirst: deliveries.filter((d) => d.copy > 1).length,
      webhooksAnsweredQueued: deliveries.filter((d) => d.status === 202).length,
      webhooksFailed: deliveries.filter((d) => !d.ok).length,
    },
    retries: { activities, retriedActivities, extraAttempts, pendingRetrying },
    checks: checker.tally,
    settleSeconds: summarize(checker.settleTimes.map((ms) => ms / 1000)),
    finalMismatches,
    failures,
    violations: checker.violations,
  };
  report.passed = checker.tally.violations === 0 && finalMismatches === 0 && failures.length === 0;
  return report;
}

/** Activities of a workflow still pending, described for the report (who started them, how long ago). */
function pendingOf(workflowId: string, pending: temporal.api.workflow.v1.IPendingActivityInfo[]): string[] {
  return pending.map((p) => {
    const started = p.lastStartedTime?.seconds ? new Date(Number(p.lastStartedTime.seconds) * 1000).toISOString() : 'never';
    return `${workflowId}: activity ${p.activityType?.name} attempt ${p.attempt} ${temporal.api.enums.v1.PendingActivityState[p.state ?? 0]} since ${started} on ${p.lastWorkerIdentity || 'no worker'}${p.lastFailure?.message ? ` (last failure: ${p.lastFailure.message})` : ''}`;
  });
}

/** Adds a workflow's activities (every run) and their retries (attempt > 1) from its history. */
async function countRetries(stack: Stack, workflowId: string, into: { activities: number; retriedActivities: number; extraAttempts: number }) {
  let runId: string | undefined;
  for (;;) {
    const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
    for (const e of history.events ?? []) {
      if (e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) into.activities++;
      const attempt = e.activityTaskStartedEventAttributes?.attempt ?? 0;
      if (attempt > 1) {
        into.retriedActivities++;
        into.extraAttempts += attempt - 1;
      }
    }
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return into;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

export function printChaosReport(report: ChaosReport, log: (line: string) => void = console.log): void {
  log('');
  log(`== fault drill, seed ${report.seed}: ${report.passed ? 'PASSED' : 'FAILED'} in ${report.durationSeconds} s`);
  log(`  grants            ${report.grants} bookings; changes ${JSON.stringify(report.changes)}`);
  log(`  faults injected   ${Object.entries(report.faults).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`);
  log(`  retries           ${report.retries.retriedActivities} of ${report.retries.activities} activities retried, ${report.retries.extraAttempts} extra attempts (histories); ${report.retries.pendingRetrying} still retrying`);
  log(`  checks            ${report.checks.checkpoints} check points, ${report.checks.pairChecks} pair checks: ${report.checks.matching} matching, ${report.checks.tolerated} within tolerance, ${report.checks.violations} violations`);
  log(`  settle time       p50 ${report.settleSeconds.p50} s, p99 ${report.settleSeconds.p99} s, max ${report.settleSeconds.max} s (n=${report.settleSeconds.count})`);
  log(`  final mismatches  ${report.finalMismatches}`);
  const shown = report.violations.slice(0, 20);
  for (const v of shown) {
    log(`  violation ${v.kind} +${v.atSeconds} s customer ${v.customer} room ${v.room}: ${v.detail}`);
    for (const line of v.context) log(`      ${line}`);
  }
  if (report.violations.length > shown.length) log(`  ... ${report.violations.length - shown.length} more violations`);
  for (const f of report.failures.slice(0, 30)) log(`  failure: ${f}`);
  if (report.failures.length > 30) log(`  ... ${report.failures.length - 30} more failures`);
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      seed: { type: 'string' },
      grants: { type: 'string' },
      customers: { type: 'string' },
      phase: { type: 'string' },
      workerStop: { type: 'string' },
      keep: { type: 'boolean' },
      tmpfs: { type: 'boolean' },
    },
  });
  // A mistyped option must stop the drill, not run another one than asked.
  const num = (flag: string, value: string | undefined, fallback: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${flag}: expected a non-negative number, got ${value}`);
    return n;
  };
  if (values.workerStop !== undefined && values.workerStop !== 'sigkill' && values.workerStop !== 'sigterm') {
    throw new Error(`--workerStop: sigkill or sigterm, got ${values.workerStop}`);
  }
  const options: ChaosOptions = {
    ...DEFAULT_CHAOS,
    seed: num('seed', values.seed, DEFAULT_CHAOS.seed),
    grants: num('grants', values.grants, DEFAULT_CHAOS.grants),
    customers: num('customers', values.customers, DEFAULT_CHAOS.customers),
    bookingPhaseSeconds: num('phase', values.phase, DEFAULT_CHAOS.bookingPhaseSeconds),
    workerStop: values.workerStop ?? DEFAULT_CHAOS.workerStop,
    keepLogs: values.keep ?? false,
    tmpfsDb: values.tmpfs ?? false,
  };
  runChaos(options).then(
    (report) => {
      printChaosReport(report);
      process.exit(report.passed ? 0 : 1);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(2);
    },
  );
}
