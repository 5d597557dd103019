/**
 * `npm start`: the whole product on one machine, as one process tree with prefixed logs.
 *
 *   [temporal]         the Temporal dev server (unless TEMPORAL_ADDRESS points elsewhere)
 *   [kisi-sandbox]     the Kisi stand-in, when no KISI_API_KEY is configured
 *   [nexudus-sandbox]  the Nexudus stand-in, when no Nexudus credentials are configured
 *   [worker]           src/main/worker.ts
 *   [ingress]          src/main/ingress.ts
 *
 * Each role is a child in its own process group behind src/process/guard.ts, so Ctrl-C reaches only
 * this supervisor (which stops the roles in order: ingress/worker/sandboxes, then Temporal) and
 * a SIGKILLed supervisor still takes its children with it. The whole stop fits in 10 s.
 *
 * TypeScript runs directly through tsx (esbuild, from npm, no type-check at start): no build step
 * between an edit and `npm start`; `npm test` type-checks. Production runs compiled dist/ instead.
 */
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { AccessMap } from '../../src/config/access-map';
import { parseEnv, type Env } from '../../src/config/env';
import { roleEnvironment } from '../../src/config/roles';
import { ingressConfigProblems, listenHost } from '../../src/ingress/from-env';
import { SEARCH_ATTRIBUTE_KEYS } from '../../src/domain/search-attributes';
import { ensureReconcileScheduleFromEnv } from '../../src/reconcile/schedule';
import { binLinkPath, resolveExecutable } from '../temporal-binaries';
import { canConnect } from '../lib/ports';
import { projectRoot } from '../../src/process/project-root';
import { startDevServer } from '../../src/temporal/dev-server';
import { payloadKeyRingFromEnv } from '../../src/temporal/payload-codec';
import { loadEnvOrExit } from '../../src/process/bootstrap';
import { EXIT_CONFIG } from '../../src/process/exit';
import { formatLine } from '../../src/process/managed-process';
import { hasRealCredentials } from '../../src/config/local-sandboxes';
import { loadLocalEnvOrExit } from './env';
import { sandboxSpecs, sandboxWebhookSecrets } from './sandbox-specs';
import { Supervisor } from './supervisor';

/** Stop budget: roles get ROLE_GRACE_MS, then Temporal gets the rest, all inside STOP_DEADLINE_MS. */
const STOP_DEADLINE_MS = 10_000;
const ROLE_GRACE_MS = 6_500;
const TEMPORAL_GRACE_MS = 2_500;

const root = projectRoot();
const out = (line: string) => process.stdout.write(`${line}\n`);
const say = (line: string) => out(formatLine('start', line));

