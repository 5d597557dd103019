/**
 * A real worker on the time-skipping test server, with activities talking over HTTP to the Kisi
 * and Nexudus sandboxes. Every Kisi client call is recorded with the virtual time it was made at,
 * so tests assert what Kisi received and when.
 */
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './workflow-bundle';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { createActivities } from '../../activities';
import { activityNow } from '../../activities/clock';
import { AccessMap, type AccessMapFile } from '../../src/config/access-map';
import { DEFAULT_MAX_VALIDITY_MS } from '../../src/config/env';
import { KisiClient } from '../../src/clients/kisi';
import { NexudusClient } from '../../src/clients/nexudus';
import type { GrantSpec } from '../../src/domain/grant-spec';
import { customerSyncWorkflowId, grantWorkflowId, membershipWorkflowId, type GrantKind } from '../../src/domain/ids';
import type { NexudusBooking, NexudusContract, NexudusCoworkerTimePass } from '../../src/domain/nexudus-entities';
import { deliverSpec, type DeliveryOutcome } from '../../src/temporal/starters';
import { SpecSource } from '../../src/clients/nexudus-grant-specs';
import { createKisiSandbox, isMemberAt, type KisiSandbox } from '../../dev/sandbox/kisi';
import { assertConforms, kisiExchangeProblems, sandboxExchangeProblems } from '../contract/kisi-contract';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, type NexudusSandbox } from '../../dev/sandbox/nexudus';
import { grantStatusQuery, type GrantStatus } from '../../src/contract/grant';
import { createTimeSkippingEnv } from './temporal-env';
import { dataConverterFor, newClient } from '../../src/temporal/connection';
import type { PayloadKeyRing } from '../../src/temporal/payload-codec';

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** Seeded in config/sandbox/*.json. */
export const ADA = { customerId: 2000001, email: 'ada@example.com', name: 'Ada Lovelace' };
export const ALAN = { customerId: 2000002, email: 'alan@example.com', name: 'Alan Turing' };
export const ROOM_THAMES = 3000001;
export const ROOM_SEVERN = 3000002;
export const DESK_D1 = 4000002;
export const OFFICE_1 = 4000001;
export const DAY_PASS = 5000001;
export const GROUP_ROOM_THAMES = 103;
export const GROUP_ROOM_SEVERN = 102;
export const GROUP_MEMBERS = 101;
export const GROUP_OFFICE = 104;
export const GROUP_DAY_PASS = 105;
export const GROUP_RESTRICTED = 106;

export const DEFAULT_MAP: AccessMapFile = {
  kisiPlaceId: 1,
  timeZone: 'Europe/London',
  nexudusBusinessId: 1000001,
  timing: { lead: '15m', lag: '15m' },
  passes: { [DAY_PASS]: { groups: [GROUP_DAY_PASS] } },
  resources: { [ROOM_THAMES]: { groups: [GROUP_ROOM_THAMES] }, [ROOM_SEVERN]: { groups: [GROUP_ROOM_SEVERN] } },
  floorPlanItems: { [DESK_D1]: { groups: [GROUP_MEMBERS] }, [OFFICE_1]: { groups: [GROUP_MEMBERS, GROUP_OFFICE] } },
  doors: {},
};

export interface KisiCall {
  method: string;
  args: unknown[];
  /** Virtual time of the call (ms). */
  at: number;
}


const RECORDED = new Set([
  'createGroupRoleAssignment',
  'updateRoleAssignmentWindow',
  'deleteRoleAssignment',
  'listGroupRoleAssignments',
  'createUser',
  'findUserByEmail',
  'syncUserCards',
]);

export class GrantHarness {
  readonly calls: KisiCall[] = [];
  private readonly contractProblems: string[] = [];
  map: AccessMap;
  private worker!: Worker;
  private running!: Promise<void>;
  private closers: Array<() => Promise<void>> = [];
  kisiClient!: KisiClient;
  nexudusClient!: NexudusClient;
  specs!: SpecSource;
  readonly taskQueue = `grants-${Math.random().toString(36).slice(2, 8)}`;
  /**
   * A plain client on the test server's connection. The environment's own client unlocks time
   * skipping while it awaits a result, which lets the server race ahead (an open-ended grant would
   * time out after ten virtual years): tests move time only through sleep/sleepUntil.
   */
  readonly client: Client;

