/**
 * Reconcile at scale, against the sandboxes with both providers' limits ON.
 *
 *   npm run bench:reconcile              (npx tsx bench/reconcile.ts [--scale 0.1] [--out bench/results])
 *
 * The space: 5,000 bookings (one per customer, all inside the default window), 1,000 contracts,
 * 20 Kisi groups of 500 members. Every booking resource and contract desk opens two groups, and
 * each contract holder's booking opens the same two: 10,000 memberships (1,000 of them with two
 * leases), 6,000 grants.
 *
 * 1. Setup (not measured, limits OFF, fast clients): a dev server, the sandboxes seeded, a worker;
 *    the 6,000 grants delivered in batches (deliverSpec, as reconcile and the ingress do) until
 *    Kisi holds the 10,000 assignments and every grant is 'granted'. (A day-one reconcile starting
 *    all 6,000 at once works too, but overflows the worker's workflow cache and takes over an hour.)
 * 2. Measured (limits ON: Kisi 5 requests/s per key, Nexudus 1 per 100 ms and 120 per minute;
 *    production-paced clients with fresh credentials, default worker options): one reconcile of
 *    the quiet space. Prints wall time, API calls per side (by route, and any throttling answers)
 *    and the report's counts; writes bench/results/reconcile.{json,md}.
 */
import { DEFAULT_MAX_VALIDITY_MS } from '../src/config/env';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { z } from 'zod';
import { createActivities } from '../activities';
import { AccessMap, type AccessMapFile } from '../src/config/access-map';
import { KisiClient } from '../src/clients/kisi';
import { NexudusClient } from '../src/clients/nexudus';
import { createKisiSandbox, type KisiSeed } from '../dev/sandbox/kisi';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, type NexudusSeed } from '../dev/sandbox/nexudus';
import { deliverSpec } from '../src/temporal/starters';
import { SpecSource } from '../src/clients/nexudus-grant-specs';
import { grantListQuery, runningGrantsQuery } from '../src/temporal/visibility-queries';
import { withDesks } from '../src/reconcile/nexudus-phase';
import { mapPool } from '../src/domain/map-pool';
import type { ReconcileReport } from '../src/domain/reconcile-report';
import { createDevServerEnv } from '../test/helpers/temporal-env';
import { dataConverterFor, newClient } from '../src/temporal/connection';
import { payloadKeyRingFromEnv } from '../src/temporal/payload-codec';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const GROUPS = 20;
const BASE = { customer: 2_100_000, resource: 3_100_000, desk: 4_100_000, contract: 6_100_000, booking: 7_100_000, group: 9_001, business: 1_000_001, webhook: 8_100_000 };
/** Grants delivered per setup batch (each batch is waited for before the next). */
const SETUP_BATCH = 500;
const MEASURED_NEXUDUS_USER = { username: 'bench-measured@nexudus.invalid', password: 'bench-measured-password' };

const argsSchema = z.object({
  scale: z.coerce.number().positive().max(1).default(1),
  out: z.string().default(path.join(__dirname, 'results')),
});

interface Scale {
  customers: number;
  bookings: number;
  contracts: number;
  groups: number;
  memberships: number;
  grants: number;
}

function scaleOf(factor: number): Scale {
  const bookings = Math.round(5_000 * factor);
  const contracts = Math.min(bookings, Math.round(1_000 * factor));
  return { customers: bookings, bookings, contracts, groups: GROUPS, memberships: 2 * bookings, grants: bookings + contracts };
}

const groupId = (i: number) => BASE.group + (i % GROUPS);
/** Resource r and desk r both open groups r and r+1: each customer ends up in two groups. */
const groupsOf = (i: number) => [groupId(i), groupId(i + 1)];
const email = (i: number) => `member${i}@bench.example`;

function accessMap(): AccessMapFile {
  const resources: AccessMapFile['resources'] = {};
  const floorPlanItems: AccessMapFile['floorPlanItems'] = {};
  for (let r = 0; r < GROUPS; r++) {
    resources![String(BASE.resource + r)] = { groups: groupsOf(r) };
    floorPlanItems![String(BASE.desk + r)] = { groups: groupsOf(r) };
  }
  return { kisiPlaceId: 1, timeZone: 'Europe/London', timing: { lead: '15m', lag: '15m' }, passes: {}, resources, floorPlanItems, doors: {} };
}

