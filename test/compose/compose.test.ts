/**
 * The production stack, checked without a Docker engine: docker-compose.yml parsed (with YAML
 * merge keys and compose's ${VAR...} interpolation, dev/production/compose.ts, which
 * npm run test:production runs the stack's Temporal with), the scripts and config files it mounts,
 * and the Dockerfile's stages. The app's required configuration is derived from src/config/env.ts,
 * so a new variable without a default fails here until the stack provides it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { SECRET_ENV_NAMES, envSchema, parseEnv } from '../../src/config/env';
import { kisiClientFromEnv, nexudusClientFromEnv } from '../../src/clients/from-env';
import { searchAttributeCliPairs } from '../../src/domain/search-attributes';
import { foreignSecrets, ROLE_SETTINGS, type Role } from '../../src/config/roles';
import { resolveExecutable } from '../../dev/temporal-binaries';
import { Compose, interpolate } from '../../dev/production/compose';
import { composeTemporalVersion } from '../../dev/production/temporal-server';

const root = path.join(__dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');

const requiredByCompose = Compose.load({}).requiredVars;
/** deploy/.env's stand-in: every variable compose insists on. */
const deployEnv = Object.fromEntries(requiredByCompose.map((name) => [name, `value-of-${name.toLowerCase()}`]));
const stack = Compose.load(deployEnv);
const composeText = stack.text;
const compose = stack.file;
const services = compose.services;
const env = (service: string) => stack.env(service);
const mountSource = (service: string, containerPath: string) => stack.mountSource(service, containerPath);

// ----------------------------------------------------------------------------------------------
// The application's configuration in production, derived from the schema.

const shape = envSchema.shape as Record<string, { parse(v: unknown): unknown }>;
const withoutDefault = Object.keys(shape).filter((name) => shape[name]!.parse(undefined) === undefined);
/** Variables without a default that production may leave unset, and why. */
const OPTIONAL_IN_PRODUCTION: Record<string, string> = {
  TEMPORAL_API_KEY: 'Temporal Cloud only; the stack\'s own Temporal has no authentication',
  TEMPORAL_TLS_CERT_PATH: 'mTLS only',
  TEMPORAL_TLS_KEY_PATH: 'mTLS only',
  TEMPORAL_TLS_CA_PATH: 'private CA only',
  HOST: 'unset: every interface, what a container needs',
  CODEC_CORS_ORIGINS: 'only for a Web UI that decodes through the ingress',
  TEMPORAL_PAYLOAD_KEY: 'payload encryption is asked for, not imposed',
  TEMPORAL_PAYLOAD_KEY_FILE: 'the keys as a file instead of TEMPORAL_PAYLOAD_KEY',
};
/**
 * No default and not optional: the credentials (the worker's clients refuse to start without
 * them), the webhook secrets (the ingress refuses unsigned webhooks outside development) and
 * TEMPORAL_ADDRESS (without it the roles look for Temporal on localhost). Plus two with a default
 * that is wrong in a container: NODE_ENV must say production, and ACCESS_MAP's default points
 * into the checkout, which the image does not contain.
 */
const REQUIRED = [...withoutDefault.filter((name) => !(name in OPTIONAL_IN_PRODUCTION)), 'NODE_ENV', 'ACCESS_MAP'];

