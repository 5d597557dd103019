/**
 * The console's Problems page in a real Chromium, on the assembled ingress with a worker: a dead
 * event whose cause an operator fixes, retried from the page, reaching its workflow; a drop after
 * its confirmation; CSRF and session refusals; a grant needing attention; the latest reconcile with
 * its drift; each section's empty state and a source failing on its own; axe at desktop and phone size.
 */
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { temporal } from '@temporalio/proto';
import { AccessMap } from '../../src/config/access-map';
import type { Ingress } from '../../src/ingress/assemble';
import { RECONCILE_WORKFLOW_TYPE } from '../../src/contract/reconcile';
import { emptyCounts, type ReconcileReport } from '../../src/domain/reconcile-report';
import { lazyConnection, newClient } from '../../src/temporal/connection';
import { freePort } from '../../dev/lib/ports';
import { signNexudusBody } from '../../dev/sandbox/nexudus';
import { FRONT_DOOR, HOUR, INGRESS_MAP, type IngressHarness, KISI_STRANGER, NEXUDUS_SECRET, OPS_TOKEN, ROOM_SEVERN, ROOM_THAMES, eventually, iso } from '../ingress/harness';
import { closeConsoleStack, startConsoleStack, newContext, seriousAxeViolations, signIn } from './browser';

jest.setTimeout(180_000);

let h: IngressHarness;
let browser: Browser;
const contexts: BrowserContext[] = [];

// No report cache: each page load asks afresh (the tests add failures between loads).
beforeAll(async () => ({ h, browser } = await startConsoleStack({ ingress: { reportCacheMs: 0 } })));
afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await closeConsoleStack({ h, browser });
});

let seq = 0;
function newCustomer(tag: string): { customerId: number; email: string } {
  const email = `${tag}-${++seq}-${randomBytes(3).toString('hex')}@example.com`;
  return { customerId: h.nexudus.state.addCoworker({ FullName: `Problems ${tag}`, Email: email }).Id as number, email };
}
const hoursAhead = (hours: number) => Math.ceil(Date.now() / HOUR) * HOUR + hours * HOUR;

async function signedInPage(baseUrl = h.url, viewport?: { width: number; height: number }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await newContext(browser, viewport);
  contexts.push(context);
  const page = await context.newPage();
  await signIn(page, baseUrl, OPS_TOKEN);
  return { context, page };
}

async function openProblems(page: Page, baseUrl = h.url): Promise<void> {
  const res = await page.goto(`${baseUrl}/console/problems`);
  expect(res?.status()).toBe(200);
}

/** A signed-in supertest agent on an app (sign-in from no origin is the console's own form). */
async function agentFor(app: Ingress['app']) {
  const agent = request.agent(app);
  const res = await agent.post('/console/sign-in').type('form').send({ token: OPS_TOKEN });
  expect(res.status).toBe(303);
  return agent;
}

/** The dead events of a record, from the inbox itself. */
const deadOf = (entityKey: string) => h.ingress.inbox.listDead({ limit: 500 }).filter((d) => d.entityKey === entityKey);

test('the page needs a session: 303 to sign-in, and a change without one is refused', async () => {
  const res = await request(h.ingress.app).get('/console/problems');
  expect(res.status).toBe(303);
  expect(res.headers.location).toBe('/console/sign-in');
  const post = await request(h.ingress.app).post('/console/problems/dead-events/1/retry').type('form').send({});
  expect(post.status).toBe(401);
});

