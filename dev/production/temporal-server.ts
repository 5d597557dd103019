/**
 * The compose stack's Temporal without Docker: PostgreSQL, the schema one-shot, the server and the
 * namespace one-shot, each started the way docker-compose.yml starts it, with the environment
 * compose gives it. Only what differs between a container network and one machine is overridden:
 * hosts (127.0.0.1 instead of service names), ports (free ones instead of fixed ones inside
 * containers), the PostgreSQL password (made up per run) and the dynamic config file's path (the
 * file the compose volume mounts, read from the checkout).
 *
 *   temporal-schema   deploy/temporal/setup-postgres.sh   with temporal-sql-tool first on PATH
 *   temporal          temporal-server start               (the image's entrypoint: the server's
 *                                                           embedded, environment-driven config)
 *   temporal-setup    deploy/temporal/setup-namespace.sh  with the project's temporal CLI on PATH
 *   temporal-ui       ui-server --env docker start        (the image's command and config template)
 *
 * The server, SQL tool and UI server are built from the Go module proxy (provision-temporal.sh) at
 * the versions the compose images are pinned to; PostgreSQL is Debian's (postgres.ts).
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ManagedProcess } from '../../src/process/managed-process';
import { binLinkPath, resolveExecutable, withInstallLock } from '../temporal-binaries';
import { waitUntilServing } from '../../src/temporal/dev-server';
import type { TemporalBackend } from '../../bench/lib/stack';
import { childrenOf } from '../../bench/lib/proc';
import { Compose, PROJECT_ROOT } from './compose';
import { Postgres, provisionPostgres, type PostgresInstall } from './postgres';

const run = promisify(execFile);

/** A compose image's release tag: the one pin for the images and the builds here. */
function releaseTag(compose: Compose, service: string): string {
  const tag = compose.imageTag(service);
  if (!tag || !/^\d+\.\d+\.\d+$/.test(tag)) throw new Error(`docker-compose.yml: ${service} image tag ${tag} is not a release version`);
  return tag;
}

/** The server version: the compose file's temporalio/server tag. */
export function composeTemporalVersion(compose = Compose.load({})): string {
  return releaseTag(compose, 'temporal');
}

export interface GoInstall {
  dir: string;
  version: string;
  /** What provisioning did (found the build, or built it now and how long that took). */
  provisioned: string;
}

/**
 * Builds the server and SQL tool, or the Web UI server, once per version
 * (dev/production/provision-temporal.sh, under a lock so parallel runs build once).
 */
export async function provisionGo(kind: 'server' | 'ui', version: string, log: (line: string) => void): Promise<GoInstall> {
  const dir = path.join(PROJECT_ROOT, '.tools', kind === 'server' ? 'temporal-server' : 'temporal-ui', version);
  const ready = () => fs.existsSync(path.join(dir, '.complete'));
  if (ready()) return { dir, version, provisioned: 'already built' };
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const started = Date.now();
  const env = kind === 'server' ? { TEMPORAL_SERVER_VERSION: version, TEMPORAL_SERVER_DIR: dir } : { TEMPORAL_UI_VERSION: version, TEMPORAL_UI_DIR: dir };
  await withInstallLock(`${dir}.install.lock`, log, 60 * 60_000, async () => {
    if (ready()) return;
    await new Promise<void>((resolve, reject) => {
      const child = execFile('sh', [path.join(__dirname, 'provision-temporal.sh'), kind], { env: { ...process.env, ...env }, maxBuffer: 64 * 2 ** 20 }, (error) => (error ? reject(error) : resolve()));
      child.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log(line);
      });
    });
  });
  if (!ready()) throw new Error(`provision-temporal.sh ${kind} finished but ${dir} is not complete`);
  return { dir, version, provisioned: `built in ${Math.round((Date.now() - started) / 1000)} s` };
}

export interface ProductionTemporalOptions {
  log: (line: string) => void;
}

type Output = (name: 'postgres' | 'temporal-schema' | 'temporal' | 'temporal-setup' | 'temporal-ui', line: string) => void;

type Ports = Record<'FRONTEND_GRPC_PORT' | 'FRONTEND_HTTP_PORT' | 'FRONTEND_MEMBERSHIP_PORT' | 'HISTORY_GRPC_PORT' | 'HISTORY_MEMBERSHIP_PORT' | 'MATCHING_GRPC_PORT' | 'MATCHING_MEMBERSHIP_PORT' | 'WORKER_GRPC_PORT' | 'WORKER_MEMBERSHIP_PORT', string>;

export class ProductionTemporal implements TemporalBackend {
  readonly compose: Compose;
  readonly namespace: string;
  server: GoInstall | undefined;
  ui: GoInstall | undefined;
  pgInstall: PostgresInstall | undefined;
  postgres: Postgres | undefined;
  /** The Web UI's address once it runs (http://127.0.0.1:<port>). */
  uiUrl = '';
  private process: ManagedProcess | undefined;
  private uiProcess: ManagedProcess | undefined;
  private ports: Ports | undefined;
  private readonly workDir: string;
  private setUp = false;
  private output: Output = () => undefined;

