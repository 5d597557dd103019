/**
 * One Kisi allowance across worker processes (issue "Live changes first"): three real worker
 * processes (src/main/worker.ts, as `npm start` runs it) on one task queue, the ingress, a dev server,
 * and a Kisi sandbox that enforces Kisi's 5 requests per second. Bookings of customers new to Kisi
 * (each a user, a card and a role assignment) arrive as signed webhooks; halfway the worker holding
 * the activity lease is SIGKILLed. Kisi never sees more than 5 requests in any second, answers no
 * 429, and every booking is granted: the lease passed to another worker.
 */
import { activityLeaseStatusQuery, activityLeaseWorkflowId, type LeaseState } from '../../src/contract/activity-lease';
import { Stack, STACK_SECRETS } from '../../bench/lib/stack';
import { WebhookSender } from '../../bench/lib/webhooks';
import { iso, wholeSecond, World } from '../../bench/lib/world';
import { maxInRollingSecond } from '../../bench/lib/stats';

jest.setTimeout(420_000);

const BOOKINGS = 40;
const world = new World({ customers: BOOKINGS, rooms: 4, lead: '0s', lag: '0s' });

let stack: Stack | undefined;
afterAll(async () => {
  await stack?.close();
});

test('three workers share one Kisi allowance, through a SIGKILL of the lease holder', async () => {
  stack = await Stack.start({
    name: 'allowance',
    workers: 3,
    accessMap: world.accessMap(),
    kisi: { seed: world.kisiSeed(), rateLimit: { perSecond: 5 } },
    nexudus: { seed: world.nexudusSeed() },
    // The shortest lease the worker accepts: a dead holder is replaced within about 15 s.
    env: { WORKER_ACTIVITY_LEASE: '15s' },
    log: () => undefined,
  });
  const s = stack;
  const lease = () => s.client.workflow.getHandle(activityLeaseWorkflowId(s.taskQueue)).query<LeaseState>(activityLeaseStatusQuery);
  const first = await eventually(async () => {
    const state = await lease().catch(() => undefined);
    return state?.holder ? state : undefined;
  }, 'a worker holding the activity lease', 60_000);

  const sender = new WebhookSender(s.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  const start = wholeSecond(Date.now() + 2 * 3_600_000);
  const book = async (i: number) => {
    const booking = s.nexudus.state.addBooking({
      ResourceId: world.resourceId(i % 4),
      CoworkerId: world.customerId(i),
      FromTime: iso(start),
      ToTime: iso(start + 3_600_000),
    });
    await sender.postOk('BookingCreate', booking);
  };
  const granted = (i: number) => {
    const user = [...s.kisi.state.users.values()].find((u) => u.email === world.email(i));
    return user !== undefined && [...s.kisi.state.roleAssignments.values()].some((a) => a.user_id === user.id && a.group_id === world.groupId(i % 4));
  };
  try {
    await Promise.all(Array.from({ length: BOOKINGS / 2 }, (_, i) => book(i)));
    // Some calls made by the first holder, then it dies without a word.
    await eventually(() => (Array.from({ length: BOOKINGS / 2 }, (_, i) => i).filter(granted).length >= 5 ? true : undefined), 'five grants by the first holder', 120_000);
    const holderPid = Number(first.holder!.split('@')[0]);
    const index = workerIndexOf(s, holderPid);
    await s.killWorker(index);
    await Promise.all(Array.from({ length: BOOKINGS / 2 }, (_, i) => book(BOOKINGS / 2 + i)));

    await eventually(() => (Array.from({ length: BOOKINGS }, (_, i) => i).every(granted) ? true : undefined), `all ${BOOKINGS} bookings in Kisi`, 300_000);
  } finally {
    sender.close();
  }

  const after = await lease();
  expect(after.holder).not.toBe(first.holder);
  expect(after.fence).toBeGreaterThan(first.fence);
  const arrivals = s.kisi.requests;
  expect(arrivals.length).toBeGreaterThan(2 * BOOKINGS);
  expect(arrivals.filter((r) => r.status === 429)).toEqual([]);
  expect(maxInRollingSecond(arrivals.map((r) => r.at))).toBeLessThanOrEqual(5);
});

function workerIndexOf(stack: Stack, pid: number): number {
  const pids = stack.pids();
  const names = ['worker', 'worker-2', 'worker-3'];
  const index = names.findIndex((name) => pids[name] === pid);
  if (index < 0) throw new Error(`no worker process ${pid} among ${JSON.stringify(pids)}`);
  return index;
}

async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