function nexudusSeed(s: Scale, now: number): NexudusSeed {
  const firstHour = Math.ceil(now / HOUR) * HOUR + 2 * HOUR;
  return {
    businesses: [{ Id: BASE.business, Name: 'Bench Coworking', TimeZone: 'Europe/London' }],
    coworkers: Array.from({ length: s.customers }, (_, i) => ({ Id: BASE.customer + i, FullName: `Member ${i}`, Email: email(i), BusinessId: BASE.business })),
    resources: Array.from({ length: GROUPS }, (_, r) => ({ Id: BASE.resource + r, Name: `Room ${r}`, BusinessId: BASE.business })),
    floorPlanDesks: Array.from({ length: GROUPS }, (_, r) => ({ Id: BASE.desk + r, Name: `Desk ${r}`, BusinessId: BASE.business, ItemType: 2 })),
    timePasses: [],
    coworkerTimePasses: [],
    contracts: Array.from({ length: s.contracts }, (_, j) => ({
      Id: BASE.contract + j,
      CoworkerId: BASE.customer + j,
      TariffName: 'Dedicated desk',
      StartDate: new Date(now - 30 * DAY).toISOString(),
      Desks: [BASE.desk + (j % GROUPS)],
    })),
    // Spread over the next 36 hours: all inside the default window (1 day back, 2 ahead).
    bookings: Array.from({ length: s.bookings }, (_, i) => {
      const from = firstHour + (i % 36) * HOUR;
      return { Id: BASE.booking + i, ResourceId: BASE.resource + (i % GROUPS), CoworkerId: BASE.customer + i, FromTime: new Date(from).toISOString(), ToTime: new Date(from + HOUR).toISOString() };
    }),
    webhooks: [
      { Name: 'bookings', Action: 'BookingCreate', URL: 'https://access.bench.example/webhooks/nexudus/BookingCreate' },
      { Name: 'contracts', Action: 'CoworkerContractUpdate', URL: 'https://access.bench.example/webhooks/nexudus/CoworkerContractUpdate' },
    ],
  } as NexudusSeed;
}

function kisiSeed(s: Scale): KisiSeed {
  return {
    places: [{ id: 1, name: 'Bench Coworking' }],
    groups: Array.from({ length: GROUPS }, (_, g) => ({ id: BASE.group + g, name: `Bench group ${g}`, place_id: 1 })),
    // An existing space: its members already have Kisi accounts.
    users: Array.from({ length: s.customers }, (_, i) => ({ id: 100_000 + i, email: email(i), name: `Member ${i}` })),
  };
}

