/**
 * A worker process's Temporal workers: every process runs the workflows; the one holding the
 * activity lease (src/temporal/activity-lease.ts) also runs the activities, which make every Kisi
 * and Nexudus call. So the allowances, kept by one gate per process (src/clients/request-gate.ts),
 * hold with any number of worker processes: only one process calls at a time.
 *
 * The workflow worker registers no activities, so it polls no activity tasks (the SDK polls them
 * only for a worker that has some); the activity worker is created on taking the lease and shut
 * down on losing it, with its running activities cancelled after `shutdownGraceMs` (their calls are
 * aborted: activities/failures.ts). An activity task that is running when its worker shuts down
 * fails and is retried by the server, on the next holder.
 *
 * Without a lease (`leaseTtlMs: 0`) one worker runs both, as a single process always did.
 */
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from '../config/logger';
import { ActivityLease } from './activity-lease';
import { deadPredecessor, newWorkerIdentity } from './worker-identity';

/** How long a dead worker's sticky workflow tasks wait before another worker gets them. */
export const STICKY_TIMEOUT_MS = 3_000;

export interface LeasedWorkerOptions {
  connection: NativeConnection;
  /** For the lease's updates. */
  client: Client;
  namespace: string;
  taskQueue: string;
  /** The workflows: a path to bundle, or a bundle made already. */
  workflows: Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'>;
  activities: object;
  dataConverter?: DataConverter;
  maxCachedWorkflows?: number;
  /** Activities run at once (WORKER_MAX_ACTIVITIES): they mostly wait in the request gates, in lanes. */
  maxConcurrentActivities?: number;
  /** Workflow tasks run at once (WORKER_MAX_WORKFLOW_TASKS): few, so Temporal's priority order holds. */
  maxConcurrentWorkflowTasks?: number;
  /** How long running activities may finish when the worker stops or loses the lease. */
  shutdownGraceMs: number;
  /** The lease's TTL (WORKER_ACTIVITY_LEASE); 0: no lease, this worker runs the activities. */
  leaseTtlMs: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Default: src/temporal/worker-identity.ts (unique per process run). */
  identity?: string;
}

export class LeasedWorker {
  private activityWorker: { worker: Worker; running: Promise<void> } | undefined;
  private readonly lease: ActivityLease | undefined;
  private activityWorkerDied: ((error: unknown) => void) | undefined;
  readonly identity: string;

  private constructor(
    private readonly options: LeasedWorkerOptions,
    private readonly workflowWorker: Worker,
  ) {
    this.identity = options.identity ?? newWorkerIdentity();
    if (options.leaseTtlMs > 0) {
      this.lease = new ActivityLease({
        client: options.client,
        taskQueue: options.taskQueue,
        identity: this.identity,
        ttlMs: options.leaseTtlMs,
        // The drain, and a second for the aborted calls to settle.
        stopLeadMs: options.shutdownGraceMs + 1_000,
        logger: options.logger,
        isDead: (holder) => deadPredecessor(holder, this.identity),
        onAcquired: () => this.startActivities(),
        onLost: () => this.stopActivities(),
      });
    }
  }

  static async create(options: LeasedWorkerOptions): Promise<LeasedWorker> {
    const leased = options.leaseTtlMs > 0;
    const workflowWorker = await Worker.create({
      ...commonOptions(options),
      ...options.workflows,
      // With a lease, activities run only in the holder's activity worker.
      activities: leased ? undefined : options.activities,
      ...(leased ? {} : activitySlots(options)),
      maxCachedWorkflows: options.maxCachedWorkflows,
      ...(options.maxConcurrentWorkflowTasks === undefined ? {} : { maxConcurrentWorkflowTaskExecutions: options.maxConcurrentWorkflowTasks }),
      // A worker that dies leaves its cached workflows' next tasks on its sticky queue; the server
      // moves them to the shared queue after this long (SDK default 10 s). The activity lease is one
      // of them: its successor's claim waits that long, and so do the activities.
      stickyQueueScheduleToStartTimeout: STICKY_TIMEOUT_MS,
    });
    return new LeasedWorker(options, workflowWorker);
  }

  /** True while this process runs the activities (always, without a lease). */
  get runsActivities(): boolean {
    return this.lease ? this.activityWorker !== undefined : true;
  }

  /** Runs until shutdown(): the workflows, and the activities while this worker holds the lease. */
  async run(): Promise<void> {
    const workflows = this.workflowWorker.run();
    if (!this.lease) return workflows;
    const lease = this.lease.run();
    const activityWorkerDied = new Promise<never>((_, reject) => (this.activityWorkerDied = reject));
    try {
      await Promise.race([Promise.all([workflows, lease]), activityWorkerDied]);
    } catch (error) {
      // One side failed: stop the other, then report the failure.
      this.shutdown();
      await Promise.allSettled([workflows, lease]);
      throw error;
    }
  }

  /** Stops polling; running activities get the grace time; the lease is given back. */
  shutdown(): void {
    this.lease?.stop();
    if (this.workflowWorker.getState() === 'RUNNING') this.workflowWorker.shutdown();
  }

  private async startActivities(): Promise<void> {
    if (this.activityWorker) return;
    const worker = await Worker.create({ ...commonOptions(this.options), ...activitySlots(this.options), identity: `${this.identity}/activities`, activities: this.options.activities });
    const running = worker.run();
    this.activityWorker = { worker, running };
    // An activity worker that fails by itself would leave the lease held and no activities running:
    // the process fails instead, and another worker takes the lease.
    running.catch((error: unknown) => this.activityWorkerDied?.(error));
  }

  private async stopActivities(): Promise<void> {
    const current = this.activityWorker;
    if (!current) return;
    if (current.worker.getState() === 'RUNNING') current.worker.shutdown();
    await current.running.catch(() => undefined);
    this.activityWorker = undefined;
  }
}

function activitySlots(options: LeasedWorkerOptions) {
  return options.maxConcurrentActivities === undefined ? {} : { maxConcurrentActivityTaskExecutions: options.maxConcurrentActivities };
}

function commonOptions(options: LeasedWorkerOptions) {
  return {
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    shutdownGraceTime: options.shutdownGraceMs,
    dataConverter: options.dataConverter,
  };
}
