/**
 * Smoke run of the precision benchmark (bench/precision.ts): a handful of pre-scheduled grants and
 * late changes on the real stack. Shape only, no timing.
 */
import { runPrecisionBench } from '../../bench/precision';
import { expectWellFormed } from './well-formed';

jest.setTimeout(240_000);

test('the precision benchmark measures pre-scheduled windows and late changes from Kisi\'s history', async () => {
  const result = await runPrecisionBench({ grants: 4, late: 4, aheadSeconds: 10, spacingSeconds: 0.5, durationSeconds: 3, log: () => undefined });
  expectWellFormed(result, 'precision');
  const details = result.details as { startGapsMs: number[]; endGapsMs: number[]; late: unknown[] };
  expect(details.startGapsMs).toHaveLength(4);
  expect(details.endGapsMs).toHaveLength(4);
  // Every gap is a measurement (a membership Kisi never granted would be Infinity).
  for (const gap of [...details.startGapsMs, ...details.endGapsMs]) expect(Number.isFinite(gap)).toBe(true);
  expect(details.late).toHaveLength(4);
});
