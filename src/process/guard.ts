/**
 * Runs one command as its child and makes sure it does not outlive the supervisor.
 *
 * Usage (by src/process/managed-process.ts): node --import tsx src/process/guard.ts -- <command> [args...]
 *
 * Why a separate guard: Linux can tie a child's life to its parent (PR_SET_PDEATHSIG) but Node
 * cannot ask for it, and some children (the Temporal CLI, the sandboxes owned by others) cannot be
 * taught to watch their parent. The guard's stdin is a pipe from the supervisor: when it closes,
 * the supervisor is gone (even by SIGKILL), and the guard stops the child: SIGTERM, then SIGKILL.
 * The child stays in the guard's process group so the supervisor's group SIGKILL reaches both.
 */
import { spawn } from 'node:child_process';

const separator = process.argv.indexOf('--');
const [command, ...args] = separator >= 0 ? process.argv.slice(separator + 1) : [];
if (!command) {
  process.stderr.write('usage: guard.ts -- <command> [args...]\n');
  process.exit(2);
}

const graceMs = Number(process.env.GUARD_GRACE_MS ?? 5_000);
const child = spawn(command, args, { stdio: ['ignore', 'inherit', 'inherit'] });
let stopping = false;

function stopChild(signal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (stopping) return;
  stopping = true;
  setTimeout(() => child.kill('SIGKILL'), graceMs).unref();
}

child.on('error', (error) => {
  process.stderr.write(`cannot start ${command}: ${error.message}\n`);
  process.exit(127);
});
child.on('exit', (code, signal) => {
  // Mirror the child's end so the supervisor sees how it ended.
  process.exit(code ?? 128 + (signal ? signalNumber(signal) : 0));
});

// The supervisor asks for a clean stop with SIGTERM to the guard; pass it on and wait.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => stopChild('SIGTERM'));

// Parent death: the stdin pipe ends; as a second line of defence the parent pid changes (re-parenting).
const parent = process.ppid;
process.stdin.on('end', () => stopChild('SIGTERM'));
process.stdin.on('error', () => stopChild('SIGTERM'));
process.stdin.resume();
setInterval(() => {
  if (process.ppid !== parent) stopChild('SIGTERM');
}, 1_000).unref();

function signalNumber(signal: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Record<string, number>)[signal] ?? 1;
}
