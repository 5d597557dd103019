/**
 * The reports' own limits (src/ingress/reports.ts): one computation at a time, the same question
 * answered from a one-minute cache or shared with the computation in flight, a bounded queue, and
 * a Nexudus allowance of their own that stops paging (the listing says it was cut) instead of
 * spending the grants' share. The allowance runs against the Nexudus sandbox with its limits on.
 */
import { NexudusClient } from '../../src/clients/nexudus';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER } from '../../dev/sandbox/nexudus';
import { CallAllowance, ReportRunner, ReportsBusyError } from '../../src/ingress/reports';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('one computation at a time; the same key in flight is shared; a fresh answer is cached for a minute', async () => {
  let now = 1_000_000;
  const runner = new ReportRunner({ now: () => now });
  let running = 0;
  let most = 0;
  const computed: string[] = [];
  const gates = new Map<string, ReturnType<typeof deferred<void>>>();
  const compute = (key: string) => async () => {
    running++;
    most = Math.max(most, running);
    computed.push(key);
    const gate = deferred<void>();
    gates.set(key, gate);
    await gate.promise;
    running--;
    return { value: `${key}@${now}`, cacheable: true };
  };
  const a1 = runner.run('a', compute('a'));
  const a2 = runner.run('a', compute('a')); // shares a1
  const b = runner.run('b', compute('b')); // waits for a
  await new Promise((r) => setImmediate(r));
  expect(computed).toEqual(['a']);
  gates.get('a')!.resolve();
  expect((await a1).value).toBe('a@1000000');
  expect(await a2).toEqual(await a1);
  await new Promise((r) => setImmediate(r));
  expect(computed).toEqual(['a', 'b']);
  gates.get('b')!.resolve();
  await b;
  expect(most).toBe(1);

  now += 59_000;
  expect(await runner.run('a', compute('a'))).toMatchObject({ value: 'a@1000000', cached: true });
  now += 2_000;
  const fresh = runner.run('a', compute('a'));
  await new Promise((r) => setImmediate(r));
  gates.get('a')!.resolve();
  expect(await fresh).toMatchObject({ value: 'a@1061000', cached: false });
});

test('a report with a source that could not be read is not cached; more than four waiting are refused (429)', async () => {
  const runner = new ReportRunner();
  let calls = 0;
  const failing = async () => ({ value: ++calls, cacheable: false });
  await runner.run('x', failing);
  expect((await runner.run('x', failing)).value).toBe(2);

  const gate = deferred<void>();
  const slow = runner.run('slow', async () => {
    await gate.promise;
    return { value: 0, cacheable: true };
  });
  await new Promise((r) => setImmediate(r)); // slow is running now: four more may wait
  const waiting = [1, 2, 3, 4].map((i) => runner.run(`w${i}`, async () => ({ value: i, cacheable: true })));
  await expect(runner.run('w5', async () => ({ value: 5, cacheable: true }))).rejects.toThrow(ReportsBusyError);
  gate.resolve();
  await slow;
  expect((await Promise.all(waiting)).map((r) => r.value)).toEqual([1, 2, 3, 4]);
});

test('the allowance: so many calls in any minute, then none until the oldest is a minute old', () => {
  let now = 0;
  const allowance = new CallAllowance(3, () => now);
  expect([allowance.take(), allowance.take(), allowance.take(), allowance.take()]).toEqual([true, true, true, false]);
  now = 59_999;
  expect(allowance.take()).toBe(false);
  now = 60_000;
  expect(allowance.take()).toBe(true);
});

test('paging failed check-ins stops at the allowance or the page cap and says the listing was cut', async () => {
  const sandbox = createNexudusSandbox({ rateLimit: false });
  const listening = await sandbox.listen(0, '127.0.0.1');
  try {
    const client = new NexudusClient({ baseUrl: listening.apiUrl, ...DEFAULT_SANDBOX_USER, pageSize: 2, rateLimit: { minIntervalMs: 0, perMinute: 100_000 } });
    const from = new Date(Date.now() - 60_000).toISOString();
    for (let i = 0; i < 7; i++) {
      // A refused check-in: the coworker has no valid pass (Grace), so the sandbox logs a failed one.
      await client.createCheckin({ businessId: 1000001, coworkerId: 2000003, fromTime: new Date().toISOString() });
    }
    const all = await client.listFailedCheckins({ from });
    expect(all.length).toBe(7);
    const capped = await client.listFailedCheckinsWithin({ from }, { maxPages: 2 });
    expect(capped).toMatchObject({ truncated: true });
    expect(capped.items).toHaveLength(4);
    let granted = 1;
    const stingy = await client.listFailedCheckinsWithin({ from }, { maxPages: 10, mayRequest: () => granted-- > 0 });
    expect(stingy).toMatchObject({ truncated: true });
    expect(stingy.items).toHaveLength(2);
    expect(await client.listFailedCheckinsWithin({ from }, { maxPages: 10 })).toMatchObject({ truncated: false, items: all });
  } finally {
    await listening.close();
  }
});
