/**
 * Reproduction: a membership's Kisi write that was delayed past the end of its span overwrites the
 * assignment of a later span that is already open, and the customer is locked out until the next
 * write.
 *
 *   node --import tsx bench/repro/stale-span-write.ts      (exit 1 while the problem exists, 0 once fixed)
 *
 * workflows/membership.ts computes the span to write (the earliest live span of its leases) when it
 * schedules syncAssignment; activities/membership.ts writes exactly that window whenever the
 * activity finally succeeds. If Kisi refused the write until the span had ended while a later span
 * has begun, the activity moves Kisi's one assignment from the open span to the one that is over
 * (valid_until in the past): the customer loses access in the middle of their booking until the
 * membership notices (its timer for the old span's end fires at once) and writes the later span.
 * The fault drill saw this after a Temporal partition; here it is forced with Kisi refusing
 * updates for half a minute.
 *
 * Steps (lead and lag 0): booking B from +25 s to +45 s is written to Kisi. Kisi then refuses
 * every PATCH/POST of role assignments. Booking A from +6 s to +12 s arrives: the membership must
 * first serve A, its write fails and retries (1, 2, 4, 8, 16 s apart). At +27 s, inside B, Kisi
 * accepts writes again; the next retry (about +34 s) writes A's window, which ended at +12 s.
 * Expected: the customer can open the door throughout B. Observed: Kisi's history shows the
 * assignment moved to A's ended window during B, then back.
 */
import { membershipIntervals } from '../lib/kisi-timeline';
import { STACK_SECRETS, Stack } from '../lib/stack';
import { WebhookSender } from '../lib/webhooks';
import { World, iso } from '../lib/world';

async function main(): Promise<number> {
  const world = new World({ customers: 1, rooms: 1, lead: '0s', lag: '0s', kisiUsers: true });
  const stack = await Stack.start({ name: 'repro-stale-span', accessMap: world.accessMap(), kisi: { seed: world.kisiSeed(), rateLimit: false }, nexudus: { seed: world.nexudusSeed(), rateLimit: false } });
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  const kisi = stack.kisi.state;
  try {
    const t = Math.ceil(Date.now() / 1000) * 1000;
    const rel = (ms: number) => `+${((ms - t) / 1000).toFixed(1)} s`;
    const b = { from: t + 25_000, to: t + 45_000 };
    const a = { from: t + 6_000, to: t + 12_000 };
    const book = async (w: { from: number; to: number }) =>
      sender.postOk('BookingCreate', stack.nexudus.state.addBooking({ ResourceId: world.resourceId(0), CoworkerId: world.customerId(0), FromTime: iso(w.from), ToTime: iso(w.to) }));
    await book(b);
    await until(() => [...kisi.roleAssignments.values()].some((r) => r.valid_until === iso(b.to)), 20_000);
    console.log(`${rel(Date.now())} Kisi holds B ${rel(b.from)} → ${rel(b.to)}; now Kisi refuses role-assignment writes`);
    stack.kisi.faults.configure({ rules: [{ route: 'PATCH /role_assignments', errorRate: 1 }, { route: 'POST /role_assignments', errorRate: 1 }] });
    await book(a);
    console.log(`${rel(Date.now())} booking A ${rel(a.from)} → ${rel(a.to)} delivered`);
    await sleep(t + 27_000 - Date.now());
    stack.kisi.faults.clear();
    console.log(`${rel(Date.now())} Kisi accepts writes again (inside B)`);
    await sleep(t + 47_000 - Date.now());

    const user = [...kisi.users.values()][0]!.id;
    for (const e of kisi.history) console.log(`  kisi ${e.action} at ${rel(Date.parse(e.at))}: ${e.valid_from ? rel(Date.parse(e.valid_from)) : 'open'} → ${e.valid_until ? rel(Date.parse(e.valid_until)) : 'open'}`);
    const intervals = membershipIntervals(kisi.history, user, world.groupId(0));
    // Time inside B (away from its edges) during which Kisi did not let the customer in.
    let lockedOutMs = 0;
    for (let at = b.from + 500; at < b.to - 500; at += 10) if (!intervals.some((i) => i.from <= at && at < i.until)) lockedOutMs += 10;
    if (lockedOutMs === 0) {
      console.log('OK: the customer could open the door throughout B');
      return 0;
    }
    console.log(`REPRODUCED: the customer was locked out for about ${lockedOutMs} ms in the middle of booking B (Kisi's assignment moved to A's window, which had already ended)`);
    return 1;
  } finally {
    sender.close();
    await stack.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
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
