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
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { binLinkPath } from '../../dev/temporal-binaries';
import { launchChromium, root, startLocalStack, waitUntil } from './local-stack';

const out = path.resolve(root, process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : 'docs/web-ui-codec-decoded-input.png');

async function main(): Promise<void> {
  const stack = await startLocalStack('codec-screenshot-', { TEMPORAL_PAYLOAD_KEY: randomBytes(32).toString('base64') });
  const { ports } = stack;
  try {
    await stack.emit('BookingCreate', { Id: 7000001 });
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

    const browser = await launchChromium();
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
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
