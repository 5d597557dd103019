/**
 * `npm run test:production [-- --keep] [--out DIR]`: the compose stack, run and proven without Docker.
 *
 * 1. Provisions (cached): temporal-server and temporal-sql-tool at the compose image's version,
 *    built from the Go module proxy (provision-temporal.sh); PostgreSQL from Debian (apt-get when
 *    absent); the project's temporal CLI (npm run provision's copy).
 * 2. `npm run build`, then the stack as docker-compose.yml runs it (temporal-server.ts): PostgreSQL
 *    on a free port in a throw-away directory, deploy/temporal/setup-postgres.sh, temporal-server
 *    with the `temporal` service's environment (its dynamic config file, SQL visibility),
 *    deploy/temporal/setup-namespace.sh; then `node dist/src/main/worker.js` twice (the stack's two
 *    replicas, one running the activities under the activity lease) and `node dist/src/main/ingress.js` once, against the Kisi and Nexudus
 *    sandboxes (bench/lib/stack.ts, as the benchmarks assemble them).
 * 3. Drives it and asserts, through the product's public surfaces only (signed webhooks into the
 *    ingress; the Kisi sandbox's role assignments per user email and group; grant workflows
 *    `booking-<Id>` and their `GrantState`; the grants, backfill and replay CLIs):
 *    - a booking's life: webhook in, Kisi holds its exact window, gone once the window is over;
 *    - the Temporal server restarted while grants sleep: they wake on time and end their access;
 *    - a worker SIGKILLed mid-activity (a Kisi call in flight): the other worker finishes the work,
 *      with one assignment, not two;
 *    - a reconcile run (npm run backfill): a booking whose webhook was lost gets its grant, an
 *      assignment deleted by hand in Kisi comes back;
 *    - npm run grants (list, show, cancel) and npm run replay against this server;
 *    - throughout: never two assignments of one user in one group, the ingress inbox empty.
 * 4. Stops every process and removes every directory it made, on success, failure and Ctrl-C
 *    (logs are kept on failure, or with --keep). Exit status 0 only if every check passed.
 *
 * docs/development.md "The stack without Docker" describes the run and its measured cost.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { WorkflowNotFoundError } from '@temporalio/client';
import { AccessStartsAt, GrantState } from '../../src/domain/search-attributes';
import { maxConcurrentAssignments } from '../../bench/lib/kisi-timeline';
import { maxInRollingSecond } from '../../bench/lib/stats';
import { machineInfo } from '../../bench/lib/machine';
import { printResult, writeResult, type BenchResult, type TableRow } from '../../bench/lib/results';
import { Stack, STACK_SECRETS, closeOnSignals } from '../../bench/lib/stack';
import { WebhookSender } from '../../bench/lib/webhooks';
import { World, iso, wholeSecond } from '../../bench/lib/world';
import { PROJECT_ROOT } from './compose';
import { productionStack, type ProductionStack } from './stack';

const LEAD_MS = 5_000;
const LAG_MS = 5_000;
/** How late after its window a grant may end its access and still count as on time (a loaded 2-core machine). */
const WAKE_TOLERANCE_MS = 15_000;
/** Workers as the compose stack runs them: two replicas sharing Kisi's 5 requests/s. */
const WORKERS = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, pollMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(pollMs);
  }
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

class Driver {
  readonly checks: TableRow[] = [];
  readonly details: Record<string, unknown> = {};
  private readonly sender: WebhookSender;

  constructor(
    readonly stack: Stack,
    readonly world: World,
    private readonly log: (line: string) => void,
  ) {
    this.sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  }

  close(): void {
    this.sender.close();
  }

  // ---- the surfaces asserted through ---------------------------------------------------------

