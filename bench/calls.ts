/**
 * API calls per change: how many Kisi and Nexudus requests one booking costs, counted by the
 * sandboxes themselves (every request they received), with the product as `npm start` runs it
 * (bench/lib/stack.ts: the worker and the ingress as processes, their defaults: customer directory,
 * Kisi user look-ups, activity lease).
 *
 *   npm run bench:calls
 *
 * Steps, each measured from its webhook until both sandboxes have been quiet for 3 s:
 *   1. a booking of a customer new to Kisi, no access cards;
 *   2. a second booking of that customer (now known: the directory and the Kisi user are kept);
 *   3. a booking of a customer who already has a Kisi user (made by hand before);
 *   4. a booking of a customer new to Kisi with two access cards;
 *   5. an AccessControlUpdate of that customer that changes nothing (the customer sync's cost).
 * (After a warm-up booking of a fourth customer: the worker has logged in to Nexudus.)
 */
import { Stack, STACK_SECRETS } from './lib/stack';
import { benchMain, numericArgs } from './lib/cli';
import { machineInfo } from './lib/machine';
import type { BenchResult } from './lib/results';
import { WebhookSender } from './lib/webhooks';
import { iso, wholeSecond, World } from './lib/world';

export interface CallsBenchOptions {
  outDir?: string;
  log?: (line: string) => void;
  /** How long both sandboxes must stay quiet for a step to be over. */
  quietMs?: number;
}

interface StepCount {
  step: string;
  kisi: Record<string, number>;
  nexudus: Record<string, number>;
  kisiTotal: number;
  nexudusTotal: number;
}

const CUSTOMERS = { fresh: 0, existingKisiUser: 1, withCards: 2, warmUp: 3 } as const;

export async function runCallsBench(options: CallsBenchOptions = {}): Promise<BenchResult> {
  const log = options.log ?? ((line: string) => console.error(`[calls] ${line}`));
  const quietMs = options.quietMs ?? 3_000;
  const world = new World({ customers: 4, rooms: 1, lead: '15m', lag: '15m' });
  const nexudusSeed = world.nexudusSeed();
  // Only the third customer has cards; the second already has a Kisi user.
  const coworkers = nexudusSeed.coworkers ?? [];
  for (const c of coworkers) if (c.Id !== world.customerId(CUSTOMERS.withCards)) delete (c as { AccessCardId?: unknown }).AccessCardId;
  const withCards = coworkers.find((c) => c.Id === world.customerId(CUSTOMERS.withCards))!;
  Object.assign(withCards, { AccessCardId: 'CA11A0001', KeyFobNumber: 'CA11B0002' });
  const kisiSeed = world.kisiSeed();
  kisiSeed.users = [{ id: 777_001, email: world.email(CUSTOMERS.existingKisiUser), name: 'Member 1' }];

  const machine = await machineInfo();
  const stack = await Stack.start({ name: 'calls', accessMap: world.accessMap(), kisi: { seed: kisiSeed, rateLimit: { perSecond: 5 } }, nexudus: { seed: nexudusSeed }, log });
  const sender = new WebhookSender(stack.ingressUrl, STACK_SECRETS.NEXUDUS_WEBHOOK_SECRET);
  const steps: StepCount[] = [];
  try {
    const start = wholeSecond(Date.now() + 3 * 3_600_000);
    const booking = (customer: number, offsetHours: number) =>
      stack.nexudus.state.addBooking({ ResourceId: world.resourceId(0), CoworkerId: world.customerId(customer), FromTime: iso(start + offsetHours * 3_600_000), ToTime: iso(start + (offsetHours + 1) * 3_600_000) });
    const measure = async (step: string, act: () => Promise<unknown>) => {
      const kisiFrom = stack.kisi.requests.length;
      const nexudusFrom = stack.nexudus.requests.length;
      await act();
      await quiet(stack, quietMs);
      const count = (records: Array<{ method: string; route: string }>) => {
        const out: Record<string, number> = {};
        for (const r of records) out[`${r.method} ${r.route}`] = (out[`${r.method} ${r.route}`] ?? 0) + 1;
        return out;
      };
      const kisi = count(stack.kisi.requests.slice(kisiFrom));
      const nexudus = count(stack.nexudus.requests.slice(nexudusFrom));
      const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
      steps.push({ step, kisi, nexudus, kisiTotal: sum(kisi), nexudusTotal: sum(nexudus) });
      log(`${step}: Kisi ${sum(kisi)} ${JSON.stringify(kisi)}; Nexudus ${sum(nexudus)} ${JSON.stringify(nexudus)}`);
    };
    // The worker's first calls log in to Nexudus and fill its caches: measure from a running worker.
    await measure('warm-up (another customer\'s booking: the worker logs in)', () => sender.postOk('BookingCreate', booking(CUSTOMERS.warmUp, 0)));
    await measure('A booking of a customer new to Kisi, no cards', () => sender.postOk('BookingCreate', booking(CUSTOMERS.fresh, 0)));
    await measure('A second booking of that customer', () => sender.postOk('BookingCreate', booking(CUSTOMERS.fresh, 2)));
    await measure('A booking of a customer with a Kisi user already', () => sender.postOk('BookingCreate', booking(CUSTOMERS.existingKisiUser, 0)));
    await measure('A booking of a customer new to Kisi, two cards', () => sender.postOk('BookingCreate', booking(CUSTOMERS.withCards, 0)));
    await measure('AccessControlUpdate of that customer, nothing changed', () => sender.postOk('AccessControlUpdate', stack.nexudus.state.store.coworkers.get(world.customerId(CUSTOMERS.withCards))));
  } finally {
    sender.close();
    await stack.close();
  }
  const measured = steps.slice(1);
  const describe = (o: Record<string, number>) =>
    Object.entries(o)
      .map(([k, n]) => `${n} × ${k}`)
      .join(', ') || 'none';
  return {
    name: 'calls',
    machine,
    parameters: { quietMs, worker: 'src/main/worker.ts as npm start runs it (defaults)', kisi: 'sandbox at 5 requests/s', nexudus: 'sandbox' },
    rows: measured.flatMap((s) => [
      { what: `${s.step}: Kisi`, value: `${s.kisiTotal} (${describe(s.kisi)})` },
      { what: `${s.step}: Nexudus`, value: `${s.nexudusTotal} (${describe(s.nexudus)})` },
    ]),
    details: { steps },
    notes: [
      'Counted by the sandboxes: every request they received between the webhook and 3 s of quiet, retries included.',
      'Issue 15 measured the code before these changes: a first grant for a new customer cost 5 Kisi calls (user look-up, user create, card listing, assignment listing, assignment create), an existing Kisi user 4, and every booking a Nexudus read of the customer.',
    ],
  };
}

/** Resolves once neither sandbox has received a request for `ms`. */
async function quiet(stack: Stack, ms: number): Promise<void> {
  const last = () => Math.max(stack.kisi.requests.at(-1)?.at ?? 0, stack.nexudus.requests.at(-1)?.at ?? 0);
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    if (Date.now() - last() >= ms) return;
  }
}

if (require.main === module) {
  const options = numericArgs({ quietMs: 3_000 });
  benchMain(() => runCallsBench(options), options.outDir);
}
