/**
 * Resident memory of the processes under test, read from /proc (Linux): what the kernel charges
 * them, not what the V8 heap reports.
 */
import fs from 'node:fs';

/** VmRSS of a process in bytes, or undefined when it is gone (or /proc is not there). */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Proportional set size of a process in bytes (/proc/<pid>/smaps_rollup): its private memory plus
 * its share of pages it shares. Summed over the processes of a multi-process server (PostgreSQL),
 * shared buffers count once instead of once per process, as a sum of RSS would.
 */
export function pssBytes(pid: number): number | undefined {
  try {
    const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const match = /^Pss:\s+(\d+)\s+kB/m.exec(rollup);
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Memory of one process (RSS) or of a group of processes (sum of PSS); undefined when none is there. */
export function memoryBytes(pids: number | number[] | undefined): number | undefined {
  if (pids === undefined) return undefined;
  if (typeof pids === 'number') return rssBytes(pids);
  const values = pids.map(pssBytes).filter((v): v is number => v !== undefined);
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0);
}

/** Direct children of a process (the role behind a guard is the guard's only child). */
export function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

export const MiB = 2 ** 20;
export const toMiB = (bytes: number | undefined) => (bytes === undefined ? NaN : Math.round((bytes / MiB) * 10) / 10);

/**
 * Samples the memory of named processes every `everyMs` until stopped; keeps every sample. A name
 * with one PID is read as RSS; a name with several (a multi-process server) as their summed PSS.
 */
export class RssSampler {
  readonly samples: Array<{ at: number; rss: Record<string, number | undefined> }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: () => Record<string, number | number[] | undefined>) {}

  start(everyMs: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  sample(): Record<string, number | undefined> {
    const rss = Object.fromEntries(Object.entries(this.pids()).map(([name, pids]) => [name, memoryBytes(pids)]));
    this.samples.push({ at: Date.now(), rss });
    return rss;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Peak RSS per process over samples taken in [from, until]. */
  peak(from = 0, until = Infinity): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.samples) {
      if (s.at < from || s.at > until) continue;
      for (const [name, v] of Object.entries(s.rss)) if (v !== undefined) out[name] = Math.max(out[name] ?? 0, v);
    }
    return out;
  }
}