  private constructor(
    readonly env: TestWorkflowEnvironment,
    readonly kisi: KisiSandbox,
    readonly nexudus: NexudusSandbox,
    map: AccessMapFile,
    /** Payload encryption for the client and the worker, as TEMPORAL_PAYLOAD_KEY gives it. */
    readonly payloadKeys?: PayloadKeyRing,
  ) {
    this.map = AccessMap.parse(map);
    this.client = newClient(env.connection, { payloadKeys });
  }

  /** KISI_MAX_VALIDITY the activities run with (a week, as in production, unless a test says otherwise). */
  maxValidityMs = DEFAULT_MAX_VALIDITY_MS;

  /**
   * Whether the worker keeps workflows cached between tasks. Tests that stop and restart the worker
   * turn it off: the time-skipping server keeps routing a cached workflow's tasks to the stopped
   * worker's sticky queue, where the dev server would give up after a few seconds.
   */
  private cacheWorkflows = true;

  static async start(options: { map?: AccessMapFile; env?: TestWorkflowEnvironment; kisiTimeoutMs?: number; maxValidityMs?: number; restartsWorker?: boolean; payloadKeys?: PayloadKeyRing } = {}): Promise<GrantHarness> {
    const env = options.env ?? (await createTimeSkippingEnv());
    // Every answer the Kisi sandbox gives is held against Kisi's OpenAPI description.
    const kisi = createKisiSandbox({ rateLimit: false, validateResponses: (x) => assertConforms(sandboxExchangeProblems(x)) });
    const nexudus = createNexudusSandbox({ rateLimit: false });
    const h = new GrantHarness(env, kisi, nexudus, options.map ?? DEFAULT_MAP, options.payloadKeys);
    if (options.maxValidityMs !== undefined) h.maxValidityMs = options.maxValidityMs;
    if (options.restartsWorker) h.cacheWorkflows = false;
    if (!options.env) h.closers.push(() => env.teardown());
    await h.boot(options.kisiTimeoutMs);
    return h;
  }

  private async boot(kisiTimeoutMs?: number): Promise<void> {
    const kisiListening = await this.kisi.listen(0);
    const nexudusListening = await this.nexudus.listen(0);
    this.closers.push(kisiListening.close, nexudusListening.close);
    this.kisiUrl = kisiListening.url;
    this.kisiClient = this.recording(new KisiClient({
        apiKey: 'test-key',
        baseUrl: kisiListening.url,
        maxRps: 1000,
        timeoutMs: kisiTimeoutMs,
        // ...and every request our client sends (and what it gets back).
        onExchange: (x) => this.contractProblems.push(...kisiExchangeProblems(x)),
      }));
    this.nexudusClient = new NexudusClient({ baseUrl: nexudusListening.apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: { minIntervalMs: 0, perMinute: 100_000 } });
    this.specs = new SpecSource({ nexudus: this.nexudusClient, accessMap: () => this.mapInForce(), now: () => this.virtualNowSync });
    const activities = createActivities({
      kisi: this.kisiClient,
      nexudus: this.nexudusClient,
      temporal: this.client,
      taskQueue: this.taskQueue,
      accessMap: () => this.mapInForce(),
      sendEmails: true,
      maxValidityMs: this.maxValidityMs,
      userCacheTtlMs: 0,
    });
    this.activities = activities;
    await this.startWorker();
    await this.warmUp();
  }

  private activities!: ReturnType<typeof createActivities>;
  private kisiUrl!: string;

  /** Starts (again) the worker of this harness. */
  async startWorker(): Promise<void> {
    this.worker = await Worker.create({
      connection: this.env.nativeConnection,
      taskQueue: this.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: this.activities,
      // A short grace: a stopped worker is a crash for the work in flight (it is retried elsewhere).
      shutdownGraceTime: '100ms',
      ...(this.cacheWorkflows ? {} : { maxCachedWorkflows: 0 }),
      dataConverter: dataConverterFor(this.payloadKeys),
    });
    this.running = this.worker.run();
  }

  /** Stops the worker (our side down): nothing runs until startWorker. */
  async stopWorker(): Promise<void> {
    this.worker.shutdown();
    await this.running;
  }

