/**
 * The entry points read configuration once and refuse a bad value: they exit with EX_CONFIG (78),
 * naming the variable and what it expects, without echoing any value (values may be secrets).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.join(__dirname, '../..');

function run(entry: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test.each([
  ['src/main/ingress.ts', 'ingress'],
  ['src/main/worker.ts', 'worker'],
  ['src/cli/start.ts', 'start'],
])('%s exits 78 naming each bad variable, never echoing values', (entry, role) => {
  const result = run(entry, { PORT: 'not-a-port', KISI_TIMEOUT: 'soon', KISI_API_KEY: 'sk_live_do_not_print', TEMPORAL_API_KEY: 'also-secret' });
  expect(result.status).toBe(78);
  expect(result.stderr).toContain(`${role}: invalid configuration`);
  expect(result.stderr).toContain('PORT: expected a TCP port number');
  expect(result.stderr).toContain('KISI_TIMEOUT: expected a duration such as 10m, 90s or 1h');
  expect(result.stderr + result.stdout).not.toContain('sk_live_do_not_print');
  expect(result.stderr + result.stdout).not.toContain('not-a-port');
});
