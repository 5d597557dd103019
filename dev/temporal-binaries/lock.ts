/**
 * The cross-process install lock: jest workers and the supervisor may resolve at the same time, so
 * installs run under a lock file and only one process downloads; the others wait and then find
 * the installed copy. Correctness does not depend on it (every file is written to a temp name and
 * renamed into place): the lock only prevents duplicate work.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './shared';

interface LockHolder {
  pid: number;
  host: string;
  since: string;
}

/** Runs `fn` holding `lockFile` (created exclusively); waits while another live process holds it. */
export async function withInstallLock<T>(lockFile: string, log: (line: string) => void, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const me: LockHolder = { pid: process.pid, host: os.hostname(), since: new Date().toISOString() };
  const started = Date.now();
  let announced = false;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readLockHolder(lockFile);
    if (isStale(lockFile, holder)) {
      // Rename first (atomic: one waiter wins) so two waiters cannot both delete a fresh lock.
      const aside = `${lockFile}.stale.${process.pid}`;
      try {
        fs.renameSync(lockFile, aside);
        fs.rmSync(aside, { force: true });
        log(`removed a stale install lock${holder ? ` left by pid ${holder.pid}` : ''}`);
      } catch {
        // another waiter got there first
      }
      continue;
    }
    if (!announced) {
      log(`another process${holder ? ` (pid ${holder.pid})` : ''} is installing; waiting for it (${path.basename(lockFile)})`);
      announced = true;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`gave up after ${Math.round(timeoutMs / 1000)} s waiting for ${lockFile}; delete it if no install is running`);
    }
    await sleep(200);
  }
  try {
    return await fn();
  } finally {
    const holder = readLockHolder(lockFile);
    if (holder?.pid === me.pid && holder.since === me.since) fs.rmSync(lockFile, { force: true });
  }
}

function readLockHolder(lockFile: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(lockFile, 'utf8')) as Partial<LockHolder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? (parsed as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

function isStale(lockFile: string, holder: LockHolder | undefined): boolean {
  if (!holder) {
    // Unreadable: either being written this instant or left half-written by a crash.
    try {
      return Date.now() - fs.statSync(lockFile).mtimeMs > 5_000;
    } catch {
      return false;
    }
  }
  if (holder.host !== os.hostname()) return false; // cannot check a pid on another host (shared disk)
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
