/**
 * Makes docs/web-ui-codec-decoded-input.png: `npm start` with a payload key (the sandboxes, a
 * random key), one booking emitted by the Nexudus sandbox, and the dev server's Web UI showing the
 * grant's input decoded through the ingress' codec endpoint, in headless Chromium (playwright-core
 * driving Debian's `chromium`: apt-get install -y chromium).
 *
 *   node --import tsx bench/screenshots/codec.ts [--out docs/web-ui-codec-decoded-input.png]
 *
 * It also checks what the picture must show: the customer's name in the decoded input, and that
 * Temporal itself holds only `binary/encrypted` payloads (the same page without the codec).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { binLinkPath } from '../../dev/temporal-binaries';
import { freePort } from '../../dev/lib/ports';
import { projectRoot } from '../../src/process/project-root';

const root = projectRoot();
const out = path.resolve(root, process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : 'docs/web-ui-codec-decoded-input.png');
const BROWSER = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function waitUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await check();
    if (value) return value;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function main(): Promise<void> {
  if (!fs.existsSync(BROWSER)) throw new Error(`${BROWSER} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const ports = { PORT: await freePort(), TEMPORAL_PORT: await freePort(), TEMPORAL_UI_PORT: await freePort(), WORKER_METRICS_PORT: await freePort(), KISI_SANDBOX_PORT: await freePort(), NEXUDUS_SANDBOX_PORT: await freePort() };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-screenshot-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, TEMPORAL_PAYLOAD_KEY: randomBytes(32).toString('base64'), LOG_LEVEL: 'info' };
  for (const name of ['NODE_ENV', 'TEMPORAL_ADDRESS', 'KISI_API_KEY', 'NEXUDUS_USERNAME', 'NEXUDUS_PASSWORD', 'OPS_TOKEN']) delete env[name];
  for (const [name, value] of Object.entries(ports)) env[name] = String(value);
  const start = spawn(process.execPath, ['--import', 'tsx', 'dev/local/start.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  start.stdout.on('data', (c: Buffer) => (log += c.toString()));
  start.stderr.on('data', (c: Buffer) => (log += c.toString()));
  try {
    await waitUntil(`npm start to come up (log so far:\n${log.slice(-3000)})`, 120_000, () => {
      if (start.exitCode !== null) throw new Error(`npm start exited:\n${log}`);
      return log.includes('[start] up in') && /\[worker\] .*worker polling/.test(log);
    });
    const emitted = await fetch(`http://127.0.0.1:${ports.NEXUDUS_SANDBOX_PORT}/__sandbox/emit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'BookingCreate', entity: { Id: 7000001 } }),
    });
    if (!emitted.ok) throw new Error(`emit: HTTP ${emitted.status} ${await emitted.text()}`);
    const cli = binLinkPath('cli', root);
    await waitUntil('booking-7000001 granted', 60_000, () => {
      try {
        const text = execFileSync(cli, ['workflow', 'list', '--address', `127.0.0.1:${ports.TEMPORAL_PORT}`, '--query', 'WorkflowId = "booking-7000001" AND GrantState = "granted"', '--output', 'json'], { encoding: 'utf8' });
        return text.includes('booking-7000001');
      } catch {
        return false;
      }
    });
    const stored = execFileSync(cli, ['workflow', 'show', '--workflow-id', 'booking-7000001', '--address', `127.0.0.1:${ports.TEMPORAL_PORT}`, '--output', 'json'], { encoding: 'utf8' });
    if (stored.includes('Ada Lovelace') || !stored.includes(Buffer.from('binary/encrypted').toString('base64'))) throw new Error('Temporal holds the input in clear: is TEMPORAL_PAYLOAD_KEY reaching the ingress?');

    const browser = await chromium.launch({
      executablePath: BROWSER,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      await page.goto(`http://localhost:${ports.TEMPORAL_UI_PORT}/namespaces/default/workflows/booking-7000001`, { waitUntil: 'domcontentloaded' });
      // The input, decoded by the ingress: the customer's name is in it.
      const input = page.getByText('Ada Lovelace').first();
      await input.waitFor({ timeout: 60_000 });
      await input.scrollIntoViewIfNeeded();
      await page.screenshot({ path: out, fullPage: false });
      process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
    } finally {
      await browser.close();
    }
  } finally {
    start.kill('SIGTERM');
    await new Promise((r) => start.once('exit', r));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