// The worker drains while Temporal is still up; Temporal goes last.
const supervisor = new Supervisor({
  say,
  out,
  what: 'everything',
  stages: [
    { roles: (name) => name !== 'temporal', graceMs: ROLE_GRACE_MS },
    { roles: (name) => name === 'temporal', graceMs: TEMPORAL_GRACE_MS },
  ],
  deadlineMs: STOP_DEADLINE_MS,
});

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'development';
  const env = loadEnvOrExit('start');
  const local = loadLocalEnvOrExit('start');
  supervisor.watchSignalsAndParent();
  const started = Date.now();
  const specs = sandboxSpecs(env, local, sandboxWebhookSecrets(local));
  refuseBackdoors(env, specs);

  const ingressUrl = localIngressUrl(env);
  const [temporalAddress, sandboxes] = await Promise.all([startTemporal(env, ingressUrl), startSandboxes(env, specs)]);
  if (supervisor.stopping) return;

  // Each role only its own secrets (src/config/roles.ts): the ingress gets no Kisi key, the worker
  // neither webhook secrets nor the operator token.
  const shared: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: process.env.NODE_ENV, TEMPORAL_ADDRESS: temporalAddress };
  supervisor.spawnTs('worker', 'src/main/worker.ts', roleEnvironment('worker', { ...shared, ...sandboxes.workerEnv }), root);
  supervisor.spawnTs('ingress', 'src/main/ingress.ts', roleEnvironment('ingress', { ...shared, ...sandboxes.ingressEnv }), root);

  const host = listenHost(env);
  await supervisor.waitFor(`${ingressUrl}/healthz`, 60_000, () => httpOk(`${ingressUrl}/healthz`));
  if (supervisor.stopping) return;
  await ensureReconcileScheduleFromEnv({ ...env, TEMPORAL_ADDRESS: temporalAddress }, say);

  const uiUrl = env.TEMPORAL_ADDRESS ? undefined : `http://localhost:${env.TEMPORAL_UI_PORT}`;
  // The stable link when the CLI came from .tools; the configured file when TEMPORAL_CLI_PATH named one.
  const cliFile = local.TEMPORAL_CLI_PATH ?? binLinkPath('cli', root);
  const cli = path.isAbsolute(cliFile) && cliFile.startsWith(`${process.cwd()}${path.sep}`) ? path.relative(process.cwd(), cliFile) : cliFile;
  const lines = [
    `up in ${((Date.now() - started) / 1000).toFixed(1)} s (NODE_ENV=${process.env.NODE_ENV})`,
    `  Temporal gRPC     ${temporalAddress}${env.TEMPORAL_ADDRESS ? ' (TEMPORAL_ADDRESS)' : ` (dev server, data in ${path.join(env.DATA_DIR, 'temporal.db')})`}`,
    ...(uiUrl ? [`  Temporal Web UI   ${uiUrl}`] : []),
    `  Ingress           ${ingressUrl}  (GET /healthz, GET /readyz; listening on ${host ?? 'all interfaces'}${env.HOST ? ' (HOST)' : ''})`,
    `  Operator console  ${ingressUrl}/console  (${env.OPS_TOKEN ? 'sign in with OPS_TOKEN' : 'no OPS_TOKEN: this machine signs in without one'})`,
    `  Operator API      ${ingressUrl}/reports/...  (${env.OPS_TOKEN ? 'Authorization: Bearer $OPS_TOKEN' : 'no OPS_TOKEN: loopback clients only'})`,
    ...(payloadKeyRingFromEnv(env) ? [`  Payloads          encrypted (TEMPORAL_PAYLOAD_KEY); the Web UI decodes them through ${ingressUrl}/codec`] : []),
    `  Worker metrics    http://localhost:${env.WORKER_METRICS_PORT}/metrics  (task queue ${env.TEMPORAL_TASK_QUEUE})`,
    ...sandboxes.banner,
    ...(env.TEMPORAL_ADDRESS ? [] : [`  Temporal CLI      ${cli} workflow list --address ${temporalAddress}`]),
    '  Ctrl-C stops everything.',
  ];
  for (const line of lines) say(line);
}

