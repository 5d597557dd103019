/**
 * `npm run grants` against a real dev server with real grants run by a worker (the grant harness
 * on a dev-server environment: visibility queries need the dev server's SQL visibility). The
 * command functions are called directly; the process itself runs once for its JSON output and
 * once for an unknown id (exit 1, one clear line).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../dev/lib/ports';
import { grantWorkflowId, customerSyncWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { formatCancel, formatGrantList, formatGrantView, formatRetry } from '../../src/ops/format';
import {
  GrantClosedError,
  GrantNotFoundError,
  cancelGrant,
  listGrants,
  retryGrant,
  showGrant,
  syncCustomer,
  type GrantList,
} from '../../src/ops/grant-commands';
import { parseGrantsArgs } from '../../src/cli/grants-args';
import { grantListQuery } from '../../src/temporal/visibility-queries';
import { UsageError } from '../../src/cli/ops-cli';
import { AccessMap } from '../../src/config/access-map';
import { ADA, ALAN, DEFAULT_MAP, GROUP_ROOM_SEVERN, GROUP_ROOM_THAMES, GrantHarness, HOUR, MIN, ROOM_SEVERN, iso, newSourceId } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const root = path.join(__dirname, '../..');
let env: TestWorkflowEnvironment;
let port: number;
let h: GrantHarness;

beforeAll(async () => {
  port = await freePort();
  env = await createDevServerEnv({ port });
  h = await GrantHarness.start({ env });
});
afterAll(async () => {
  await h?.close();
  await env?.teardown();
});

/** Visibility is eventually consistent: poll until the list satisfies `check`. */
async function listUntil(filter: Parameters<typeof listGrants>[2], check: (list: GrantList) => boolean): Promise<GrantList> {
  const deadline = Date.now() + 15_000;
  let list: GrantList;
  do {
    list = await listGrants(h.client, h.taskQueue, filter);
    if (check(list)) return list;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  throw new Error(`visibility never showed what was expected; last: ${JSON.stringify(list)}`);
}

const ids = (list: GrantList) => list.grants.map((g) => g.workflowId).sort();

describe('with real grants', () => {
  const adaBooking = newSourceId();
  const alanBooking = newSourceId();
  let start: number;

  beforeAll(async () => {
    start = Math.ceil(Date.now() / HOUR) * HOUR + 24 * HOUR;
    await h.deliver(await h.bookingSpec({ Id: adaBooking, FromTime: iso(start), ToTime: iso(start + HOUR) }));
    await h.deliver(await h.bookingSpec({ Id: alanBooking, CoworkerId: ALAN.customerId, ResourceId: ROOM_SEVERN, FromTime: iso(start), ToTime: iso(start + 2 * HOUR) }));
    await h.waitForState('booking', adaBooking, 'granted');
    await h.waitForState('booking', alanBooking, 'granted');
  });

  test('list filters by customer, state and kind over the search attributes; --limit truncates', async () => {
    const ada = await listUntil({ customerId: ADA.customerId, limit: 50, includeClosed: false }, (l) => l.grants.some((g) => g.workflowId === `booking-${adaBooking}` && g.state === 'granted'));
    expect(ids(ada)).toContain(`booking-${adaBooking}`);
    expect(ids(ada)).not.toContain(`booking-${alanBooking}`);
    const row = ada.grants.find((g) => g.workflowId === `booking-${adaBooking}`)!;
    expect(row).toMatchObject({
      type: 'bookingGrant',
      executionStatus: 'RUNNING',
      kind: 'booking',
      state: 'granted',
      customerId: String(ADA.customerId),
      groups: [String(GROUP_ROOM_THAMES)],
      accessStartsAt: iso(start - 15 * MIN),
      accessEndsAt: iso(start + HOUR + 15 * MIN),
    });

    const granted = await listUntil({ state: 'granted', limit: 50, includeClosed: false }, (l) => l.grants.length >= 2);
    expect(ids(granted)).toEqual(expect.arrayContaining([`booking-${adaBooking}`, `booking-${alanBooking}`]));
    expect((await listGrants(h.client, h.taskQueue, { state: 'needs-attention', limit: 50, includeClosed: false })).grants.map((g) => g.workflowId)).not.toContain(`booking-${adaBooking}`);
    expect((await listGrants(h.client, h.taskQueue, { kind: 'pass', limit: 50, includeClosed: false })).grants).toEqual([]);

    const one = await listGrants(h.client, h.taskQueue, { state: 'granted', limit: 1, includeClosed: false });
    expect(one.grants).toHaveLength(1);
    expect(one.truncated).toBe(true);

    const text = formatGrantList(ada);
    expect(text).toMatch(new RegExp(`booking-${adaBooking}\\s+granted\\s+${ADA.customerId}`));
    expect(text).toContain(`${ada.grants.length} grant`);
  });

  test('show: the grant\'s status, its membership and the Kisi role assignment with its window', async () => {
    const view = await showGrant({ client: h.client, kisi: h.kisiClient }, grantWorkflowId('booking', adaBooking));
    expect(view.executionStatus).toBe('RUNNING');
    expect(view.summary).toContain(`Booking ${adaBooking}`);
    expect(view.status).toMatchObject({ state: 'granted', customerId: ADA.customerId, customerEmail: ADA.email, groups: [GROUP_ROOM_THAMES] });
    const membership = membershipWorkflowId(h.kisiUserId(ADA.email)!, GROUP_ROOM_THAMES);
    expect(view.memberships).toEqual([
      expect.objectContaining({
        workflowId: membership,
        groupId: GROUP_ROOM_THAMES,
        executionStatus: 'RUNNING',
        status: expect.objectContaining({ leases: [`booking-${adaBooking}`], assignment: expect.objectContaining({ ours: true, from: iso(start - 15 * MIN), until: iso(start + HOUR + 15 * MIN) }) }),
      }),
    ]);
    expect(view.kisi.available).toBe(true);
    if (!view.kisi.available) return;
    expect(view.kisi.user?.id).toBe(h.kisiUserId(ADA.email));
    expect(view.kisi.assignments).toEqual([
      expect.objectContaining({ groupId: GROUP_ROOM_THAMES, validFrom: iso(start - 15 * MIN), validUntil: iso(start + HOUR + 15 * MIN), activeNow: false, grantGroup: true }),
    ]);
    const text = formatGrantView(view);
    expect(text).toContain(`Kisi groups  ${GROUP_ROOM_THAMES} (applied)`);
    expect(text).toContain(membership);
    expect(text).toMatch(new RegExp(`${GROUP_ROOM_THAMES}\\s+group_basic\\s+${iso(start - 15 * MIN)}`));

    const withoutKisi = await showGrant({ client: h.client, kisi: { unavailable: 'KISI_API_KEY is not set' } }, grantWorkflowId('booking', adaBooking));
    expect(withoutKisi.kisi).toEqual({ available: false, reason: 'KISI_API_KEY is not set' });
    expect(formatGrantView(withoutKisi)).toContain('(not shown: KISI_API_KEY is not set)');
  });

  test('unknown ids: "no grant booking-<id>"', async () => {
    await expect(showGrant({ client: h.client, kisi: h.kisiClient }, 'booking-1')).rejects.toThrow(new GrantNotFoundError('booking-1'));
    await expect(cancelGrant(h.client, 'pass-2', { waitMs: 0 })).rejects.toThrow('no grant pass-2');
    await expect(retryGrant(h.client, 'contract-3')).rejects.toThrow('no grant contract-3');
  });

  test('cancel revokes: Kisi no longer holds the assignment; the grant stays, cancelled, holding nothing; --state lists it', async () => {
    const id = grantWorkflowId('booking', alanBooking);
    expect(h.assignments(ALAN.email, GROUP_ROOM_SEVERN)).toHaveLength(1);
    const outcome = await cancelGrant(h.client, id, { waitMs: 30_000 });
    expect(outcome).toEqual({ workflowId: id, settled: true, executionStatus: 'RUNNING', state: 'cancelled', groupStates: { [GROUP_ROOM_SEVERN]: 'released' }, lastError: null });
    expect(h.assignments(ALAN.email, GROUP_ROOM_SEVERN)).toEqual([]);
    expect(formatCancel(outcome)).toContain(`Kisi group ${GROUP_ROOM_SEVERN}: access removed`);
    expect(formatCancel(outcome)).toContain(`npm run grants -- retry ${id} lifts it`);

    // Cancelled already: nothing to cancel.
    await expect(cancelGrant(h.client, id, { waitMs: 0 })).rejects.toThrow(GrantClosedError);
    const cancelled = await listUntil({ customerId: ALAN.customerId, state: 'cancelled', limit: 50, includeClosed: false }, (l) => ids(l).includes(id));
    expect(cancelled.grants.find((g) => g.workflowId === id)).toMatchObject({ executionStatus: 'RUNNING', state: 'cancelled' });
  });

  test('sync-customer starts (or signals) the customer-sync workflow on the task queue', async () => {
    const outcome = await syncCustomer(h.client, ADA.customerId, h.taskQueue);
    expect(outcome).toEqual({ workflowId: customerSyncWorkflowId(ADA.customerId), customerId: ADA.customerId });
    const described = await h.client.workflow.getHandle(outcome.workflowId).describe();
    expect(described.type).toBe('customerSyncWorkflow');
    expect(described.taskQueue).toBe(h.taskQueue);
  });

  test('the process: --json list for scripts, exit 1 and one line for an unknown grant', () => {
    const run = (...args: string[]) =>
      spawnSync('sh', ['src/cli/run.sh', 'grants', ...args], {
        cwd: root,
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_TASK_QUEUE: h.taskQueue, LOG_LEVEL: 'silent' },
      });
    const listed = run('list', '--customer', String(ADA.customerId), '--json');
    expect(listed.stderr).toBe('');
    expect(listed.status).toBe(0);
    const parsed = JSON.parse(listed.stdout) as GrantList;
    expect(parsed.query).toBe(grantListQuery(h.taskQueue, { customerId: ADA.customerId, includeClosed: false }));
    expect(parsed.grants.map((g) => g.workflowId)).toContain(`booking-${adaBooking}`);

    const unknown = run('show', 'booking-999999999');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('grants: no grant booking-999999999\n');
  });
});