  constructor(private readonly options: ProductionTemporalOptions) {
    // deploy/.env's stand-in: only the variables the Temporal services read; the password is made up per run.
    this.compose = Compose.load({ POSTGRES_PASSWORD: crypto.randomBytes(12).toString('hex') });
    this.namespace = this.compose.env('temporal-setup').NAMESPACE!;
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'production-temporal-'));
  }

  get version(): string {
    return composeTemporalVersion(this.compose);
  }

  get description(): string {
    const pg = this.pgInstall ? `PostgreSQL ${this.pgInstall.version} (Debian)` : 'PostgreSQL';
    return `temporal-server ${this.version} (go.temporal.io/server, built from the Go module proxy) on ${pg}, SQL visibility, ${this.compose.env('temporal').NUM_HISTORY_SHARDS ?? 4} history shards`;
  }

  get address(): string {
    if (!this.ports) throw new Error('the production Temporal has not been started');
    return `127.0.0.1:${this.ports.FRONTEND_GRPC_PORT}`;
  }

  /** What provisioning found or did, one line. */
  get provisioned(): string {
    return `temporal-server ${this.server?.version} ${this.server?.provisioned}, Web UI server ${this.ui?.version} ${this.ui?.provisioned}, PostgreSQL ${this.pgInstall?.version} ${this.pgInstall?.provisioned}`;
  }

  /** Installs what is missing (cached: built once per version, apt-get once per machine). */
  async provision(): Promise<void> {
    this.server ??= await provisionGo('server', this.version, this.options.log);
    this.ui ??= await provisionGo('ui', releaseTag(this.compose, 'temporal-ui'), this.options.log);
    this.pgInstall ??= await provisionPostgres(this.options.log);
    // The namespace one-shot runs the project's temporal CLI (.tools/temporal/bin/temporal).
    const cli = await resolveExecutable('cli', { log: this.options.log });
    if (cli.type !== 'existing-path') throw new Error('no temporal CLI installed: run npm run provision');
  }

  /**
   * The first call brings the whole Temporal side of the stack up in compose's order (postgresql,
   * temporal-schema, temporal, temporal-setup); later calls start the server again on the same
   * ports and database (a restart). Resolves with the frontend's address.
   */
  async start(output?: Output): Promise<string> {
    if (output) this.output = output;
    await this.provision();
    if (!this.postgres) {
      const db = this.compose.env('postgresql');
      this.postgres = new Postgres({ install: this.pgInstall!, user: db.POSTGRES_USER!, password: db.POSTGRES_PASSWORD!, output: (line) => this.output('postgres', line) });
      await this.postgres.start();
      this.options.log(`PostgreSQL ${this.pgInstall!.version} on 127.0.0.1:${this.postgres.port} (data in ${this.postgres.dataDir})`);
      await this.runOneShot('temporal-schema', { POSTGRES_SEEDS: '127.0.0.1', DB_PORT: String(this.postgres.port) }, this.server!.dir);
    }
    if (!this.ports) {
      const names: Array<keyof Ports> = ['FRONTEND_GRPC_PORT', 'FRONTEND_HTTP_PORT', 'FRONTEND_MEMBERSHIP_PORT', 'HISTORY_GRPC_PORT', 'HISTORY_MEMBERSHIP_PORT', 'MATCHING_GRPC_PORT', 'MATCHING_MEMBERSHIP_PORT', 'WORKER_GRPC_PORT', 'WORKER_MEMBERSHIP_PORT'];
      const ports: Partial<Ports> = {};
      const taken = new Set<number>();
      for (const name of names) {
        const port = await freeLowPort(taken);
        taken.add(port);
        ports[name] = String(port);
      }
      this.ports = ports as Ports;
    }
    await this.startServer();
    if (!this.setUp) {
      await this.runOneShot('temporal-setup', { TEMPORAL_ADDRESS: this.address }, path.dirname(binLinkPath('cli')), () => !this.process?.running);
      this.setUp = true;
    }
    await waitUntilServing(this.address, this.namespace, 120_000, () => !this.process?.running);
    if (!this.uiProcess) await this.startUi();
    return this.address;
  }

  /**
   * The `temporal-ui` service: the UI server the image runs (`ui-server --env docker start`, its
   * config/docker.yaml filled from the environment) with the service's compose environment,
   * pointed at this server (TEMPORAL_ADDRESS) on a free port. It stays up across server restarts
   * (it reconnects), as the compose service does.
   */
  private async startUi(): Promise<void> {
    const port = await freeLowPort(new Set(Object.values(this.ports!).map(Number)));
    this.uiUrl = `http://127.0.0.1:${port}`;
    this.uiProcess = new ManagedProcess({
      name: 'temporal-ui',
      command: path.join(this.ui!.dir, 'ui-server'),
      args: ['--root', this.ui!.dir, '--env', 'docker', 'start'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.compose.env('temporal-ui'), TEMPORAL_ADDRESS: this.address, TEMPORAL_UI_PORT: String(port) },
      output: (line) => this.output('temporal-ui', line),
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.uiProcess.running) throw new Error('the Web UI server exited before it answered (temporal-ui.log)');
      const ok = await fetch(`${this.uiUrl}/api/v1/settings`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`the Web UI did not answer on ${this.uiUrl} within 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The `temporal` service's environment from docker-compose.yml, with this machine's hosts, ports and paths. */
  serverEnv(): NodeJS.ProcessEnv {
    const env = this.compose.env('temporal');
    // The image's working directory is /etc/temporal; the file comes from the compose volume.
    const dynamicConfig = this.compose.hostPath('temporal', path.posix.join('/etc/temporal', env.DYNAMIC_CONFIG_FILE_PATH!));
    if (!dynamicConfig || !fs.existsSync(dynamicConfig)) throw new Error(`the temporal service's dynamic config ${env.DYNAMIC_CONFIG_FILE_PATH} is not mounted from the checkout`);
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...env,
      POSTGRES_SEEDS: '127.0.0.1',
      DB_PORT: String(this.postgres!.port),
      // In a container 0.0.0.0 (its own network); here loopback only.
      BIND_ON_IP: '127.0.0.1',
      DYNAMIC_CONFIG_FILE_PATH: dynamicConfig,
      ...this.ports,
    };
  }

  private async startServer(): Promise<void> {
    if (this.process?.running) return;
    this.process = new ManagedProcess({
      name: 'temporal',
      command: path.join(this.server!.dir, 'temporal-server'),
      args: ['start'],
      env: this.serverEnv(),
      output: (line) => this.output('temporal', line),
    });
  }

  /** Runs a compose one-shot's entrypoint script with its compose environment plus `overrides`. */
  private async runOneShot(service: 'temporal-schema' | 'temporal-setup', overrides: Record<string, string>, binDir: string, gaveUp: () => boolean = () => false): Promise<void> {
    const script = this.compose.entrypointScript(service);
    const env = { PATH: `${binDir}:${process.env.PATH}`, HOME: process.env.HOME, ...this.compose.env(service), ...overrides };
    const started = Date.now();
    const child = execFile('/bin/sh', [script], { env, cwd: this.workDir, maxBuffer: 64 * 2 ** 20 });
    const lines = (chunk: Buffer | string) => {
      for (const line of chunk.toString().split('\n')) if (line.trim()) this.output(service, line);
    };
    child.stdout?.on('data', lines);
    child.stderr?.on('data', lines);
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const watch = setInterval(() => {
      if (gaveUp()) child.kill('SIGTERM');
    }, 500);
    const code = await exit.finally(() => clearInterval(watch));
    if (code !== 0) throw new Error(`${service} (${path.relative(PROJECT_ROOT, script)}) exited with ${code}${gaveUp() ? ': the Temporal server exited meanwhile' : ''}`);
    this.options.log(`${service}: ${path.relative(PROJECT_ROOT, script)} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }

  /** Stops the server only (SIGTERM, SIGKILL after `graceMs`); PostgreSQL and its data stay. */
  async stop(graceMs = 10_000): Promise<void> {
    await this.process?.stop(graceMs);
    this.process = undefined;
  }

  /** The server's and PostgreSQL's processes, for memory readings. */
  processes(): Record<string, number | number[] | undefined> {
    const guard = this.process?.running ? this.process.pid : undefined;
    return { temporal: guard === undefined ? undefined : childrenOf(guard)[0], postgres: this.postgres?.pids() ?? [] };
  }

  /** Everything: the Web UI, the server, PostgreSQL, and their directories. */
  async close(): Promise<void> {
    await this.uiProcess?.stop(5_000).catch(() => undefined);
    this.uiProcess = undefined;
    await this.stop().catch(() => undefined);
    await this.postgres?.destroy().catch(() => undefined);
    this.postgres = undefined;
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }

  /** `temporal-server --version`, `ui-server --version` and `postgres --version`, for results. */
  async versions(): Promise<{ server: string; ui: string; postgres: string }> {
    await this.provision();
    const version = async (file: string) => (await run(file, ['--version'])).stdout.trim();
    return {
      server: await version(path.join(this.server!.dir, 'temporal-server')),
      ui: await version(path.join(this.ui!.dir, 'ui-server')),
      postgres: await version(path.join(this.pgInstall!.binDir, 'postgres')),
    };
  }
}

/**
 * A free port below 32768. The server records its services' membership ports in PostgreSQL as a
 * smallint (cluster_membership.rpc_port): a port from the kernel's ephemeral range (32768 and
 * above) fails its start with "value ... is out of range for type smallint".
 */
async function freeLowPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 20000 and 32000');
}
