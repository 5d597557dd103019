/**
 * A child process of the supervisor: spawned through src/process/guard.ts in its own process group,
 * its output split into lines and handed on with a `[name]` prefix, stoppable with a deadline.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { projectRoot } from './project-root';

export interface ManagedProcessOptions {
  /** Role name; the log prefix. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Receives each output line, already formatted with the prefix. */
  output: (line: string) => void;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The guard next to this file: TypeScript through tsx in development, plain JS from dist/. */
function guardArgs(): string[] {
  const compiled = __filename.endsWith('.js');
  return compiled ? [path.join(__dirname, 'guard.js')] : ['--import', 'tsx', path.join(__dirname, 'guard.ts')];
}

export class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  constructor(readonly options: ManagedProcessOptions) {
    const args = [...guardArgs(), '--', options.command, ...options.args];
    this.child = spawn(process.execPath, args, {
      // The project root, where `--import tsx` resolves.
      cwd: options.cwd ?? projectRoot(),
      env: options.env,
      // Own process group: a terminal's Ctrl-C reaches only the supervisor, which stops children in order.
      detached: true,
      // stdin is the guard's lifeline to the supervisor (see guard.ts); never written to.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => options.output(formatLine(options.name, line)));
    }
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** SIGTERM to the guard (which passes it on), SIGKILL to the whole group after `graceMs`. */
  async stop(graceMs: number): Promise<Exit> {
    if (this.exit) return this.exit;
    this.signal('SIGTERM', false);
    const timer = setTimeout(() => this.signal('SIGKILL', true), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    // The guard exits after its child; anything else left in the group (grandchildren) goes too.
    this.signal('SIGKILL', true);
    return exit;
  }

  private signal(signal: NodeJS.Signals, group: boolean): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(group ? -this.child.pid : this.child.pid, signal);
    } catch {
      // already gone
    }
  }
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** `[name] text`; pino JSON lines become `HH:MM:SS LEVEL msg key=value` so the terminal stays readable. */
export function formatLine(name: string, line: string): string {
  const prefix = `[${name}]`;
  if (!line.startsWith('{')) return `${prefix} ${line}`;
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    if (typeof record.level !== 'number' || typeof record.msg !== 'string') return `${prefix} ${line}`;
    const { level, time, msg, pid: _pid, hostname: _hostname, name: _name, err, ...rest } = record;
    const stack = typeof (err as { stack?: unknown } | undefined)?.stack === 'string' ? `\n${(err as { stack: string }).stack}` : '';
    const clock = typeof time === 'number' ? new Date(time).toISOString().slice(11, 19) : '';
    const extras = Object.entries(rest)
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const text = `${prefix} ${clock} ${LEVELS[level] ?? level} ${msg}${extras ? ` ${extras}` : ''}${stack}`;
    // Multi-line messages (stack traces, the SDK's bundler report) keep the prefix on every line.
    return text.split('\n').join(`\n${prefix}   `);
  } catch {
    return `${prefix} ${line}`;
  }
}
