/**
 * The console's Setup page in a real Chromium, on an ingress that serves the access map from a
 * file (as production does) with a real worker and the sandboxes: link a resource nobody mapped
 * to a Kisi group, watch the live check follow, Save, see the file change on disk and a booking of
 * that resource open the group's doors in Kisi. Then the refusals: a map with errors, bad input,
 * a change without the CSRF token (nothing written each time), a read-only file (download
 * instead), and a worker that does not answer (ids without names). axe-core on a desk and a phone.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { AccessMap } from '../../src/config/access-map';
import { consoleFor } from '../../src/console';
import type { Ingress } from '../../src/ingress/assemble';
import { eventually, HOUR, type IngressHarness, iso, OPS_TOKEN } from '../ingress/harness';
import { closeConsoleStack, startConsoleStack, newContext, seriousAxeViolations, signIn } from './browser';

jest.setTimeout(120_000);

/** Seeded in config/sandbox: a resource and a desk the harness' map leaves out, and groups of place 1. */
const PODCAST_BOOTH = 3000003;
const DESK_D2 = 4000003;
const GROUP_BUSINESS_HOURS = 102;
const GROUP_MEMBERS = 101;

let h: IngressHarness;
let browser: Browser;
let mapFile: string;

beforeAll(async () => {
  ({ h, browser } = await startConsoleStack({ accessMapFile: true }));
  mapFile = h.mapSource!.file;
});
afterAll(() => closeConsoleStack({ h, browser }));

async function openSetup(baseUrl: string, viewport?: { width: number; height: number }): Promise<Page> {
  const context = await newContext(browser, viewport);
  const page = await context.newPage();
  await signIn(page, baseUrl, OPS_TOKEN);
  await page.goto(`${baseUrl}/console/setup`);
  return page;
}

const itemGroups = (page: Page, name: string) => page.getByRole('group', { name: `Kisi groups for ${name}` });
const finding = (page: Page, key: string) => page.locator(`#findings li[data-key="${key}"]`);

/** Another ingress on the harness' parts (its own inbox) served over HTTP, for a browser. */
async function serve(ingress: Ingress): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(ingress.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await ingress.close();
    },
  };
}

test('link an unmapped resource to a group: the live check follows, Save writes the file, and a booking of it is granted', async () => {
  const before = fs.readFileSync(mapFile, 'utf8');
  expect(JSON.parse(before).resources[PODCAST_BOOTH]).toBeUndefined();
  const page = await openSetup(h.url);
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Setup');
  // The place and the business by name (the worker's inventory), and every item of the listing.
  const where = (await page.locator('dl').textContent()) ?? '';
  expect(where).toContain('Sandbox Coworking Main Street (1)');
  expect(where).toContain('Riverside Coworking London (1000001)');
  await expect(page.getByRole('group', { name: 'Kisi groups for Dedicated Desk D2' }).count()).resolves.toBe(1);
  await expect(itemGroups(page, 'Meeting Room Thames').getByLabel('Meeting Room A').isChecked()).resolves.toBe(true);
  // link --check says the booth is mapped nowhere.
  await expect(finding(page, `resources.${PODCAST_BOOTH}`).textContent()).resolves.toContain('Podcast Booth');
  expect(await seriousAxeViolations(page)).toEqual([]);

  await itemGroups(page, 'Podcast Booth').getByLabel('Business hours').check();
  // The live check (the page's script, no submit) drops the finding.
  await page.waitForFunction((key) => !document.querySelector(`#findings li[data-key="${key}"]`) && document.querySelector('#findings')?.getAttribute('aria-busy') === 'false', `resources.${PODCAST_BOOTH}`);
  expect(fs.readFileSync(mapFile, 'utf8')).toBe(before);

  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/console\/setup$/);
  await expect(page.getByRole('status').first().textContent()).resolves.toContain('Saved');
  const saved = JSON.parse(fs.readFileSync(mapFile, 'utf8'));
  expect(saved.resources[PODCAST_BOOTH]).toEqual({ groups: [GROUP_BUSINESS_HOURS], name: 'Podcast Booth' });
  // Nothing else moved: the file is the map as it was, plus the link.
  const was = JSON.parse(before);
  expect(saved).toEqual({ ...was, resources: { ...was.resources, [PODCAST_BOOTH]: { groups: [GROUP_BUSINESS_HOURS], name: 'Podcast Booth' } } });
  expect(h.mapInForce().forBooking(PODCAST_BOOTH)?.groups).toEqual([GROUP_BUSINESS_HOURS]);
  await expect(itemGroups(page, 'Podcast Booth').getByLabel('Business hours').isChecked()).resolves.toBe(true);

  // A booking of the booth now opens the group's doors.
  const email = `setup-${randomBytes(3).toString('hex')}@example.com`;
  const customer = h.nexudus.state.addCoworker({ FullName: 'Setup Booker', Email: email });
  const start = Math.ceil(Date.now() / HOUR) * HOUR + 30 * HOUR;
  const booking = h.nexudus.state.addBooking({ ResourceId: PODCAST_BOOTH, CoworkerId: customer.Id as number, FromTime: iso(start), ToTime: iso(start + HOUR) });
  const res = await h.postNexudus('BookingCreate', [booking]);
  expect(res.status).toBe(200);
  const [assignment] = await eventually(() => {
    const a = h.assignments(email, GROUP_BUSINESS_HOURS);
    return a.length > 0 && a;
  }, 'the Kisi assignment in the linked group');
  expect(assignment).toMatchObject({ valid_from: iso(start - 15 * 60_000), valid_until: iso(start + HOUR + 15 * 60_000) });
  await page.context().close();
});

