/**
 * Reproduction: an activity lost with its worker is retried only after its start-to-close timeout.
 *
 *   node --import tsx bench/repro/lost-activity.ts      (exit 1 while the problem exists, 0 once fixed)
 *
 * workflows/policy.ts gives every activity startToCloseTimeout 10 minutes and no heartbeat
 * timeout. When the worker dies (SIGKILL, OOM, host loss) while an activity runs, the server only
 * learns of it when that timeout expires: the grant, or the membership that writes Kisi, waits up
 * to 10 minutes before another worker retries. The same happens when the worker cannot report an
 * activity's completion because Temporal is unreachable for longer than SDK Core's retries of
 * RespondActivityTaskCompleted (about 10 s; the fault drill's 20 s partition loses some).
 *
 * Steps: the stack as `npm start` runs it; every Kisi call takes 3 s; a booking is delivered; the
 * worker is killed with SIGKILL while its acquireLeases activity waits for Kisi; a new worker
 * starts and Kisi answers at once again. Expected: the booking's assignment reaches Kisi within
 * seconds of the restart. Observed: nothing happens; the activity stays STARTED on the dead
 * worker's identity.
 */
import { STACK_SECRETS, Stack } from '../lib/stack';
import { WebhookSender } from '../lib/webhooks';
import { World, iso, wholeSecond } from '../lib/world';

const WAIT_AFTER_RESTART_MS = 60_000;

async function main(): Promise<number> {
  const world = new World({ customers: 1, rooms: 1, lead: '0s', lag: '0s', kisiUsers: true });
  const stack = await Stack.start({ name: 'repro-lost-activity', accessMap: world.accessMap(), kisi: { seed: world.kisiSeed(), rateLimit: false }, nexudus: { seed: world.nexudusSeed(), rateLimit: false } });
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  try {
    stack.kisi.faults.configure({ rules: [{ route: '*', latencyMs: 3_000 }] });
    const from = wholeSecond(Date.now() + 3_600_000);
    const booking = stack.nexudus.state.addBooking({ ResourceId: world.resourceId(0), CoworkerId: world.customerId(0), FromTime: iso(from), ToTime: iso(from + 3_600_000) });
    await sender.postOk('BookingCreate', booking);
    // The grant's first activity is now waiting for Kisi's (slow) user look-up.
    await until(() => stack.kisi.requests.length > 0, 30_000);
    await stack.killWorker();
    console.log('worker killed with SIGKILL while its activity waited for Kisi');
    stack.kisi.faults.clear();
    await stack.startWorker();
    const restarted = Date.now();
    console.log('a new worker polls; Kisi answers at once again');
    const granted = await until(() => stack.kisi.state.roleAssignments.size > 0, WAIT_AFTER_RESTART_MS);
    const described = await stack.client.workflow.getHandle(`booking-${booking.Id as number}`).describe();
    for (const p of described.raw.pendingActivities ?? []) {
      console.log(`pending: ${p.activityType?.name} attempt ${p.attempt}, state ${p.state === 2 ? 'STARTED' : p.state}, on worker ${p.lastWorkerIdentity}`);
    }
    if (granted) {
      console.log(`OK: Kisi holds the assignment ${((Date.now() - restarted) / 1000).toFixed(1)} s after the restart`);
      return 0;
    }
    console.log(`REPRODUCED: no Kisi assignment ${WAIT_AFTER_RESTART_MS / 1000} s after the restart; the activity stays with the dead worker until its start-to-close timeout (10 minutes)`);
    return 1;
  } finally {
    sender.close();
    await stack.close();
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
  return true;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