test('retry on a grant in needs-attention: the retry signal, then access once the cause is fixed', async () => {
  const UNKNOWN_GROUP = 999_999;
  h.map = AccessMap.parse({ ...DEFAULT_MAP, resources: { ...DEFAULT_MAP.resources, [ROOM_SEVERN]: { groups: [UNKNOWN_GROUP] } } });
  const start = Math.ceil(Date.now() / HOUR) * HOUR + 48 * HOUR;
  // The booking exists in Nexudus: a retry re-reads it.
  const id = Number(h.nexudus.state.addBooking({ ResourceId: ROOM_SEVERN, CoworkerId: ADA.customerId, FromTime: iso(start), ToTime: iso(start + HOUR) }).Id);
  await h.deliver(await h.bookingSpec({ Id: id, ResourceId: ROOM_SEVERN, FromTime: iso(start), ToTime: iso(start + HOUR) }));
  await h.waitForState('booking', id, 'needs-attention');
  const stuck = await listUntil({ state: 'needs-attention', limit: 50, includeClosed: false }, (l) => ids(l).includes(`booking-${id}`));
  expect(ids(stuck)).toContain(`booking-${id}`);

  h.map = AccessMap.parse(DEFAULT_MAP);
  const outcome = await retryGrant(h.client, grantWorkflowId('booking', id));
  expect(outcome).toEqual({ workflowId: `booking-${id}`, stateBefore: 'needs-attention', lastError: expect.stringMatching(/422/) });
  expect(formatRetry(outcome)).toContain(`retry sent to booking-${id}; state was needs-attention`);
  await h.waitForState('booking', id, 'granted');
  expect(h.assignments(ADA.email, GROUP_ROOM_SEVERN)).toHaveLength(1);
});

