/**
 * The bench Stack (bench/lib/stack.ts) as production runs it: the compose stack's Temporal on
 * PostgreSQL (temporal-server.ts) and the built roles (`node dist/src/main/worker.js`,
 * `node dist/src/main/ingress.js`). Used by npm run test:production and by the benchmarks' `--production 1`.
 */
import { execFile } from 'node:child_process';
import type { StackOptions } from '../../bench/lib/stack';
import { PROJECT_ROOT } from './compose';
import { ProductionTemporal } from './temporal-server';

/** `npm run build` (dist/ is what production runs); resolves with how long it took. */
export async function buildProduct(): Promise<number> {
  const started = Date.now();
  await new Promise<void>((resolve, reject) =>
    execFile('npm', ['run', '-s', 'build'], { cwd: PROJECT_ROOT, maxBuffer: 64 * 2 ** 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`npm run build: ${error.message}\n${stdout}${stderr}`)) : resolve(),
    ),
  );
  return Date.now() - started;
}

export interface ProductionStack {
  backend: ProductionTemporal;
  /** What to add to a Stack's options. */
  options: Pick<StackOptions, 'temporal' | 'roles' | 'workers' | 'env'>;
  provisionMs: number;
  buildMs: number;
}

/**
 * Provisions the production Temporal (cached), builds the product and returns the Stack options
 * that run against it with `workers` workers, which share Kisi's 5 requests/s as the compose stack's
 * replicas do: one at a time runs the activities (the activity lease, at its default).
 */
export async function productionStack(log: (line: string) => void, workers: number): Promise<ProductionStack> {
  const backend = new ProductionTemporal({ log });
  const provisionStarted = Date.now();
  await backend.provision();
  const provisionMs = Date.now() - provisionStarted;
  log(`provisioned in ${(provisionMs / 1000).toFixed(1)} s: ${backend.provisioned}`);
  log('npm run build');
  const buildMs = await buildProduct();
  return { backend, options: { temporal: backend, roles: 'dist', workers, env: {} }, provisionMs, buildMs };
}
