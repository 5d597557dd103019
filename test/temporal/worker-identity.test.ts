import { deadPredecessor, newWorkerIdentity, parseWorkerIdentity } from '../../src/temporal/worker-identity';

const self = '200@host-a/0b1c2d3e/aaaaaaaa';
const alive = (pids: number[]) => (pid: number) => pids.includes(pid);

describe('worker identity', () => {
  it('names the pid, host and boot of this process, and differs per run', () => {
    const one = newWorkerIdentity();
    expect(parseWorkerIdentity(one)).toMatchObject({ pid: process.pid });
    expect(newWorkerIdentity()).not.toBe(one);
  });

  it.each([
    ['an earlier process of this host and boot that is gone', '100@host-a/0b1c2d3e/bbbbbbbb', [], true],
    ['an earlier process that had this very pid (a restarted container)', '200@host-a/0b1c2d3e/bbbbbbbb', [200], true],
    ['a process of this host that still runs', '100@host-a/0b1c2d3e/bbbbbbbb', [100], false],
    ['another host (its pids mean nothing here)', '100@host-b/0b1c2d3e/bbbbbbbb', [], false],
    ['this host name before a reboot, or another machine of the same name', '100@host-a/99999999/bbbbbbbb', [], false],
    ['this process itself', self, [], false],
    ['an identity of another shape', 'worker-7', [], false],
  ])('%s: taken over at once = %s', (_case, holder, running, dead) => {
    expect(deadPredecessor(holder, self, alive(running))).toBe(dead);
  });

  it('never takes over when the boot cannot be read', () => {
    expect(deadPredecessor('100@host-a/unknown/bbbbbbbb', '200@host-a/unknown/aaaaaaaa', alive([]))).toBe(false);
  });
});
