/**
 * `npm start`: the whole product on one machine, as one process tree with prefixed logs.
 *
 *   [temporal]         the Temporal dev server (unless TEMPORAL_ADDRESS points elsewhere)
 *   [kisi-sandbox]     the Kisi stand-in, when no KISI_API_KEY is configured
 *   [nexudus-sandbox]  the Nexudus stand-in, when no Nexudus credentials are configured
 *   [worker]           src/worker.ts
 *   [ingress]          src/ingress.ts
 *
 * Each role is a child in its own process group behind src/cli/guard.ts, so Ctrl-C reaches only
 * this supervisor (which stops the roles in order: ingress/worker/sandboxes, then Temporal) and
 * a SIGKILLed supervisor still takes its children with it. The whole stop fits in 10 s.
 *
 * TypeScript runs directly through tsx (esbuild, from npm, no type-check at start): no build step
 * between an edit and `npm start`; `npm test` type-checks. Production runs compiled dist/ instead.
 */
import fs from 'node:fs';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { hasKisiCredentials, hasNexudusCredentials, type Env } from '../config/env';
import { SEARCH_ATTRIBUTE_KEYS } from '../domain/search-attributes';
import { ensureReconcileScheduleFromEnv } from '../reconcile/schedule';
import { binLinkPath, canConnect, projectRoot, resolveExecutable } from '../temporal/binaries';
import { startDevServer } from '../temporal/dev-server';
import { loadEnvOrExit } from './bootstrap';
import { ManagedProcess, formatLine } from './managed-process';

/** Stop budget: roles get ROLE_GRACE_MS, then Temporal gets the rest, all inside STOP_DEADLINE_MS. */
const STOP_DEADLINE_MS = 10_000;
const ROLE_GRACE_MS = 6_500;
const TEMPORAL_GRACE_MS = 2_500;

/**
 * Credentials for the sandboxes, given to the sandbox and the worker alike so they agree (the Kisi
 * sandbox takes any non-empty key; the Nexudus one accepts the user it is started with).
 */
export const SANDBOX_CREDENTIALS = { KISI_API_KEY: 'sandbox-api-key', NEXUDUS_USERNAME: 'sandbox@nexudus.invalid', NEXUDUS_PASSWORD: 'sandbox-password' };

const root = projectRoot();
const out = (line: string) => process.stdout.write(`${line}\n`);
const say = (line: string) => out(formatLine('start', line));

interface Role {
  name: string;
  stop(graceMs: number): Promise<unknown>;
  running(): boolean;
}

const roles: Role[] = [];
let stopping: Promise<void> | undefined;

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'development';
  const env = loadEnvOrExit('start');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      say(`${signal}: stopping everything`);
      void shutdown(0);
    });
  }
  // `npm start` runs us under `sh -c`; a SIGTERM to npm kills that shell without reaching us.
  // Being re-parented means whoever started us is gone: stop rather than linger.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) {
      say(`parent process ${parent} is gone: stopping everything`);
      void shutdown(0);
    }
  }, 500).unref();
  const started = Date.now();

  const [temporalAddress, sandboxes] = await Promise.all([startTemporal(env), startSandboxes(env)]);
  if (stopping) return;

  const roleEnv: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: process.env.NODE_ENV,
    TEMPORAL_ADDRESS: temporalAddress,
    ...sandboxes.env,
  };
  spawnTsRole('worker', 'src/worker.ts', roleEnv);
  spawnTsRole('ingress', 'src/ingress.ts', roleEnv);

  const ingressUrl = `http://127.0.0.1:${env.PORT}`;
  await waitFor(`${ingressUrl}/healthz`, 60_000, () => httpOk(`${ingressUrl}/healthz`));
  if (stopping) return;
  await ensureReconcileScheduleFromEnv({ ...env, TEMPORAL_ADDRESS: temporalAddress }, say);

  const uiUrl = env.TEMPORAL_ADDRESS ? undefined : `http://localhost:${env.TEMPORAL_UI_PORT}`;
  // The stable link when the CLI came from .tools; the configured file when TEMPORAL_CLI_PATH named one.
  const cliFile = env.TEMPORAL_CLI_PATH ?? binLinkPath('cli', root);
  const cli = path.isAbsolute(cliFile) && cliFile.startsWith(`${process.cwd()}${path.sep}`) ? path.relative(process.cwd(), cliFile) : cliFile;
  const lines = [
    `up in ${((Date.now() - started) / 1000).toFixed(1)} s (NODE_ENV=${process.env.NODE_ENV})`,
    `  Temporal gRPC     ${temporalAddress}${env.TEMPORAL_ADDRESS ? ' (TEMPORAL_ADDRESS)' : ` (dev server, data in ${path.join(env.DATA_DIR, 'temporal.db')})`}`,
    ...(uiUrl ? [`  Temporal Web UI   ${uiUrl}`] : []),
    `  Ingress           http://localhost:${env.PORT}  (GET /healthz, GET /readyz)`,
    `  Worker metrics    http://localhost:${env.WORKER_METRICS_PORT}/metrics  (task queue ${env.TEMPORAL_TASK_QUEUE})`,
    ...sandboxes.banner,
    ...(env.TEMPORAL_ADDRESS ? [] : [`  Temporal CLI      ${cli} workflow list --address ${temporalAddress}`]),
    '  Ctrl-C stops everything.',
  ];
  for (const line of lines) say(line);
}

