import { DefaultLogger, Runtime } from '@temporalio/worker';

/** An in-process worker logs every state change at INFO: keep benchmark output to warnings (once per process). */
export function quietSdkLogs(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed (another suite in the same jest worker, or an earlier run).
  }
}
