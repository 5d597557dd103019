/**
 * `npm run bench`: every benchmark in turn, each writing bench/results/<name>.{json,md}, then
 * bench/results/summary.md with all their rows.
 *
 *   npm run bench                         (the scale benchmark at 10,000 bookings: over an hour)
 *   npm run bench -- --scaleN 1000        (a smaller scale run)
 *   npm run bench -- --only ingress,cost  (a subset: ingress, ingress-tmpfs, cost, precision, scale, live)
 *   npm run bench -- --only ingress-production,scale-production
 *                                         (on the compose stack's Temporal and PostgreSQL: only on request)
 *
 * Run it on a quiet machine (`uptime`): every figure is printed with the load average at its start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_INGRESS_OPTIONS, runIngressBench } from './ingress';
import { runCostBench } from './cost';
import { DEFAULT_PRECISION_OPTIONS, runPrecisionBench } from './precision';
import { DEFAULT_SCALE_OPTIONS, runScaleBench } from './scale';
import { DEFAULT_LIVE_OPTIONS, runLiveBench } from './live';
import { describeMachine } from './lib/machine';
import { DEFAULT_RESULTS_DIR, markdownOf, printResult, writeResult, type BenchResult } from './lib/results';

const BENCHES = {
  ingress: () => runIngressBench(DEFAULT_INGRESS_OPTIONS),
  'ingress-tmpfs': () => runIngressBench({ ...DEFAULT_INGRESS_OPTIONS, tmpfsDb: 1 }),
  cost: () => runCostBench(),
  precision: () => runPrecisionBench(DEFAULT_PRECISION_OPTIONS),
  scale: (scaleN: number) => runScaleBench({ ...DEFAULT_SCALE_OPTIONS, n: scaleN }),
  live: () => runLiveBench(DEFAULT_LIVE_OPTIONS),
  // On the compose stack's Temporal and PostgreSQL (dev/production/): only with --only, they build a server first.
  'ingress-production': () => runIngressBench({ ...DEFAULT_INGRESS_OPTIONS, production: 1 }),
  'scale-production': (scaleN: number) => runScaleBench({ ...DEFAULT_SCALE_OPTIONS, n: scaleN, production: 1 }),
} as const;
type BenchName = keyof typeof BENCHES;
const ON_REQUEST: BenchName[] = ['ingress-production', 'scale-production'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string' }, scaleN: { type: 'string' }, out: { type: 'string' } } });
  const names = (values.only ? values.only.split(',') : Object.keys(BENCHES).filter((n) => !ON_REQUEST.includes(n as BenchName))) as BenchName[];
  for (const n of names) if (!(n in BENCHES)) throw new Error(`--only: unknown benchmark ${n} (one of ${Object.keys(BENCHES).join(', ')})`);
  const scaleN = values.scaleN ? Number(values.scaleN) : DEFAULT_SCALE_OPTIONS.n;
  const outDir = values.out ?? DEFAULT_RESULTS_DIR;
  const results: BenchResult[] = [];
  for (const name of names) {
    console.log(`\n### ${name}`);
    const result = await BENCHES[name](scaleN);
    printResult(result);
    writeResult(result, outDir);
    results.push(result);
  }
  // Summary of this runner's benchmarks, the ones not rerun now from their last results.
  const all = Object.keys(BENCHES)
    .map((name) => path.join(outDir, `${name}.json`))
    .filter((file) => fs.existsSync(file))
    .map((file) => JSON.parse(fs.readFileSync(file, 'utf8')) as BenchResult);
  const summary = ['# Benchmark results', '', ...all.flatMap((r) => [markdownOf(r).replace(/^# Benchmark: /, '## '), ''])].join('\n');
  fs.writeFileSync(path.join(outDir, 'summary.md'), summary);
  console.log(`\nwrote ${path.join(outDir, 'summary.md')} (${all.map((r) => `${r.name}: ${describeMachine(r.machine).split(';')[0]}`).join(', ')})`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
