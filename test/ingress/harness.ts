/**
 * The ingress as it runs, for tests: the assembled app (src/ingress/assemble.ts) listening on a
 * free port, a Temporal dev server (visibility queries work there, and it can be stopped and
 * started again on the same port and database file), a real worker, and the Kisi and Nexudus
 * sandboxes, both pointed at the ingress and signing with the harness' secrets.
 *
 * Everything started here is stopped by close(); temporary files are removed.
 */
import { DEFAULT_MAX_VALIDITY_MS } from '../../src/config/env';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { WorkflowNotFoundError, type Client, type Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/workflow-bundle';
import pino from 'pino';
import request from 'supertest';
import { createActivities } from '../../activities';
import { KisiClient } from '../../src/clients/kisi';
import { NexudusClient } from '../../src/clients/nexudus';
import { AccessMap, type AccessMapFile } from '../../src/config/access-map';
import { AccessMapSource } from '../../src/config/access-map-source';
import { assembleIngress, type Ingress, type IngressOptions, type WebhookSecrets } from '../../src/ingress/assemble';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { consoleFor } from '../../src/console';
import { createKisiSandbox, loadKisiSeed, signKisiBody, type KisiSandbox, type KisiSeed } from '../../dev/sandbox/kisi';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER, signNexudusBody, type NexudusSandbox, type SignatureEncoding } from '../../dev/sandbox/nexudus';
import { freePort } from '../../dev/lib/ports';
import { dataConverterFor, isTemporalReachable, lazyConnection, newClient } from '../../src/temporal/connection';
import { AesGcmPayloadCodec, type PayloadKeyRing } from '../../src/temporal/payload-codec';
import { grantStatusQuery, type GrantStatus } from '../../src/contract/grant';
import { DEFAULT_MAP } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

export { ADA, ALAN, DAY_PASS, DESK_D1, GROUP_DAY_PASS, GROUP_MEMBERS, GROUP_OFFICE, GROUP_ROOM_SEVERN, GROUP_ROOM_THAMES, OFFICE_1, ROOM_SEVERN, ROOM_THAMES } from '../helpers/grant-harness';

export const NEXUDUS_SECRET = 'nexudus-test-secret';
export const KISI_SECRET = 'kisi-test-secret';
export const GRACE = { customerId: 2000003, email: 'grace@example.com' };
export const ZOE = { customerId: 2000004, email: 'zoe@example.com' };
/** Kisi users seeded for check-ins (Ada carries her Nexudus id in metadata, Grace is found by email). */
export const KISI_ADA = 9001;
export const KISI_GRACE = 9003;
export const KISI_STRANGER = 9009;
export const FRONT_DOOR = 1001;
export const SERVER_ROOM = 1005;

/** The grant harness' map plus doors: the front door checks customers in, the server room does not. */
export const INGRESS_MAP: AccessMapFile = { ...DEFAULT_MAP, doors: { [FRONT_DOOR]: { onUnlock: 'checkin' }, [SERVER_ROOM]: { onUnlock: 'none' } } };


export interface IngressHarnessOptions {
  /** Keep the dev server's data in this file (so it survives stopTemporal/startTemporal). */
  temporalDb?: boolean;
  /** Run a worker (default true); the fuzz test needs none. */
  worker?: boolean;
  secrets?: Partial<WebhookSecrets>;
  signatureEncoding?: SignatureEncoding;
  ingress?: Partial<Pick<IngressOptions, 'hotPathDeadlineMs' | 'forwarderDeadlineMs' | 'forwarder' | 'inboxMaxAgeMs' | 'deadRetentionMs' | 'reportCacheMs'>>;
  /** Log lines of the ingress, for assertions (default: silent). */
  logLines?: string[];
  /** Payload encryption for every client and the worker, as TEMPORAL_PAYLOAD_KEY gives it. */
  payloadKeys?: PayloadKeyRing;
  /** The operator endpoints' token (default OPS_TOKEN below). */
  opsToken?: string;
  /**
   * Serve the map from a file (`${tmp}/access-map.json`, INGRESS_MAP at start) through a reloadable
   * AccessMapSource, as production does: the ingress gets the file (the console's Setup saves it),
   * and the worker's activities the same source. Without it the map is `h.map`, in memory.
   */
  accessMapFile?: boolean;
}

