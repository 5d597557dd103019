/**
 * The console's door: sign-in with the operator token in a real Chromium, the session cookie's
 * attributes, sign-out, and the refusals (no session, no CSRF token, a foreign origin, the console
 * off without a token).
 */
import type { Browser } from 'playwright-core';
import request from 'supertest';
import { consoleFor } from '../../src/console';
import { type IngressHarness, OPS_TOKEN } from '../ingress/harness';
import { closeConsoleStack, startConsoleStack, newContext, seriousAxeViolations, signIn } from './browser';

let h: IngressHarness;
let browser: Browser;

beforeAll(async () => ({ h, browser } = await startConsoleStack({ worker: false })));
afterAll(() => closeConsoleStack({ h, browser }));

test('an operator signs in with the token, gets a strict session cookie, and signs out', async () => {
  const context = await newContext(browser);
  const page = await context.newPage();
  // No session: the console sends the browser to sign-in.
  await page.goto(`${h.url}/console/access`);
  expect(new URL(page.url()).pathname).toBe('/console/sign-in');
  expect(await seriousAxeViolations(page)).toEqual([]);

  await page.getByLabel('Operator token').fill('not-the-token-at-all');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert').textContent()).resolves.toContain('not the operator token');
  expect(await context.cookies()).toEqual([]);

  await signIn(page, h.url, OPS_TOKEN);
  const [cookie] = await context.cookies();
  expect(cookie).toMatchObject({ name: 'console.sid', path: '/console', httpOnly: true, sameSite: 'Strict' });
  const signedIn = await context.request.get(`${h.url}/console/access`, { maxRedirects: 0 });
  expect(signedIn.status()).not.toBe(303);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/sign-in\?signed-out/);
  await expect(page.getByRole('status').textContent()).resolves.toContain('signed out');
  // The old cookie is worth nothing now, even replayed by hand.
  const replayed = await request(h.ingress.app).get('/console/access').set('Cookie', `console.sid=${cookie!.value}`);
  expect(replayed.status).toBe(303);
  expect(replayed.headers.location).toBe('/console/sign-in');
  await context.close();
});

test('a change without a session, or without the CSRF token, is refused and changes nothing', async () => {
  const noSession = await request(h.ingress.app).post('/console/sign-out').type('form').send({});
  expect(noSession.status).toBe(401);
  expect(noSession.text).toContain('not signed in');

  const context = await newContext(browser);
  const page = await context.newPage();
  await signIn(page, h.url, OPS_TOKEN);
  // The session cookie goes along (same site), the form token does not.
  const forged = await context.request.post(`${h.url}/console/sign-out`, { form: { _csrf: 'guessed' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  expect(await forged.text()).toContain('Nothing was changed');
  const noToken = await context.request.post(`${h.url}/console/sign-out`, { form: {}, maxRedirects: 0 });
  expect(noToken.status()).toBe(403);
  // Still signed in: neither refused request signed out.
  const still = await context.request.get(`${h.url}/console/access`, { maxRedirects: 0 });
  expect(still.status()).not.toBe(303);
  await context.close();
});

test('sign-in from another site is refused (login CSRF)', async () => {
  const res = await request(h.ingress.app).post('/console/sign-in').set('Origin', 'https://evil.example').type('form').send({ token: OPS_TOKEN });
  expect(res.status).toBe(403);
  expect(res.headers['set-cookie']).toBeUndefined();
  const fetchSite = await request(h.ingress.app).post('/console/sign-in').set('Sec-Fetch-Site', 'cross-site').type('form').send({ token: OPS_TOKEN });
  expect(fetchSite.status).toBe(403);
});

test('console pages carry a policy that allows only the ingress\u2019 own files and no framing', async () => {
  const res = await request(h.ingress.app).get('/console/sign-in');
  const csp = res.headers['content-security-policy'] as string;
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(res.headers['x-content-type-options']).toBe('nosniff');
  expect(res.headers['cache-control']).toBe('no-store');
});

test('without an operator token in production the console is off and says how to turn it on', async () => {
  const off = h.buildIngress({ inboxFile: `${h.tmp}/off.db`, operatorAccess: { mode: 'off' }, console: consoleFor({ secureCookies: true, namespace: 'default' }) });
  const app = off.app;
  for (const path of ['/console', '/console/sign-in', '/console/access']) {
    const res = await request(app).get(path);
    expect(res.status).toBe(404);
    expect(res.text).toContain('The console is off');
    expect(res.text).toContain('OPS_TOKEN');
  }
  const post = await request(app).post('/console/sign-in').type('form').send({ token: OPS_TOKEN });
  expect(post.status).toBe(404);
  await off.close();
});

test('development without a token: this machine signs in without one (the operator endpoints\u2019 loopback rule)', async () => {
  const loopback = h.buildIngress({ inboxFile: `${h.tmp}/loopback.db`, operatorAccess: { mode: 'loopback' }, console: consoleFor({ secureCookies: false, namespace: 'default' }) });
  try {
    const page = await request(loopback.app).get('/console/sign-in');
    expect(page.text).toContain('this machine may sign in without it');
    expect(page.text).not.toContain('Operator token');
    const signedIn = await request(loopback.app).post('/console/sign-in').type('form').send({});
    expect(signedIn.status).toBe(303);
    expect(signedIn.headers.location).toBe('/console');
    const cookie = (signedIn.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
    expect((await request(loopback.app).get('/console').set('Cookie', cookie)).headers.location).toBe('/console/access');
  } finally {
    await loopback.close();
  }
});