/** The dev server, or nothing when TEMPORAL_ADDRESS is set. Returns the address the roles use. */
async function startTemporal(env: Env): Promise<string> {
  const tlog = (line: string) => out(formatLine('temporal', line));
  if (env.TEMPORAL_ADDRESS) {
    tlog(`TEMPORAL_ADDRESS is set: using ${env.TEMPORAL_ADDRESS}, namespace ${env.TEMPORAL_NAMESPACE}; no local server`);
    return env.TEMPORAL_ADDRESS;
  }
  const executable = await resolveExecutable('cli', { root, log: tlog });
  const dbFilename = path.join(env.DATA_DIR, 'temporal.db');
  const common = { port: env.TEMPORAL_PORT, uiPort: env.TEMPORAL_UI_PORT, namespace: env.TEMPORAL_NAMESPACE };
  if (stopping) return `127.0.0.1:${env.TEMPORAL_PORT}`;
  tlog(`starting the dev server (${executable.source}) on 127.0.0.1:${env.TEMPORAL_PORT}, db ${dbFilename}`);

  if (executable.type === 'cached-download') {
    // Last resort on a machine with internet: the SDK downloads and runs the CLI itself. It is
    // the SDK's child (stopped by teardown), not behind our guard.
    const testEnv = await TestWorkflowEnvironment.createLocal({
      server: { executable, dbFilename, ip: '127.0.0.1', ...common, searchAttributes: SEARCH_ATTRIBUTE_KEYS },
    });
    roles.push({ name: 'temporal', stop: () => testEnv.teardown(), running: () => true });
    return `127.0.0.1:${env.TEMPORAL_PORT}`;
  }

  const server = await startDevServer({ executable: executable.path, dbFilename, ...common, output: out });
  roles.push({ name: 'temporal', stop: (grace) => server.stop(grace), running: () => server.process.running });
  watchExit('temporal', server.process);
  tlog(`dev server ready at ${server.address}, Web UI ${server.uiUrl ?? 'off'}`);
  return server.address;
}

interface Sandboxes {
  env: Record<string, string>;
  banner: string[];
}

/**
 * Each sandbox as `npm start` runs it: module, port, the variables that point a client at it, and
 * whether this configuration needs it. Exported so `npm run sandbox` and `npm run link` use the
 * very same ports, URLs and credentials.
 */
export function sandboxSpecs(env: Env) {
  return [
    {
      name: 'kisi-sandbox',
      needed: !hasKisiCredentials(env),
      candidates: ['src/sandbox/kisi.ts', 'src/sandbox/kisi/index.ts'],
      port: env.KISI_SANDBOX_PORT,
      workerEnv: { KISI_BASE_URL: `http://localhost:${env.KISI_SANDBOX_PORT}`, KISI_API_KEY: SANDBOX_CREDENTIALS.KISI_API_KEY },
      usage: [`  Kisi sandbox      http://localhost:${env.KISI_SANDBOX_PORT}  (faults: POST /__sandbox/faults)`],
      real: 'KISI_API_KEY',
    },
    {
      name: 'nexudus-sandbox',
      needed: !hasNexudusCredentials(env),
      candidates: ['src/sandbox/nexudus.ts', 'src/sandbox/nexudus/index.ts'],
      port: env.NEXUDUS_SANDBOX_PORT,
      workerEnv: {
        NEXUDUS_BASE_URL: `http://localhost:${env.NEXUDUS_SANDBOX_PORT}/api`,
        NEXUDUS_USERNAME: SANDBOX_CREDENTIALS.NEXUDUS_USERNAME,
        NEXUDUS_PASSWORD: SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD,
      },
      usage: [
        `  Nexudus sandbox   http://localhost:${env.NEXUDUS_SANDBOX_PORT}/api  (emit a webhook to the ingress: POST /__sandbox/emit; faults: POST /__sandbox/faults)`,
      ],
      real: 'NEXUDUS_USERNAME and NEXUDUS_PASSWORD',
    },
  ];
}

