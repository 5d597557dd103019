/** The workflows bundled once per jest worker (bundling takes seconds), without the bundler's chatter. */
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

const quietBundlerLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never;
let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietBundlerLogger });
  return bundle;
}
