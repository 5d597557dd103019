/**
 * The product as `npm start` runs it, on free ports, for benchmarks and drills: the Temporal dev
 * server on a database file (src/temporal/dev-server.ts), the worker (src/main/worker.ts) and the ingress
 * (src/main/ingress.ts) as child processes through tsx behind the supervisor's guard
 * (src/process/managed-process.ts), configured only through their environment. The Kisi and Nexudus
 * sandboxes run in this process, so a drill can read their state, inject faults and create
 * bookings directly.
 *
 * Or as production runs it (`temporal` and `roles: 'dist'`): another Temporal (the compose stack's
 * PostgreSQL-backed server, dev/production/) and the built roles (`node dist/src/main/worker.js`,
 * `node dist/src/main/ingress.js`; run `npm run build` first), as many workers as asked.
 *
 * Unlike the supervisor, a role that dies does not take the rest down: drills kill and restart
 * them on purpose. Every process started here is stopped by close(); the guard also stops them if
 * this process dies.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { ManagedProcess } from '../../src/process/managed-process';
import type { AccessMapFile } from '../../src/config/access-map';
import { createKisiSandbox, type KisiSandbox, type KisiSandboxOptions } from '../../dev/sandbox/kisi';
import { createNexudusSandbox, type NexudusSandbox, type NexudusSandboxOptions } from '../../dev/sandbox/nexudus';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { projectRoot } from '../../src/process/project-root';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { closeSafeInterceptors, newClient } from '../../src/temporal/connection';
import { payloadKeyRingFromEnv } from '../../src/temporal/payload-codec';
import { roleEnvironment } from '../../src/config/roles';
import { childrenOf } from './proc';
import { TcpProxy } from './tcp-proxy';

export const STACK_SECRETS = {
  NEXUDUS_WEBHOOK_SECRET: 'bench-nexudus-webhook-secret',
  KISI_WEBHOOK_SECRET: 'bench-kisi-webhook-secret',
  KISI_API_KEY: 'bench-kisi-api-key',
  NEXUDUS_USERNAME: 'bench@nexudus.invalid',
  NEXUDUS_PASSWORD: 'bench-nexudus-password',
};

export interface StackOptions {
  /** Names the temporary directory, the task queue and log files. */
  name: string;
  accessMap: AccessMapFile;
  kisi?: Omit<KisiSandboxOptions, 'webhookUrl' | 'webhookSecret' | 'apiKeys'>;
  nexudus?: Omit<NexudusSandboxOptions, 'ingressUrl' | 'webhookSecret' | 'users'>;
  /** Route the worker's and the ingress' Temporal traffic through a proxy that can be cut. */
  proxy?: boolean;
  /** Extra environment for the worker and the ingress (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /**
   * Keep the dev server's database file on tmpfs (/dev/shm) instead of the temporary directory on
   * disk: same SQLite file, restartable, but without a disk flush per transaction.
   */
  tmpfsDb?: boolean;
  /** Start without the worker / ingress (default: both). */
  worker?: boolean;
  ingress?: boolean;
  /** Worker processes on the task queue (default 1). */
  workers?: number;
  /** 'source' (default): the roles through tsx, as npm start; 'dist': the build, as production (`npm run build` first). */
  roles?: 'source' | 'dist';
  /** Run against this Temporal instead of a dev server of the stack's own. */
  temporal?: TemporalBackend;
  /** Dynamic config of the stack's own dev server (src/temporal/dev-server.ts). */
  temporalDynamicConfig?: Record<string, string | number | boolean>;
}

/**
 * A Temporal the stack runs against instead of its own dev server (dev/production/ provides the
 * compose stack's server on PostgreSQL). The stack starts it, restarts it for drills and closes it.
 */
export interface TemporalBackend {
  /** What server this is, for logs and results. */
  readonly description: string;
  /**
   * Starts it (the first time with everything it needs, its namespace included) and resolves with
   * its frontend address once the namespace answers; after stop(), starts it again (a restart).
   * `output` takes its processes' output, one line at a time, by process name (a log file each).
   */
  start(output: (name: string, line: string) => void): Promise<string>;
  /** Stops the server; its data stays for the next start(). */
  stop(graceMs?: number): Promise<void>;
  /** Processes to read memory of, by name: one PID, or several whose proportional shares are summed. */
  processes(): Record<string, number | number[] | undefined>;
  /** Stops everything it started and removes its data. */
  close(): Promise<void>;
}

type RoleName = 'temporal' | 'worker' | 'ingress';

