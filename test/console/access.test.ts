/**
 * Access now in a real Chromium, on the ingress with a Temporal dev server, a real worker and the
 * Kisi and Nexudus sandboxes: bookings granted through signed webhooks are listed (now, soon, not
 * later), searched by email, group and item; cancelled from the page after a confirmation naming
 * the customer and the doors, and Kisi drops the membership; a needs-attention grant retried; the
 * refusals (no session, no CSRF token, not a grant id); axe-core at desktop and phone sizes.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { AccessMap } from '../../src/config/access-map';
import {
  eventually,
  GROUP_ROOM_SEVERN,
  GROUP_ROOM_THAMES,
  HOUR,
  INGRESS_MAP,
  type IngressHarness,
  iso,
  OPS_TOKEN,
  ROOM_SEVERN,
  ROOM_THAMES,
} from '../ingress/harness';
import { closeConsoleStack, startConsoleStack, newContext, seriousAxeViolations, signIn } from './browser';

jest.setTimeout(120_000);

const MIN = 60_000;
const PHONE = { width: 390, height: 844 };

let h: IngressHarness;
let browser: Browser;

beforeAll(async () => ({ h, browser } = await startConsoleStack()));
afterAll(() => closeConsoleStack({ h, browser }));

let seq = 0;
function newCustomer(tag: string): { customerId: number; email: string; name: string } {
  const name = `Access ${tag} ${++seq}`;
  const email = `access-${tag}-${seq}-${randomBytes(3).toString('hex')}@example.com`;
  const rec = h.nexudus.state.addCoworker({ FullName: name, Email: email });
  return { customerId: rec.Id as number, email, name };
}

/** A booking delivered as Nexudus does it: a signed BookingCreate webhook. */
async function book(who: { customerId: number }, resourceId: number, from: number, to: number): Promise<string> {
  const booking = h.nexudus.state.addBooking({ ResourceId: resourceId, CoworkerId: who.customerId, FromTime: iso(from), ToTime: iso(to) });
  const res = await h.postNexudus('BookingCreate', [booking]);
  expect(res.status).toBe(200);
  return `booking-${booking.Id}`;
}

/** Now, to the second (Nexudus' times have whole seconds). */
const nowSec = () => Math.floor(Date.now() / 1000) * 1000;

async function signedInPage(viewport?: { width: number; height: number }): Promise<Page> {
  const context = await newContext(browser, viewport);
  const page = await context.newPage();
  await signIn(page, h.url, OPS_TOKEN);
  return page;
}

/** Visibility is eventually consistent: reload the search until `check` holds. */
async function searchUntil(page: Page, query: string, check: () => Promise<boolean>, what: string): Promise<void> {
  await eventually(async () => {
    const res = await page.goto(`${h.url}/console/access${query}`);
    expect(res?.status()).toBe(200);
    return check();
  }, what, 20_000);
}

/** The table right after a list's heading. */
const tableAfter = (page: Page, id: 'now' | 'soon') => page.locator(`h2#${id} + p + .table-wrap table, h2#${id} + .table-wrap table`);