  /**
   * Runs each Kisi operation once before the tests: the contract validator compiles its schemas on
   * first use, which would otherwise delay the first test's Kisi calls by a second or more.
   */
  private async warmUp(): Promise<void> {
    // With the default timeout: a test's short one is for its own calls, not the first compile.
    const k = this.recording(new KisiClient({ apiKey: 'test-key', baseUrl: this.kisiUrl, maxRps: 1000, onExchange: (x) => this.contractProblems.push(...kisiExchangeProblems(x)) }));
    const user = await k.createUser({ email: 'warm-up@sandbox.invalid', name: 'Warm up', sendEmails: false });
    await k.findUserByEmail('warm-up@sandbox.invalid');
    await k.syncUserCards(user.id, ['0000WARMUP']);
    const assignment = await k.createGroupRoleAssignment({ userId: user.id, groupId: GROUP_MEMBERS, validFrom: null, validUntil: null });
    await k.updateRoleAssignmentWindow(assignment.id, { validFrom: null, validUntil: new Date(Date.now() + DAY).toISOString() });
    await k.listGroupRoleAssignments({ userId: user.id, groupId: GROUP_MEMBERS });
    await k.deleteRoleAssignment(assignment.id);
    await k.getUser(user.id);
    this.kisi.state.load(this.kisiSeed());
    this.calls.length = 0;
    this.expectContractClean();
  }

  /**
   * Called before each recorded Kisi call is sent, with its method name: a test changes the
   * sandbox's faults at an exact point of a sequence (a retry's listing, say) without racing it.
   */
  beforeKisiCall: ((method: string) => void) | undefined;

  /** Last virtual time seen (the spec builder needs a synchronous clock). */
  private virtualNowSync = Date.now();

