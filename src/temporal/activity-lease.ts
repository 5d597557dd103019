/**
 * A worker's side of the activity lease (src/domain/activity-lease.ts): claim it, renew it, and
 * stop calling the APIs before it can pass to anyone else.
 *
 * Every worker claims `activity-lease-<taskQueue>` (update-with-start: the first claim starts it).
 * The holder renews every `ttl / 6`; the others ask again just after the holder's lease would run
 * out, so a holder that dies is replaced about one TTL later. The holder's own deadline is measured
 * on its monotonic clock from when it *sent* its last successful claim, less a margin; it begins to
 * give the activities up `stopLeadMs` before that (enough to drain and abort their calls), so its
 * calls have ended before the lease workflow would let another worker take over.
 */
import { WithStartWorkflowOperation, type Client } from '@temporalio/client';
import {
  ACTIVITY_LEASE_WORKFLOW_TYPE,
  activityLeaseWorkflowId,
  claimActivityLeaseUpdate,
  releaseActivityLeaseUpdate,
  type ActivityLeaseInput,
  type LeaseAnswer,
} from '../contract/activity-lease';
import { holderDeadline } from '../domain/activity-lease';
import type { Logger } from '../config/logger';
import { temporalPriority } from '../domain/lanes';

export interface ActivityLeaseOptions {
  client: Client;
  taskQueue: string;
  /** This worker's identity: unique per process run. */
  identity: string;
  ttlMs: number;
  /** How long before its deadline the holder starts giving the activities up (their drain). */
  stopLeadMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** True when a holder is certainly dead (an earlier process of this host): its lease is taken over at once. */
  isDead?: (holder: string) => boolean;
  /** Called when this worker takes the lease: start running activities. */
  onAcquired: (answer: LeaseAnswer) => Promise<void>;
  /** Called when this worker must stop running activities; resolves once their calls have ended. */
  onLost: (reason: string) => Promise<void>;
  /** Monotonic milliseconds (default performance.now). */
  now?: () => number;
}

/** The clock margin: the holder's deadline is this much before the lease runs out. */
export function leaseMarginMs(ttlMs: number): number {
  return Math.max(1_000, Math.round(ttlMs / 20));
}

export class ActivityLease {
  private readonly now: () => number;
  private holding = false;
  private stopping = false;
  private stopTimer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  /** Acquire and lose run one at a time, in order. */
  private transitions: Promise<void> = Promise.resolve();
  private failure: unknown;
  private readonly renewEveryMs: number;
  private readonly claimTimeoutMs: number;

  constructor(private readonly options: ActivityLeaseOptions) {
    this.now = options.now ?? (() => performance.now());
    this.renewEveryMs = Math.round(options.ttlMs / 6);
    this.claimTimeoutMs = Math.max(1_000, this.renewEveryMs);
    const budget = options.ttlMs - leaseMarginMs(options.ttlMs) - options.stopLeadMs;
    if (budget < 2 * this.renewEveryMs) {
      throw new Error(`activity lease: a TTL of ${options.ttlMs} ms leaves no time to renew before a ${options.stopLeadMs} ms drain: use a longer WORKER_ACTIVITY_LEASE`);
    }
  }

  get holdsLease(): boolean {
    return this.holding;
  }

  /** Claims and renews until stop(); then gives the activities up and releases the lease. */
  async run(): Promise<void> {
    while (!this.stopping) {
      let sentAt = this.now();
      let answer = await this.claim();
      if (answer && !answer.held && answer.holder && this.options.isDead?.(answer.holder)) {
        this.options.logger.info({ previous: answer.holder }, 'activity lease: its holder was an earlier process of this host, gone: taking over');
        sentAt = this.now();
        answer = await this.claim(answer.holder);
      }
      if (this.stopping) break;
      let pauseMs: number;
      const stopIn = answer?.held ? holderDeadline(sentAt, this.options.ttlMs, leaseMarginMs(this.options.ttlMs)) - this.options.stopLeadMs - this.now() : 0;
      if (answer?.held && stopIn > 0) {
        this.armStop(stopIn);
        if (!this.holding) {
          this.holding = true;
          this.options.logger.info({ fence: answer.fence, ttlMs: this.options.ttlMs }, 'activity lease taken: this worker runs the activities');
          const acquired = answer;
          this.transition(() => this.options.onAcquired(acquired));
        }
        pauseMs = this.renewEveryMs;
      } else {
        // Not ours, or ours but answered too late to use safely (the claim took most of the TTL).
        if (answer && this.holding) this.lose(answer.held ? 'the claim was answered too late' : `the lease passed to ${answer.holder ?? 'nobody'}`);
        // A holder renews long before `until`: ask again just after it would run out, or sooner
        // while we still hold (a failed renewal) or could not ask at all.
        pauseMs = answer && !answer.held && !this.holding ? Math.min(this.options.ttlMs, Math.max(250, answer.until - answer.at + 250)) : Math.min(2_000, this.renewEveryMs);
      }
      await this.pause(pauseMs);
    }
    this.lose('worker shutting down');
    await this.transitions;
    await this.release();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stops claiming; run() then gives the activities up and releases the lease. */
  stop(): void {
    this.stopping = true;
    this.wake?.();
  }

  private async claim(replaces?: string): Promise<LeaseAnswer | undefined> {
    const { client, taskQueue, identity, ttlMs } = this.options;
    try {
      return await client.withDeadline(Date.now() + this.claimTimeoutMs, () =>
        client.workflow.executeUpdateWithStart(claimActivityLeaseUpdate, {
          args: [{ holder: identity, ttlMs, ...(replaces ? { replaces } : {}) }],
          startWorkflowOperation: new WithStartWorkflowOperation(ACTIVITY_LEASE_WORKFLOW_TYPE, {
            workflowId: activityLeaseWorkflowId(taskQueue),
            taskQueue,
            workflowIdConflictPolicy: 'USE_EXISTING',
            args: [{} satisfies ActivityLeaseInput],
            // Every activity waits for this lease: its tasks never queue behind a burst.
            priority: temporalPriority('live'),
          }),
        }),
      );
    } catch (error) {
      this.options.logger.warn({ err: error instanceof Error ? error.message : String(error), holding: this.holding }, 'activity lease: claim failed');
      return undefined;
    }
  }

  private async release(): Promise<void> {
    const { client, taskQueue, identity } = this.options;
    try {
      await client.withDeadline(Date.now() + 2_000, () =>
        client.workflow.getHandle(activityLeaseWorkflowId(taskQueue)).executeUpdate(releaseActivityLeaseUpdate, { args: [{ holder: identity }] }),
      );
    } catch (error) {
      // The lease then runs out by itself within one TTL.
      this.options.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'activity lease: release failed');
    }
  }

  private armStop(inMs: number): void {
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.stopTimer = setTimeout(() => this.lose('the lease was not renewed in time'), Math.max(0, inMs));
  }

  private lose(reason: string): void {
    if (this.stopTimer) clearTimeout(this.stopTimer);
    this.stopTimer = undefined;
    if (!this.holding) return;
    this.holding = false;
    this.options.logger.warn({ reason }, 'activity lease given up: this worker stops running activities');
    this.transition(() => this.options.onLost(reason));
  }

  /** A failure to start or stop the activities ends run() with it: the worker is broken. */
  private transition(step: () => Promise<void>): void {
    this.transitions = this.transitions.then(step).catch((error: unknown) => {
      this.failure ??= error;
      this.stop();
    });
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
