/**
 * Scale benchmark: N future bookings at once, then the product working through them and sleeping.
 *
 *   npm run bench:scale [-- --n 10000 --rooms 4 --concurrency 16 --startDelaySeconds 300 --leadSeconds 60 --idleSeconds 60 --production 0|1]
 *
 * On the stack as `npm start` runs it (dev server on a db file, worker and ingress processes), or
 * with `--production 1` on the compose stack's Temporal on PostgreSQL (dev/production/) with the
 * built worker (one, as on the dev server) and ingress; the
 * Kisi sandbox with its rate limit ON (5 requests/s per key, 429 above) and the Nexudus sandbox with
 * its limits ON, the product's pacing as shipped (KISI_MAX_RPS=5, Nexudus 120 requests/min).
 * Customers already have Kisi accounts; each books each of `rooms` rooms once, so N bookings need
 * N distinct Kisi role assignments. All bookings start at the same moment S (a 9:00 rush),
 * `startDelaySeconds` after the first webhook, with a short lead.
 *
 * Measured: acceptance through the ingress (rate, answers, latency); how long until Kisi holds all
 * N assignments and until all N grants report `granted` (visibility count); how many assignments
 * were written only after their window had opened; resident memory (RSS from /proc) of the worker,
 * the dev server and the ingress during the work and while the grants sleep; and the floors that
 * Kisi's and Nexudus' rate limits put under the whole thing.
 */
import { benchMain, numericArgs } from './lib/cli';
import { closedLoop } from './lib/load';
import { machineInfo } from './lib/machine';
import { RssSampler, toMiB } from './lib/proc';
import type { BenchResult } from './lib/results';
import { Stack, STACK_SECRETS, closeOnSignals } from './lib/stack';
import { grantListQuery } from '../src/temporal/visibility-queries';
import { productionStack } from '../dev/production/stack';
import { formatSummary, summarize } from './lib/stats';
import { WebhookSender } from './lib/webhooks';
import { World, iso, wholeSecond } from './lib/world';

export interface ScaleBenchOptions {
  n: number;
  rooms: number;
  concurrency: number;
  startDelaySeconds: number;
  leadSeconds: number;
  /** How long to watch memory once every grant sleeps. */
  idleSeconds: number;
  /** Give up waiting for all grants after this long (the run then reports how far it got). */
  maxWaitMinutes: number;
  /** 1: the compose stack's Temporal on PostgreSQL and the roles from dist/; the result is named scale-production. */
  production?: number;
  outDir?: string;
  log?: (line: string) => void;
}

export const DEFAULT_SCALE_OPTIONS: ScaleBenchOptions = { n: 10_000, rooms: 4, concurrency: 16, startDelaySeconds: 300, leadSeconds: 60, idleSeconds: 60, maxWaitMinutes: 180, production: 0 };