export const OPS_TOKEN = 'test-operator-token-0123456789';

export class IngressHarness {
  readonly taskQueue = `ingress-${Math.random().toString(36).slice(2, 8)}`;
  readonly tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ingress-test-'));
  readonly inboxFile = path.join(this.tmp, 'inbox.db');
  map = AccessMap.parse(INGRESS_MAP);
  /** With `accessMapFile`: the file and the source every part reads the map through. */
  mapSource: AccessMapSource | undefined;
  env!: TestWorkflowEnvironment;
  temporalPort!: number;
  /** The ingress' own client, on a lazy connection that outlives dev server restarts. */
  client!: Client;
  connection!: Connection;
  kisi!: KisiSandbox;
  nexudus!: NexudusSandbox;
  nexudusClient!: NexudusClient;
  kisiClient!: KisiClient;
  /** Base URLs of the Kisi sandbox and of the Nexudus sandbox's API, for clients of a test's own. */
  kisiUrl!: string;
  nexudusApiUrl!: string;
  ingress!: Ingress;
  /** http://127.0.0.1:<port> of the ingress. */
  url!: string;
  private server!: http.Server;
  private worker: Worker | undefined;
  private workerRun: Promise<void> | undefined;
  private closers: Array<() => Promise<void>> = [];

  private constructor(private readonly options: IngressHarnessOptions) {}

  static async start(options: IngressHarnessOptions = {}): Promise<IngressHarness> {
    quietSdk();
    const h = new IngressHarness(options);
    try {
      await h.boot();
    } catch (error) {
      await h.close();
      throw error;
    }
    return h;
  }

  get secrets(): WebhookSecrets {
    return { nexudus: NEXUDUS_SECRET, kisi: KISI_SECRET, acceptUnsigned: false, ...this.options.secrets };
  }