test('the list of optional variables names only variables without a default', () => {
  expect(Object.keys(OPTIONAL_IN_PRODUCTION).filter((name) => !withoutDefault.includes(name))).toEqual([]);
  expect(REQUIRED).toEqual(expect.arrayContaining(['TEMPORAL_ADDRESS', 'KISI_API_KEY', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD', 'NEXUDUS_WEBHOOK_SECRET', 'KISI_WEBHOOK_SECRET']));
});

describe.each(['worker', 'ingress'] as Role[])('%s', (name) => {
  const service = services[name]!;

  test('gets every variable production requires of it, secrets only from deploy/.env', () => {
    const vars = env(name);
    const own = new Set<string>(ROLE_SETTINGS[name]);
    expect(REQUIRED.filter((v) => own.has(v) && !(v in vars))).toEqual([]);
    expect(vars.NODE_ENV).toBe('production');
    expect(vars.TEMPORAL_ADDRESS).toBe('temporal:7233');
    expect(vars.TEMPORAL_NAMESPACE).toBe('default');
    // Required secrets refuse to start without a value; optional ones default to empty. Never a value here.
    for (const secret of SECRET_ENV_NAMES.filter((s) => s in service.environment!)) {
      expect(String(service.environment![secret])).toMatch(new RegExp(`^\\$\\{${secret}:(\\?|-\\}$)`));
    }
  });

  test('only its own settings: nothing another role reads, none of another role\'s secrets', () => {
    const own = new Set<string>(ROLE_SETTINGS[name]);
    expect(Object.keys(env(name)).filter((v) => !own.has(v))).toEqual([]);
    expect(foreignSecrets(name).filter((v) => v in env(name))).toEqual([]);
  });

  test('that configuration parses, and the clients the role uses build from it', () => {
    const parsed = parseEnv(env(name));
    if (name === 'worker') expect(() => kisiClientFromEnv(parsed)).not.toThrow();
    else expect(parsed.KISI_API_KEY).toBeUndefined();
    expect(() => nexudusClientFromEnv(parsed)).not.toThrow();
  });

  test('the access map is mounted where ACCESS_MAP points', () => {
    expect(mountSource(name, env(name).ACCESS_MAP!)).toBe(deployEnv.ACCESS_MAP_FILE);
  });

  test('built from this Dockerfile\'s stage of its name, started only once Temporal is set up, health-checked', () => {
    expect(service.build).toEqual({ context: '.', target: name });
    expect(service.depends_on).toEqual({ 'temporal-setup': { condition: 'service_completed_successfully' } });
    expect(service.healthcheck?.test.join(' ')).toContain(name === 'worker' ? ':9464/metrics' : ':3000/healthz');
    expect(service.container_name).toBeUndefined();
  });
});

test('the worker scales (no container name, replicas), Kisi at 5 requests/s in total: the activity lease is on', () => {
  const replicas = Number(interpolate(String(services.worker!.deploy!.replicas), {}));
  expect(replicas).toBeGreaterThanOrEqual(1);
  // One worker at a time runs the activities, so each may pace at the whole allowance...
  expect(Number(env('worker').KISI_MAX_RPS)).toBeLessThanOrEqual(5);
  // ...as long as the lease is on whenever there is more than one.
  expect(env('worker').WORKER_ACTIVITY_LEASE).not.toMatch(/^0?$/);
  expect(services.ingress!.ports).toEqual(['3000:3000']);
  expect(mountSource('ingress', env('ingress').DATA_DIR!)).toBe('ingress-data');
  expect(compose.volumes).toHaveProperty('ingress-data');
});

// ----------------------------------------------------------------------------------------------
// Temporal

test('services, each image pinned to a version, no auto-setup', () => {
  expect(Object.keys(services).sort()).toEqual(['ingress', 'postgresql', 'temporal', 'temporal-schema', 'temporal-setup', 'temporal-ui', 'worker']);
  for (const [name, service] of Object.entries(services)) {
    expect([name, service.image]).toEqual([name, expect.stringMatching(/^[a-z0-9./-]+:(\d+[\w.-]*|local)$/)]);
  }
  expect(composeText).not.toMatch(/auto-setup/);
  expect(services.postgresql!.image).toMatch(/^postgres:16\b/);
  expect(services.temporal!.image).toMatch(/^temporalio\/server:\d/);
  expect(services['temporal-ui']!.image).toMatch(/^temporalio\/ui:\d/);
  expect(services['temporal-schema']!.image).toMatch(/^temporalio\/admin-tools:\d/);
  expect(services['temporal-setup']!.image).toBe(services['temporal-schema']!.image);
});

test('postgres is health-checked and the schema one-shot waits for it', () => {
  expect(services.postgresql!.healthcheck?.test.join(' ')).toContain('pg_isready');
  expect(services['temporal-schema']!.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
});

test('the schema one-shot runs temporal-sql-tool create / setup / update for both databases, with the schemas of the tool itself', () => {
  const [shell, script] = services['temporal-schema']!.entrypoint!;
  expect(shell).toBe('/bin/sh');
  expect(stack.entrypointScript('temporal-schema')).toBe(path.join(root, 'deploy/temporal/setup-postgres.sh'));
  const text = read(mountSource('temporal-schema', script!)!);
  for (const step of ['temporal-sql-tool --plugin "${DB:-postgres12}"', '--db "$db" create', 'setup-schema -v 0.0', 'update-schema --schema-name "$schema"']) expect(text).toContain(step);
  // Embedded schemas: the same script works in the admin-tools image and with a tool built from the Go module.
  expect(text).not.toContain('/etc/temporal/schema');
  expect(text).toContain('"${DBNAME:-temporal}" postgresql/v12/temporal');
  expect(text).toContain('"${VISIBILITY_DBNAME:-temporal_visibility}" postgresql/v12/visibility');
  expect(env('temporal-schema')).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql', SQL_PASSWORD: deployEnv.POSTGRES_PASSWORD });
});

test('one Temporal version: the server and admin-tools images, the Go-built server of npm run test:production, and the dev server share major.minor', async () => {
  const version = composeTemporalVersion(stack);
  expect(stack.imageTag('temporal-schema')).toBe(version);
  expect(stack.imageTag('temporal-setup')).toBe(version);
  // dev/production builds go.temporal.io/server at the compose tag (no second pin to drift).
  expect(composeTemporalVersion(Compose.load({}))).toBe(version);
  // The dev server is the one bundled with the pinned temporal CLI: `temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)`.
  const cli = await resolveExecutable('cli', { log: () => undefined });
  if (cli.type !== 'existing-path') throw new Error('no temporal CLI installed: npm run provision');
  const banner = execFileSync(cli.path, ['--version'], { encoding: 'utf8' });
  const bundled = /Server (\d+\.\d+)\.\d+, UI (\d+\.\d+\.\d+)/.exec(banner);
  expect(bundled).not.toBeNull();
  expect(version.split('.').slice(0, 2).join('.')).toBe(bundled![1]);
  // The Web UI the stack serves is the one the dev server bundles (the UI notes of docs/operations.md are about it).
  expect(stack.imageTag('temporal-ui')).toBe(bundled![2]);
});

test('the server: postgres12 on the postgresql service, a dynamic config file that exists, port 7233, after the schema', () => {
  const t = services.temporal!;
  const vars = env('temporal');
  expect(vars).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql', DBNAME: 'temporal', VISIBILITY_DBNAME: 'temporal_visibility' });
  // SQL visibility: the server's embedded config uses Elasticsearch only with ENABLE_ES.
  expect(vars.ENABLE_ES).toBeUndefined();
  expect(vars.POSTGRES_PWD).toBe(env('postgresql').POSTGRES_PASSWORD);
  // The server resolves DYNAMIC_CONFIG_FILE_PATH under /etc/temporal.
  const file = mountSource('temporal', path.posix.join('/etc/temporal', vars.DYNAMIC_CONFIG_FILE_PATH!));
  expect(file).toBeDefined();
  expect(YAML.parse(read(file!))).toHaveProperty(['limit.maxIDLength']);
  expect(t.ports).toEqual(['127.0.0.1:7233:7233']);
  expect(t.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  expect(t.healthcheck?.test).toEqual(expect.arrayContaining(['7233']));
});

test('the setup one-shot creates the namespace and exactly the domain\'s search attributes', () => {
  const s = services['temporal-setup']!;
  expect(s.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  const vars = env('temporal-setup');
  expect(vars.TEMPORAL_ADDRESS).toBe('temporal:7233');
  expect(vars.NAMESPACE).toBe(env('worker').TEMPORAL_NAMESPACE);
  expect(vars.SEARCH_ATTRIBUTES!.trim().split(/\s+/)).toEqual(searchAttributeCliPairs());
  expect(stack.entrypointScript('temporal-setup')).toBe(path.join(root, 'deploy/temporal/setup-namespace.sh'));
  const text = read(mountSource('temporal-setup', s.entrypoint![1]!)!);
  for (const command of ['temporal operator cluster health', 'temporal operator namespace create', 'temporal operator search-attribute create']) expect(text).toContain(command);
});

test('the Web UI on 8080 talks to temporal:7233, decodes through the ingress when told, which allows its origin', () => {
  const ui = services['temporal-ui']!;
  expect(env('temporal-ui').TEMPORAL_ADDRESS).toBe('temporal:7233');
  expect(env('temporal-ui')).toHaveProperty('TEMPORAL_CODEC_ENDPOINT');
  expect(env('ingress').CODEC_CORS_ORIGINS).toBe('http://localhost:8080');
  expect(ui.ports).toEqual(['127.0.0.1:8080:8080']);
  expect(ui.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
});

test('deploy/env.example names every variable compose requires', () => {
  const example = read('deploy/env.example');
  expect(requiredByCompose.filter((name) => !new RegExp(`^${name}=`, 'm').test(example))).toEqual([]);
});

test('the setup scripts are valid POSIX sh', () => {
  for (const script of ['deploy/temporal/setup-postgres.sh', 'deploy/temporal/setup-namespace.sh']) {
    const check = spawnSync('sh', ['-n', path.join(root, script)], { encoding: 'utf8' });
    expect([script, check.status, check.stderr]).toEqual([script, 0, '']);
  }
});

// ----------------------------------------------------------------------------------------------
// Dockerfile

describe('Dockerfile', () => {
  const text = read('Dockerfile');
  const stages = [...text.matchAll(/^FROM (\S+) AS (\S+)$/gm)].map((m) => ({ from: m[1]!, name: m[2]!, index: m.index }));
  const stage = (name: string) => {
    const i = stages.findIndex((s) => s.name === name);
    return text.slice(stages[i]!.index, stages[i + 1]?.index ?? text.length);
  };

  test('stages: build, runtime, and one per role on top of runtime; the base image pinned', () => {
    expect(stages.map((s) => `${s.name} from ${s.from}`)).toEqual(['build from ${NODE_IMAGE}', 'runtime from ${NODE_IMAGE}', 'worker from runtime', 'ingress from runtime']);
    expect(text).toMatch(/^ARG NODE_IMAGE=node:20\.\d+\.\d+-\S+$/m);
  });

  test('build: every dependency, the compiler for better-sqlite3, npm run build', () => {
    const build = stage('build');
    expect(build).toMatch(/RUN npm ci\n/);
    expect(build).toContain('g++');
    expect(build).toContain('RUN npm run build');
  });

  test('runtime: npm ci --omit=dev, the native addon and dist from the build stage, a non-root user', () => {
    const runtime = stage('runtime');
    expect(runtime).toMatch(/RUN npm ci --omit=dev/);
    expect(runtime).toContain('COPY --from=build /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).not.toMatch(/apt-get|g\+\+/);
  });

  test('each role runs its built entry point with node itself (signals reach it), as its npm script does', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const role of ['worker', 'ingress']) {
      // npm run would not pass SIGHUP (reload the access map) on to node.
      expect(stage(role)).toContain(`CMD ["node", "dist/src/main/${role}.js"]`);
      expect(scripts[role]).toBe(`node dist/src/main/${role}.js`);
      expect(fs.existsSync(path.join(root, `src/main/${role}.ts`))).toBe(true);
    }
  });

  test('what it copies from the context exists and is not excluded by .dockerignore; secrets are', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    for (const required of ['node_modules', '.git', '.env', '**/.env', 'dist']) expect(ignored).toContain(required);
    const copied = [...text.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.split(/\s+/));
    expect(copied.length).toBeGreaterThan(3);
    for (const source of copied) {
      expect([source, fs.existsSync(path.join(root, source))]).toEqual([source, true]);
      expect([source, ignored.includes(source.split('/')[0]!)]).toEqual([source, false]);
    }
  });
});
