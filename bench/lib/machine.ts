/**
 * What a figure was measured on: every benchmark prints this next to its numbers and stores it with
 * its results, because a latency means nothing without the cores, the runtime and the server.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { projectRoot } from '../../src/process/project-root';

export interface MachineInfo {
  cores: number;
  cpu: string;
  memoryGiB: number;
  platform: string;
  node: string;
  temporalSdk: string;
  /** `temporal --version`: CLI, server and UI versions of the dev server in use. */
  temporalCli: string;
  /** The Temporal measured against when it is not the dev server (dev/production/: the compose stack's server on PostgreSQL). */
  temporalServer?: string;
  /** 1-minute load average when the run started: a busy machine makes every figure worse. */
  loadAverageAtStart: number;
  /** The product's commit measured, with "+changes" when its code differed from it. */
  commit: string;
  measuredAt: string;
}

export async function machineInfo(): Promise<MachineInfo> {
  const cli = await resolveExecutable('cli', { log: () => undefined });
  let temporalCli = 'unknown';
  if (cli.type === 'existing-path') {
    const { stdout } = await promisify(execFile)(cli.path, ['--version']);
    temporalCli = stdout.trim();
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sdk = (require('@temporalio/worker/package.json') as { version: string }).version;
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    temporalSdk: sdk,
    temporalCli,
    loadAverageAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
    commit: await commitOf(),
    measuredAt: new Date().toISOString(),
  };
}

async function commitOf(): Promise<string> {
  const git = (...args: string[]) => promisify(execFile)('git', args, { cwd: projectRoot() }).then((r) => r.stdout.trim());
  try {
    const head = await git('rev-parse', '--short', 'HEAD');
    const changed = await git('status', '--porcelain', '--', 'src', 'workflows', 'activities', 'config', 'package.json');
    return changed ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

/** One line for the console and the markdown table's caption. */
export function describeMachine(m: MachineInfo): string {
  const temporal = m.temporalServer ? `Temporal: ${m.temporalServer}` : m.temporalCli;
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, ${m.platform}; Node ${m.node}; Temporal TS SDK ${m.temporalSdk}; ${temporal}; load average at start ${m.loadAverageAtStart}; product at ${m.commit}`;
}
