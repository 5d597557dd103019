/**
 * Smoke run of the cost benchmark (bench/cost.ts) on the time-skipping server: every life is
 * measured from real histories and the result is well formed.
 */
import { runCostBench } from '../../bench/cost';
import { expectWellFormed } from './well-formed';

jest.setTimeout(180_000);

test('the cost benchmark measures a booking, a moved booking, a pass and a contract from their histories', async () => {
  const result = await runCostBench({ log: () => undefined });
  expectWellFormed(result, 'cost');
  const lives = (result.details as { lives: Array<{ name: string; total: { billable: number; starts: number; events: number }; byWorkflow: Record<string, unknown> }> }).lives;
  expect(lives).toHaveLength(4);
  for (const life of lives) {
    // A grant and at least one membership, each started once: the histories were read.
    expect(Object.keys(life.byWorkflow).length).toBeGreaterThanOrEqual(2);
    expect(life.total.starts).toBeGreaterThanOrEqual(2);
    expect(life.total.events).toBeGreaterThan(0);
  }
});