  private recording(client: KisiClient): KisiClient {
    return new Proxy(client, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function' || !RECORDED.has(String(prop))) return value;
        return (...args: unknown[]) => {
          this.calls.push({ method: String(prop), args, at: activityNow() });
          this.beforeKisiCall?.(String(prop));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  async now(): Promise<number> {
    this.virtualNowSync = await this.env.currentTimeMs();
    return this.virtualNowSync;
  }

  /** Advances virtual time to `instant` (time skipping), letting the worker run meanwhile. */
  async sleepUntil(instant: number): Promise<void> {
    const now = await this.now();
    if (instant > now) await this.skip(this.env.sleep(instant - now));
    await this.now();
  }

  /**
   * Awaits a time-skipping sleep, unsticking the test server when it leaks a lock. Under load the
   * time-skipping server (temporal-test-server 1.40) sometimes keeps virtual time locked after a
   * workflow ended in a race with a signal: nothing is outstanding, the worker is idle, yet time
   * only crawls at wall-clock pace and a sleep of days never returns. When that is seen twice in a
   * row, one unlock gives the leaked lock back; the sleep then completes as it should.
   */
  private async skip(sleeping: Promise<void>): Promise<void> {
    let done = false;
    void sleeping.finally(() => (done = true)).catch(() => undefined);
    let last = await this.env.currentTimeMs();
    let crawling = 0;
    while (!done) {
      await Promise.race([sleeping.catch(() => undefined), new Promise((r) => setTimeout(r, 2_000))]);
      if (done) break;
      const serverNow = await this.env.currentTimeMs();
      const status = this.worker.getStatus();
      const idle = status.numInFlightActivities === 0 && status.numInFlightWorkflowActivations === 0;
      crawling = idle && serverNow - last < 10_000 ? crawling + 1 : 0;
      last = serverNow;
      if (crawling >= 2) {
        crawling = 0;
        process.stderr.write(`[grant-harness] the test server held virtual time while nothing ran: released a leaked time-skipping lock\n`);
        await this.env.connection.testService!.unlockTimeSkipping({}).catch(() => undefined);
      }
    }
    await sleeping;
  }

  async sleep(ms: number): Promise<void> {
    await this.skip(this.env.sleep(ms));
    await this.now();
  }

  /** Workflows this harness may have started, ended between tests so none leaks into the next. */
  private readonly touched = new Set<string>();

  /** Workflows a test started by hand, ended (and recorded) with the others. */
  track(...workflowIds: string[]): void {
    for (const id of workflowIds) this.touched.add(id);
  }

  async deliver(spec: GrantSpec): Promise<DeliveryOutcome> {
    this.touched.add(grantWorkflowId(spec.kind, spec.sourceId));
    return deliverSpec(this.client, spec, { taskQueue: this.taskQueue, timeZone: this.map.timeZone, now: await this.now() });
  }

  async bookingSpec(booking: Partial<NexudusBooking> & { Id: number; FromTime: string; ToTime: string }, options: { deleted?: boolean } = {}): Promise<GrantSpec> {
    await this.now();
    return this.specs.fromBooking({ ResourceId: ROOM_THAMES, CoworkerId: ADA.customerId, ...booking } as NexudusBooking, options);
  }

  async passSpec(pass: Partial<NexudusCoworkerTimePass> & { Id: number }, options: { deleted?: boolean } = {}): Promise<GrantSpec> {
    await this.now();
    return this.specs.fromPass({ CoworkerId: ADA.customerId, TimePassId: DAY_PASS, ...pass } as NexudusCoworkerTimePass, { ...options, customerEmail: ADA.email });
  }

  async contractSpec(contract: Partial<NexudusContract> & { Id: number; StartDate: string }, options: { deleted?: boolean } = {}): Promise<GrantSpec> {
    await this.now();
    return this.specs.fromContract({ CoworkerId: ADA.customerId, CoworkerEmail: ADA.email, ...contract } as NexudusContract, options);
  }

  /** The grant's status query, with a deadline: an unanswered query fails (and is asked again), never hangs a test. */
  status(kind: GrantKind, sourceId: number): Promise<GrantStatus> {
    const handle = this.client.workflow.getHandle(grantWorkflowId(kind, sourceId));
    return this.client.connection.withDeadline(Date.now() + 5_000, () => handle.query(grantStatusQuery));
  }

  /** Waits (in real time, without skipping virtual time) until the grant reports `state`. */
  async waitForState(kind: GrantKind, sourceId: number, state: GrantStatus['state'], timeoutMs = 20_000): Promise<GrantStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: GrantStatus | undefined;
    while (Date.now() < deadline) {
      try {
        last = await this.status(kind, sourceId);
        if (last.state === state) return last;
      } catch {
        // not started yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${kind}-${sourceId} did not reach ${state}; last status ${JSON.stringify(last)}`);
  }

  /** Waits in real time for a condition on the sandboxes (activities run in real time). */
  async until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  kisiUserId(email: string): number | undefined {
    return [...this.kisi.state.users.values()].find((u) => u.email === email)?.id;
  }

  /** Kisi's current role assignments of a user in a group. */
  assignments(email: string, groupId: number) {
    const userId = this.kisiUserId(email);
    return [...this.kisi.state.roleAssignments.values()].filter((a) => a.user_id === userId && a.group_id === groupId);
  }

  /** The card numbers Kisi holds assigned to the user of `email`, sorted. */
  cardsOf(email: string): string[] {
    const userId = this.kisiUserId(email);
    return [...this.kisi.state.cardAssignments.values()]
      .filter((a) => a.user_id === userId)
      .map((a) => this.kisi.state.cards.get(a.card_id)?.token ?? '?')
      .sort();
  }

  isMember(email: string, groupId: number, instant: number): boolean {
    const userId = this.kisiUserId(email);
    return userId !== undefined && isMemberAt(this.kisi.state, userId, groupId, instant);
  }

  /** Calls that change Kisi membership, in order. */
  writes(): KisiCall[] {
    return this.calls.filter((c) => c.method === 'createGroupRoleAssignment' || c.method === 'updateRoleAssignmentWindow' || c.method === 'deleteRoleAssignment');
  }

  /** Fails when a Kisi request or answer broke Kisi's OpenAPI contract since the last check (call in afterEach). */
  expectContractClean(): void {
    const problems = [...this.contractProblems, ...this.kisi.violations];
    this.contractProblems.length = 0;
    this.kisi.violations.length = 0;
    assertConforms(problems);
  }

  /**
   * The memberships and customer workflows a test may have started: memberships are keyed by Kisi
   * user (known only once the user exists) and customer workflows by customer, so every pair of a
   * Kisi user and a mapped group, and every customer, is a candidate.
   */
  private derivedWorkflowIds(): string[] {
    const ids: string[] = [];
    for (const user of this.kisi.state.users.values()) for (const g of this.map.allGroupIds()) ids.push(membershipWorkflowId(user.id, g));
    for (const customerId of this.customerIds()) ids.push(customerSyncWorkflowId(customerId));
    return ids;
  }

  /** Every customer the Nexudus sandbox holds. */
  customerIds(): number[] {
    return this.nexudus.state.store.coworkers.all().map((c) => c.Id);
  }

  /** Ends every workflow the previous test started (terminate: no cleanup, the sandboxes reset anyway). */
  async endAll(): Promise<void> {
    await this.quiesce();
    for (const id of await this.runningOf(this.derivedWorkflowIds())) this.touched.add(id);
    if (process.env.RECORD_REPLAY_HISTORIES) await this.recordHistories();
    await Promise.all(
      [...this.touched].map(async (id) => {
        try {
          await this.client.workflow.getHandle(id).terminate('test cleanup');
        } catch {
          // already closed
        }
      }),
    );
    this.touched.clear();
  }

  /**
   * Waits (up to 10 s) until the worker runs no activity. The time-skipping server keeps virtual
   * time locked for an activity it handed out until that activity completes; terminating its
   * workflow meanwhile leaves the lock held, so the next test's sleeps would crawl in real time.
   */
  private async quiesce(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && this.worker?.getStatus().numInFlightActivities) await new Promise((r) => setTimeout(r, 20));
  }

  /** Those of `ids` that exist (running or closed). */
  private async runningOf(ids: string[]): Promise<string[]> {
    const found = await Promise.all(
      ids.map(async (id) => {
        try {
          await this.client.workflow.getHandle(id).describe();
          return id;
        } catch {
          return undefined;
        }
      }),
    );
    return found.filter((id): id is string => id !== undefined);
  }

  /**
   * Saves the histories (every run of a continue-as-new chain) of the workflows this test touched
   * under test/replay/histories/<generation>/<suite>/, for the replay test (`npm run
   * replay:record` records the generation `current`; older generations stay, frozen, so the
   * workflows that ran before a patch keep being replayed).
   */
  private recordings = 0;
  private async recordHistories(): Promise<void> {
    if (this.touched.size === 0) return;
    const suite = path.basename(expect.getState().testPath ?? 'unknown', '.test.ts');
    // One folder per test (workflow ids repeat between tests: memberships of the same customer).
    const generation = process.env.RECORD_REPLAY_HISTORIES!.replace(/[^\w.-]/g, '_');
    const dir = path.join(__dirname, '..', 'replay', 'histories', generation, suite, String(++this.recordings).padStart(2, '0'));
    await this.saveHistories(dir);
  }

  /** Writes the histories of the workflows touched since the last reset into `dir` (one file per run). */
  async saveHistories(dir: string): Promise<string[]> {
    fs.mkdirSync(dir, { recursive: true });
    const written: string[] = [];
    for (const workflowId of this.touched) {
      let runId: string | undefined;
      for (let run = 0; run < 100; run++) {
        let history;
        try {
          history = await this.client.workflow.getHandle(workflowId, runId).fetchHistory();
        } catch {
          break; // never started (e.g. an unmapped delivery)
        }
        const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
        const file = path.join(dir, `${workflowId}${runId ? `.${runId.slice(0, 8)}` : ''}.json`);
        fs.writeFileSync(file, JSON.stringify(temporal.api.history.v1.History.fromObject(history).toJSON()) + '\n');
        written.push(file);
        runId = started?.continuedExecutionRunId || undefined;
        if (!runId) break;
      }
    }
    return written;
  }

  /** A reloadable map the activities read instead of `map` (as the worker reads its AccessMapSource); reset() drops it. */
  mapSource?: () => AccessMap;
  private mapInForce(): AccessMap {
    return this.mapSource?.() ?? this.map;
  }

  /** Resets workflows, sandboxes and recordings between tests. */
  async reset(map: AccessMapFile = DEFAULT_MAP): Promise<void> {
    await this.endAll();
    this.kisi.state.load(this.kisiSeed());
    this.kisi.faults.clear();
    this.nexudus.reset();
    this.calls.length = 0;
    this.beforeKisiCall = undefined;
    this.map = AccessMap.parse(map);
    this.mapSource = undefined;
  }

  private kisiSeedCache: unknown;
  private kisiSeed() {
    this.kisiSeedCache ??= JSON.parse(fs.readFileSync(path.join(__dirname, '../../config/sandbox/kisi-seed.json'), 'utf8'));
    return this.kisiSeedCache as Parameters<KisiSandbox['state']['load']>[0];
  }

  async close(): Promise<void> {
    await this.endAll();
    this.worker.shutdown();
    await this.running;
    for (const close of this.closers.reverse()) await close();
  }
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** A whole hour at least `hoursAhead` hours after the harness's virtual now. */
export async function hourAhead(h: GrantHarness, hoursAhead: number): Promise<number> {
  const now = await h.now();
  return Math.ceil(now / HOUR) * HOUR + hoursAhead * HOUR;
}

export function expectAround(actual: number | undefined, expected: number, toleranceMs = 1000): void {
  expect(actual).toBeDefined();
  const delta = Math.abs(actual! - expected);
  if (delta > toleranceMs) throw new Error(`expected ${iso(expected)} ± ${toleranceMs} ms, got ${iso(actual!)}`);
}

let nextSourceId = 7_100_000 + Math.floor(Math.random() * 100_000) * 10;
export const newSourceId = () => ++nextSourceId;

export async function grantResult(h: GrantHarness, kind: GrantKind, sourceId: number): Promise<unknown> {
  return h.client.workflow.getHandle(grantWorkflowId(kind, sourceId)).result();
}
