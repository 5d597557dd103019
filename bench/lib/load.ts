/**
 * Two ways to offer load. Closed loop: C requests in flight, the next one leaves when one returns
 * (throughput at a concurrency). Open loop: requests leave on a fixed schedule whatever the answers
 * do (a rate, as webhooks arrive in reality); latency is then measured from the scheduled moment, so
 * a stalled server cannot hide its queueing by slowing the sender down (no coordinated omission).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadRun {
  /** Latency of each successful request in ms, in request order (a failed one is not an answer). */
  latenciesMs: number[];
  wallMs: number;
  /** Successful requests per second over the whole run. */
  throughput: number;
  errors: number;
  /** The first few failures' messages, so a failed request can be explained, not just counted. */
  errorSamples: string[];
}

const MAX_ERROR_SAMPLES = 5;

function sample(into: string[], error: unknown): void {
  if (into.length < MAX_ERROR_SAMPLES) into.push(error instanceof Error ? error.message : String(error));
}

/** `task(i)` for i in [0, n) with `concurrency` in flight; latency measured around each task. */
export async function closedLoop(n: number, concurrency: number, task: (i: number) => Promise<void>): Promise<LoadRun> {
  const latenciesMs = new Array<number>(n);
  let next = 0;
  let errors = 0;
  const errorSamples: string[] = [];
  const started = performance.now();
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const t0 = performance.now();
      try {
        await task(i);
        latenciesMs[i] = performance.now() - t0;
      } catch (error) {
        errors++;
        sample(errorSamples, error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  const wallMs = performance.now() - started;
  return { latenciesMs: answered(latenciesMs), wallMs, throughput: ((n - errors) / wallMs) * 1000, errors, errorSamples };
}

/**
 * `count` tasks started at `ratePerSecond`, each at its scheduled moment (or as soon after as the
 * event loop allows); latency runs from the scheduled moment to the task's end.
 */
export async function openLoop(ratePerSecond: number, count: number, task: (i: number) => Promise<void>): Promise<LoadRun & { maxSendLagMs: number }> {
  const latenciesMs = new Array<number>(count);
  const intervalMs = 1000 / ratePerSecond;
  let errors = 0;
  const errorSamples: string[] = [];
  let maxSendLagMs = 0;
  const started = performance.now();
  const inFlight: Array<Promise<void>> = [];
  for (let i = 0; i < count; i++) {
    const scheduled = started + i * intervalMs;
    const wait = scheduled - performance.now();
    if (wait > 1) await sleep(wait);
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - scheduled);
    inFlight.push(
      task(i).then(
        () => void (latenciesMs[i] = performance.now() - scheduled),
        (error: unknown) => {
          errors++;
          sample(errorSamples, error);
        },
      ),
    );
  }
  await Promise.all(inFlight);
  const wallMs = performance.now() - started;
  return { latenciesMs: answered(latenciesMs), wallMs, throughput: ((count - errors) / wallMs) * 1000, errors, errorSamples, maxSendLagMs };
}

/** The latencies of the requests that succeeded (failed ones left holes). */
function answered(latenciesMs: number[]): number[] {
  return latenciesMs.filter((v) => v !== undefined);
}