  /** A booking in the Nexudus sandbox, its webhook delivered to the ingress unless `webhook` is false. */
  async book(customer: number, room: number, from: number, to: number, webhook = true): Promise<number> {
    const booking = this.stack.nexudus.state.addBooking({ ResourceId: this.world.resourceId(room), CoworkerId: this.world.customerId(customer), FromTime: iso(from), ToTime: iso(to) });
    if (webhook) {
      const answer = await this.sender.post('BookingCreate', booking);
      if (answer.status !== 200) throw new Error(`BookingCreate for booking ${String(booking.Id)}: HTTP ${answer.status} ${answer.body.slice(0, 200)} (expected 200 delivered)`);
    }
    return booking.Id as number;
  }

  /** The Kisi sandbox's role assignments of the customer (by email) in the room's group. */
  assignments(customer: number, room: number) {
    const kisi = this.stack.kisi.state;
    const user = [...kisi.users.values()].find((u) => u.email === this.world.email(customer));
    if (!user) throw new Error(`no Kisi user ${this.world.email(customer)}`);
    const group = this.world.groupId(room);
    return [...kisi.roleAssignments.values()].filter((a) => a.user_id === user.id && a.group_id === group);
  }

  /** When Kisi's history says the customer's assignment in the room's group was deleted (last deletion). */
  deletedAt(customer: number, room: number): number | undefined {
    const kisi = this.stack.kisi.state;
    const user = [...kisi.users.values()].find((u) => u.email === this.world.email(customer))!;
    const entry = kisi.history.filter((e) => e.user_id === user.id && e.group_id === this.world.groupId(room) && e.action === 'deleted').at(-1);
    return entry ? Date.parse(entry.at) : undefined;
  }

  /** GrantState of `booking-<id>` and its execution status. */
  async grant(bookingId: number): Promise<{ state: string | undefined; status: string }> {
    const described = await this.stack.client.workflow.getHandle(`booking-${bookingId}`).describe();
    return { state: described.typedSearchAttributes.get(GrantState), status: described.status.name };
  }

  async grantIn(bookingId: number, state: string, timeoutMs: number, status?: string): Promise<void> {
    let last: unknown;
    await until(
      `booking-${bookingId} GrantState ${state}${status ? ` and ${status}` : ''} (last seen ${JSON.stringify(last)})`,
      async () => {
        try {
          last = await this.grant(bookingId);
        } catch (error) {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
          last = 'no such workflow';
          return false;
        }
        const g = last as { state: string | undefined; status: string };
        return g.state === state && (status === undefined || g.status === status);
      },
      timeoutMs,
      500,
    );
  }