  private async boot(): Promise<void> {
    // The ingress' port first: the sandboxes deliver their webhooks to it.
    let handler: http.RequestListener = (_req, res) => res.writeHead(503).end();
    this.server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.closers.push(
      () =>
        new Promise<void>((resolve) => {
          this.server.close(() => resolve());
          this.server.closeAllConnections();
        }),
    );

    // A free port can be taken by another process before the server binds it: try afresh.
    for (let attempt = 1; ; attempt++) {
      this.temporalPort = await freePort();
      try {
        await this.startTemporalServer();
        break;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
    this.connection = lazyConnection(`127.0.0.1:${this.temporalPort}`);
    this.client = newClient(this.connection, { payloadKeys: this.options.payloadKeys });
    this.closers.push(() => this.connection.close());

    this.kisi = createKisiSandbox({ rateLimit: false, seed: kisiSeedWithUsers(), webhookUrl: `${this.url}/webhooks/kisi`, webhookSecret: this.secrets.kisi });
    this.nexudus = createNexudusSandbox({
      rateLimit: false,
      ingressUrl: this.url,
      webhookSecret: this.secrets.nexudus,
      signatureEncoding: this.options.signatureEncoding ?? 'ascii',
      delivery: { retryDelaysMs: [] },
    });
    const kisiListening = await this.kisi.listen(0);
    const nexudusListening = await this.nexudus.listen(0);
    this.closers.push(kisiListening.close, nexudusListening.close);
    this.kisiUrl = kisiListening.url;
    this.nexudusApiUrl = nexudusListening.apiUrl;
    this.kisiClient = new KisiClient({ apiKey: 'test-key', baseUrl: kisiListening.url, maxRps: 1000 });
    this.nexudusClient = new NexudusClient({ baseUrl: nexudusListening.apiUrl, ...DEFAULT_SANDBOX_USER, rateLimit: { minIntervalMs: 0, perMinute: 100_000 } });

    if (this.options.accessMapFile) {
      const file = path.join(this.tmp, 'access-map.json');
      fs.writeFileSync(file, `${JSON.stringify(INGRESS_MAP, null, 2)}\n`);
      this.mapSource = new AccessMapSource(file, pino({ level: 'silent' }));
    }
    if (this.options.worker !== false) await this.startWorker();

    this.ingress = this.buildIngress();
    this.closers.push(() => this.ingress.close());
    handler = (req, res) => this.ingress.app(req, res);
  }

  /** An ingress on this harness' dependencies and inbox file (a second one is refused while the first is open). */
  buildIngress(overrides: Partial<IngressOptions> = {}): Ingress {
    const lines = this.options.logLines;
    const logger = lines ? pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) }) : pino({ level: 'silent' });
    return assembleIngress({
      logger,
      client: this.client,
      isTemporalReachable: () => isTemporalReachable(this.connection, 1_000),
      nexudus: this.nexudusClient,
      accessMap: () => this.mapInForce(),
      accessMapFile: this.mapSource ? { file: this.mapSource.file, reload: (reason) => this.mapSource!.reload(reason) } : undefined,
      taskQueue: this.taskQueue,
      inboxFile: this.inboxFile,
      secrets: this.secrets,
      metrics: createIngressMetrics({ defaultMetrics: false }),
      hotPathDeadlineMs: 1_500,
      forwarderDeadlineMs: 3_000,
      forwarder: { initialBackoffMs: 100, maxBackoffMs: 1_000, idlePollMs: 200 },
      inboxLockTimeoutMs: 0,
      operatorAccess: { mode: 'token', token: this.options.opsToken ?? OPS_TOKEN },
      console: consoleFor({ secureCookies: false, namespace: 'default', temporalUiUrl: 'http://localhost:8233' }),
      codec: { codec: this.options.payloadKeys ? new AesGcmPayloadCodec(this.options.payloadKeys) : undefined, corsOrigins: ['http://localhost:8233'] },
      ...this.options.ingress,
      ...overrides,
    });
  }

  /** The map every part uses: the file's (with `accessMapFile`), else `h.map`. */
  mapInForce(): AccessMap {
    return this.mapSource?.get() ?? this.map;
  }

  /** Closes the running ingress (as a stopped process would) and serves a new one on the same inbox. */
  async restartIngress(overrides: Partial<IngressOptions> = {}): Promise<void> {
    await this.ingress.close();
    this.ingress = this.buildIngress(overrides);
  }

  private async startTemporalServer(): Promise<void> {
    this.env = await createDevServerEnv({ port: this.temporalPort, dbFilename: this.options.temporalDb ? path.join(this.tmp, 'temporal.db') : undefined });
  }

  private async startWorker(): Promise<void> {
    this.worker = await Worker.create({
      connection: this.env.nativeConnection,
      taskQueue: this.taskQueue,
      workflowBundle: await workflowBundle(),
      activities: this.activities(),
      dataConverter: dataConverterFor(this.options.payloadKeys),
    });
    this.workerRun = this.worker.run();
  }

  /** The product's activities on this harness' sandboxes, through the given clients (default: the harness' own). */
  activities(clients: { kisi: KisiClient; nexudus: NexudusClient } = { kisi: this.kisiClient, nexudus: this.nexudusClient }) {
    return createActivities({
      kisi: clients.kisi,
      nexudus: clients.nexudus,
      temporal: this.client,
      taskQueue: this.taskQueue,
      accessMap: () => this.mapInForce(),
      sendEmails: false,
      maxValidityMs: DEFAULT_MAX_VALIDITY_MS,
      userCacheTtlMs: 0,
    });
  }

  private async stopWorker(): Promise<void> {
    if (!this.worker) return;
    this.worker.shutdown();
    await this.workerRun;
    this.worker = undefined;
  }

  /** Stops the worker and the dev server (its data stays in the db file when `temporalDb`). */
  async stopTemporal(): Promise<void> {
    await this.stopWorker();
    await this.env.teardown();
  }

  /** The dev server again on the same port and file, and a new worker. */
  async startTemporal(): Promise<void> {
    await this.startTemporalServer();
    if (this.options.worker !== false) await this.startWorker();
  }

  /** POSTs a Nexudus webhook: `entities` serialised as the body unless `raw` is given; signed unless `signature: null`. */
  postNexudus(
    action: string,
    entities: unknown,
    options: { raw?: string | Buffer; signature?: string | null; secret?: string; encoding?: SignatureEncoding; contentType?: string } = {},
  ): request.Test {
    const body = options.raw ?? JSON.stringify(entities);
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // superagent serialises a Buffer as JSON under a JSON content type: bytes go as octet-stream.
    const req = request(this.ingress.app)
      .post(`/webhooks/nexudus/${action}`)
      .set('Content-Type', options.contentType ?? (typeof body === 'string' ? 'application/json' : 'application/octet-stream'));
    const signature = options.signature === undefined ? signNexudusBody(text, options.secret ?? NEXUDUS_SECRET, options.encoding ?? 'utf8') : options.signature;
    if (signature !== null) req.set('X-Nexudus-Hook-Signature', signature);
    return req.send(body);
  }

  /** An operator request with the token (`token: null` for none). */
  ops(method: 'get' | 'post' | 'delete', path: string, options: { token?: string | null } = {}): request.Test {
    const req = request(this.ingress.app)[method](path);
    const token = options.token === undefined ? (this.options.opsToken ?? OPS_TOKEN) : options.token;
    return token === null ? req : req.set('Authorization', `Bearer ${token}`);
  }

  postKisi(event: unknown, options: { raw?: string; signature?: string | null; secret?: string } = {}): request.Test {
    const body = options.raw ?? JSON.stringify(event);
    const req = request(this.ingress.app).post('/webhooks/kisi').set('Content-Type', 'application/json');
    const signature = options.signature === undefined ? signKisiBody(body, options.secret ?? KISI_SECRET) : options.signature;
    if (signature !== null) req.set('X-Signature', signature);
    return req.send(body);
  }

  status(workflowId: string): Promise<GrantStatus> {
    return this.client.workflow.getHandle(workflowId).query(grantStatusQuery);
  }

  /** True when a workflow with this id was ever started. */
  async exists(workflowId: string): Promise<boolean> {
    try {
      await this.client.workflow.getHandle(workflowId).describe();
      return true;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return false;
      throw error;
    }
  }

  /** Runs of a workflow id (a closed grant is never started again: this stays 1). */
  async runs(workflowId: string): Promise<number> {
    let n = 0;
    for await (const _ of this.client.workflow.list({ query: `WorkflowId = "${workflowId}"` })) n++;
    return n;
  }

  kisiUserId(email: string): number | undefined {
    return [...this.kisi.state.users.values()].find((u) => u.email === email)?.id;
  }

  assignments(email: string, groupId: number) {
    const userId = this.kisiUserId(email);
    return [...this.kisi.state.roleAssignments.values()].filter((a) => a.user_id === userId && a.group_id === groupId);
  }

  async close(): Promise<void> {
    // The worker first: its activities use the client and the sandboxes closed below.
    await this.stopWorker().catch(() => undefined);
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    await this.env?.teardown().catch(() => undefined);
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** The SDK logs worker state changes at INFO: keep test output to warnings (once per process). */
function quietSdk(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by an earlier suite in this jest worker.
  }
}

function kisiSeedWithUsers(): KisiSeed {
  const seed = loadKisiSeed(path.join(__dirname, '../../config/sandbox/kisi-seed.json'));
  return {
    ...seed,
    users: [
      { id: KISI_ADA, email: 'ada@example.com', name: 'Ada Lovelace', metadata: { nexudus_customer_id: 2000001 } },
      { id: KISI_GRACE, email: 'grace@example.com', name: 'Grace Hopper' },
      { id: KISI_STRANGER, email: 'stranger@example.com', name: 'Not A Customer' },
    ],
  };
}

/** Polls `check` (real time) until it holds. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
}

export const iso = (ms: number) => new Date(ms).toISOString();
export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