test('a booking granted by webhook is on Access now (by email, by group, by item); Cancel names the customer and the doors, and Kisi drops the membership', async () => {
  const ada = newCustomer('cancel');
  const now = nowSec();
  const current = await book(ada, ROOM_THAMES, now - 5 * MIN, now + HOUR);
  const soon = await book(ada, ROOM_SEVERN, now + 3 * HOUR, now + 4 * HOUR);
  const later = await book(ada, ROOM_SEVERN, now + 48 * HOUR, now + 49 * HOUR);
  await eventually(() => h.assignments(ada.email, GROUP_ROOM_THAMES).length > 0, 'the Kisi assignment of the current booking');

  const page = await signedInPage();
  const cancelLink = (id: string) => page.getByRole('link', { name: `Cancel ${id} for ${ada.name}` });
  const byEmail = `?email=${encodeURIComponent(ada.email)}`;
  await searchUntil(page, byEmail, async () => (await cancelLink(current).count()) === 1 && (await cancelLink(soon).count()) === 1, 'both bookings listed');
  // Now in the first list, the one three hours ahead in the second, the one two days ahead in neither.
  await expect(tableAfter(page, 'now').getByRole('link', { name: `Cancel ${current} for ${ada.name}` }).count()).resolves.toBe(1);
  await expect(tableAfter(page, 'soon').getByRole('link', { name: `Cancel ${soon} for ${ada.name}` }).count()).resolves.toBe(1);
  await expect(cancelLink(later).count()).resolves.toBe(0);
  const row = page.getByRole('row').filter({ has: cancelLink(current) });
  await expect(row.textContent()).resolves.toContain('Meeting Room A (103)');
  await expect(row.textContent()).resolves.toContain(ada.email);
  await expect(row.getByRole('link', { name: `${current} in the Temporal Web UI` }).getAttribute('href')).resolves.toBe(`http://localhost:8233/namespaces/default/workflows/${current}`);
  await expect(page.getByRole('columnheader', { name: 'Window (Europe/London)' }).first().count()).resolves.toBe(1);
  expect(await seriousAxeViolations(page)).toEqual([]);

  // By group, through the form: Thames' group lists the current booking, Severn's does not.
  await page.getByLabel('Email').fill(ada.email);
  await page.getByLabel('Kisi group').selectOption(String(GROUP_ROOM_THAMES));
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL(/group=103/);
  await expect(cancelLink(current).count()).resolves.toBe(1);
  await expect(cancelLink(soon).count()).resolves.toBe(0);
  await page.goto(`${h.url}/console/access${byEmail}&group=${GROUP_ROOM_SEVERN}`);
  await expect(cancelLink(current).count()).resolves.toBe(0);
  await expect(cancelLink(soon).count()).resolves.toBe(1);
  // By item: the room, mapped to its groups (and said so).
  await page.goto(`${h.url}/console/access${byEmail}&item=resources:${ROOM_SEVERN}`);
  await expect(cancelLink(soon).count()).resolves.toBe(1);
  await expect(cancelLink(current).count()).resolves.toBe(0);
  await expect(page.getByText('searched as the Kisi groups the access map links it to').count()).resolves.toBe(1);
  // By customer id, and by name.
  await page.goto(`${h.url}/console/access?customer=${ada.customerId}`);
  await expect(cancelLink(current).count()).resolves.toBe(1);
  await page.goto(`${h.url}/console/access?customer=${encodeURIComponent(ada.name.toLowerCase())}`);
  await expect(cancelLink(current).count()).resolves.toBe(1);
  await page.goto(`${h.url}/console/access?customer=${encodeURIComponent('Nobody Of That Name')}`);
  await expect(cancelLink(current).count()).resolves.toBe(0);

  // Cancel: the confirmation first, naming the customer and the doors.
  await page.goto(`${h.url}/console/access${byEmail}`);
  await cancelLink(current).click();
  await page.waitForURL(new RegExp(`/console/access/${current}/cancel$`));
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(`Cancel ${current} for ${ada.name}?`);
  const doors = await page.locator('ul.doors').textContent();
  expect(doors).toContain('Meeting Room A (103)');
  expect(doors).toContain('Front door');
  expect(await page.textContent('main')).toContain('is not changed');
  // Nothing happened yet.
  expect(h.assignments(ada.email, GROUP_ROOM_THAMES)).toHaveLength(1);
  expect(await seriousAxeViolations(page)).toEqual([]);

  await page.getByRole('button', { name: `Cancel ${current} and revoke its access` }).click();
  await page.waitForURL(/\/console\/access$/);
  await expect(page.getByRole('status').first().textContent()).resolves.toContain(`${current} is cancelled and its Kisi access revoked`);
  // cancelGrant waits for the revoke: Kisi no longer holds the membership when the page answers.
  expect(h.assignments(ada.email, GROUP_ROOM_THAMES)).toEqual([]);
  // No longer listed as active; still there when asking for cancelled grants.
  await searchUntil(page, byEmail, async () => (await cancelLink(current).count()) === 0, 'the cancelled grant gone from the active list');
  await expect(cancelLink(soon).count()).resolves.toBe(1);
  await searchUntil(page, `${byEmail}&state=cancelled`, async () => (await cancelLink(current).count()) === 1, 'the grant listed as cancelled');
  // A second cancel of it: a clear notice, nothing done.
  await page.goto(`${h.url}/console/access/${current}/cancel`);
  await page.waitForURL(/\/console\/access$/);
  await expect(page.getByRole('alert').textContent()).resolves.toContain('already cancelled');
  await page.context().close();
});