test('a dead event retried from Problems: listed with its reason, the record fixed in Nexudus, retried, gone from the list, its grant started', async () => {
  const who = newCustomer('retry');
  // A booking Nexudus announces before its API can read it: the next id the sandbox will give.
  const id = h.nexudus.state.store.nextId() + 1;
  const posted = await h.postNexudus('BookingCreate', [{ Id: id }]);
  expect(posted.status).toBe(202);
  const [dead] = await eventually(() => deadOf(`booking-${id}`).length > 0 && deadOf(`booking-${id}`), 'the dead event');
  expect(dead).toMatchObject({ cause: 'not-found', bodyKept: true });

  const { page } = await signedInPage();
  await openProblems(page);
  const row = page.locator('#dead-events tr', { hasText: `booking-${id}` });
  await expect(row.textContent()).resolves.toContain('does not exist in Nexudus');
  await expect(row.textContent()).resolves.toContain('Nexudus BookingCreate');

  // The operator's fix: the booking now exists in Nexudus.
  const start = hoursAhead(30);
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  expect(booking.Id).toBe(id);
  expect(await h.exists(`booking-${id}`)).toBe(false);

  await page.getByRole('button', { name: `Retry event ${dead!.id}`, exact: true }).click();
  await page.waitForURL(`${h.url}/console/problems`);
  await expect(page.getByRole('status').textContent()).resolves.toContain(`Event ${dead!.id} (booking-${id}) is back in the queue`);
  expect(await page.getByRole('button', { name: `Retry event ${dead!.id}`, exact: true }).count()).toBe(0);
  await eventually(() => h.exists(`booking-${id}`), 'the booking grant started by the retried event');
  expect(deadOf(`booking-${id}`)).toEqual([]);
  expect(h.ingress.inbox.event(dead!.id)?.status).not.toBe('dead');
});

