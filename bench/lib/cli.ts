/** The command-line side of a benchmark script: numeric options, run, print, write, exit status. */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { printResult, writeResult, type BenchResult } from './results';

/** `--name value` options as numbers (defaults where absent), plus `--out DIR`. */
export function numericArgs<T extends object>(defaults: T): T & { outDir?: string } {
  const options = Object.fromEntries([...Object.keys(defaults), 'out'].map((k) => [k, { type: 'string' as const }]));
  const { values } = parseArgs({ options, allowPositionals: false });
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [k, v] of Object.entries(values)) {
    if (k === 'out' || v === undefined) continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`--${k}: expected a number, got ${String(v)}`);
    out[k] = n;
  }
  if (typeof values.out === 'string') out.outDir = values.out;
  return out as T & { outDir?: string };
}

/** Runs a benchmark as a script: prints its figures, writes bench/results (or --out), exits 0/1. */
export function benchMain(run: () => Promise<BenchResult>, outDir: string | undefined): void {
  const started = performance.now();
  run().then(
    (result) => {
      printResult(result);
      const files = writeResult(result, outDir);
      console.log(`wrote ${files.json} and ${files.markdown} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