/** An HTTP server for a sandbox app that counts every request by route and status. */
async function countingServer(app: Express): Promise<{ url: string; counts: Map<string, number>; statuses: Map<number, number>; reset(): void; close(): Promise<void> }> {
  const counts = new Map<string, number>();
  const statuses = new Map<number, number>();
  const server = http.createServer((req, res) => {
    const route = `${req.method} ${(req.url ?? '').split('?')[0]!.replace(/\/\d+(?=\/|$)/g, '/{id}')}`;
    if (!route.includes('/__sandbox')) {
      counts.set(route, (counts.get(route) ?? 0) + 1);
      res.on('finish', () => statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1));
    }
    app(req as never, res as never);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    statuses,
    reset() {
      counts.clear();
      statuses.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The commit measured, marked when the product's code differed from it. */
function productCommit(): string | null {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'workflows', 'activities', 'bench/reconcile.ts'], { encoding: 'utf8' }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return null;
  }
}

function apiOf(server: { counts: Map<string, number>; statuses: Map<number, number> }) {
  return {
    total: [...server.counts.values()].reduce((a, b) => a + b, 0),
    byRoute: Object.fromEntries([...server.counts].sort()),
    byStatus: Object.fromEntries([...server.statuses].sort()),
  };
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function until(what: string, timeoutMs: number, check: () => Promise<string | true>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastReport = 0;
  for (;;) {
    const state = await check();
    if (state === true) return;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${seconds(timeoutMs)} (${state})`);
    if (Date.now() - lastReport > 10_000) {
      log(`waiting for ${what}: ${state}`);
      lastReport = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { scale: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const args = argsSchema.parse(values);
  const s = scaleOf(args.scale);
  // Quiet SDK logs: the bench prints its own lines (warnings and errors still show).
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const benchStarted = Date.now();
  log(`scale ${args.scale}: ${s.bookings} bookings, ${s.contracts} contracts, ${s.groups} groups of ${(s.memberships / s.groups).toFixed(0)} members (${s.grants} grants, ${s.memberships} memberships)`);

  const env = await createDevServerEnv();
  const kisi = createKisiSandbox({ seed: kisiSeed(s), rateLimit: false });
  const nexudus = createNexudusSandbox({ seed: nexudusSeed(s, Date.now()), rateLimit: false, users: [DEFAULT_SANDBOX_USER, MEASURED_NEXUDUS_USER] });
  const kisiServer = await countingServer(kisi.app);
  const nexudusServer = await countingServer(nexudus.app);
  const map = AccessMap.parse(accessMap());
  const taskQueue = 'bench-reconcile';
  // The product's data converter (TEMPORAL_PAYLOAD_KEY in this process' environment: encrypted).
  const payloadKeys = payloadKeyRingFromEnv(process.env);
  const client = newClient(env.connection, { payloadKeys });
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: new DefaultLogger('WARN') });

  const workerFor = (clients: { kisi: KisiClient; nexudus: NexudusClient }) =>
    Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      activities: createActivities({ ...clients, temporal: client, taskQueue, accessMap: () => map, sendEmails: false, maxValidityMs: DEFAULT_MAX_VALIDITY_MS }),
      dataConverter: dataConverterFor(payloadKeys),
    });

  try {
    // ---- 1. setup: build the space's grants with limits off ---------------------------------
    // In batches: thousands of grants started at once, all busy together, overflow the worker's
    // workflow cache and make the setup crawl (measured: over an hour). Delivered the way the
    // ingress and reconcile deliver (deliverSpec); the measured run below is what matters.
    const setupStarted = Date.now();
    const fastNexudus = new NexudusClient({ baseUrl: `${nexudusServer.url}/api`, ...DEFAULT_SANDBOX_USER, rateLimit: { minIntervalMs: 0, perMinute: 1_000_000 } });
    const setupWorker = await workerFor({ kisi: new KisiClient({ apiKey: 'bench-setup', baseUrl: kisiServer.url, maxRps: 1_000 }), nexudus: fastNexudus });
    const setupRun = setupWorker.run();
    const specs = new SpecSource({ nexudus: fastNexudus, accessMap: () => map });
    const desks = new Map<number, number[]>();
    for (const d of await fastNexudus.listFloorPlanDesks()) for (const c of (d.CoworkerContractIds ?? '').split(',').filter(Boolean)) desks.set(Number(c), [...(desks.get(Number(c)) ?? []), d.Id]);
    const all = [
      ...(await fastNexudus.listContracts({ activeOnly: true })).map((c) => specs.fromContract(withDesks(c, desks.get(c.Id) ?? []))),
      ...(await fastNexudus.listBookings({ from: new Date(Date.now() - DAY).toISOString(), to: new Date(Date.now() + 2 * DAY).toISOString() })).map((b) => specs.fromBooking(b)),
    ];
    if (all.length !== s.grants) throw new Error(`setup: expected ${s.grants} records, Nexudus listed ${all.length}`);
    const grantedQuery = grantListQuery(taskQueue, { state: 'granted', includeClosed: false });
    for (let i = 0; i < all.length; i += SETUP_BATCH) {
      await mapPool(all.slice(i, i + SETUP_BATCH), 16, (spec) => deliverSpec(client, spec, { taskQueue, timeZone: map.timeZone }));
      const expected = Math.min(all.length, i + SETUP_BATCH);
      await until(`${expected} grants granted`, 30 * 60_000, async () => {
        const granted = (await client.workflow.count(grantedQuery)).count;
        return granted >= expected ? true : `${granted}/${expected} granted, ${kisi.state.roleAssignments.size} Kisi assignments`;
      });
      log(`setup: ${expected}/${all.length} grants granted, ${kisi.state.roleAssignments.size} Kisi assignments (${seconds(Date.now() - setupStarted)})`);
    }
    await until('Kisi holding every membership', 10 * 60_000, async () => (kisi.state.roleAssignments.size === s.memberships ? true : `${kisi.state.roleAssignments.size}/${s.memberships}`));
    const setupMs = Date.now() - setupStarted;
    log(`setup done in ${seconds(setupMs)}`);
    setupWorker.shutdown();
    await setupRun;

    // ---- 2. measured: one reconcile of the quiet space, limits on ----------------------------
    kisi.rateLimit.enabled = true;
    nexudus.config.rateLimit = true;
    const measuredWorker = await workerFor({
      // Production pacing (KISI_MAX_RPS default 5; Nexudus 100 ms and 120/min) with credentials
      // the setup never used, so no earlier request counts against this run.
      kisi: new KisiClient({ apiKey: 'bench-measured', baseUrl: kisiServer.url }),
      nexudus: new NexudusClient({ baseUrl: `${nexudusServer.url}/api`, ...MEASURED_NEXUDUS_USER }),
    });
    const measuredRun = measuredWorker.run();
    const apiCalls = () => ({
      kisi: apiOf(kisiServer),
      nexudus: apiOf(nexudusServer),
      throttled: { kisi429: kisi.rateLimit.rejected - kisiRejectedBefore, nexudus409: nexudusServer.statuses.get(409) ?? 0 },
    });
    let kisiRejectedBefore = 0;
    /** One measured reconcile; `keepCounting` adds its API calls to those counted since the last reset. */
    const measure = async (name: string, input: Record<string, unknown>, keepCounting = false) => {
      if (!keepCounting) {
        kisiServer.reset();
        nexudusServer.reset();
        kisiRejectedBefore = kisi.rateLimit.rejected;
      }
      const started = Date.now();
      const report = (await client.workflow.execute('reconcileWorkflow', { taskQueue, workflowId: `bench-${name}-reconcile`, args: [{ trigger: 'manual', ...input }] })) as ReconcileReport;
      const wallMs = Date.now() - started;
      log(`${name}: reconcile in ${seconds(wallMs)}: ${JSON.stringify(report.counts)}`);
      if (process.env.BENCH_DEBUG) log(JSON.stringify(report.changes.filter((c) => c.kind !== "created")));
      return { wallMs, withinTarget: wallMs <= 15 * 60_000, workflowDurationMs: report.durationMs, phases: report.phases.map((p) => ({ phase: p.phase, durationMs: p.durationMs, failed: p.failed })), counts: report.counts, errors: report.errors, api: apiCalls() };
    };
    const quiet = await measure('quiet', {});

    // ---- 3. measured: the same space after damage, KISI_DRIFT=remove ---------------------------
    // Lost BookingDelete webhooks, members removed and added by hand in Kisi, grants terminated
    // (orphaned leases). Reconcile re-reads each missing booking (one Nexudus call each), signals
    // the memberships, whose repairs then write Kisi through the same process-wide pacer, and
    // reports the strangers; the next runs delete them (one Kisi call each): KISI_DRIFT=remove
    // removes only drift a previous report named, and a report lists at most 200 changes.
    const d = Math.max(2, Math.round(100 * args.scale));
    const terminatedCount = Math.floor(d / 2);
    const first = s.contracts; // customers from here on have a booking and no contract
    for (let i = first; i < first + d; i++) nexudus.state.store.bookings.delete(BASE.booking + i); // as if BookingDelete never arrived
    for (let i = first + d; i < first + 2 * d; i++) {
      const a = [...kisi.state.roleAssignments.values()].find((x) => x.user_id === 100_000 + i && x.group_id === groupId(i));
      if (a) kisi.state.roleAssignments.delete(a.id);
    }
    const strangers: number[] = [];
    const longAgo = new Date(Date.now() - 2 * HOUR).toISOString();
    for (let k = 0; k < d; k++) {
      const userId = 900_000 + k;
      kisi.state.users.set(userId, { id: userId, email: `stranger${k}@bench.example`, name: `Stranger ${k}`, metadata: {}, notes: null, access_enabled: true, send_emails: false, confirmed: true, last_accessed_at: null, created_at: longAgo, updated_at: longAgo });
      const id = kisi.state.nextId('role_assignments');
      kisi.state.roleAssignments.set(id, { id, role_id: 'group_basic', user_id: userId, group_id: groupId(k), notify: false, valid_from: null, valid_until: null, created_at: longAgo, updated_at: longAgo });
      strangers.push(id);
    }
    for (let i = first + 2 * d; i < first + 2 * d + terminatedCount; i++) await client.workflow.getHandle(`booking-${BASE.booking + i}`).terminate('bench: terminated without cleanup');
    await until('terminated grants gone from visibility', 60_000, async () => {
      const running = (await client.workflow.count(runningGrantsQuery(taskQueue, { kinds: ['booking'] }))).count;
      return running === s.bookings - terminatedCount ? true : `${running} booking grants running`;
    });
    const damage = { bookingsDeletedWithoutWebhook: d, assignmentsRemovedByHand: d, strangersAddedByHand: d, grantsTerminated: terminatedCount };
    const damagedStarted = Date.now();
    const damaged = await measure('damaged', { driftPolicy: 'remove' });
    const strangersLeft = () => strangers.filter((id) => kisi.state.roleAssignments.has(id)).length;
    // The following scheduled runs, back to back: until no stranger is left (a few at most).
    const followUps: Array<Awaited<ReturnType<typeof measure>>> = [];
    while (strangersLeft() > 0 && followUps.length < 5) followUps.push(await measure(`damaged-next-${followUps.length + 1}`, { driftPolicy: 'remove' }, true));
    const expectedAssignments = s.memberships - 2 * d - 2 * terminatedCount;
    await until('Kisi converged after the damaged runs', 30 * 60_000, async () => {
      const n = kisi.state.roleAssignments.size;
      const left = strangersLeft();
      return n === expectedAssignments && left === 0 ? true : `${n}/${expectedAssignments} assignments, ${left} strangers left`;
    });
    const convergedAfterMs = Date.now() - damagedStarted;
    const afterConvergence = apiCalls();
    log(`damaged: Kisi converged ${seconds(convergedAfterMs)} after the first reconcile started (${followUps.length} more runs to remove the strangers)`);
    measuredWorker.shutdown();
    await measuredRun;

    const result = {
      bench: 'reconcile',
      date: new Date().toISOString(),
      commit: productCommit(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? null, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
      scale: { factor: args.scale, ...s },
      limits: { kisi: '5 requests/s per API key (sandbox rate limit on)', nexudus: '1 call per 100 ms and 120 per minute per user (sandbox limits on)' },
      target: { wallMs: 15 * 60_000 },
      setup: { wallMs: setupMs, grantsDelivered: all.length, batch: SETUP_BATCH },
      measured: quiet,
      damaged: {
        damage,
        ...damaged,
        followUps: followUps.map((f) => ({ wallMs: f.wallMs, counts: f.counts, errors: f.errors })),
        kisiConvergedAfterMs: convergedAfterMs,
        apiUntilConverged: afterConvergence,
      },
      totalBenchMs: Date.now() - benchStarted,
    };

    fs.mkdirSync(args.out, { recursive: true });
    const suffix = args.scale === 1 ? '' : `-scale-${args.scale}`;
    fs.writeFileSync(path.join(args.out, `reconcile${suffix}.json`), `${JSON.stringify(result, null, 2)}\n`);
    fs.writeFileSync(path.join(args.out, `reconcile${suffix}.md`), markdown(result));
    const line = (name: string, m: typeof quiet) =>
      [
        `${name}: ${seconds(m.wallMs)} wall (target 900 s); phases ${m.phases.map((p) => `${p.phase} ${seconds(p.durationMs)}`).join(', ')}`,
        `  Kisi calls ${m.api.kisi.total} ${JSON.stringify(m.api.kisi.byRoute)}; statuses ${JSON.stringify(m.api.kisi.byStatus)}`,
        `  Nexudus calls ${m.api.nexudus.total} ${JSON.stringify(m.api.nexudus.byRoute)}; statuses ${JSON.stringify(m.api.nexudus.byStatus)}`,
        `  counts ${JSON.stringify(m.counts)}`,
      ].join('\n');
    process.stdout.write(
      [
        `reconcile of ${s.bookings} bookings, ${s.contracts} contracts, ${s.groups} groups x ${s.memberships / s.groups} members`,
        line('quiet space', quiet),
        line(`damaged space (${JSON.stringify(damage)}, KISI_DRIFT=remove)`, damaged),
        ...followUps.map((f, i) => `  next run ${i + 1}: ${seconds(f.wallMs)} wall; counts ${JSON.stringify(f.counts)}`),
        `  Kisi converged ${seconds(convergedAfterMs)} after the first of those reconciles started; calls until then Kisi ${afterConvergence.kisi.total}, Nexudus ${afterConvergence.nexudus.total}; throttling answers ${JSON.stringify(afterConvergence.throttled)}`,
        `setup (not measured) ${seconds(setupMs)}; results in ${path.relative(process.cwd(), args.out)}/reconcile${suffix}.{json,md}`,
      ].join('\n') + '\n',
    );
  } finally {
    await kisiServer.close();
    await nexudusServer.close();
    await env.teardown();
  }
}

type Api = ReturnType<typeof apiOf>;
type Measured = {
  wallMs: number;
  withinTarget: boolean;
  phases: Array<{ phase: string; durationMs: number; failed: boolean }>;
  counts: ReconcileReport['counts'];
  api: { kisi: Api; nexudus: Api; throttled: { kisi429: number; nexudus409: number } };
};

function markdown(r: {
  date: string;
  commit: string | null;
  machine: { cpus: number; cpuModel: string | null; memoryGiB: number; node: string };
  scale: Scale & { factor: number };
  setup: { wallMs: number; grantsDelivered: number; batch: number };
  measured: Measured;
  damaged: Measured & {
    damage: Record<string, number>;
    followUps: Array<{ wallMs: number; counts: ReconcileReport['counts'] }>;
    kisiConvergedAfterMs: number;
    apiUntilConverged: Measured['api'];
  };
}): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const routes = (x: Record<string, number>) => Object.entries(x).map(([k, v]) => `\`${k}\` ${v}`).join(', ');
  const section = (title: string, m: Measured) => [
    `### ${title}`,
    '',
    `**One reconcile: ${s(m.wallMs)} wall** (target 15 min: ${m.withinTarget ? 'met' : 'NOT met'}). Phases: ${m.phases.map((p) => `${p.phase} ${s(p.durationMs)}${p.failed ? ' (failed)' : ''}`).join(', ')}.`,
    '',
    `Counts: ${Object.entries(m.counts).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    '| | calls | by route | answers |',
    '| --- | --- | --- | --- |',
    `| Kisi | ${m.api.kisi.total} | ${routes(m.api.kisi.byRoute)} | ${JSON.stringify(m.api.kisi.byStatus)} |`,
    `| Nexudus | ${m.api.nexudus.total} | ${routes(m.api.nexudus.byRoute)} | ${JSON.stringify(m.api.nexudus.byStatus)} |`,
    '',
    `Throttling answers: Kisi 429 × ${m.api.throttled.kisi429}, Nexudus 409 × ${m.api.throttled.nexudus409}.`,
    '',
  ];
  const d = r.damaged;
  return [
    '# Reconcile at scale',
    '',
    `Measured ${r.date} at commit ${r.commit ?? 'unknown'} with \`npm run bench:reconcile\` (bench/reconcile.ts) on ${r.machine.cpus} CPUs (${r.machine.cpuModel ?? 'unknown'}), ${r.machine.memoryGiB} GiB, Node ${r.machine.node}; Temporal dev server (in memory), one worker process with default options, the sandboxes with their limits ON (Kisi 5 requests/s per key; Nexudus 1 per 100 ms and 120 per minute) and production-paced clients.`,
    '',
    `Space: ${r.scale.bookings} bookings, ${r.scale.contracts} contracts, ${r.scale.groups} Kisi groups of ${r.scale.memberships / r.scale.groups} members (${r.scale.grants} grants, ${r.scale.memberships} memberships, 1 in 10 holding two leases).`,
    '',
    ...section('Quiet space (the steady state every RECONCILE_EVERY)', r.measured),
    ...section(`Damaged space, KISI_DRIFT=remove (${Object.entries(d.damage).map(([k, v]) => `${k} ${v}`).join(', ')})`, d),
    `Drift is removed only once a report named it (KISI_DRIFT=remove: reported first), so the strangers went in the following runs: ${d.followUps.map((f, i) => `run ${i + 2} ${s(f.wallMs)} (drift removed ${f.counts.driftRemoved})`).join(', ') || 'none needed'}.`,
    '',
    `The memberships' own repairs (re-created and removed assignments) run alongside and after the reconciles through the same pacer: Kisi matched Nexudus again ${s(d.kisiConvergedAfterMs)} after the first reconcile started. Calls until then (all runs and repairs): Kisi ${d.apiUntilConverged.kisi.total} (${routes(d.apiUntilConverged.kisi.byRoute)}; answers ${JSON.stringify(d.apiUntilConverged.kisi.byStatus)}), Nexudus ${d.apiUntilConverged.nexudus.total}; throttling answers Kisi 429 × ${d.apiUntilConverged.throttled.kisi429}, Nexudus 409 × ${d.apiUntilConverged.throttled.nexudus409}.`,
    '',
    `Setup (not measured, limits off): ${s(r.setup.wallMs)} to deliver ${r.setup.grantsDelivered} grants in batches of ${r.setup.batch} and let their memberships write Kisi.`,
    '',
  ].join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
