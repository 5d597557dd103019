/**
 * Toolchain smoke test: a workflow runs on the time-skipping test server and on the dev server,
 * both found through dev/temporal-binaries. If the binaries cannot be resolved this fails.
 */
import { Worker } from '@temporalio/worker';
import { type TestWorkflowEnvironment } from '@temporalio/testing';
import { createDevServerEnv, createTimeSkippingEnv } from '../helpers/temporal-env';
import { sleepThenGreet, waitForPoke, poke } from './smoke/workflows';

async function runWith<T>(env: TestWorkflowEnvironment, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = `smoke-${Math.random().toString(36).slice(2)}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('./smoke/workflows'),
  });
  return worker.runUntil(fn(taskQueue));
}

describe('Temporal toolchain', () => {
  test('time-skipping server skips a day-long timer', async () => {
    const env = await createTimeSkippingEnv();
    try {
      expect(env.supportsTimeSkipping).toBe(true);
      const before = await env.currentTimeMs();
      const result = await runWith(env, (taskQueue) =>
        env.client.workflow.execute(sleepThenGreet, { taskQueue, workflowId: 'smoke-ts', args: ['world'] }),
      );
      expect(result).toBe('hello world');
      expect((await env.currentTimeMs()) - before).toBeGreaterThanOrEqual(86_400_000);
    } finally {
      await env.teardown();
    }
  });

  test('dev server runs a signalled workflow and lists it', async () => {
    const env = await createDevServerEnv();
    try {
      expect(env.supportsTimeSkipping).toBe(false);
      const result = await runWith(env, async (taskQueue) => {
        const handle = await env.client.workflow.signalWithStart(waitForPoke, {
          taskQueue,
          workflowId: 'smoke-dev',
          signal: poke,
          signalArgs: ['ping'],
        });
        return handle.result();
      });
      expect(result).toBe('ping');
      const described = await env.client.workflow.getHandle('smoke-dev').describe();
      expect(described.status.name).toBe('COMPLETED');
    } finally {
      await env.teardown();
    }
  });
});
