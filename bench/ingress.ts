/**
 * Ingress benchmark: what the HTTP ingress adds on top of the signal-with-start it performs.
 *
 *   npm run bench:ingress [-- --n 2000 --concurrency 16 --rate 200 --sustainRate 50 --seconds 10 --rounds 4 --tmpfsDb 0|1 --production 0|1]
 *
 * Against the stack as `npm start` runs it (dev server on a db file, worker and ingress as child
 * processes, sandboxes for Kisi and Nexudus), or with `--production 1` against the compose stack's
 * Temporal on PostgreSQL (dev/production/) with the built worker and ingress, in the same run:
 *   - closed loop: N signed BookingCreate webhooks at concurrency C through the ingress, and N
 *     signal-with-starts of the same kind of booking made directly with a bare Temporal client
 *     (deliverSpec, the ingress' own starter, with the same options), alternating in rounds so
 *     the worker's background work (it grants every booking) weighs on both sides alike;
 *   - open loop: the same at a fixed arrival rate (default 200/s), latency from the scheduled send,
 *     then at a rate the dev server sustains on this machine (default 50/s).
 * Every booking is a new one (a new workflow), the way a day's bookings arrive.
 */
import { AccessMap } from '../src/config/access-map';
import { NexudusClient } from '../src/clients/nexudus';
import type { NexudusBooking } from '../src/domain/nexudus-entities';
import { deliverSpec } from '../src/temporal/starters';
import { SpecSource } from '../src/clients/nexudus-grant-specs';
import { closedLoop, openLoop, type LoadRun } from './lib/load';
import { machineInfo } from './lib/machine';
import { benchMain, numericArgs } from './lib/cli';
import type { BenchResult } from './lib/results';
import { Stack, STACK_SECRETS, closeOnSignals } from './lib/stack';
import { productionStack } from '../dev/production/stack';
import { formatSummary, summarize, type Summary } from './lib/stats';
import { WebhookSender } from './lib/webhooks';
import { World, iso, wholeSecond } from './lib/world';

export interface IngressBenchOptions {
  /** Requests per side in the closed loop. */
  n: number;
  concurrency: number;
  /** Open-loop arrival rate (requests per second) and how long each side is offered it. */
  rate: number;
  /** A second open-loop rate, one the dev server keeps up with on this machine. */
  sustainRate: number;
  seconds: number;
  /** Closed-loop rounds alternating ingress / bare client. */
  rounds: number;
  /**
   * 1: the dev server's database file on tmpfs (/dev/shm) instead of disk. On disk (as npm start)
   * every transaction waits for a flush, which bounds both sides alike; this shows the ingress
   * without that bound. The result is then named ingress-tmpfs.
   */
  tmpfsDb: number;
  /**
   * 1: the compose stack's Temporal server on PostgreSQL (dev/production/) and the roles from
   * dist/, one worker as on the dev server. The result is then named ingress-production.
   */
  production?: number;
  outDir?: string;
  log?: (line: string) => void;
}

export const DEFAULT_INGRESS_OPTIONS: IngressBenchOptions = { n: 2000, concurrency: 16, rate: 200, sustainRate: 50, seconds: 10, rounds: 4, tmpfsDb: 0, production: 0 };

const HOUR = 3_600_000;

interface Side {
  latenciesMs: number[];
  wallMs: number;
  errors: number;
  /** The first failures' messages (HTTP status and body, or the network error). */
  errorSamples: string[];
  /** Answers other than 200 "delivered" (202 queued: the hot path gave the event to the inbox instead). */
  notDelivered: number;
}

