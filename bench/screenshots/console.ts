/**
 * Makes the console's screenshots in docs/ (console-sign-in.png, console-setup.png,
 * console-setup-phone.png, console-access-now.png, console-access-now-phone.png,
 * console-problems.png): `npm start` with an
 * operator token (the sandboxes), the seeded bookings and contracts (and their customers' passes) emitted by the Nexudus
 * sandbox, two correctly signed deliveries the product cannot use (so Problems has dead events),
 * then each page in headless Chromium.
 *
 *   node --import tsx bench/screenshots/console.ts [--out-dir docs]
 *
 * It checks what each picture must show before taking it (the page's heading, a granted customer
 * on Access now, a dead event on Problems).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { signNexudusBody } from '../../dev/sandbox/nexudus/webhooks';
import { launchChromium, root, startLocalStack, waitUntil } from './local-stack';

const outDir = path.resolve(root, process.argv.includes('--out-dir') ? process.argv[process.argv.indexOf('--out-dir') + 1]! : 'docs');

async function main(): Promise<void> {
  const token = randomBytes(24).toString('hex');
  const webhookSecret = randomBytes(24).toString('hex');
  const stack = await startLocalStack('console-screenshot-', { OPS_TOKEN: token, NEXUDUS_SANDBOX_WEBHOOK_SECRET: webhookSecret });
  const base = `http://127.0.0.1:${stack.ports.PORT}`;
  try {
    for (const id of [7000001, 7000002, 7000003]) await stack.emit('BookingCreate', { Id: id });
    for (const id of [6000001, 6000002]) await stack.emit('CoworkerContractCreate', { Id: id });
    // Passes have no webhook of their own: a customer's access update makes the product look.
    for (const id of [2000001, 2000002]) await stack.emit('AccessControlUpdate', { Id: id });
    // Correctly signed, unusable: a booking Nexudus does not have, an action the product does not handle.
    for (const [action, body] of [['BookingCreate', [{ Id: 7999999 }]], ['TariffCreate', [{ Id: 1 }]]] as const) {
      const text = JSON.stringify(body);
      const res = await fetch(`${base}/webhooks/nexudus/${action}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-nexudus-hook-signature': signNexudusBody(text, webhookSecret) }, body: text });
      if (!res.ok) throw new Error(`${action}: HTTP ${res.status} ${await res.text()}`);
    }

    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${base}/console/sign-in`);
      await shoot(page, 'console-sign-in.png', 'Door access console');
      await page.getByLabel('Operator token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(/\/console\/access/);

      await waitUntil('a granted customer on Access now', 90_000, async () => {
        await page.goto(`${base}/console/access`);
        return (await page.getByText('Ada Lovelace').count()) > 0;
      });
      await shoot(page, 'console-access-now.png', 'Access now');

      await page.goto(`${base}/console/setup`);
      await shoot(page, 'console-setup.png', 'Setup');

      await waitUntil('a dead event on Problems', 60_000, async () => {
        await page.goto(`${base}/console/problems`);
        return (await page.getByText('7999999').count()) > 0;
      });
      await shoot(page, 'console-problems.png', 'Problems');

      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${base}/console/access`);
      await shoot(page, 'console-access-now-phone.png', 'Access now');
      await page.goto(`${base}/console/setup`);
      await shoot(page, 'console-setup-phone.png', 'Setup', { fullPage: false });
    } finally {
      await browser.close();
    }
  } finally {
    await stack.stop();
  }
}

async function shoot(page: Page, name: string, heading: string, options: { fullPage?: boolean } = {}): Promise<void> {
  await page.getByRole('heading', { level: 1, name: heading }).waitFor({ timeout: 30_000 });
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, name);
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true });
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
