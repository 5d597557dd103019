/**
 * Replays histories of live workflows against workflow code (by default the working tree's
 * workflows/), the check to run before deploying a workflow change: a change that would make a
 * running grant or membership non-deterministic shows up here instead of as a stuck workflow in
 * production. `npm run replay` (src/cli/replay.ts) prints the results.
 */
import type { Client } from '@temporalio/client';
import type { HistoryAndWorkflowId } from '@temporalio/client';
import { DeterminismViolationError } from '@temporalio/workflow';
import path from 'node:path';
import { Worker, type ReplayWorkerOptions } from '@temporalio/worker';
import { projectRoot } from '../process/project-root';
import { replayCandidatesQuery } from '../temporal/visibility-queries';

export interface ReplayTarget {
  workflowId: string;
  runId: string;
  type: string;
  events: number;
}

export type ReplayVerdict = 'ok' | 'non-deterministic' | 'failed';

export interface ReplayOutcome extends ReplayTarget {
  verdict: ReplayVerdict;
  message: string | null;
}

export interface ReplaySummary {
  query: string;
  outcomes: ReplayOutcome[];
  /** More workflows matched than `limit`. */
  truncated: boolean;
  ok: number;
  nonDeterministic: number;
  failed: number;
}

export interface ReplayOptions {
  /**
   * Which workflows: this deployment's running grants and memberships (its task queue, the one
   * the worker polls), or an operator's own visibility query, sent as written (not scoped).
   */
  select: { taskQueue: string } | { query: string };
  limit: number;
  /** Workflow code to replay against: a workflows module path or a prebuilt bundle. */
  code: Pick<ReplayWorkerOptions, 'workflowsPath' | 'workflowBundle' | 'bundlerOptions'>;
  /** Called as each result arrives (the CLI prints lines while the rest replays). */
  onOutcome?: (outcome: ReplayOutcome) => void;
}

export async function replayWorkflows(client: Client, options: ReplayOptions): Promise<ReplaySummary> {
  const query = 'query' in options.select ? options.select.query : replayCandidatesQuery(options.select.taskQueue);
  const { targets, truncated } = await listReplayTargets(client, query, options.limit);
  const summary: ReplaySummary = { query, outcomes: [], truncated, ok: 0, nonDeterministic: 0, failed: 0 };
  if (targets.length === 0) return summary;

  // Results come back one per history, in order (the replay worker runs one at a time).
  const fetched: ReplayTarget[] = [];
  async function* histories(): AsyncIterable<HistoryAndWorkflowId> {
    for (const target of targets) {
      const history = await client.workflow.getHandle(target.workflowId, target.runId).fetchHistory();
      // A running workflow's history grows between the list and the fetch: report what was replayed.
      fetched.push({ ...target, events: history.events?.length ?? target.events });
      yield { workflowId: target.workflowId, history };
    }
  }

  let index = 0;
  const code = options.code.workflowBundle ? options.code : { bundlerOptions: { webpackConfigHook: withProjectModules }, ...options.code };
  // The client's data converter: histories written with payload encryption decode with its keys.
  for await (const result of Worker.runReplayHistories({ ...code, replayName: 'replay-check', dataConverter: client.options.dataConverter }, histories())) {
    const target = fetched[index++]!;
    const verdict: ReplayVerdict = !result.error ? 'ok' : isDeterminismViolation(result.error) ? 'non-deterministic' : 'failed';
    const outcome: ReplayOutcome = { ...target, verdict, message: result.error ? result.error.message : null };
    summary.outcomes.push(outcome);
    if (verdict === 'ok') summary.ok++;
    else if (verdict === 'non-deterministic') summary.nonDeterministic++;
    else summary.failed++;
    options.onOutcome?.(outcome);
  }
  return summary;
}

/** The workflows a query matches, at most `limit` (`truncated`: more matched). */
export async function listReplayTargets(client: Client, query: string, limit: number): Promise<{ targets: ReplayTarget[]; truncated: boolean }> {
  const targets: ReplayTarget[] = [];
  let truncated = false;
  for await (const info of client.workflow.list({ query, pageSize: Math.min(limit + 1, 1000) })) {
    if (targets.length === limit) {
      truncated = true;
      break;
    }
    targets.push({ workflowId: info.workflowId, runId: info.runId, type: info.type, events: info.historyLength });
  }
  return { targets, truncated };
}

function isDeterminismViolation(error: Error): boolean {
  return error instanceof DeterminismViolationError || error.name === 'DeterminismViolationError';
}

/**
 * Workflow code from another tree (a checkout of the deployed version, say) may have no
 * node_modules of its own: let it find @temporalio/workflow and friends in this project's.
 */
type WebpackConfiguration = Parameters<NonNullable<NonNullable<ReplayWorkerOptions['bundlerOptions']>['webpackConfigHook']>>[0];

function withProjectModules(config: WebpackConfiguration): WebpackConfiguration {
  const modules = config.resolve?.modules ?? ['node_modules'];
  return { ...config, resolve: { ...config.resolve, modules: [...modules, path.join(projectRoot(), 'node_modules')] } };
}

/**
 * The line an operator needs from a replay error: Core wraps the cause ("[TMPRL1100]
 * Nondeterminism error: Timer machine does not handle this event: ...") in a debug dump.
 */
export function conciseReplayError(message: string): string {
  const inner = /message: "((?:[^"\\]|\\.)*)"/.exec(message);
  return (inner ? inner[1]! : message.split('\n')[0]!).replace(/\\n/g, ' ');
}
