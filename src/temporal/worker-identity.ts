/**
 * Who a worker process is, for the activity lease: `<pid>@<host>/<boot>/<random>`. The boot id
 * (Linux: /proc/sys/kernel/random/boot_id) tells two machines that share a host name apart, and the
 * random part two runs of one pid.
 *
 * From it a restarted worker can tell that the lease's holder was an earlier process of its own
 * host that is gone (a crash, an OOM kill, a container restart), and take the lease over at once
 * instead of waiting for it to run out: same host name and boot, and that pid is either not running
 * or is this very process. Anything less certain (another host, another boot, a pid that runs) waits.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';

export interface IdentityParts {
  pid: number;
  host: string;
  boot: string;
}

let bootId: string | undefined;

function currentBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim().slice(0, 8) || 'unknown';
    } catch {
      bootId = 'unknown'; // not Linux: no takeover by boot (see deadPredecessor)
    }
  }
  return bootId;
}

export function newWorkerIdentity(): string {
  return `${process.pid}@${os.hostname()}/${currentBoot()}/${randomUUID().slice(0, 8)}`;
}

export function parseWorkerIdentity(identity: string): IdentityParts | undefined {
  const match = /^(\d+)@(.+)\/([^/]+)\/([^/]+)$/.exec(identity);
  if (!match) return undefined;
  return { pid: Number(match[1]), host: match[2]!, boot: match[3]! };
}

/**
 * True when `holder` is certainly a dead earlier process of this host: the lease can be taken over
 * now. `alive(pid)` is injectable for tests (default: signal 0).
 */
export function deadPredecessor(holder: string, self: string, alive: (pid: number) => boolean = pidAlive): boolean {
  if (holder === self) return false;
  const them = parseWorkerIdentity(holder);
  const us = parseWorkerIdentity(self);
  if (!them || !us || us.boot === 'unknown' || them.host !== us.host || them.boot !== us.boot) return false;
  return them.pid === us.pid || !alive(them.pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