export class Stack {
  readonly dir: string;
  readonly taskQueue: string;
  readonly kisi: KisiSandbox;
  readonly nexudus: NexudusSandbox;
  kisiUrl = '';
  nexudusApiUrl = '';
  ingressUrl = '';
  temporalPort = 0;
  /** A client straight to the dev server (not through the proxy): what the drill itself uses. */
  client!: Client;
  connection!: Connection;
  proxy: TcpProxy | undefined;
  private devServer: DevServer | undefined;
  private readonly workers: Array<ManagedProcess | undefined> = [];
  private ingress: ManagedProcess | undefined;
  private ingressPort = 0;
  private metricsPort = 0;
  private readonly logs = new Map<string, fs.WriteStream>();
  private readonly closers: Array<() => Promise<unknown>> = [];
  private readonly dbDir: string;
  private readonly log: (line: string) => void;
  private workerStarts = 0;
  private temporalStarted = false;

  private constructor(readonly options: StackOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${options.name}-`));
    this.taskQueue = `bench-${options.name}-${process.pid}`;
    this.dbDir = options.tmpfsDb && fs.existsSync('/dev/shm') ? fs.mkdtempSync(path.join('/dev/shm', `bench-${options.name}-`)) : this.dir;
    this.log = options.log ?? ((line) => process.stderr.write(`[${options.name}] ${line}\n`));
    this.kisi = createKisiSandbox({ ...options.kisi, apiKeys: [STACK_SECRETS.KISI_API_KEY] });
    this.nexudus = createNexudusSandbox({
      ...options.nexudus,
      users: [{ username: STACK_SECRETS.NEXUDUS_USERNAME, password: STACK_SECRETS.NEXUDUS_PASSWORD }],
      webhookSecret: STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET,
    });
  }

  static async start(options: StackOptions): Promise<Stack> {
    const stack = new Stack(options);
    try {
      await stack.boot();
    } catch (error) {
      await stack.close({ keepDir: true });
      throw new Error(`${options.name}: the stack did not start (${(error as Error).message}); logs in ${stack.dir}`);
    }
    return stack;
  }

  private async boot(): Promise<void> {
    fs.writeFileSync(this.accessMapFile, JSON.stringify(this.options.accessMap, null, 2));
    this.ingressPort = await freePort();
    this.ingressUrl = `http://127.0.0.1:${this.ingressPort}`;
    this.metricsPort = await freePort();
    // The sandboxes first: the worker and the ingress are pointed at them.
    const kisiListening = await this.kisi.listen(0);
    const nexudusListening = await this.nexudus.listen(0, '127.0.0.1');
    this.closers.push(kisiListening.close, nexudusListening.close);
    this.kisiUrl = kisiListening.url;
    this.nexudusApiUrl = nexudusListening.apiUrl;

    this.temporalPort = await freePort();
    await withFreshPort(() => this.startTemporal(), async () => void (this.temporalPort = await freePort()));
    if (this.options.proxy) {
      this.proxy = new TcpProxy('127.0.0.1', () => this.temporalPort);
      await this.proxy.listen();
      this.closers.push(() => this.proxy!.close());
    }
    this.connection = await Connection.connect({ address: `127.0.0.1:${this.temporalPort}`, interceptors: closeSafeInterceptors() });
    // The roles' data converter: a bench that sets TEMPORAL_PAYLOAD_KEY reads what they wrote.
    this.client = newClient(this.connection, { payloadKeys: payloadKeyRingFromEnv(this.roleEnv()) });
    this.closers.push(() => this.connection.close());
    if (this.options.worker !== false) {
      for (let i = 0; i < (this.options.workers ?? 1); i++) await this.startWorker(i);
    }
    if (this.options.ingress !== false) {
      await withFreshPort(
        () => this.startIngress(),
        async () => {
          this.ingressPort = await freePort();
          this.ingressUrl = `http://127.0.0.1:${this.ingressPort}`;
        },
      );
    }
  }

  get accessMapFile(): string {
    return path.join(this.dir, 'access-map.json');
  }

  /** Where the roles reach Temporal: the proxy when there is one. */
  get roleTemporalAddress(): string {
    return `127.0.0.1:${this.proxy ? this.proxy.port : this.temporalPort}`;
  }

  /** Base URL the Nexudus sandbox's registered webhooks should point at: `${ingressUrl}/webhooks/nexudus/<Action>`. */
  webhookUrl(action: string): string {
    return `${this.ingressUrl}/webhooks/nexudus/${action}`;
  }

