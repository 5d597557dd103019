/**
 * Smoke run of the ingress benchmark (bench/ingress.ts): a few webhooks and signal-with-starts on
 * the real stack, to keep the script working. Shape only, no timing.
 */
import { runIngressBench } from '../../bench/ingress';
import { expectWellFormed } from './well-formed';

jest.setTimeout(180_000);

test('the ingress benchmark runs on the stack and reports both sides and their ratio', async () => {
  const result = await runIngressBench({ n: 20, concurrency: 4, rate: 20, sustainRate: 10, seconds: 1, rounds: 2, tmpfsDb: 0, log: () => undefined });
  const rows = expectWellFormed(result, 'ingress');
  expect([...rows.keys()]).toEqual(expect.arrayContaining(['Closed loop: ingress / bare, time for N', 'Open loop 20/s: ingress', 'Errors; answers other than delivered']));
  const details = result.details as { summaries: Record<string, { count: number }> };
  expect(details.summaries.closedIngress!.count).toBe(20);
  expect(details.summaries.closedBare!.count).toBe(20);
  expect(details.summaries.openIngress!.count).toBe(20);
  expect(details.summaries.sustainedBare!.count).toBe(10);
  // Every request was answered (delivered or queued): none failed.
  expect(rows.get('Errors; answers other than delivered')!.value).toMatch(/^0; \d+$/);
});
