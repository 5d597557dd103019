/**
 * Smoke run of the scale benchmark (bench/scale.ts) with a few bookings: accepted, written to Kisi,
 * granted, memory read from /proc. Shape only, no timing.
 */
import { runScaleBench } from '../../bench/scale';
import { expectWellFormed } from './well-formed';

jest.setTimeout(240_000);

test('the scale benchmark accepts, grants and measures memory for a few bookings', async () => {
  const result = await runScaleBench({ n: 8, rooms: 2, concurrency: 4, startDelaySeconds: 10, leadSeconds: 2, idleSeconds: 2, maxWaitMinutes: 3, log: () => undefined });
  const rows = expectWellFormed(result, 'scale');
  expect(rows.get('Accepted through the ingress (8 webhooks, C=4)')!.value).toMatch(/^8\/8 /);
  expect(rows.get('All assignments in Kisi, after the first webhook')!.value).toMatch(/^\d+(\.\d+)? s/);
  expect(rows.get('All grants report granted, after the first webhook')!.value).toMatch(/^\d+(\.\d+)? s$/);
  expect(rows.get('Worker RSS while 8 grants sleep (median over 2 s)')!.value).toMatch(/^\d+(\.\d+)? MiB/);
});