describe('arguments', () => {
  test('valid commands parse into typed commands', () => {
    expect(parseGrantsArgs(['list'])).toEqual({ command: 'list', json: false, limit: 50, includeClosed: false });
    expect(parseGrantsArgs(['list', '--customer', '123', '--state', 'needs-attention', '--kind', 'pass', '--limit', '5', '--all', '--json'])).toEqual({
      command: 'list',
      json: true,
      customerId: 123,
      state: 'needs-attention',
      kind: 'pass',
      limit: 5,
      includeClosed: true,
    });
    expect(parseGrantsArgs(['cancel', 'booking-1', '--wait', '0'])).toEqual({ command: 'cancel', json: false, workflowId: 'booking-1', waitSeconds: 0 });
    expect(parseGrantsArgs(['sync-customer', '42'])).toEqual({ command: 'sync-customer', json: false, customerId: 42 });
    expect(parseGrantsArgs([])).toEqual({ command: 'help' });
  });

  test.each([
    [['list', '--state', 'granted-ish'], /state: expected one of scheduled/],
    [['list', '--customer', 'abc'], /customerId: expected a Nexudus customer id \(digits only\)/],
    [['list', '--limit', '0'], /limit/],
    [['show'], /show needs a workflow id/],
    [['show', 'membership-1-2'], /expected a grant workflow id/],
    [['show', 'booking-1', 'booking-2'], /unexpected argument "booking-2"/],
    [['retry', 'booking-1', '--all'], /retry does not take --all/],
    [['terminate', 'booking-1'], /unknown command "terminate"/],
    [['list', '--force'], /Unknown option '--force'/],
    [['sync-customer', 'x1'], /customerId: expected a Nexudus customer id/],
  ])('%j is a usage error', (argv, message) => {
    expect(() => parseGrantsArgs(argv)).toThrow(UsageError);
    expect(() => parseGrantsArgs(argv)).toThrow(message);
  });
});