test('drop asks first; a change without the CSRF token is refused; bad, unknown and unretryable ids say so and change nothing', async () => {
  // An action the product does not handle: dead, its body not kept (so it cannot be retried).
  const res = await h.postNexudus('TariffCreate', [{ Id: 1, Price: 12 }]);
  expect(res.body.result).toBe('dead');
  const deadId = res.body.deadEventId as number;
  const { context, page } = await signedInPage();
  await openProblems(page);
  const row = page.locator('#dead-events tr', { hasText: 'TariffCreate' }).filter({ hasText: String(deadId) });
  await expect(row.textContent()).resolves.toContain('Not retryable: the product does not handle this action');

  // The session goes along (same site), the form token does not.
  const forged = await context.request.post(`${h.url}/console/problems/dead-events/${deadId}/drop`, { form: { confirm: 'yes' }, maxRedirects: 0 });
  expect(forged.status()).toBe(403);
  expect(h.ingress.inbox.event(deadId)?.status).toBe('dead');

  const token = await page.locator('#dead-events input[name="_csrf"]').first().inputValue();
  const post = async (action: string) => {
    const answer = await context.request.post(`${h.url}/console/problems/dead-events/${action}`, { form: { _csrf: token } });
    expect(answer.status()).toBe(200);
    return answer.text();
  };
  await expect(post(`${deadId}/retry`)).resolves.toContain(`dead event ${deadId} cannot be retried`);
  await expect(post('abc/retry')).resolves.toContain('is not a dead event id. Nothing was changed.');
  await expect(post('999999999/drop')).resolves.toContain('There is no dead event 999999999');
  expect(h.ingress.inbox.event(deadId)?.status).toBe('dead');

  await openProblems(page);
  await page.getByRole('button', { name: `Drop event ${deadId}…`, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(`Drop dead event ${deadId}?`);
  expect(await seriousAxeViolations(page)).toEqual([]);
  // Asked, not done.
  expect(h.ingress.inbox.event(deadId)?.status).toBe('dead');
  await page.getByRole('button', { name: `Drop event ${deadId}`, exact: true }).click();
  await page.waitForURL(`${h.url}/console/problems`);
  await expect(page.getByRole('status').textContent()).resolves.toContain(`Event ${deadId} (nexudus-unhandled) is dropped`);
  expect(h.ingress.inbox.event(deadId)).toBeUndefined();
  expect(await page.getByRole('button', { name: `Drop event ${deadId}…`, exact: true }).count()).toBe(0);
});

test('a grant needing attention is listed with its customer, groups, a Web UI link, a Retry form for Access now, and the link to all of them', async () => {
  const UNKNOWN_GROUP = 999_999;
  const who = newCustomer('attention');
  const start = hoursAhead(40);
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_SEVERN, CoworkerId: who.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  const workflowId = `booking-${booking.Id}`;
  const goodMap = h.map;
  // Kisi refuses a group it does not have (422): the grant waits in needs-attention.
  h.map = AccessMap.parse({ ...INGRESS_MAP, resources: { ...INGRESS_MAP.resources, [ROOM_SEVERN]: { groups: [UNKNOWN_GROUP] } } });
  try {
    expect((await h.postNexudus('BookingCreate', [booking])).status).toBeLessThan(300);
    await eventually(async () => (await h.status(workflowId)).state === 'needs-attention', 'the grant in needs-attention', 60_000);
  } finally {
    h.map = goodMap;
  }

  const { page } = await signedInPage();
  const row = page.locator('#grants tr', { hasText: workflowId });
  await eventually(async () => {
    await openProblems(page);
    return (await row.count()) === 1;
  }, 'the grant listed (visibility catches up)');
  const text = (await row.textContent())!;
  expect(text).toContain(`Customer ${who.customerId}`);
  expect(text).toContain(who.email);
  expect(text).toContain(String(UNKNOWN_GROUP));
  expect(text).toContain('booking');
  await expect(row.getByRole('link').first().getAttribute('href')).resolves.toBe(`http://localhost:8233/namespaces/default/workflows/${workflowId}`);
  const form = row.locator('form');
  await expect(form.getAttribute('action')).resolves.toBe(`/console/access/${workflowId}/retry`);
  await expect(form.locator('input[name="back"]').inputValue()).resolves.toBe('/console/problems');
  await expect(form.locator('input[name="_csrf"]').inputValue()).resolves.not.toBe('');
  expect(await row.getByRole('button', { name: `Retry grant ${workflowId}`, exact: true }).count()).toBe(1);
  await expect(page.locator('#grants').getByRole('link', { name: 'Grants needing attention on Access now' }).getAttribute('href')).resolves.toBe('/console/access?state=needs-attention');
});

test('with content: failed check-ins, dead events, grants and webhook health; axe finds nothing serious at 1280 wide and on a phone', async () => {
  // A check-in that fails: a Kisi user who is no Nexudus customer opens the front door.
  const unlock = await request(h.kisi.app).post('/__sandbox/unlock').send({ lockId: FRONT_DOOR, userId: KISI_STRANGER, success: true });
  expect(unlock.status).toBe(200);
  const checkinId = `checkin-${(unlock.body as { event: { uuid: string } }).event.uuid}`;
  // A delivery with a wrong signature: refused, and counted for Nexudus.
  expect((await h.postNexudus('BookingCreate', [{ Id: 1 }], { signature: 'wrong' })).status).toBe(401);
  // A dead event to list.
  expect((await h.postNexudus('TariffCreate', [{ Id: 2 }])).body.result).toBe('dead');

  for (const viewport of [{ width: 1280, height: 900 }, { width: 390, height: 844 }]) {
    const { page } = await signedInPage(h.url, viewport);
    await eventually(async () => {
      await openProblems(page);
      return (await page.locator('#failed-checkins tr', { hasText: checkinId }).count()) === 1;
    }, 'the failed check-in listed', 30_000);
    const checkin = (await page.locator('#failed-checkins tr', { hasText: checkinId }).textContent())!;
    expect(checkin).toContain('stranger@example.com');
    expect(checkin).toContain('unknown-customer');
    expect(await page.locator('#dead-events tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#grants tbody tr').count()).toBeGreaterThan(0);
    await expect(page.locator('#reconcile').textContent()).resolves.toContain('No reconcile has completed yet');
    const nexudus = await page.locator('#webhook-health tbody tr', { hasText: 'Nexudus' }).locator('td').allTextContents();
    // Last correctly signed, refused in the last 24 hours, last refused.
    expect(nexudus[0]).toMatch(/\d{2}:\d{2}:\d{2} GMT/);
    expect(Number(nexudus[1])).toBeGreaterThanOrEqual(1);
    expect(nexudus[2]).toMatch(/\d{2}:\d{2}:\d{2} GMT/);
    const kisi = (await page.locator('#webhook-health tr', { hasText: 'Kisi' }).textContent())!;
    expect(kisi).not.toContain('none since the ingress started');
    await expect(page.locator('#webhook-health').textContent()).resolves.toContain('No problems');
    // Times in the access map's zone, named.
    await expect(page.locator('main').textContent()).resolves.toContain(`Times are shown in ${h.map.timeZone}`);
    // Headings in order: one h1, then h2 sections with h3 inside.
    const levels = await page.locator('main h1, main h2, main h3').evaluateAll((els) => els.map((e) => Number(e.tagName[1])));
    expect(levels[0]).toBe(1);
    for (let i = 1; i < levels.length; i++) expect(levels[i]! - levels[i - 1]!).toBeLessThanOrEqual(1);
    // Every table scrolls inside its wrapper, so the page itself does not scroll sideways on a phone.
    expect(await page.locator('main table').evaluateAll((tables) => tables.every((t) => t.parentElement?.classList.contains('table-wrap')))).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(await seriousAxeViolations(page)).toEqual([]);
  }
});

/** An ingress of its own (own inbox, own task queue) served on a port, for the browser. */
async function serve(ingress: Ingress): Promise<{ ingress: Ingress; url: string; close: () => Promise<void> }> {
  const server = http.createServer(ingress.app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    ingress,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await ingress.close();
    },
  };
}

/** Completes the reconcile run's first workflow task by hand with `report` (no worker polls its queue). */
async function completeReconcile(taskQueue: string, workflowId: string, report: ReconcileReport): Promise<void> {
  const client = h.client;
  await client.workflow.start(RECONCILE_WORKFLOW_TYPE, { taskQueue, workflowId, args: [{ trigger: 'manual' }] });
  const task = await client.connection.withDeadline(Date.now() + 20_000, () =>
    client.workflowService.pollWorkflowTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, identity: 'problems-test' }),
  );
  expect(task.workflowExecution?.workflowId).toBe(workflowId);
  await client.workflowService.respondWorkflowTaskCompleted({
    namespace: 'default',
    identity: 'problems-test',
    taskToken: task.taskToken,
    commands: [
      {
        commandType: temporal.api.enums.v1.CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        completeWorkflowExecutionCommandAttributes: { result: { payloads: [client.options.loadedDataConverter.payloadConverter.toPayload(report)] } },
      },
    ],
  });
}

