/**
 * The pass watcher on a dev server, its activity faked: one look per poke, pokes during a look
 * coalesced into one more, the mark carried from look to look (and kept by a failed one), carried
 * through continue-as-new with a pending look, and the run ending when idle (the next poke starts
 * a new one, whose first look has no mark). With RECORD_REPLAY_HISTORIES set, the histories are
 * saved for the replay test.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import {
  PASS_WATCH_WORKFLOW_TYPE,
  passesMayHaveChangedSignal,
  passWatchStatusQuery,
  passWatchWorkflowId,
  type PassWatchInput,
  type PassWatchStatus,
  type RecentPassesResult,
} from '../../src/contract/pass-watch';
import type { RecentPassesInput } from '../../activities/passes';
import { createDevServerEnv } from '../helpers/temporal-env';
import { workflowBundle } from '../helpers/workflow-bundle';

jest.setTimeout(120_000);

const taskQueue = `pass-watch-${Math.random().toString(36).slice(2, 8)}`;
const workflowId = passWatchWorkflowId(taskQueue);
let env: TestWorkflowEnvironment;
let client: Client;
let worker: Worker;
let running: Promise<void>;

/** What the fake look saw, and how it answers: held until released, or failing. */
const calls: Array<RecentPassesInput> = [];
let gate: Promise<void> = Promise.resolve();
let failNext = false;
let mark = 1_000_000;

beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // installed by an earlier suite in this jest worker
  }
  env = await createDevServerEnv();
  client = env.client;
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      async deliverRecentPasses(input: RecentPassesInput): Promise<RecentPassesResult> {
        calls.push(input);
        await gate;
        if (failNext) {
          failNext = false;
          throw ApplicationFailure.nonRetryable('Nexudus said no', 'test');
        }
        mark += 1_000;
        return { checkedUpTo: mark, listed: 1, delivered: 0 };
      },
    },
  });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

function poke(input: PassWatchInput = { historyLimit: 60, idleMs: 4_000 }) {
  return client.workflow.signalWithStart(PASS_WATCH_WORKFLOW_TYPE, { workflowId, taskQueue, args: [input], signal: passesMayHaveChangedSignal, signalArgs: [] });
}
const status = () => client.workflow.getHandle(workflowId).query<PassWatchStatus>(passWatchStatusQuery);
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not answering yet (continuing as new)
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
const idle = async () => {
  const s = await status();
  return !s.looking && !s.pending;
};

test('one look per poke, pokes during a look make one more, the mark goes from look to look and survives a failure, continue-as-new and an idle end', async () => {
  // The first look of a run has no mark (the activity then reaches back PASS_WATCH_FIRST_LOOK_MS).
  let release!: () => void;
  gate = new Promise<void>((r) => (release = r));
  await poke();
  await until(async () => calls.length === 1, 'the first look');
  expect(calls[0]).toEqual({});
  // Three pokes while it runs: one more look, from the first one's mark.
  for (let i = 0; i < 3; i++) await poke();
  await until(async () => (await status()).pending, 'the pokes received');
  release();
  await until(async () => calls.length === 2 && (await idle()), 'one more look');
  expect(calls[1]).toEqual({ since: 1_001_000 });
  await new Promise((r) => setTimeout(r, 300));
  expect(calls).toHaveLength(2);
  expect(await status()).toMatchObject({ checkedUpTo: new Date(1_002_000).toISOString(), looks: 2, pokes: 4, lastError: null });

  // A failed look keeps the mark: the next looks from the same place.
  failNext = true;
  await poke();
  await until(async () => calls.length === 3 && (await idle()) && (await status()).lastError !== null, 'the failed look');
  expect((await status()).lastError).toMatch(/Nexudus said no/);
  await poke();
  await until(async () => calls.length === 4 && (await idle()) && (await status()).lastError === null, 'the look after it');
  expect(calls[2]).toEqual({ since: 1_002_000 });
  expect(calls[3]).toEqual({ since: 1_002_000 });

  // Enough looks to pass the history limit: the mark goes on through continue-as-new.
  const runBefore = (await client.workflow.getHandle(workflowId).describe()).runId;
  for (let i = 0; i < 8; i++) {
    const n = calls.length;
    await poke();
    await until(async () => calls.length === n + 1 && (await idle()), `look ${n + 1}`);
  }
  const runAfter = (await client.workflow.getHandle(workflowId).describe()).runId;
  expect(runAfter).not.toBe(runBefore);
  for (let i = 1; i < calls.length; i++) expect(calls[i]!.since).toBeDefined();
  const marks = calls.slice(4).map((c) => c.since!);
  expect(marks).toEqual([...marks].sort((a, b) => a - b));

  // Idle: the run ends; the next poke starts a new one whose first look has no mark.
  await until(async () => (await client.workflow.getHandle(workflowId).describe()).status.name === 'COMPLETED', 'the idle end', 15_000);
  if (process.env.RECORD_REPLAY_HISTORIES) await record(process.env.RECORD_REPLAY_HISTORIES);
  const n = calls.length;
  await poke();
  await until(async () => calls.length === n + 1, 'a new run\'s look');
  expect(calls[n]).toEqual({});
});

async function record(generation: string): Promise<void> {
  const dir = path.join(__dirname, '..', 'replay', 'histories', generation.replace(/[^\w.-]/g, '_'), 'pass-watch', '01');
  fs.mkdirSync(dir, { recursive: true });
  let runId: string | undefined;
  for (;;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    fs.writeFileSync(path.join(dir, `${workflowId}${runId ? `.${runId.slice(0, 8)}` : ''}.json`), JSON.stringify(temporal.api.history.v1.History.fromObject(history).toJSON()) + '\n');
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
    if (!runId) return;
  }
}
