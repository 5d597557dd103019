/**
 * What `npm start` and `npm run sandbox` do as supervisors of a process tree: each role a child
 * behind src/process/guard.ts (ManagedProcess); Ctrl-C, SIGTERM, SIGHUP or the loss of our parent
 * stop every role, in stages, within a hard deadline; a role that exits while nobody asked for it
 * takes the rest down (a half-running product hides failures).
 */
import { ManagedProcess } from '../../src/process/managed-process';

export interface Role {
  name: string;
  stop(graceMs: number): Promise<unknown>;
  running(): boolean;
}

export interface SupervisorOptions {
  /** Prints one line under the supervisor's own prefix. */
  say: (line: string) => void;
  /** Where the roles' own output lines go. */
  out: (line: string) => void;
  /** What a stop stops, for the log ("everything", "the sandboxes"). */
  what: string;
  /** Stop stages in order: each names its roles and their grace before SIGKILL. Roles in no stage stop in the first. */
  stages: Array<{ roles?: (name: string) => boolean; graceMs: number }>;
  /** After this long the supervisor exits whatever is still running (the guards then kill it). */
  deadlineMs: number;
}

export class Supervisor {
  private readonly roles: Role[] = [];
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {}

  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /**
   * Stops on a signal, or when re-parented: under `npm start` / `npm run` we run below `sh -c`,
   * and a SIGTERM to npm may end that shell without reaching us.
   */
  watchSignalsAndParent(): void {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(signal, () => {
        this.options.say(`${signal}: stopping ${this.options.what}`);
        void this.shutdown(0);
      });
    }
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) {
        this.options.say(`parent process ${parent} is gone: stopping ${this.options.what}`);
        void this.shutdown(0);
      }
    }, 500).unref();
  }

  add(role: Role): void {
    this.roles.push(role);
  }

  /** A TypeScript module run as a role through tsx, behind the guard, watched. */
  spawnTs(name: string, entry: string, env: NodeJS.ProcessEnv, cwd: string): ManagedProcess {
    const child = new ManagedProcess({ name, command: process.execPath, args: ['--import', 'tsx', entry], env, cwd, output: this.options.out });
    this.add({ name, stop: (grace) => child.stop(grace), running: () => child.running });
    this.watchExit(name, child);
    return child;
  }

  watchExit(name: string, child: ManagedProcess): void {
    void child.exited.then((exit) => {
      if (this.stopping) return;
      this.options.say(`${name} exited unexpectedly (${exit.signal ?? `code ${exit.code}`}); stopping ${this.options.what}`);
      void this.shutdown(1);
    });
  }

  /** Stops the roles stage by stage, then exits with `code`; the first call wins. */
  shutdown(code: number): Promise<void> {
    this.stopped ??= (async () => {
      const hard = setTimeout(() => {
        this.options.say(`still not stopped after ${this.options.deadlineMs / 1000} s; exiting`);
        process.exit(code || 1);
      }, this.options.deadlineMs);
      hard.unref();
      const stages = this.options.stages;
      const stageOf = (role: Role) => Math.max(0, stages.findIndex((stage) => stage.roles?.(role.name) ?? false));
      for (const [index, stage] of stages.entries()) {
        await Promise.all(this.roles.filter((role) => stageOf(role) === index).map((role) => role.stop(stage.graceMs)));
      }
      clearTimeout(hard);
      this.options.say('stopped');
      process.exit(code);
    })();
    return this.stopped;
  }

  /** Polls `check` until it holds; gives up on a stop, on `gaveUp` (the process exited) or after `timeoutMs`. */
  async waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, gaveUp: () => boolean = () => false): Promise<true> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.stopping) throw new Error('stopping');
      if (gaveUp()) throw new Error(`${what}: the process exited`);
      if (await check()) return true;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    throw new Error(`${what} not ready within ${timeoutMs / 1000} s`);
  }
}
