/**
 * The entry points read configuration once and refuse a bad value: they exit with EX_CONFIG (78),
 * naming the variable and what it expects, without echoing any value (values may be secrets), in
 * one line on stderr without a stack trace, before connecting to anything (Temporal here is an
 * address nothing listens on: a check made after connecting would never be reached in time).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '../..');

function run(entry: string, env: Record<string, string>, timeout = 60_000) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout,
  });
}

test.each([
  ['src/main/ingress.ts', 'ingress'],
  ['src/main/worker.ts', 'worker'],
  ['dev/local/start.ts', 'start'],
])('%s exits 78 naming each bad variable, never echoing values', (entry, role) => {
  const result = run(entry, { PORT: 'not-a-port', KISI_TIMEOUT: 'soon', KISI_API_KEY: 'sk_live_do_not_print', TEMPORAL_API_KEY: 'also-secret' });
  expect(result.status).toBe(78);
  expect(result.stderr).toContain(`${role}: invalid configuration`);
  expect(result.stderr).toContain('PORT: expected a TCP port number');
  expect(result.stderr).toContain('KISI_TIMEOUT: expected a duration such as 10m, 90s or 1h');
  expect(result.stderr + result.stdout).not.toContain('sk_live_do_not_print');
  expect(result.stderr + result.stdout).not.toContain('not-a-port');
});

test.each([
  ['dev/local/start.ts', 'start'],
  ['dev/local/sandbox.ts', 'sandbox'],
])('%s exits 78 on a bad sandbox setting (its own schema, not the product\'s)', (entry, role) => {
  const result = run(entry, { KISI_SANDBOX_PORT: 'port-forty', NEXUDUS_SANDBOX_TIME_FORMAT: 'sundial' });
  expect(result.status).toBe(78);
  expect(result.stderr).toContain(`${role}: invalid configuration`);
  expect(result.stderr).toContain('KISI_SANDBOX_PORT: expected a TCP port number');
  expect(result.stderr).toContain('NEXUDUS_SANDBOX_TIME_FORMAT:');
  expect(result.stderr + result.stdout).not.toContain('port-forty');
});

describe('one line, exit 78, before connecting: the worker and the ingress', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'entry-config-'));
    fs.writeFileSync(path.join(dir, 'access-map.json'), JSON.stringify({ kisiPlaceId: 1 }));
    fs.writeFileSync(path.join(dir, 'bad-map.json'), JSON.stringify({ kisiPlaceId: 'one', resources: { x: {} } }));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Everything a role needs to start, with Temporal somewhere nothing answers. */
  const good = (): Record<string, string> => ({
    NODE_ENV: 'development',
    DATA_DIR: dir,
    ACCESS_MAP: path.join(dir, 'access-map.json'),
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    PORT: '1',
    WORKER_METRICS_PORT: '1',
    KISI_API_KEY: 'k',
    NEXUDUS_USERNAME: 'u',
    NEXUDUS_PASSWORD: 'p',
    NEXUDUS_WEBHOOK_SECRET: 'n-secret',
    KISI_WEBHOOK_SECRET: 'k-secret',
  });

  const cases: Array<[string, Array<'worker' | 'ingress'>, Record<string, string>, RegExp]> = [
    ['two bad variables', ['worker', 'ingress'], { PORT: 'x', KISI_TIMEOUT: 'soon' }, /^invalid configuration: PORT: expected a TCP port number; KISI_TIMEOUT: expected a duration/],
    ['a payload key that is not 32 bytes', ['worker', 'ingress'], { TEMPORAL_PAYLOAD_KEY: 'c2hvcnQ=' }, /^invalid configuration: TEMPORAL_PAYLOAD_KEY: key 1 is not 32 bytes/],
    ['an unreadable payload key file', ['worker', 'ingress'], { TEMPORAL_PAYLOAD_KEY_FILE: '/nonexistent/keys' }, /^invalid configuration: TEMPORAL_PAYLOAD_KEY_FILE: cannot read/],
    ['an unreadable TLS CA file', ['worker', 'ingress'], { TEMPORAL_TLS_CA_PATH: '/nonexistent/ca.pem' }, /^invalid configuration: TEMPORAL_TLS_CA_PATH: expected a readable PEM file/],
    ['a TLS certificate without its key', ['worker', 'ingress'], { TEMPORAL_TLS_CERT_PATH: '/nonexistent/cert.pem' }, /^invalid configuration: TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH: expected both/],
    ['an access map that does not validate', ['worker', 'ingress'], { ACCESS_MAP: '' }, /^invalid access map .*bad-map\.json: .+; .+/],
    ['no Kisi API key', ['worker'], { KISI_API_KEY: '' }, /^invalid configuration: KISI_API_KEY: required/],
  ];

  test.each(cases.flatMap(([what, roles, env, message]) => roles.map((role) => [role, what, env, message] as const)))('%s: %s', (role, _what, env, message) => {
    const overrides = { ...env, ...(env.ACCESS_MAP === '' ? { ACCESS_MAP: path.join(dir, 'bad-map.json') } : {}) };
    const started = Date.now();
    const result = run(`src/main/${role}.ts`, { ...good(), ...overrides }, 30_000);
    expect(result.status).toBe(78);
    expect(Date.now() - started).toBeLessThan(30_000);
    const lines = result.stderr.split('\n');
    expect(lines).toHaveLength(2); // one line and its newline
    expect(lines[1]).toBe('');
    expect(lines[0]!.startsWith(`${role}: `)).toBe(true);
    expect(lines[0]!.slice(role.length + 2)).toMatch(message);
    expect(result.stderr).not.toMatch(/\bat .+:\d+:\d+|Error:/);
  });
});
