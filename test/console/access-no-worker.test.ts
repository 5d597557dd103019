/**
 * Access now while no worker answers (the inventory and the grants' status queries need one):
 * the grants are still listed from visibility, groups by id with a note, and the confirmation
 * names the groups without doors and says why.
 */
import type { Browser } from 'playwright-core';
import { eventually, GROUP_ROOM_THAMES, HOUR, type IngressHarness, iso, OPS_TOKEN, ROOM_THAMES } from '../ingress/harness';
import { closeConsoleStack, startConsoleStack, newContext, seriousAxeViolations, signIn } from './browser';

jest.setTimeout(90_000);

let h: IngressHarness;
let browser: Browser;

beforeAll(async () => ({ h, browser } = await startConsoleStack({ worker: false })));
afterAll(() => closeConsoleStack({ h, browser }));

test('without a worker: listed from visibility with group ids, and the confirmation says the doors are not known', async () => {
  const who = h.nexudus.state.addCoworker({ FullName: 'Lonely Grant', Email: 'lonely@example.com' });
  const now = Math.floor(Date.now() / 1000) * 1000;
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.Id as number, FromTime: iso(now - 60_000), ToTime: iso(now + HOUR) });
  expect((await h.postNexudus('BookingCreate', [booking])).status).toBe(200);
  const id = `booking-${booking.Id}`;

  const context = await newContext(browser);
  const page = await context.newPage();
  await signIn(page, h.url, OPS_TOKEN);
  const cancel = page.getByRole('link', { name: `Cancel ${id} for Lonely Grant` });
  await eventually(async () => {
    await page.goto(`${h.url}/console/access?customer=${who.Id}`);
    return (await cancel.count()) === 1;
  }, 'the grant listed');
  await expect(page.getByRole('row').filter({ has: cancel }).textContent()).resolves.toContain(`group ${GROUP_ROOM_THAMES}`);
  await expect(page.getByText('groups are shown by id').count()).resolves.toBe(1);
  expect(await seriousAxeViolations(page)).toEqual([]);

  await cancel.click();
  await page.waitForURL(/\/cancel$/);
  await expect(page.locator('ul.doors').textContent()).resolves.toContain(`group ${GROUP_ROOM_THAMES}: doors not known`);
  await expect(page.getByText('named without their doors').count()).resolves.toBe(1);
  await context.close();
});