/** Where this machine reaches the ingress (the interface it binds; loopback for all interfaces). */
function localIngressUrl(env: Env): string {
  const host = listenHost(env);
  const local = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${local.includes(':') ? `[${local}]` : local}:${env.PORT}`;
}

/** The dev server, or nothing when TEMPORAL_ADDRESS is set. Returns the address the roles use. */
async function startTemporal(env: Env, ingressUrl: string): Promise<string> {
  const tlog = (line: string) => out(formatLine('temporal', line));
  if (env.TEMPORAL_ADDRESS) {
    tlog(`TEMPORAL_ADDRESS is set: using ${env.TEMPORAL_ADDRESS}, namespace ${env.TEMPORAL_NAMESPACE}; no local server`);
    return env.TEMPORAL_ADDRESS;
  }
  const executable = await resolveExecutable('cli', { root, log: tlog });
  const dbFilename = path.join(env.DATA_DIR, 'temporal.db');
  const common = { port: env.TEMPORAL_PORT, uiPort: env.TEMPORAL_UI_PORT, namespace: env.TEMPORAL_NAMESPACE };
  if (supervisor.stopping) return `127.0.0.1:${env.TEMPORAL_PORT}`;
  tlog(`starting the dev server (${executable.source}) on 127.0.0.1:${env.TEMPORAL_PORT}, db ${dbFilename}`);

  if (executable.type === 'cached-download') {
    // Last resort on a machine with internet: the SDK downloads and runs the CLI itself. It is
    // the SDK's child (stopped by teardown), not behind our guard.
    const testEnv = await TestWorkflowEnvironment.createLocal({
      server: { executable, dbFilename, ip: '127.0.0.1', ...common, searchAttributes: SEARCH_ATTRIBUTE_KEYS },
    });
    supervisor.add({ name: 'temporal', stop: () => testEnv.teardown(), running: () => true });
    return `127.0.0.1:${env.TEMPORAL_PORT}`;
  }

  const server = await startDevServer({ executable: executable.path, dbFilename, ...common, uiCodecEndpoint: uiCodecEndpoint(env, ingressUrl), output: out });
  supervisor.add({ name: 'temporal', stop: (grace) => server.stop(grace), running: () => server.process.running });
  supervisor.watchExit('temporal', server.process);
  tlog(`dev server ready at ${server.address}, Web UI ${server.uiUrl ?? 'off'}`);
  return server.address;
}

/**
 * With payload keys, the dev server's Web UI decodes payloads through the ingress' codec endpoint
 * (with OPS_TOKEN in its path: the UI cannot send a header; without a token the ingress answers the
 * browser on this machine, a loopback client).
 */
function uiCodecEndpoint(env: Env, ingressUrl: string): string | undefined {
  if (!payloadKeyRingFromEnv(env)) return undefined;
  return `${ingressUrl}/codec${env.OPS_TOKEN ? `/${encodeURIComponent(env.OPS_TOKEN)}` : ''}`;
}

/**
 * Development is no backdoor: with a real Kisi key or real Nexudus credentials configured, the
 * ingress is held to production's rules (webhook secrets required), checked here on the
 * environment it will get, before anything starts.
 */
function refuseBackdoors(env: Env, specs: ReturnType<typeof sandboxSpecs>): void {
  if (!hasRealCredentials(env)) return;
  const running = specs.filter((s) => s.needed);
  const ingressEnv = parseEnv({ ...process.env, ...Object.assign({}, ...running.map((s) => ({ ...s.workerEnv, ...s.ingressEnv }))) });
  let map: AccessMap;
  try {
    map = AccessMap.load(ingressEnv.ACCESS_MAP);
  } catch {
    return; // The ingress names the map's problem itself.
  }
  const problems = ingressConfigProblems(ingressEnv, map);
  if (problems.length === 0) return;
  process.stderr.write(`start: real credentials are configured, so the ingress is held to production's rules:\n  ${problems.join('\n  ')}\n`);
  process.exit(EXIT_CONFIG);
}

interface Sandboxes {
  workerEnv: Record<string, string>;
  ingressEnv: Record<string, string>;
  banner: string[];
}

/** The sandboxes the configuration calls for (an API without credentials). */
async function startSandboxes(env: Env, wanted: ReturnType<typeof sandboxSpecs>): Promise<Sandboxes> {
  const result: Sandboxes = { workerEnv: {}, ingressEnv: {}, banner: [] };
  await Promise.all(
    wanted.map(async (sandbox) => {
      if (!sandbox.needed) {
        result.banner.push(`  ${sandbox.name.padEnd(17)} not started: ${sandbox.real} configured, using the real API`);
        return;
      }
      const child = supervisor.spawnTs(sandbox.name, sandbox.entry, { ...process.env, PORT: String(env.PORT), ...sandbox.workerEnv, ...sandbox.sandboxEnv }, root);
      const ready = await supervisor.waitFor(`${sandbox.name} on port ${sandbox.port}`, 30_000, () => canConnect(sandbox.port), () => !child.running).catch((error: unknown) => {
        say(`${sandbox.name} did not come up: ${(error as Error).message}`);
        return false;
      });
      if (ready === false) return;
      Object.assign(result.workerEnv, sandbox.workerEnv);
      // The ingress re-reads Nexudus records (its credentials) and checks the sandbox's signatures.
      Object.assign(result.ingressEnv, sandbox.workerEnv, sandbox.ingressEnv);
      result.banner.push(...sandbox.usage);
    }),
  );
  return result;
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return response.ok;
  } catch {
    return false;
  }
}

main().catch((error: unknown) => {
  if (supervisor.stopping) return;
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  void supervisor.shutdown(1);
});
