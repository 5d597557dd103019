/**
 * `npm run sandbox`: the Kisi and Nexudus sandboxes alone, exactly as `npm start` runs them (same
 * modules, ports, environment and credentials, from ./sandbox-specs.ts), for working on
 * the access map (`npm run access-map`), driving webhooks by hand, or running a worker elsewhere.
 *
 * Each sandbox is a child behind src/process/guard.ts in its own process group (ManagedProcess), so a
 * Ctrl-C reaches only this supervisor, which stops both (SIGTERM, SIGKILL after a grace period);
 * a supervisor killed outright still takes them along (the guard watches its stdin pipe).
 * Unlike `npm start`, both sandboxes run whatever credentials are configured: asking for the
 * sandboxes is the point.
 */
import { canConnect } from '../lib/ports';
import { projectRoot } from '../../src/process/project-root';
import { loadEnvOrExit } from '../../src/process/bootstrap';
import { formatLine } from '../../src/process/managed-process';
import { SANDBOX_CREDENTIALS } from '../../src/config/local-sandboxes';
import { loadLocalEnvOrExit } from './env';
import { sandboxSpecs, sandboxWebhookSecrets } from './sandbox-specs';
import { Supervisor } from './supervisor';

/** Same budget as npm start gives a role, well inside its 10 s stop. */
const GRACE_MS = 5_000;
const READY_TIMEOUT_MS = 30_000;

const root = projectRoot();
const out = (line: string) => process.stdout.write(`${line}\n`);
const say = (line: string) => out(formatLine('sandbox', line));
const supervisor = new Supervisor({ say, out, what: 'the sandboxes', stages: [{ graceMs: GRACE_MS }], deadlineMs: GRACE_MS + 2_000 });

async function main(): Promise<void> {
  process.env.NODE_ENV ??= 'development';
  const env = loadEnvOrExit('sandbox');
  const local = loadLocalEnvOrExit('sandbox');
  supervisor.watchSignalsAndParent();

  const started = Date.now();
  const secrets = sandboxWebhookSecrets(local);
  const specs = sandboxSpecs(env, local, secrets);
  // A port already taken would make the "listening" check pass against someone else's server.
  for (const spec of specs) {
    if (await canConnect(spec.port)) {
      say(`port ${spec.port} (${spec.name}) is already in use: is npm start or another npm run sandbox running? Set ${spec.name === 'kisi-sandbox' ? 'KISI_SANDBOX_PORT' : 'NEXUDUS_SANDBOX_PORT'} to use another port.`);
      process.exit(1);
    }
  }

  await Promise.all(
    specs.map(async (spec) => {
      // The environment npm start gives this sandbox: PORT (where webhooks go) and its credentials.
      const child = supervisor.spawnTs(spec.name, spec.entry, { ...process.env, PORT: String(env.PORT), ...spec.workerEnv, ...spec.sandboxEnv }, root);
      await supervisor.waitFor(`${spec.name} on port ${spec.port}`, READY_TIMEOUT_MS, () => canConnect(spec.port), () => !child.running);
    }),
  );
  if (supervisor.stopping) return;

  const kisi = `http://localhost:${local.KISI_SANDBOX_PORT}`;
  const nexudus = `http://localhost:${local.NEXUDUS_SANDBOX_PORT}`;
  const kisiWebhook = process.env.KISI_SANDBOX_WEBHOOK_URL || `http://localhost:${env.PORT}/webhooks/kisi`;
  const nexudusWebhooks = `${(local.NEXUDUS_SANDBOX_INGRESS_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '')}/webhooks/nexudus/<Action>`;
  const json = `-H 'content-type: application/json'`;
  const lines = [
    `up in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    ...specs.flatMap((spec) => spec.usage),
    'Clients reach them with (what npm start gives the worker):',
    `  KISI_BASE_URL=${kisi} KISI_API_KEY=${SANDBOX_CREDENTIALS.KISI_API_KEY}`,
    `  NEXUDUS_BASE_URL=${nexudus}/api NEXUDUS_USERNAME=${SANDBOX_CREDENTIALS.NEXUDUS_USERNAME} NEXUDUS_PASSWORD=${SANDBOX_CREDENTIALS.NEXUDUS_PASSWORD}`,
    '  npm run access-map needs none of it: without credentials it uses sandboxes answering on these ports.',
    'They sign their webhooks with sandbox secrets (never NEXUDUS_WEBHOOK_SECRET / KISI_WEBHOOK_SECRET); an ingress that checks signatures needs:',
    `  NEXUDUS_WEBHOOK_SECRET=${secrets.nexudus} KISI_WEBHOOK_SECRET=${secrets.kisi}`,
    `  (fixed ones: set NEXUDUS_SANDBOX_WEBHOOK_SECRET / KISI_SANDBOX_WEBHOOK_SECRET; these are random per run)`,
    'Drive them:',
    `  curl ${kisi}/__sandbox/state                  Kisi users, role assignments (valid now?), cards, recent requests`,
    `  curl -X POST ${kisi}/__sandbox/unlock ${json} -d '{"lockId":1001,"userId":<a user id from the state>}'`,
    `                                                  a signed lock.unlock webhook to ${kisiWebhook} (users appear once access is granted)`,
    `  curl ${nexudus}/__sandbox/state                  Nexudus check-ins, failed check-ins, webhooks and deliveries`,
    `  curl -X POST ${nexudus}/__sandbox/emit ${json} -d '{"action":"BookingCreate","entity":{"Id":7000001}}'`,
    `                                                  one webhook to ${nexudusWebhooks} (the ingress of npm start / npm run ingress)`,
    `  curl -X POST ${nexudus}/__sandbox/tick ${json} -d '{}'   access-control updates due now (15 min before/after bookings)`,
    `  faults on either: curl -X POST <url>/__sandbox/faults ${json} -d '{"rules":[{"route":"*","errorRate":0.2,"latencyMs":[50,400]}]}'`,
    '  back to the seed: POST <url>/__sandbox/reset   (seeds: config/sandbox/kisi-seed.json, nexudus-seed.json)',
    'Ctrl-C stops both.',
  ];
  for (const line of lines) say(line);
}

main().catch((error: unknown) => {
  if (supervisor.stopping) return;
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  void supervisor.shutdown(1);
});