test('a map with errors, or input that does not read, is refused with the reasons and nothing is written', async () => {
  const before = fs.readFileSync(mapFile, 'utf8');
  const page = await openSetup(h.url);

  // The worker's own schema: passes need a time zone.
  await page.getByLabel('Time zone', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('alert').first().textContent()).resolves.toContain('Not saved: the map has 1 error');
  await expect(finding(page, 'timeZone').textContent()).resolves.toContain('required when passes are mapped');
  expect(fs.readFileSync(mapFile, 'utf8')).toBe(before);

  // link --check: a group Kisi does not have.
  await page.getByLabel('Time zone', { exact: true }).fill('Europe/London');
  await page.locator('#f-resources-3000002-groupIds').fill('999999');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.locator('#findings [data-code="unknown-group"]').textContent()).resolves.toContain('Kisi has no group 999999');
  expect(fs.readFileSync(mapFile, 'utf8')).toBe(before);

  // Input that does not read: each field says why, and the page keeps what was typed.
  await page.locator('#f-resources-3000002-groupIds').fill('');
  await page.getByLabel('Time zone', { exact: true }).fill('Mars/Olympus');
  await page.getByLabel('Default lead').fill('soon');
  const answer = page.waitForResponse((r) => r.url().endsWith('/console/setup') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Save' }).click();
  expect((await answer).status()).toBe(400);
  await expect(page.locator('#f-timeZone-error').textContent()).resolves.toContain('IANA time zone');
  await expect(page.locator('#f-timing-lead-error').textContent()).resolves.toContain('duration');
  await expect(page.getByLabel('Default lead').inputValue()).resolves.toBe('soon');
  expect(fs.readFileSync(mapFile, 'utf8')).toBe(before);
  await page.context().close();
});

test('a Save without the CSRF token is refused (403) and the file is unchanged', async () => {
  const before = fs.readFileSync(mapFile, 'utf8');
  const page = await openSetup(h.url);
  // Everything the page would send, but the token.
  const fields = await page.evaluate(() => {
    const out: Array<[string, string]> = [];
    new FormData(document.getElementById('setup-form') as HTMLFormElement).forEach((value, key) => out.push([key, String(value)]));
    return out;
  });
  const form = Object.fromEntries(fields.filter(([k]) => k !== '_csrf'));
  form[`resources.${DESK_D2}.groupIds`] = String(GROUP_MEMBERS);
  for (const path of ['/console/setup', '/console/setup/check', '/console/setup/download']) {
    const res = await page.context().request.post(`${h.url}${path}`, { form: { ...form, action: 'save' }, maxRedirects: 0 });
    expect(res.status()).toBe(403);
  }
  expect(fs.readFileSync(mapFile, 'utf8')).toBe(before);
  await page.context().close();
});

test('where the file cannot be written, Save offers the checked map to download with the command to apply it', async () => {
  // An ingress that was not given the map's file (as where the console cannot know or write it).
  const readOnly = await serve(h.buildIngress({ inboxFile: `${h.tmp}/read-only.db`, accessMapFile: undefined }));
  try {
    const page = await openSetup(readOnly.url);
    await itemGroups(page, 'Dedicated Desk D2').getByLabel('Members 24/7').check();
    await page.getByRole('button', { name: 'Save' }).click();
    const offer = page.getByRole('region', { name: 'The map is valid: download it to apply it' });
    await expect(offer.locator('pre').textContent()).resolves.toBe('cp access-map.json "$ACCESS_MAP_FILE" && docker compose --env-file deploy/.env kill -s HUP worker ingress');
    const [download, response] = await Promise.all([
      page.waitForEvent('download'),
      page.waitForResponse((r) => r.url().endsWith('/console/setup/download')),
      offer.getByRole('button', { name: 'Download access-map.json' }).click(),
    ]);
    expect(response.headers()['content-disposition']).toMatch(/^attachment; filename="?access-map\.json"?$/);
    expect(response.headers()['content-type']).toMatch(/^application\/json/);
    expect(download.suggestedFilename()).toBe('access-map.json');
    const body = fs.readFileSync(await download.path(), 'utf8');
    const map = AccessMap.parse(JSON.parse(body));
    expect(map.forContract([DESK_D2])?.groups).toEqual([GROUP_MEMBERS]);
    // Nothing in force changed: the offer is all.
    expect(h.mapInForce().forContract([DESK_D2])).toBeUndefined();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.context().close();
  } finally {
    await readOnly.close();
  }
});

test('when the worker does not answer, the page shows and checks the map by ids and says the names could not be read', async () => {
  // Nobody polls this task queue: the inventory read never starts.
  const noWorker = await serve(
    h.buildIngress({ inboxFile: `${h.tmp}/no-worker.db`, taskQueue: `nobody-${randomBytes(3).toString('hex')}`, console: consoleFor({ secureCookies: false, namespace: 'default', inventoryWaitMs: 300 }) }),
  );
  try {
    const page = await openSetup(noWorker.url);
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('names could not be read');
    await expect(page.locator('#f-resources-3000001-groupIds').inputValue()).resolves.toBe('103');
    await expect(page.locator('#findings').textContent()).resolves.toContain('schema only');
    await page.locator('#f-resources-3000001-lead').fill('later');
    await page.waitForFunction(() => document.querySelector('#findings')?.textContent?.includes('resources.3000001.lead'));
    expect(await seriousAxeViolations(page)).toEqual([]);
    await page.context().close();
  } finally {
    await noWorker.close();
  }
});

test('on a phone-sized screen the page fits the width and axe-core finds nothing serious', async () => {
  const page = await openSetup(h.url, { width: 390, height: 844 });
  expect(await seriousAxeViolations(page)).toEqual([]);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.context().close();
});
