/** Output formatting and stopping of the supervisor's children (src/process/managed-process.ts). */
import { formatLine, ManagedProcess } from '../../src/process/managed-process';

test('plain lines get the prefix; pino JSON lines become readable, multi-line messages keep the prefix', () => {
  expect(formatLine('temporal', 'Temporal Server: localhost:7233')).toBe('[temporal] Temporal Server: localhost:7233');
  const json = JSON.stringify({ level: 30, time: Date.UTC(2026, 0, 1, 12, 34, 56), pid: 1, hostname: 'h', name: 'worker', msg: 'worker polling', taskQueue: 'q' });
  expect(formatLine('worker', json)).toBe('[worker] 12:34:56 INFO worker polling taskQueue=q');
  const multi = JSON.stringify({ level: 50, time: Date.UTC(2026, 0, 1), msg: 'first\nsecond', err: { stack: 'Error: x\n    at y' } });
  expect(formatLine('ingress', multi).split('\n')).toEqual(['[ingress] 00:00:00 ERROR first', '[ingress]   second', '[ingress]   Error: x', '[ingress]       at y']);
  expect(formatLine('x', '{not json')).toBe('[x] {not json');
});

test('stop() sends SIGTERM, then SIGKILL to the group once the grace time is over', async () => {
  const lines: string[] = [];
  // A child that ignores SIGTERM: only the SIGKILL after the grace time ends it.
  const child = new ManagedProcess({
    name: 'stubborn',
    command: 'sh',
    args: ['-c', 'trap "echo got TERM" TERM; echo ready; while true; do sleep 0.1; done'],
    output: (line) => lines.push(line),
  });
  const deadline = Date.now() + 10_000;
  while (!lines.includes('[stubborn] ready') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const started = Date.now();
  const exit = await child.stop(1_000);
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  expect(exit.signal ?? exit.code).toBeTruthy();
  expect(lines).toContain('[stubborn] got TERM');
  expect(child.running).toBe(false);
});