function reportWithDrift(workflowId: string): ReconcileReport {
  const now = Date.now();
  return {
    workflowId,
    trigger: 'manual',
    dryRun: false,
    driftPolicy: 'report',
    window: { from: iso(now - 7 * 24 * HOUR), to: iso(now + 90 * 24 * HOUR) },
    startedAt: iso(now - 5_000),
    finishedAt: iso(now),
    durationMs: 5_000,
    counts: { ...emptyCounts(), checked: 12, driftFound: 2, errors: 1 },
    phases: [],
    changes: [
      { kind: 'created', ref: 'booking-1', detail: 'started' },
      { kind: 'drift', ref: 'assignment 71 (group 102, user 9003)', detail: 'grace@example.com holds group 102 with no grant' },
      { kind: 'drift', ref: 'assignment 72 (group 101, user 9001)', detail: 'ada@example.com holds group 101 with no grant' },
    ],
    droppedChanges: 0,
    errors: ['customer-2000009: Nexudus answered 500'],
    webhooks: [],
  };
}

test('a deployment with nothing wrong: every section says so; then its latest reconcile with the drift it found', async () => {
  const taskQueue = `problems-quiet-${randomUUID().slice(0, 8)}`;
  // A map in another zone than UTC, so local times show as such.
  const newYork = AccessMap.parse({ ...INGRESS_MAP, timeZone: 'America/New_York' });
  const quiet = await serve(h.buildIngress({ inboxFile: path.join(h.tmp, 'quiet.db'), taskQueue, accessMap: () => newYork }));
  try {
    const agent = await agentFor(quiet.ingress.app);
    const empty = await agent.get('/console/problems');
    expect(empty.status).toBe(200);
    for (const said of [
      'No failed check-ins of ours in this period.',
      'Nexudus lists no failed check-ins in this period.',
      'No dead events: every webhook received could be used.',
      'No grant needs attention.',
      'No reconcile has completed yet.',
      'No problems: the inbox forwarder runs and the queue moves.',
    ]) {
      expect(empty.text).toContain(said);
    }
    expect(empty.text.match(/none since the ingress started/g)).toHaveLength(2);
    expect(empty.text).not.toContain('notice error');

    const workflowId = `reconcile-problems-${randomUUID().slice(0, 8)}`;
    await completeReconcile(taskQueue, workflowId, reportWithDrift(workflowId));
    const { page } = await signedInPage(quiet.url);
    await eventually(async () => {
      await openProblems(page, quiet.url);
      return (await page.locator('#reconcile tbody tr').count()) === 2;
    }, 'the reconcile report listed');
    const reconcile = (await page.locator('#reconcile').textContent())!;
    expect(reconcile).toContain(workflowId);
    expect(reconcile).toContain('checked 12');
    expect(reconcile).toContain('drift found 2');
    expect(reconcile).toContain('Nexudus answered 500');
    const rows = await page.locator('#reconcile tbody tr').allTextContents();
    expect(rows[0]).toContain('assignment 71 (group 102, user 9003)');
    expect(rows[1]).toContain('ada@example.com holds group 101 with no grant');
    expect(reconcile).not.toContain('booking-1');
    expect(reconcile).toContain('drift found 2');
    await expect(page.locator('main').textContent()).resolves.toContain('Times are shown in America/New_York');
    const finished = page.locator('#reconcile p time').first();
    const at = new Date((await finished.getAttribute('datetime'))!);
    expect(Math.abs(at.getTime() - Date.now())).toBeLessThan(5 * 60_000);
    const newYorkClock = at.toLocaleTimeString('en-GB', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    await expect(finished.textContent()).resolves.toMatch(new RegExp(`${newYorkClock} GMT-[45]$`));
    expect(await seriousAxeViolations(page)).toEqual([]);
  } finally {
    await quiet.close();
  }
});

test('a source that cannot be read fails its own section only: no Temporal, no Nexudus client, and the inbox and health still show', async () => {
  const connection = lazyConnection(`127.0.0.1:${await freePort()}`);
  const broken = h.buildIngress({ inboxFile: path.join(h.tmp, 'broken.db'), taskQueue: `problems-broken-${randomUUID().slice(0, 8)}`, client: newClient(connection), nexudus: undefined });
  try {
    const body = JSON.stringify([{ Id: 3 }]);
    const dead = await request(broken.app).post('/webhooks/nexudus/TariffCreate').set('Content-Type', 'application/json').set('X-Nexudus-Hook-Signature', signNexudusBody(body, NEXUDUS_SECRET, 'utf8')).send(body);
    expect(dead.body.result).toBe('dead');
    const agent = await agentFor(broken.app);
    const started = Date.now();
    const res = await agent.get('/console/problems');
    const tookMs = Date.now() - started;
    expect(res.status).toBe(200);
    const sections = sectionsOf(res.text);
    expect(sections['failed-checkins']).toMatch(/could not be read|Temporal:/);
    expect(sections['failed-checkins']).toContain('Nexudus credentials are not configured');
    expect(sections.grants).toContain('Grants needing attention could not be read');
    expect(sections.grants).toContain('/console/access?state=needs-attention');
    expect(sections.reconcile).toContain('The latest reconcile report could not be read');
    expect(sections['dead-events']).toContain(`Drop event ${dead.body.deadEventId as number}`);
    expect(sections['dead-events']).not.toContain('notice error');
    expect(sections['webhook-health']).toContain('Waiting in the inbox');
    expect(sections['webhook-health']).not.toContain('notice error');
    // Bounded: a Temporal that does not answer costs the page its deadline at most.
    expect(tookMs).toBeLessThan(15_000);
  } finally {
    await broken.close();
    await connection.close().catch(() => undefined);
  }
});

/** Each section's HTML by its id. */
function sectionsOf(page: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of page.matchAll(/<section id="([^"]+)"[\s\S]*?<\/section>/g)) out[match[1]!] = match[0];
  return out;
}
