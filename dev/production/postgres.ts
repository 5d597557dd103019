/**
 * A throw-away PostgreSQL for npm run test:production: Debian's server binaries (installed with
 * apt-get when absent and we are root, as in CI), a fresh data directory under the system's temp
 * directory, a free port on 127.0.0.1, and the superuser the compose stack's `postgresql` service
 * has (the postgres image makes POSTGRES_USER a superuser with POSTGRES_PASSWORD; host connections
 * need the password). Stopped and deleted by stop().
 *
 * PostgreSQL refuses to run as root: as root the server runs as the `postgres` user the Debian
 * package creates (setpriv, util-linux), and the data directory is given to that user.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ManagedProcess } from '../../src/process/managed-process';
import { freePort } from '../lib/ports';
import { childrenOf } from '../../bench/lib/proc';

const run = promisify(execFile);
const DEBIAN_ROOT = '/usr/lib/postgresql';

export interface PostgresInstall {
  /** Directory holding initdb and postgres. */
  binDir: string;
  /** Major version, e.g. "15". */
  version: string;
  /** What provisioning did: found it installed, or installed it now (and how long that took). */
  provisioned: string;
}

/** The newest Debian PostgreSQL installed, if any. */
export function findPostgres(): PostgresInstall | undefined {
  if (!fs.existsSync(DEBIAN_ROOT)) return undefined;
  const versions = fs
    .readdirSync(DEBIAN_ROOT)
    .filter((v) => fs.existsSync(path.join(DEBIAN_ROOT, v, 'bin', 'postgres')) && fs.existsSync(path.join(DEBIAN_ROOT, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  const version = versions[0];
  return version ? { binDir: path.join(DEBIAN_ROOT, version, 'bin'), version, provisioned: 'already installed' } : undefined;
}

const isRoot = () => process.getuid?.() === 0;

/**
 * Finds Debian's PostgreSQL or installs it (`apt-get install -y postgresql`, root only). The
 * package creates and starts a default cluster of its own (`<version>/main` on port 5432): when
 * this install made it, it is stopped and dropped again, so nothing of the package keeps running.
 */
export async function provisionPostgres(log: (line: string) => void): Promise<PostgresInstall> {
  const found = findPostgres();
  if (found) return found;
  if (!isRoot()) throw new Error(`PostgreSQL is not installed (${DEBIAN_ROOT}/<version>/bin/postgres) and installing it needs root: sudo apt-get install -y postgresql`);
  const started = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log('installing PostgreSQL from Debian (apt-get update; apt-get install -y postgresql)');
  await run('apt-get', ['update'], { env, maxBuffer: 64 * 2 ** 20 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], { env, maxBuffer: 64 * 2 ** 20 });
  const installed = findPostgres();
  if (!installed) throw new Error(`apt-get install postgresql finished but ${DEBIAN_ROOT}/<version>/bin/postgres is not there`);
  // The package's own cluster: ours runs in a throw-away directory instead.
  await run('pg_dropcluster', ['--stop', installed.version, 'main']).catch((error: Error) => log(`could not drop the package's default cluster: ${error.message}`));
  return { ...installed, provisioned: `installed with apt-get in ${Math.round((Date.now() - started) / 1000)} s` };
}

export interface PostgresOptions {
  install: PostgresInstall;
  /** The superuser and its password (compose: POSTGRES_USER / POSTGRES_PASSWORD of the postgresql service). */
  user: string;
  password: string;
  output: (line: string) => void;
}

export class Postgres {
  port = 0;
  readonly dir: string;
  private server: ManagedProcess | undefined;
  private readonly owner: string | undefined;

  constructor(private readonly options: PostgresOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'production-postgres-'));
    this.owner = isRoot() ? 'postgres' : undefined;
  }

  get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /**
   * `cmd args` as the server's owner: directly, or through setpriv when we are root (it execs the
   * command as that user, so signals reach the server itself, not an intermediate su-like process).
   */
  private asOwner(command: string, args: string[]): [string, string[]] {
    return this.owner ? ['setpriv', [`--reuid=${this.owner}`, `--regid=${this.owner}`, '--init-groups', '--', command, ...args]] : [command, args];
  }

  async start(): Promise<void> {
    const { install, user, password } = this.options;
    const pwfile = path.join(this.dir, 'pwfile');
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (this.owner) execFileSync('chown', ['-R', `${this.owner}:`, this.dir]);
    const [initCommand, initArgs] = this.asOwner(path.join(install.binDir, 'initdb'), [
      '-D',
      this.dataDir,
      '--username',
      user,
      '--pwfile',
      pwfile,
      // As the postgres image: password for TCP connections, trust on the local socket.
      '--auth-host',
      'scram-sha-256',
      '--auth-local',
      'trust',
      '--encoding',
      'UTF8',
      '--no-instructions',
    ]);
    await run(initCommand, initArgs, { cwd: this.dir });
    fs.rmSync(pwfile);
    this.port = await freePort();
    const [command, args] = this.asOwner(path.join(install.binDir, 'postgres'), [
      '-D',
      this.dataDir,
      '-p',
      String(this.port),
      '-c',
      'listen_addresses=127.0.0.1',
      // The socket in the throw-away directory, not /var/run/postgresql (root's, maybe absent).
      '-c',
      `unix_socket_directories=${this.dir}`,
    ]);
    this.server = new ManagedProcess({ name: 'postgres', command, args, output: this.options.output });
    await this.waitUntilReady(30_000);
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const isready = path.join(this.options.install.binDir, 'pg_isready');
    for (;;) {
      if (!this.server?.running) throw new Error('postgres exited before it accepted connections');
      try {
        await run(isready, ['-h', '127.0.0.1', '-p', String(this.port), '-U', this.options.user, '-d', 'postgres', '-t', '1']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres not ready on port ${this.port} within ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  /** PIDs of the postmaster and its backends (for memory readings). */
  pids(): number[] {
    const guard = this.server?.pid;
    if (guard === undefined || !this.server?.running) return [];
    const all: number[] = [];
    const walk = (pid: number) => {
      for (const child of childrenOf(pid)) {
        all.push(child);
        walk(child);
      }
    };
    walk(guard);
    return all.filter((pid) => processName(pid) === 'postgres');
  }

  async stop(): Promise<void> {
    await this.server?.stop(10_000);
    this.server = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function processName(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}