export async function runIngressBench(options: IngressBenchOptions): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const machine = await machineInfo();
  const production = options.production === 1 ? await productionStack(log, 1) : undefined;
  const world = new World({ customers: 200, rooms: 2, lead: '15m', lag: '15m', kisiUsers: true });
  const stack = await Stack.start({ name: 'ingress', accessMap: world.accessMap(), kisi: { seed: world.kisiSeed() }, nexudus: { seed: world.nexudusSeed() }, tmpfsDb: options.tmpfsDb === 1, ...production?.options, log });
  const unregisterSignals = closeOnSignals(() => stack.close());
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  const map = AccessMap.parse(world.accessMap());
  const specs = new SpecSource({
    nexudus: new NexudusClient({ baseUrl: stack.nexudusApiUrl, username: STACK_SECRETS.NEXUDUS_USERNAME, password: STACK_SECRETS.NEXUDUS_PASSWORD }),
    accessMap: () => map,
  });
  try {
    // Bookings a day or more ahead: every delivery starts a grant that writes Kisi ahead of time.
    const firstStart = wholeSecond(Date.now() + 24 * HOUR);
    let seq = 0;
    const newBooking = () => {
      const i = seq++;
      const from = firstStart + (i % 500) * 15 * 60_000;
      return stack.nexudus.state.addBooking({ ResourceId: world.resourceId(i % 2), CoworkerId: world.customerId(i % 200), FromTime: iso(from), ToTime: iso(from + HOUR) });
    };
    const viaIngress = (side: Side) => async () => {
      const answer = await sender.post('BookingCreate', newBooking());
      if (answer.status !== 200) {
        side.notDelivered++;
        if (answer.status < 200 || answer.status >= 300) throw new Error(`HTTP ${answer.status}: ${answer.body.slice(0, 200)}`);
      }
    };
    const viaClient = (side: Side) => async () => {
      const spec = specs.fromBooking(newBooking() as unknown as NexudusBooking);
      const outcome = await deliverSpec(stack.client, spec, { taskQueue: stack.taskQueue, timeZone: map.timeZone });
      if (outcome !== 'delivered') side.notDelivered++;
    };
    const empty = (): Side => ({ latenciesMs: [], wallMs: 0, errors: 0, errorSamples: [], notDelivered: 0 });
    // Events the ingress queued (Temporal slower than its hot-path deadline) are forwarded later:
    // wait for the inbox to drain so that work does not weigh on the next measured phase.
    let drainWaitMs = 0;
    const drainInbox = async () => {
      const started = Date.now();
      while (Date.now() - started < 300_000) {
        const ready = await stack.readyz().catch(() => undefined);
        if (ready?.body.inbox?.backlog === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      drainWaitMs += Date.now() - started;
    };
    const add = (side: Side, run: LoadRun) => {
      side.latenciesMs.push(...run.latenciesMs);
      side.wallMs += run.wallMs;
      side.errors += run.errors;
      side.errorSamples.push(...run.errorSamples.slice(0, Math.max(0, 5 - side.errorSamples.length)));
    };

    // Warm-up (not measured): JIT, connections, the worker's first tasks.
    log('warming up');
    const warm = empty();
    await closedLoop(50, 4, viaIngress(warm));
    await closedLoop(50, 4, viaClient(warm));

    log(`closed loop: ${options.n} per side at concurrency ${options.concurrency}, ${options.rounds} alternating rounds`);
    const closed = { ingress: empty(), bare: empty() };
    const perRound = Math.ceil(options.n / options.rounds);
    for (let r = 0; r < options.rounds; r++) {
      const count = Math.min(perRound, options.n - r * perRound);
      // Alternate which side goes first, so neither always follows the other's backlog.
      const order = r % 2 === 0 ? (['ingress', 'bare'] as const) : (['bare', 'ingress'] as const);
      for (const side of order) {
        const task = side === 'ingress' ? viaIngress(closed.ingress) : viaClient(closed.bare);
        add(closed[side], await closedLoop(count, options.concurrency, task));
        await drainInbox();
      }
    }

    // Open loop at the target rate, then at a rate the dev server sustains: what the ingress adds
    // when Temporal keeps up, next to what happens when it does not.
    let maxSendLagMs = 0;
    const openAt = async (perSecond: number) => {
      log(`open loop: ${perSecond}/s for ${options.seconds} s per side`);
      const sides = { ingress: empty(), bare: empty() };
      for (const side of ['ingress', 'bare'] as const) {
        const task = side === 'ingress' ? viaIngress(sides.ingress) : viaClient(sides.bare);
        const run = await openLoop(perSecond, Math.round(perSecond * options.seconds), task);
        add(sides[side], run);
        maxSendLagMs = Math.max(maxSendLagMs, run.maxSendLagMs);
        await drainInbox();
      }
      return sides;
    };
    const open = await openAt(options.rate);
    const sustained = await openAt(options.sustainRate);

    const readyz = await stack.readyz();
    const s = {
      closedIngress: summarize(closed.ingress.latenciesMs),
      closedBare: summarize(closed.bare.latenciesMs),
      openIngress: summarize(open.ingress.latenciesMs),
      openBare: summarize(open.bare.latenciesMs),
      sustainedIngress: summarize(sustained.ingress.latenciesMs),
      sustainedBare: summarize(sustained.bare.latenciesMs),
    };
    const rate = (side: Side) => (side.latenciesMs.length / side.wallMs) * 1000;
    const timeRatio = closed.ingress.wallMs / closed.bare.wallMs;
    const ratio = (a: Summary, b: Summary, k: 'p50' | 'p99') => Math.round((a[k] / b[k]) * 100) / 100;
    const r2 = (v: number) => Math.round(v * 100) / 100;
    // A 202 is the inbox's answer, not a start: said beside every figure it is part of.
    const queued = (side: Side) => (side.notDelivered > 0 ? `; ${side.notDelivered} answered 202 queued` : '');
    const comparable = (side: Side) => (side.notDelivered > 0 ? ` (not like for like: ${side.notDelivered} ingress answers were 202 queued, not starts)` : '');
    const all = [closed.ingress, closed.bare, open.ingress, open.bare, sustained.ingress, sustained.bare];
    const errors = all.reduce((n, side) => n + side.errors, 0);
    const notDelivered = all.reduce((n, side) => n + side.notDelivered, 0);
    const sides = { 'closed ingress': closed.ingress, 'closed bare': closed.bare, 'open ingress': open.ingress, 'open bare': open.bare, 'sustained ingress': sustained.ingress, 'sustained bare': sustained.bare };
    const errorsBySide = () =>
      Object.entries(sides)
        .filter(([, side]) => side.errors > 0)
        .map(([name, side]) => `${name} ${side.errors}`)
        .join(', ');

    const result: BenchResult = {
      name: production ? 'ingress-production' : options.tmpfsDb === 1 ? 'ingress-tmpfs' : 'ingress',
      machine: production ? { ...machine, temporalServer: stack.temporalDescription } : machine,
      parameters: {
        ...options,
        outDir: undefined,
        log: undefined,
        temporalDb: production ? 'PostgreSQL (throw-away data directory on disk)' : options.tmpfsDb === 1 ? 'SQLite file on tmpfs (/dev/shm)' : 'SQLite file on disk (as npm start)',
        roles: production ? 'node dist/src/main/worker.js, node dist/src/main/ingress.js' : 'tsx src/main/worker.ts, tsx src/main/ingress.ts',
      },
      rows: [
        { what: `Closed loop, C=${options.concurrency}: ingress`, value: `${r2(rate(closed.ingress))} req/s; ${formatSummary(s.closedIngress)}${queued(closed.ingress)}` },
        { what: `Closed loop, C=${options.concurrency}: bare client`, value: `${r2(rate(closed.bare))} signal-with-start/s; ${formatSummary(s.closedBare)}` },
        { what: 'Closed loop: ingress / bare, time for N', value: `${r2(timeRatio)} (p50 ${ratio(s.closedIngress, s.closedBare, 'p50')}, p99 ${ratio(s.closedIngress, s.closedBare, 'p99')})${comparable(closed.ingress)}`, target: '≤ 1.3', met: timeRatio <= 1.3 && closed.ingress.notDelivered === 0 },
        { what: `Open loop ${options.rate}/s: ingress`, value: `${r2(rate(open.ingress))} req/s achieved; ${formatSummary(s.openIngress)}${queued(open.ingress)}`, target: 'p99 < 100 ms, all started', met: s.openIngress.p99 < 100 && open.ingress.notDelivered === 0 },
        { what: `Open loop ${options.rate}/s: bare client`, value: `${formatSummary(s.openBare)}` },
        { what: `Open loop ${options.rate}/s: ingress / bare`, value: `p50 ${ratio(s.openIngress, s.openBare, 'p50')}, p99 ${ratio(s.openIngress, s.openBare, 'p99')}${comparable(open.ingress)}` },
        { what: `Open loop ${options.sustainRate}/s: ingress`, value: `${r2(rate(sustained.ingress))} req/s achieved; ${formatSummary(s.sustainedIngress)}${queued(sustained.ingress)}` },
        { what: `Open loop ${options.sustainRate}/s: bare client`, value: `${formatSummary(s.sustainedBare)}` },
        { what: `Open loop ${options.sustainRate}/s: ingress / bare`, value: `p50 ${ratio(s.sustainedIngress, s.sustainedBare, 'p50')}, p99 ${ratio(s.sustainedIngress, s.sustainedBare, 'p99')}${comparable(sustained.ingress)}` },
        { what: 'Errors; answers other than delivered', value: `${errors}${errors > 0 ? ` (${errorsBySide()})` : ''}; ${notDelivered}` },
      ],
      details: { webhooksResentAfterKeepAliveReset: sender.resentAfterReset, summaries: s, wallMs: { closed: { ingress: closed.ingress.wallMs, bare: closed.bare.wallMs }, open: { ingress: open.ingress.wallMs, bare: open.bare.wallMs }, sustained: { ingress: sustained.ingress.wallMs, bare: sustained.bare.wallMs } }, maxSendLagMs, inboxDrainWaitMs: drainWaitMs, readyz: readyz.body, errorSamples: Object.fromEntries(Object.entries(sides).filter(([, side]) => side.errors > 0).map(([name, side]) => [name, side.errorSamples])) },
      notes: [
        'Each request is a new booking (a new grant workflow); the worker grants them meanwhile (Kisi and Nexudus sandboxes with their rate limits on), on both sides alike.',
        'Latency is measured in the benchmark process: HTTP round trip for the ingress (keep-alive), deliverSpec round trip for the bare client; open-loop latency counts from the scheduled send time.',
        'Ingress answers other than 200 (202 queued: Temporal slower than the hot-path deadline) are counted above, not retried.',
      ],
    };
    return result;
  } finally {
    sender.close();
    await stack.close();
    unregisterSignals();
  }
}

if (require.main === module) {
  const options = numericArgs(DEFAULT_INGRESS_OPTIONS);
  benchMain(() => runIngressBench(options), options.outDir);
}