/** Kisi's documented limit per API key, and Nexudus' per user (docs/development.md: The sandboxes). */
const KISI_RPS = 5;
const NEXUDUS_PER_MINUTE = 120;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runScaleBench(options: ScaleBenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const machine = await machineInfo();
  const customers = Math.ceil(options.n / options.rooms);
  const production = options.production === 1 ? await productionStack(log, 1) : undefined;
  const world = new World({ customers, rooms: options.rooms, lead: `${options.leadSeconds}s`, lag: '15m', kisiUsers: true });
  const stack = await Stack.start({ name: 'scale', accessMap: world.accessMap(), kisi: { seed: world.kisiSeed() }, nexudus: { seed: world.nexudusSeed() }, ...production?.options, log });
  const unregisterSignals = closeOnSignals(() => stack.close());
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET, { maxSockets: options.concurrency });
  const sampler = new RssSampler(() => stack.pids());
  const kisi = stack.kisi.state;
  try {
    sampler.start(5_000);
    const t0 = Date.now();
    const start = wholeSecond(t0 + options.startDelaySeconds * 1000);
    const opening = start - options.leadSeconds * 1000;
    log(`sending ${options.n} BookingCreate webhooks at concurrency ${options.concurrency}; all start at ${iso(start)} (access from ${iso(opening)})`);
    const statuses = new Map<number, number>();
    const accepted = await closedLoop(options.n, options.concurrency, async (i) => {
      const booking = stack.nexudus.state.addBooking({
        ResourceId: world.resourceId(i % options.rooms),
        CoworkerId: world.customerId(Math.floor(i / options.rooms)),
        FromTime: iso(start),
        ToTime: iso(start + 4 * 3_600_000),
      });
      const answer = await sender.post('BookingCreate', booking);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      if (answer.status < 200 || answer.status >= 300) throw new Error(`HTTP ${answer.status}`);
    });
    const acceptedAt = Date.now();
    const acceptance = summarize(accepted.latenciesMs);
    log(`accepted in ${(accepted.wallMs / 1000).toFixed(1)} s (${accepted.throughput.toFixed(1)}/s): ${JSON.stringify(Object.fromEntries(statuses))}`);

    // Work through: poll Kisi (in-process, cheap) often, visibility less often.
    const progress: Array<{ atSeconds: number; assignments: number; granted?: number }> = [];
    let allAssignmentsAt: number | undefined;
    let allGrantedAt: number | undefined;
    let lastCount = 0;
    const deadline = t0 + options.maxWaitMinutes * 60_000;
    for (let tick = 0; Date.now() < deadline; tick++) {
      const assignments = kisi.roleAssignments.size;
      if (assignments >= options.n && allAssignmentsAt === undefined) allAssignmentsAt = Date.now();
      const entry: (typeof progress)[number] = { atSeconds: Math.round((Date.now() - t0) / 1000), assignments };
      if (tick % 6 === 0 || allAssignmentsAt !== undefined) {
        entry.granted = (await stack.client.workflow.count(grantListQuery(stack.taskQueue, { kind: 'booking', state: 'granted', includeClosed: true }))).count;
        if (entry.granted >= options.n) allGrantedAt = Date.now();
      }
      progress.push(entry);
      if (tick % 6 === 0 || assignments !== lastCount) {
        if (tick % 6 === 0) log(`+${entry.atSeconds} s: Kisi holds ${assignments}/${options.n}${entry.granted === undefined ? '' : `, granted ${entry.granted}`}`);
        lastCount = assignments;
      }
      if (allGrantedAt !== undefined) break;
      await sleep(5_000);
    }

    // Every grant sleeps now (until its end, hours away): watch memory.
    // Samples at both ends, so even an idle period shorter than the sampling interval has some.
    const idleFrom = Date.now();
    sampler.sample();
    await sleep(options.idleSeconds * 1000);
    sampler.sample();
    const idleUntil = Date.now();
    sampler.stop();
    const idleSamples = sampler.samples.filter((s) => s.at >= idleFrom && s.at <= idleUntil);
    const median = (role: 'worker' | 'temporal' | 'ingress' | 'postgres') => {
      const values = idleSamples.map((s) => s.rss[role]).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
      const m = values.length >> 1;
      return values.length === 0 ? undefined : values.length % 2 === 1 ? values[m] : (values[m - 1]! + values[m]!) / 2;
    };
    const peak = sampler.peak(t0, idleFrom);
    const sleepingRss = { worker: median('worker'), temporal: median('temporal'), ingress: median('ingress'), postgres: median('postgres') };

    // When each assignment was written, against the moment its window opened.
    const created = kisi.history.filter((e) => e.action === 'created').map((e) => Date.parse(e.at));
    const writtenLate = created.filter((at) => at > opening).length;
    const lastWrite = created.length > 0 ? Math.max(...created) : NaN;
    const requests = { ...kisi.requestCounts };
    const kisiRequests = Object.values(requests).reduce((a, b) => a + b, 0);
    const kisiFloorS = (2 * options.n + customers) / KISI_RPS;
    const nexudusFloorS = customers / (NEXUDUS_PER_MINUTE / 60);
    const secs = (at: number | undefined) => (at === undefined ? undefined : Math.round((at - t0) / 100) / 10);
    const workerMiB = toMiB(sleepingRss.worker);
    const r = (v: number) => Math.round(v * 10) / 10;

    const server = production ? 'Temporal server' : 'Dev server';
    return {
      name: production ? 'scale-production' : 'scale',
      machine: production ? { ...machine, temporalServer: stack.temporalDescription } : machine,
      parameters: { ...options, outDir: undefined, log: undefined, customers, roles: production ? 'node dist/src/main/worker.js, node dist/src/main/ingress.js' : 'tsx src/main/worker.ts, tsx src/main/ingress.ts', kisiRateLimit: `${KISI_RPS}/s sandbox limit on, KISI_MAX_RPS=${KISI_RPS}`, nexudusRateLimit: `${NEXUDUS_PER_MINUTE}/min sandbox limit on, client pacing as shipped` },
      rows: [
        { what: `Accepted through the ingress (${options.n} webhooks, C=${options.concurrency})`, value: `${(statuses.get(200) ?? 0) + (statuses.get(202) ?? 0)}/${options.n} (200: ${statuses.get(200) ?? 0}, 202 queued: ${statuses.get(202) ?? 0}, errors: ${accepted.errors}) in ${r(accepted.wallMs / 1000)} s = ${r(accepted.throughput)}/s; ${formatSummary(acceptance)}` },
        { what: 'All assignments in Kisi, after the first webhook', value: allAssignmentsAt ? `${secs(allAssignmentsAt)} s (${r((options.n / ((lastWrite - t0) / 1000)) * 60)} assignments/min)` : `not within ${options.maxWaitMinutes} min (${kisi.roleAssignments.size}/${options.n})` },
        { what: 'All grants report granted, after the first webhook', value: allGrantedAt ? `${secs(allGrantedAt)} s` : `not within ${options.maxWaitMinutes} min` },
        { what: `Windows opened (S - lead) at`, value: `${secs(opening)} s; assignments written after their window opened: ${writtenLate}/${created.length}; last written ${r((lastWrite - opening) / 1000)} s after the opening` },
        { what: 'Theoretical floor: Kisi at 5 requests/s', value: `(2 × ${options.n} list+create + ${customers} user look-ups) / ${KISI_RPS} = ${r(kisiFloorS)} s` },
        { what: 'Theoretical floor: Nexudus customer reads at 120/min', value: `${customers} customers / 2 per s = ${r(nexudusFloorS)} s (a booking webhook carries no email: the worker reads each customer once)` },
        { what: `Kisi requests; refused 429 by the sandbox's limit`, value: `${kisiRequests}; ${stack.kisi.rateLimit.rejected}` },
        // The floor for what was actually sent (repeated user look-ups and retries included): how close the pacing ran to 5/s.
        { what: 'Kisi requests sent / 5 per s, against the time to the last write', value: Number.isFinite(lastWrite) ? `${r(kisiRequests / KISI_RPS)} s of ${r((lastWrite - t0) / 1000)} s (${r((kisiRequests / ((lastWrite - t0) / 1000) / KISI_RPS) * 100)}% of the allowance used)` : 'no writes' },
        { what: `Worker RSS while ${options.n} grants sleep (median over ${options.idleSeconds} s)${allGrantedAt === undefined ? ', NOT all granted: some still working' : ''}`, value: `${workerMiB} MiB (peak while working ${toMiB(peak.worker)} MiB)`, target: '< 1024 MiB', met: allGrantedAt !== undefined && Number.isFinite(workerMiB) && workerMiB < 1024 },
        { what: `${server} RSS while they sleep`, value: `${toMiB(sleepingRss.temporal)} MiB (peak ${toMiB(peak.temporal)} MiB)` },
        ...(production ? [{ what: 'PostgreSQL memory while they sleep (PSS summed over its processes)', value: `${toMiB(sleepingRss.postgres)} MiB (peak ${toMiB(peak.postgres)} MiB)` }] : []),
        { what: 'Ingress RSS while they sleep', value: `${toMiB(sleepingRss.ingress)} MiB (peak ${toMiB(peak.ingress)} MiB)` },
      ],
      details: { acceptance, statuses: Object.fromEntries(statuses), acceptedAtSeconds: secs(acceptedAt), progress, kisiRequestCounts: requests, rss: sampler.samples.map((s) => ({ atSeconds: secs(s.at), ...Object.fromEntries(Object.entries(s.rss).map(([k, v]) => [k, toMiB(v)])) })) },
      notes: [
        `Floors: Kisi allows ${KISI_RPS} requests/s per API key and a membership's first write lists before it creates (an assignment made by hand is adopted, not doubled), plus one user look-up per customer; the worker reads each customer once from Nexudus (${NEXUDUS_PER_MINUTE}/min) for the email a booking webhook lacks. The slower of the two bounds the burst.`,
        'Grants write Kisi windows as soon as they are known: a window written before it opens is opened by Kisi itself at the exact moment; only writes after the opening are late.',
        '"Granted" is the grant\'s own state (Kisi holds its window), counted through visibility (GrantState search attribute).',
      ],
    };
  } finally {
    sampler.stop();
    sender.close();
    await stack.close();
    unregisterSignals();
  }
}

if (require.main === module) {
  const options = numericArgs(DEFAULT_SCALE_OPTIONS);
  benchMain(() => runScaleBench(options), options.outDir);
}