/** The sandboxes the configuration calls for, when their modules exist (they are being built alongside). */
async function startSandboxes(env: Env): Promise<Sandboxes> {
  const result: Sandboxes = { env: {}, banner: [] };
  const wanted = sandboxSpecs(env);
  await Promise.all(
    wanted.map(async (sandbox) => {
      if (!sandbox.needed) {
        result.banner.push(`  ${sandbox.name.padEnd(17)} not started: ${sandbox.real} configured, using the real API`);
        return;
      }
      const entry = sandbox.candidates.find((file) => fs.existsSync(path.join(root, file)));
      if (!entry) {
        say(`${sandbox.candidates[0]} does not exist yet: starting without the ${sandbox.name}; the worker keeps its configured base URL`);
        result.banner.push(`  ${sandbox.name.padEnd(17)} not started (module missing)`);
        return;
      }
      const child = spawnTsRole(sandbox.name, entry, { ...process.env, PORT: String(env.PORT), ...sandbox.workerEnv });
      const ready = await waitFor(`${sandbox.name} on port ${sandbox.port}`, 30_000, () => canConnect(sandbox.port), () => !child.running).catch((error: unknown) => {
        say(`${sandbox.name} did not come up: ${(error as Error).message}`);
        return false;
      });
      if (ready === false) return;
      Object.assign(result.env, sandbox.workerEnv);
      result.banner.push(...sandbox.usage);
    }),
  );
  return result;
}

/** A TypeScript module run as a role through tsx, behind the guard. */
function spawnTsRole(name: string, entry: string, env: NodeJS.ProcessEnv): ManagedProcess {
  const child = new ManagedProcess({ name, command: process.execPath, args: ['--import', 'tsx', entry], env, cwd: root, output: out });
  roles.push({ name, stop: (grace) => child.stop(grace), running: () => child.running });
  watchExit(name, child);
  return child;
}

/** A role that ends while we are not stopping takes the rest down: a half-running product hides failures. */
function watchExit(name: string, child: ManagedProcess): void {
  void child.exited.then((exit) => {
    if (stopping) return;
    say(`${name} exited unexpectedly (${exit.signal ?? `code ${exit.code}`}); stopping everything`);
    void shutdown(1);
  });
}

function shutdown(code: number): Promise<void> {
  if (stopping) return stopping;
  stopping = (async () => {
    const hard = setTimeout(() => {
      say(`still not stopped after ${STOP_DEADLINE_MS / 1000} s; killing`);
      process.exit(code || 1);
    }, STOP_DEADLINE_MS);
    hard.unref();
    const temporal = roles.filter((r) => r.name === 'temporal');
    const others = roles.filter((r) => r.name !== 'temporal');
    // The worker drains while Temporal is still up; Temporal goes last.
    await Promise.all(others.map((role) => role.stop(ROLE_GRACE_MS)));
    await Promise.all(temporal.map((role) => role.stop(TEMPORAL_GRACE_MS)));
    clearTimeout(hard);
    say('stopped');
    process.exit(code);
  })();
  return stopping;
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, gaveUp: () => boolean = () => false): Promise<true> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) throw new Error('stopping');
    if (gaveUp()) throw new Error(`${what}: the process exited`);
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} not ready within ${timeoutMs / 1000} s`);
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  } catch {
    return false;
  }
}


// Only when run as the entry point: `npm run sandbox` and `npm run link` import the helpers above.
if (require.main === module) {
  main().catch((error: unknown) => {
    if (stopping) return;
    say(`failed: ${error instanceof Error ? error.message : String(error)}`);
    void shutdown(1);
  });
}