test('Retry on a needs-attention grant sends the retry; the grant then gives access; `back` returns to a console page only', async () => {
  const UNKNOWN_GROUP = 999_999;
  const grace = newCustomer('retry');
  h.map = AccessMap.parse({ ...INGRESS_MAP, resources: { ...INGRESS_MAP.resources, [ROOM_SEVERN]: { groups: [UNKNOWN_GROUP] } } });
  let id: string;
  try {
    const now = nowSec();
    id = await book(grace, ROOM_SEVERN, now - 5 * MIN, now + HOUR);
    await eventually(async () => (await h.status(id)).state === 'needs-attention', 'needs-attention');
  } finally {
    h.map = AccessMap.parse(INGRESS_MAP);
  }

  const page = await signedInPage();
  const retry = page.getByRole('button', { name: `Retry ${id} for ${grace.name}` });
  await searchUntil(page, `?customer=${grace.customerId}&state=needs-attention`, async () => (await retry.count()) === 1, 'the needs-attention grant listed');
  const row = page.getByRole('row').filter({ has: retry });
  await expect(row.textContent()).resolves.toMatch(/422/);
  await retry.click();
  await page.waitForURL(/\/console\/access\?customer=/);
  await expect(page.getByRole('status').first().textContent()).resolves.toContain(`Retry sent to ${id} (it was needs-attention)`);
  await eventually(async () => (await h.status(id)).state === 'granted', 'granted after the retry');
  expect(h.assignments(grace.email, GROUP_ROOM_SEVERN)).toHaveLength(1);

  // The Problems page posts with back=/console/problems; anything else off the console goes to Access now.
  const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
  const toProblems = await page.context().request.post(`${h.url}/console/access/${id}/retry`, { form: { _csrf: csrf, back: '/console/problems' }, maxRedirects: 0 });
  expect(toProblems.status()).toBe(303);
  expect(toProblems.headers().location).toBe('/console/problems');
  const offSite = await page.context().request.post(`${h.url}/console/access/${id}/retry`, { form: { _csrf: csrf, back: 'https://evil.example/' }, maxRedirects: 0 });
  expect(offSite.headers().location).toBe('/console/access');
  await page.context().close();
});

test('refused: no session (GET to sign-in, POST 401), no CSRF token (403), not a grant id; the assignment stays', async () => {
  const alan = newCustomer('refuse');
  const now = nowSec();
  const id = await book(alan, ROOM_THAMES, now - 5 * MIN, now + HOUR);
  await eventually(() => h.assignments(alan.email, GROUP_ROOM_THAMES).length > 0, 'the Kisi assignment');

  const get = await request(h.ingress.app).get('/console/access');
  expect(get.status).toBe(303);
  expect(get.headers.location).toBe('/console/sign-in');
  for (const path of [`/console/access/${id}/cancel`, `/console/access/${id}/retry`]) {
    const post = await request(h.ingress.app).post(path).type('form').send({});
    expect(post.status).toBe(401);
  }

  const page = await signedInPage();
  const api = page.context().request;
  for (const form of [{} as Record<string, string>, { _csrf: 'guessed' }]) {
    const forged = await api.post(`${h.url}/console/access/${id}/cancel`, { form, maxRedirects: 0 });
    expect(forged.status()).toBe(403);
  }
  // Not a grant's id: a notice, no command sent (the membership workflow is not touched).
  await page.goto(`${h.url}/console/access/membership-user-1-2/cancel`);
  await page.waitForURL(/\/console\/access$/);
  await expect(page.getByRole('alert').textContent()).resolves.toContain('not a grant');
  await page.goto(`${h.url}/console/access?customer=${alan.customerId}`);
  const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
  const notGrant = await api.post(`${h.url}/console/access/${encodeURIComponent('booking-1 OR x')}/cancel`, { form: { _csrf: csrf }, maxRedirects: 0 });
  expect(notGrant.status()).toBe(303);
  const unknown = await api.post(`${h.url}/console/access/booking-999999999/cancel`, { form: { _csrf: csrf }, maxRedirects: 0 });
  expect(unknown.status()).toBe(303);
  await page.goto(`${h.url}/console/access`);
  await expect(page.getByRole('alert').textContent()).resolves.toContain('There is no grant booking-999999999');

  expect(h.assignments(alan.email, GROUP_ROOM_THAMES)).toHaveLength(1);
  expect((await h.status(id)).state).toBe('granted');
  // A bad search: the form again with what is wrong, and no list.
  const bad = await page.goto(`${h.url}/console/access?email=not-an-email&state=whatever`);
  expect(bad?.status()).toBe(400);
  await expect(page.getByRole('alert').textContent()).resolves.toMatch(/email: expected an email address[\s\S]*state: expected one of/);
  await page.context().close();
});

test('axe-core finds no serious violation on the list and the confirmation at phone size', async () => {
  const zoe = newCustomer('phone');
  const now = nowSec();
  const id = await book(zoe, ROOM_THAMES, now - 5 * MIN, now + HOUR);
  const page = await signedInPage(PHONE);
  const cancel = page.getByRole('link', { name: `Cancel ${id} for ${zoe.name}` });
  await searchUntil(page, `?customer=${zoe.customerId}`, async () => (await cancel.count()) === 1, 'the grant listed');
  expect(await seriousAxeViolations(page)).toEqual([]);
  // The page itself does not scroll sideways on a phone: only the table's wrapper may.
  const wide = await page.evaluate((w) => Array.from(document.querySelectorAll('body *')).filter((e) => e.getBoundingClientRect().right > w && !e.closest('.table-wrap')).map((e) => `${e.tagName}.${e.className}#${e.id}:${Math.round(e.getBoundingClientRect().right)}`), PHONE.width);
  expect(wide).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
  await cancel.click();
  await page.waitForURL(/\/cancel$/);
  expect(await seriousAxeViolations(page)).toEqual([]);
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(PHONE.width);
  await page.context().close();
});