  /** `npm run -s <script> -- <args>` against this stack's Temporal (and Kisi sandbox, for grants show). */
  npm(script: string, args: string[], timeoutMs = 120_000): Promise<CliRun> {
    const env = { ...this.stack.roleEnv(), KISI_BASE_URL: this.stack.kisiUrl, KISI_API_KEY: STACK_SECRETS.KISI_API_KEY };
    return new Promise((resolve) => {
      execFile('npm', ['run', '-s', script, '--', ...args], { cwd: PROJECT_ROOT, env, timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  async npmJson<T>(script: string, args: string[], timeoutMs?: number): Promise<T> {
    const result = await this.npm(script, [...args, '--json'], timeoutMs);
    if (result.code !== 0) throw new Error(`npm run ${script} -- ${args.join(' ')} --json: exit ${result.code}\n${result.stderr.slice(-2000)}${result.stdout.slice(-2000)}`);
    try {
      return JSON.parse(result.stdout) as T;
    } catch {
      throw new Error(`npm run ${script} -- ${args.join(' ')} --json: not JSON: ${result.stdout.slice(0, 500)}`);
    }
  }

  /** Runs one check: a row with what it proved and how long it took, or why it failed. */
  async check(what: string, target: string, body: () => Promise<string>): Promise<boolean> {
    const started = Date.now();
    this.log(`-- ${what}`);
    try {
      const value = await body();
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      this.checks.push({ what, value: `${value} (${seconds} s)`, target, met: true });
      this.log(`   ok: ${value} (${seconds} s)`);
      return true;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.checks.push({ what, value: `FAILED: ${message}`, target, met: false });
      this.log(`   FAILED: ${message}`);
      return false;
    }
  }

  // ---- the checks ----------------------------------------------------------------------------

  /** Customer 0, room 0: webhook in, Kisi holds the exact window, the grant sleeps, wakes, access gone. */
  async lifecycle(): Promise<string> {
    const from = wholeSecond(Date.now() + 12_000 + LEAD_MS);
    const to = from + 15_000;
    const id = await this.book(0, 0, from, to);
    const held = await until(`Kisi assignment for booking ${id}`, () => this.assignments(0, 0)[0], 60_000);
    if (Date.parse(held.valid_from!) !== from - LEAD_MS || Date.parse(held.valid_until!) !== to + LAG_MS) {
      throw new Error(`Kisi window ${held.valid_from} - ${held.valid_until}, expected ${iso(from - LEAD_MS)} - ${iso(to + LAG_MS)}`);
    }
    await this.grantIn(id, 'granted', 30_000);
    await until(`booking ${id}'s assignment removed after its window`, () => this.assignments(0, 0).length === 0, to + LAG_MS - Date.now() + 60_000);
    const late = this.deletedAt(0, 0)! - (to + LAG_MS);
    if (late < 0) throw new Error(`access removed ${-late} ms before the window ended`);
    if (late > WAKE_TOLERANCE_MS) throw new Error(`access removed ${late} ms after the window ended`);
    await this.grantIn(id, 'revoked', 30_000, 'COMPLETED');
    this.details.lifecycle = { bookingId: id, window: [iso(from - LEAD_MS), iso(to + LAG_MS)], removedLateMs: late };
    return `booking-${id}: Kisi window ${iso(from - LEAD_MS)} → ${iso(to + LAG_MS)} exact, GrantState granted, assignment deleted ${(late / 1000).toFixed(1)} s after the window, GrantState revoked, workflow completed`;
  }

  /** Customers 1..8: granted, asleep; the server stops and starts again; each wakes at its window's end. */
  async serverRestart(): Promise<string> {
    const customers = [1, 2, 3, 4, 5, 6, 7, 8];
    const first = wholeSecond(Date.now() + 10_000 + LEAD_MS);
    const plans = customers.map((c, i) => ({ customer: c, room: i % 2, from: first, to: first + 55_000 + i * 2_000 }));
    const ids = await Promise.all(plans.map((p) => this.book(p.customer, p.room, p.from, p.to)));
    await until('all 8 assignments in Kisi', () => plans.every((p) => this.assignments(p.customer, p.room).length === 1), 60_000);
    for (const id of ids) await this.grantIn(id, 'granted', 30_000);
    const firstEnd = Math.min(...plans.map((p) => p.to + LAG_MS));
    this.log(`   8 grants asleep until ${iso(firstEnd)} and after; stopping the Temporal server`);
    const stopped = Date.now();
    await this.stack.stopTemporal(10_000);
    await sleep(8_000);
    const restarting = Date.now();
    await this.stack.startTemporal();
    const restartMs = Date.now() - restarting;
    const downMs = Date.now() - stopped;
    this.log(`   server down ${(downMs / 1000).toFixed(1)} s (start again: ${(restartMs / 1000).toFixed(1)} s); ${((firstEnd - Date.now()) / 1000).toFixed(0)} s until the first window ends`);
    if (Date.now() > firstEnd - 5_000) throw new Error('the restart took too long: the first window ended before the server was back, so waking on time cannot be judged');
    const lastEnd = Math.max(...plans.map((p) => p.to + LAG_MS));
    await until('all 8 assignments removed after their windows', () => plans.every((p) => this.assignments(p.customer, p.room).length === 0), lastEnd - Date.now() + 60_000, 500);
    const lateness = plans.map((p) => this.deletedAt(p.customer, p.room)! - (p.to + LAG_MS));
    const bad = lateness.filter((l) => l < 0 || l > WAKE_TOLERANCE_MS);
    if (bad.length > 0) throw new Error(`access removed off time (ms after the window's end): ${lateness.join(', ')}`);
    for (const id of ids) await this.grantIn(id, 'revoked', 30_000, 'COMPLETED');
    this.details.serverRestart = { bookingIds: ids, downMs, restartMs, removedLateMs: lateness };
    return `8 grants asleep; server down ${(downMs / 1000).toFixed(1)} s (back in ${(restartMs / 1000).toFixed(1)} s); each woke at its window's end: access removed ${(Math.min(...lateness) / 1000).toFixed(1)}–${(Math.max(...lateness) / 1000).toFixed(1)} s after it, all revoked`;
  }

  /** Customer 9, room 0: worker 1 alone with a Kisi call in flight is SIGKILLed; worker 2 finishes the grant. */
  async workerKill(): Promise<string> {
    try {
      return await this.killOneWorker();
    } finally {
      // Whatever happened, the later checks get Kisi answering at once and both workers.
      this.stack.kisi.faults.clear();
      if (!this.stack.workerRunning) await this.stack.startWorker(0);
      if (!this.stack.pids()['worker-2']) await this.stack.startWorker(1);
    }
  }

  private async killOneWorker(): Promise<string> {
    const kisi = this.stack.kisi;
    await this.stack.stopWorker(6_500, 1);
    // Every Kisi answer 10 s late: whatever activity worker 1 runs for this booking is mid-call for a while.
    kisi.faults.configure({ rules: [{ route: '*', latencyMs: 10_000 }] });
    const sentAt = Date.now();
    const from = wholeSecond(Date.now() + 10 * 60_000);
    const id = await this.book(9, 0, from, from + 3_600_000);
    const inFlight = await until('a Kisi call of worker 1 in flight', () => kisi.requests.find((r) => r.at >= sentAt && r.status === undefined), 60_000, 50);
    this.log(`   worker 1 is in ${inFlight.method} ${inFlight.route} (sent ${((Date.now() - inFlight.at) / 1000).toFixed(1)} s ago); starting worker 2`);
    await this.stack.startWorker(1);
    if (inFlight.status !== undefined) throw new Error(`worker 1's Kisi call was answered (${inFlight.status}) before the kill: start worker 2 faster or slow Kisi more`);
    const killedAt = Date.now();
    await this.stack.killWorker(0);
    kisi.faults.clear();
    this.log('   worker 1 SIGKILLed mid-call; Kisi answers at once again');
    await until(`booking ${id}'s assignment in Kisi, written by worker 2`, () => this.assignments(9, 0).length >= 1, 180_000, 500);
    const doneMs = Date.now() - killedAt;
    await this.grantIn(id, 'granted', 60_000);
    // The killed worker's request may still have been carried out by Kisi: the membership adopts it.
    await sleep(3_000);
    const held = this.assignments(9, 0);
    if (held.length !== 1) throw new Error(`${held.length} assignments for the customer in the group, expected exactly 1`);
    if (Date.parse(held[0]!.valid_from!) !== from - LEAD_MS) throw new Error(`Kisi window starts ${held[0]!.valid_from}, expected ${iso(from - LEAD_MS)}`);
    this.details.workerKill = { bookingId: id, inFlight: `${inFlight.method} ${inFlight.route}`, grantedAfterKillMs: doneMs };
    return `worker 1 SIGKILLed during ${inFlight.method} ${inFlight.route}; worker 2 had the assignment in Kisi ${(doneMs / 1000).toFixed(1)} s later, exactly one, grant granted; worker 1 started again`;
  }

  /** A lost webhook (customer 10, room 1) and an assignment deleted by hand (customer 11, room 0), then one reconcile. */
  async reconcile(): Promise<{ summary: string; lostId: number; handId: number }> {
    const from = wholeSecond(Date.now() + 20 * 60_000);
    const handId = await this.book(11, 0, from, from + 3_600_000);
    const handmade = await until('the assignment to delete by hand', () => this.assignments(11, 0)[0], 60_000);
    await this.grantIn(handId, 'granted', 30_000);
    // By hand: the Kisi API's own DELETE, as a person with the API key would.
    const response = await fetch(`${this.stack.kisiUrl}/role_assignments/${handmade.id}`, { method: 'DELETE', headers: { Authorization: `KISI-LOGIN ${STACK_SECRETS.KISI_API_KEY}` } });
    if (!response.ok) throw new Error(`DELETE /role_assignments/${handmade.id}: HTTP ${response.status}`);
    if (this.assignments(11, 0).length !== 0) throw new Error('the assignment deleted by hand is still there');
    const lostId = await this.book(10, 1, from, from + 3_600_000, false);
    const day = (ms: number) => iso(ms).slice(0, 10);
    const report = await this.npmJson<Record<string, unknown>>('backfill', ['--from', day(Date.now() - 86_400_000), '--to', day(Date.now() + 86_400_000)], 300_000);
    await until('the hand-deleted assignment back in Kisi', () => this.assignments(11, 0).length === 1, 60_000);
    await until(`a grant for booking ${lostId}, whose webhook was lost, and its assignment`, () => this.assignments(10, 1).length === 1, 60_000);
    await this.grantIn(lostId, 'granted', 30_000);
    this.details.reconcile = { lostBookingId: lostId, handDeletedBookingId: handId, report };
    return { summary: `npm run backfill (one reconcile) exit 0: booking-${lostId} started for the lost webhook and granted; the assignment deleted by hand is back`, lostId, handId };
  }

  /** npm run grants: list, show, cancel against this server. */
  async grantsCli(ids: { revoked: number; granted: number; cancel: number }): Promise<string> {
    interface Row {
      workflowId: string;
      state: string | null;
      executionStatus: string;
    }
    const list = await this.npmJson<{ grants: Row[] }>('grants', ['list', '--kind', 'booking', '--all', '--limit', '100']);
    const row = (id: number) => list.grants.find((g) => g.workflowId === `booking-${id}`);
    if (row(ids.revoked)?.state !== 'revoked') throw new Error(`list: booking-${ids.revoked} ${JSON.stringify(row(ids.revoked))}, expected state revoked`);
    if (row(ids.granted)?.state !== 'granted') throw new Error(`list: booking-${ids.granted} ${JSON.stringify(row(ids.granted))}, expected state granted`);
    const show = await this.npmJson<{ workflowId: string; executionStatus: string; kisi: { available: boolean; assignments?: Array<{ groupId: number; grantGroup: boolean }> } }>('grants', ['show', `booking-${ids.granted}`]);
    if (!show.kisi.available || !show.kisi.assignments?.some((a) => a.grantGroup && a.groupId === this.world.groupId(0))) {
      throw new Error(`show booking-${ids.granted}: Kisi view ${JSON.stringify(show.kisi)}, expected the assignment in group ${this.world.groupId(0)}`);
    }
    // A cancelled grant gives its access back and stays, cancelled and holding nothing, so that the
    // operator's decision outlives Temporal's retention (docs/architecture.md: Operator decisions stick).
    const cancel = await this.npmJson<{ settled: boolean; executionStatus: string; state: string | null }>('grants', ['cancel', `booking-${ids.cancel}`, '--wait', '60']);
    if (!cancel.settled) throw new Error(`cancel booking-${ids.cancel}: not settled within 60 s (${cancel.executionStatus}, ${cancel.state})`);
    await until(`booking ${ids.cancel}'s assignment removed after the cancel`, () => this.assignments(10, 1).length === 0, 30_000);
    await this.grantIn(ids.cancel, 'cancelled', 30_000);
    return `list --all shows ${list.grants.length} booking grants (booking-${ids.revoked} revoked, booking-${ids.granted} granted); show reads Kisi's assignment; cancel booking-${ids.cancel} left it cancelled, holding nothing, and Kisi's assignment went`;
  }

  /** npm run replay against this server's histories: every booking grant (closed ones included), then the default set. */
  async replay(): Promise<string> {
    interface Summary {
      ok: number;
      nonDeterministic: number;
      failed: number;
      outcomes: unknown[];
    }
    const bookings = await this.npmJson<Summary>('replay', ['--query', 'GrantKind = "booking"'], 300_000);
    const running = await this.npmJson<Summary>('replay', [], 300_000);
    for (const [name, s] of [['booking grants', bookings], ['running grants and memberships', running]] as const) {
      if (s.nonDeterministic !== 0 || s.failed !== 0 || s.ok === 0) throw new Error(`replay of ${name}: ${s.ok} ok, ${s.nonDeterministic} non-deterministic, ${s.failed} failed`);
    }
    return `${bookings.ok} booking grants (closed ones included) and ${running.ok} running grants and memberships replayed ok, none non-deterministic`;
  }

  /**
   * The ready-to-paste visibility filters of docs/operations.md (The Web UI), with this run's ids
   * and instants, on PostgreSQL's SQL visibility: each is accepted and finds what it should.
   */
  async visibilityQueries(ids: { granted: number; grantedCustomer: number; grantedRoom: number; cancelled: number }): Promise<string> {
    const described = await this.stack.client.workflow.getHandle(`booking-${ids.granted}`).describe();
    const startsAt = described.typedSearchAttributes.get(AccessStartsAt);
    if (!startsAt) throw new Error(`booking-${ids.granted} has no AccessStartsAt`);
    const inside = new Date(startsAt.getTime() + 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const hourBefore = new Date(startsAt.getTime() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const group = this.world.groupId(ids.grantedRoom);
    const customer = this.world.customerId(ids.grantedCustomer);
    const queries: Array<[string, string, string[]]> = [
      ['Everything that needs attention', 'GrantState = "needs-attention"', []],
      ['All grants of one customer', `NexudusCustomerId = "${customer}" AND GrantKind IN ("booking", "pass", "contract")`, [`booking-${ids.granted}`]],
      ['Who has access to a group at an instant', `KisiGroupIds = "${group}" AND GrantState = "granted" AND AccessStartsAt <= "${inside}" AND (AccessEndsAt IS NULL OR AccessEndsAt > "${inside}")`, [`booking-${ids.granted}`]],
      ['Grants whose access starts within an hour', `AccessStartsAt BETWEEN "${hourBefore}" AND "${inside}"`, [`booking-${ids.granted}`]],
      ['Running grants only', 'GrantKind IN ("booking", "pass", "contract") AND ExecutionStatus = "Running"', [`booking-${ids.granted}`]],
      ['Bookings an operator cancelled', 'GrantState = "cancelled" AND GrantKind = "booking"', [`booking-${ids.cancelled}`]],
    ];
    for (const [what, query, expected] of queries) {
      const found: string[] = [];
      for await (const execution of this.stack.client.workflow.list({ query })) found.push(execution.workflowId);
      const missing = expected.filter((id) => !found.includes(id));
      if (missing.length > 0 || (expected.length === 0 && found.length > 0)) throw new Error(`${what} (${query}): found ${JSON.stringify(found)}, expected ${JSON.stringify(expected)}`);
    }
    return `${queries.length} filters of docs/operations.md (KeywordList, Datetime, IS NULL, IN, BETWEEN, ExecutionStatus) answered as expected`;
  }

  /** The temporal-ui service's UI server, pointed at this server: its page, and this run's grants through its API. */
  async webUi(uiUrl: string, bookingId: number): Promise<string> {
    const page = await fetch(`${uiUrl}/`);
    const html = await page.text();
    if (!page.ok || !/<html/i.test(html)) throw new Error(`GET ${uiUrl}/: HTTP ${page.status}, ${html.slice(0, 200)}`);
    const settings = (await (await fetch(`${uiUrl}/api/v1/settings`)).json()) as { DefaultNamespace?: string; Version?: string };
    const query = encodeURIComponent(`WorkflowId = "booking-${bookingId}"`);
    const listed = await fetch(`${uiUrl}/api/v1/namespaces/default/workflows?query=${query}`);
    const body = (await listed.json()) as { executions?: Array<{ execution?: { workflowId?: string } }> };
    if (!listed.ok || !body.executions?.some((e) => e.execution?.workflowId === `booking-${bookingId}`)) {
      throw new Error(`the UI's workflow list for booking-${bookingId}: HTTP ${listed.status} ${JSON.stringify(body).slice(0, 300)}`);
    }
    return `${uiUrl}: UI ${settings.Version ?? '?'} page served, default namespace ${settings.DefaultNamespace ?? '?'}, booking-${bookingId} listed through the UI's API from this server`;
  }

  /** Across the whole run: never two assignments of one user in one group; the ingress inbox drained. */
  async invariants(): Promise<string> {
    const doubled = [...maxConcurrentAssignments(this.stack.kisi.state.history)].filter(([, n]) => n > 1);
    if (doubled.length > 0) throw new Error(`two assignments at once for user:group ${doubled.map(([k, n]) => `${k} (${n})`).join(', ')}`);
    const ready = await this.stack.readyz();
    if (ready.status !== 200 || ready.body.inbox?.backlog !== 0 || ready.body.inbox.dead !== 0) throw new Error(`ingress /readyz ${ready.status} ${JSON.stringify(ready.body)}`);
    // Two workers, one allowance: the activity lease lets one process call Kisi at a time.
    const kisiPerSecond = maxInRollingSecond(this.stack.kisi.requests.map((r) => r.at));
    if (kisiPerSecond > 5) throw new Error(`Kisi saw ${kisiPerSecond} requests within one second from the two workers (allowance: 5)`);
    return `${this.stack.kisi.state.history.length} Kisi assignment changes, never two of one user in one group; Kisi at most ${kisiPerSecond} requests in any second from 2 workers; /readyz 200 with an empty inbox`;
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { keep: { type: 'boolean' }, out: { type: 'string' } }, allowPositionals: false });
  const t0 = Date.now();
  const log = (line: string) => console.log(`[production +${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  let production: ProductionStack | undefined;
  let stack: Stack | undefined;
  let driver: Driver | undefined;
  let keep = values.keep === true;
  // Every process and directory: the stack's (its log directory kept on failure or with --keep),
  // or, when it never started, what provisioning made.
  const cleanUp = async () => {
    driver?.close();
    if (stack) await stack.close({ keepDir: keep });
    else await production?.backend.close();
  };
  const unregister = closeOnSignals(async () => {
    keep = true;
    await cleanUp();
  });
  try {
    // The load average when the run starts: a busy machine makes every figure worse.
    const machine = await machineInfo();
    production = await productionStack(log, WORKERS);
    const { backend, provisionMs, buildMs } = production;
    const world = new World({ customers: 12, rooms: 2, lead: `${LEAD_MS / 1000}s`, lag: `${LAG_MS / 1000}s`, kisiUsers: true });
    const upStarted = Date.now();
    stack = await Stack.start({
      name: 'production',
      accessMap: world.accessMap(),
      kisi: { seed: world.kisiSeed() },
      nexudus: { seed: world.nexudusSeed() },
      ...production.options,
      log,
    });
    const upMs = Date.now() - upStarted;
    log(`up in ${(upMs / 1000).toFixed(1)} s: Temporal ${backend.address}, Web UI ${backend.uiUrl}, ingress ${stack.ingressUrl}, ${WORKERS} workers on ${stack.taskQueue}`);
    driver = new Driver(stack, world, log);
    const d = driver;
    await d.check('Booking lifecycle: webhook in, Kisi holds the window, access gone after it', 'exact window; removed ≤ 15 s after it', () => d.lifecycle());
    await d.check('Temporal server restarted while grants sleep', `each wakes at its window's end (≤ ${WAKE_TOLERANCE_MS / 1000} s)`, () => d.serverRestart());
    await d.check('A worker SIGKILLed mid-activity', 'the other worker finishes; one assignment', () => d.workerKill());
    let reconciled: { lostId: number; handId: number } | undefined;
    await d.check('A reconcile run (npm run backfill)', 'lost webhook granted; hand-deleted assignment back', async () => {
      const r = await d.reconcile();
      reconciled = r;
      return r.summary;
    });
    await d.check('npm run grants (list, show, cancel) against this server', 'the grants as Kisi and Temporal hold them; cancel revokes', async () => {
      const lifecycle = d.details.lifecycle as { bookingId: number } | undefined;
      if (!lifecycle || !reconciled) throw new Error('needs the lifecycle and reconcile checks to have passed');
      return d.grantsCli({ revoked: lifecycle.bookingId, granted: reconciled.handId, cancel: reconciled.lostId });
    });
    await d.check('npm run replay against this server', 'every history replays', () => d.replay());
    await d.check("The docs' visibility filters on PostgreSQL visibility", 'each accepted, finds the grants it should', async () => {
      if (!reconciled) throw new Error('needs the reconcile check to have passed');
      return d.visibilityQueries({ granted: reconciled.handId, grantedCustomer: 11, grantedRoom: 0, cancelled: reconciled.lostId });
    });
    await d.check('The Web UI pointed at this server', "the temporal-ui service's UI lists this run's grants", async () => {
      const lifecycle = d.details.lifecycle as { bookingId: number } | undefined;
      if (!lifecycle) throw new Error('needs the lifecycle check to have passed');
      return d.webUi(backend.uiUrl, lifecycle.bookingId);
    });
    await d.check('Invariants over the whole run', 'no doubled assignment; Kisi at most 5 requests a second; inbox empty', () => d.invariants());

    const versions = await backend.versions();
    const failed = d.checks.filter((c) => c.met === false).length;
    const result: BenchResult = {
      name: 'test-production',
      machine: { ...machine, temporalServer: backend.description },
      parameters: { workers: WORKERS, activityLease: 'WORKER_ACTIVITY_LEASE default (60s)', leadSeconds: LEAD_MS / 1000, lagSeconds: LAG_MS / 1000, ...versions },
      rows: [
        { what: 'Provision (cached after the first run)', value: `${(provisionMs / 1000).toFixed(1)} s: ${backend.provisioned}` },
        { what: 'npm run build', value: `${(buildMs / 1000).toFixed(1)} s` },
        { what: 'Stack up (PostgreSQL, schema, server, namespace, Web UI, 2 workers, ingress)', value: `${(upMs / 1000).toFixed(1)} s` },
        ...d.checks,
        { what: 'Whole run', value: `${((Date.now() - t0) / 1000).toFixed(0)} s, ${failed === 0 ? 'every check passed' : `${failed} check(s) FAILED`}` },
      ],
      details: d.details,
      notes: [
        'The stack of docker-compose.yml without Docker: its Temporal set-up scripts and server environment, the built worker (twice) and ingress; the Kisi and Nexudus sandboxes stand in for the APIs.',
        'Asserted only through public surfaces: webhooks, the Kisi sandbox per user email and group, booking-<Id> grants and their GrantState, the grants, backfill and replay CLIs.',
      ],
    };
    printResult(result);
    if (values.out) {
      const files = writeResult(result, path.resolve(values.out));
      log(`wrote ${files.json} and ${files.markdown}`);
    }
    if (failed > 0) keep = true;
    return failed === 0 ? 0 : 1;
  } catch (error) {
    keep = true;
    log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  } finally {
    await cleanUp();
    unregister();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