  /** The environment the roles get (the CLIs run against the stack with it too). */
  roleEnv(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      DATA_DIR: path.join(this.dir, 'data'),
      TEMPORAL_ADDRESS: this.roleTemporalAddress,
      TEMPORAL_TASK_QUEUE: this.taskQueue,
      WORKER_METRICS_PORT: String(this.metricsPort),
      PORT: String(this.ingressPort),
      ACCESS_MAP: this.accessMapFile,
      KISI_BASE_URL: this.kisiUrl,
      NEXUDUS_BASE_URL: this.nexudusApiUrl,
      KISI_SEND_EMAILS: 'false',
      ...STACK_SECRETS,
      ...this.options.env,
    };
  }

  private output(role: string): (line: string) => void {
    let stream = this.logs.get(role);
    if (!stream) {
      stream = fs.createWriteStream(path.join(this.dir, `${role}.log`), { flags: 'a' });
      this.logs.set(role, stream);
    }
    const s = stream;
    return (line) => {
      s.write(`${line}\n`);
    };
  }

  logFile(role: RoleName): string {
    return path.join(this.dir, `${role}.log`);
  }

  // ---- Temporal ------------------------------------------------------------------------------

  /** The server the stack runs against, for results. */
  get temporalDescription(): string {
    return this.options.temporal?.description ?? 'Temporal CLI dev server (SQLite file)';
  }

  async startTemporal(): Promise<void> {
    const backend = this.options.temporal;
    if (backend) {
      if (this.temporalStarted) this.log('starting Temporal again');
      const address = await backend.start((name, line) => this.output(name)(line));
      this.temporalStarted = true;
      this.temporalPort = Number(address.split(':').pop());
      return;
    }
    const cli = await resolveExecutable('cli', { log: this.log });
    if (cli.type !== 'existing-path') throw new Error('no temporal CLI installed: run npm run provision');
    const lines: string[] = [];
    const toFile = this.output('temporal');
    try {
      this.devServer = await startDevServer({
        executable: cli.path,
        dbFilename: this.dbFile,
        port: this.temporalPort,
        uiPort: 0,
        ui: false,
        namespace: 'default',
        dynamicConfig: this.options.temporalDynamicConfig,
        output: (line) => {
          toFile(line);
          if (lines.length < 200) lines.push(line);
        },
      });
    } catch (error) {
      // The server's own words (e.g. the port taken) say more than "exited before it was ready".
      throw new Error(`${(error as Error).message}\n${lines.join('\n')}`);
    }
  }

  get dbFile(): string {
    return path.join(this.dbDir, 'temporal.db');
  }

  /** Stops the dev server (its data stays in the database file) or the other Temporal's server (its data stays too). */
  async stopTemporal(graceMs = 5_000): Promise<void> {
    await this.options.temporal?.stop(graceMs);
    await this.devServer?.stop(graceMs);
    this.devServer = undefined;
  }

  // ---- worker --------------------------------------------------------------------------------

  /** How a role is run: through tsx from src/ (as npm start) or from dist/ (as production). */
  private roleArgs(role: 'worker' | 'ingress'): string[] {
    return this.options.roles === 'dist' ? [`dist/src/main/${role}.js`] : ['--import', 'tsx', `src/main/${role}.ts`];
  }

  /** Worker `index` (0 first), its log in worker.log (worker-2.log, ... for the others). */
  async startWorker(index = 0): Promise<void> {
    // Each worker serves its metrics on a port of its own.
    await withFreshPort(() => this.spawnWorker(index), async () => void (this.metricsPort = await freePort()));
  }

  private async spawnWorker(index: number): Promise<void> {
    const marker = ++this.workerStarts;
    const lines: string[] = [];
    const name = index === 0 ? 'worker' : `worker-${index + 1}`;
    const toFile = this.output(name);
    const env = this.roleEnv();
    if (index > 0) env.WORKER_METRICS_PORT = String(await freePort());
    const worker = new ManagedProcess({
      name,
      command: process.execPath,
      args: this.roleArgs('worker'),
      env: roleEnvironment('worker', env),
      cwd: projectRoot(),
      output: (line) => {
        toFile(line);
        if (lines.length < 500) lines.push(line);
      },
    });
    this.workers[index] = worker;
    const deadline = Date.now() + 120_000;
    while (!lines.some((l) => l.includes('worker polling'))) {
      if (!worker.running) throw new Error(`${name} (start ${marker}) exited before polling:\n${lines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${name} (start ${marker}) not polling within 120 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** SIGKILL to the worker's process group: no drain, activities in flight are simply lost. */
  async killWorker(index = 0): Promise<void> {
    const worker = this.workers[index];
    if (!worker?.pid) return;
    try {
      process.kill(-worker.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await worker.exited;
    this.workers[index] = undefined;
  }

  /** Stops worker `index`, or every worker when none is given (SIGTERM: it drains, then SIGKILL after `graceMs`). */
  async stopWorker(graceMs = 6_500, index?: number): Promise<void> {
    const indexes = index === undefined ? this.workers.map((_, i) => i) : [index];
    await Promise.all(indexes.map((i) => this.workers[i]?.stop(graceMs)));
    for (const i of indexes) this.workers[i] = undefined;
  }

  // ---- ingress -------------------------------------------------------------------------------

  async startIngress(): Promise<void> {
    const lines: string[] = [];
    const toFile = this.output('ingress');
    const ingress = new ManagedProcess({
      name: 'ingress',
      command: process.execPath,
      args: this.roleArgs('ingress'),
      env: roleEnvironment('ingress', this.roleEnv()),
      cwd: projectRoot(),
      output: (line) => {
        toFile(line);
        if (lines.length < 200) lines.push(line);
      },
    });
    this.ingress = ingress;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!ingress.running) throw new Error(`ingress exited before answering:\n${lines.join('\n')}`);
      try {
        const response = await fetch(`${this.ingressUrl}/healthz`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error('ingress not answering /healthz within 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stopIngress(graceMs = 6_500): Promise<void> {
    await this.ingress?.stop(graceMs);
    this.ingress = undefined;
  }

  /** GET /readyz of the ingress (its inbox backlog and whether Temporal answers). */
  async readyz(): Promise<{ status: number; body: { inbox?: { backlog: number; dead: number } } & Record<string, unknown> }> {
    const response = await fetch(`${this.ingressUrl}/readyz`, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: (await response.json()) as { inbox?: { backlog: number; dead: number } } };
  }

  // ---- processes -----------------------------------------------------------------------------

  /**
   * PIDs of the roles themselves (not their guards), for /proc readings: `worker` is the first
   * worker (`worker-2`, ... the others); another Temporal names its own processes (the server as
   * `temporal`, and e.g. `postgres` with several PIDs).
   */
  pids(): Record<string, number | number[] | undefined> & Record<RoleName, number | number[] | undefined> {
    const behindGuard = (p: ManagedProcess | undefined) => (p?.pid === undefined || !p.running ? undefined : childrenOf(p.pid)[0]);
    const workers = Object.fromEntries(this.workers.slice(1).map((w, i) => [`worker-${i + 2}`, behindGuard(w)]));
    const temporal = this.options.temporal ? this.options.temporal.processes() : { temporal: behindGuard(this.devServer?.process) };
    return { temporal: undefined, ...temporal, worker: behindGuard(this.workers[0]), ...workers, ingress: behindGuard(this.ingress) };
  }

  get workerRunning(): boolean {
    return this.workers[0]?.running ?? false;
  }

  /** Stops everything started here; the temporary directory goes too unless `keepDir`. */
  async close(options: { keepDir?: boolean } = {}): Promise<void> {
    await Promise.all([this.stopIngress().catch(() => undefined), this.stopWorker().catch(() => undefined)]);
    await this.stopTemporal().catch(() => undefined);
    await this.options.temporal?.close().catch(() => undefined);
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    this.closers.length = 0;
    await Promise.all([...this.logs.values()].map((s) => new Promise((resolve) => s.end(resolve))));
    this.logs.clear();
    if (this.dbDir !== this.dir) fs.rmSync(this.dbDir, { recursive: true, force: true });
    if (!options.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    else this.log(`logs kept in ${this.dir}`);
  }
}

/**
 * Runs `start`; when it fails because a port picked as free was taken meanwhile (other test runs
 * pick ports too), picks new ports with `repick` and tries again, twice at most.
 */
async function withFreshPort(start: () => Promise<void>, repick: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (attempt >= 3 || !/EADDRINUSE|address already in use|bind/i.test(message)) throw error;
      await repick();
    }
  }
}

/** Closes `stack` on Ctrl-C / SIGTERM so an interrupted run leaves no process behind. */
/** The stacks a signal must close: those of the bench running now (earlier ones unregistered). */
const closeOnSignal = new Set<() => Promise<void>>();
let signalsHandled = false;

/**
 * Ctrl-C or SIGTERM closes the registered stacks before leaving, so no dev server or worker is
 * left behind. Returns the unregister function: call it once the stack is closed, so that a later
 * bench in the same run (`npm run bench`) is not cut short by an earlier one's handler.
 */
export function closeOnSignals(close: () => Promise<void>): () => void {
  // Under jest the runner owns the signals (and suites close their stacks themselves).
  if (process.env.JEST_WORKER_ID !== undefined) return () => undefined;
  closeOnSignal.add(close);
  if (!signalsHandled) {
    signalsHandled = true;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`${signal}: stopping the stack\n`);
        void Promise.allSettled([...closeOnSignal].map((c) => c())).finally(() => process.exit(130));
      });
    }
  }
  return () => closeOnSignal.delete(close);
}
