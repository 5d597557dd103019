/**
 * A real headless Chromium for the console's tests: playwright-core driving Debian's `chromium`
 * (CHROMIUM_PATH to use another; .ci/run installs it when absent), sign-in as an operator would
 * do it, and axe-core's accessibility check of the page in view.
 */
import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { IngressHarness, type IngressHarnessOptions } from '../ingress/harness';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  // --no-sandbox: CI runs as root, where Chromium's own sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/**
 * A fresh browser profile (no cookies). `bypassCSP` lets axe-core's script be injected; the
 * console's own policy is asserted by the tests that need it, on the response headers.
 */
export function newContext(browser: Browser, viewport = { width: 1280, height: 900 }): Promise<BrowserContext> {
  return browser.newContext({ bypassCSP: true, viewport });
}

/** Signs in through the sign-in form, as a person would, and waits for the console's first page. */
export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/console/sign-in`);
  await page.getByLabel('Operator token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/(?!sign-in)/);
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core on the page as it is now: its serious and critical violations (WCAG 2.1 A and AA rules). */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } }).axe;
    const result = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** What a console browser test runs on: the ingress harness (a real server, Temporal, sandboxes) and Chromium. */
export interface ConsoleStack {
  h: IngressHarness;
  browser: Browser;
}

export async function startConsoleStack(options: IngressHarnessOptions = {}): Promise<ConsoleStack> {
  const [h, browser] = await Promise.all([IngressHarness.start(options), launchBrowser()]);
  return { h, browser };
}

/** Closes what started (either may be missing when the start failed). */
export async function closeConsoleStack(stack: Partial<ConsoleStack>): Promise<void> {
  await stack.browser?.close();
  await stack.h?.close();
}
