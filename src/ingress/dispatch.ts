/**
 * Hands a delivery plan to Temporal through the shared starters in src/grants/deliver.ts, under a
 * deadline: a Temporal that does not answer must not hold a webhook sender for the client's
 * default retry budget (about 20 s), the event goes to the inbox instead.
 */
import type { Client } from '@temporalio/client';
import { deliverSpec, requestCustomerSync, startCheckin, type DeliveryOutcome } from '../grants/deliver';
import type { DeliveryPlan } from './translate';

export type DispatchOutcome = DeliveryOutcome | 'sync-requested' | 'checkin-started' | 'checkin-duplicate' | 'ignored';

export interface DispatchDeps {
  client: Client;
  taskQueue: string;
  /** The location's zone, for the grant summary in the Web UI. */
  timeZone: () => string;
}

/** Temporal did not accept the plan (unreachable, timed out, refused): try again later. */
export class TemporalDispatchError extends Error {
  constructor(override readonly cause: unknown) {
    super(`Temporal did not accept the delivery: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'TemporalDispatchError';
  }
}

/** `signal` aborts the calls in flight (the forwarder stopping: its event stays in the inbox). */
export async function dispatchPlan(deps: DispatchDeps, plan: DeliveryPlan, deadlineMs: number, signal?: AbortSignal): Promise<DispatchOutcome> {
  if (plan.kind === 'ignore') return 'ignored';
  const { client, taskQueue } = deps;
  const withSignal = <R>(fn: () => Promise<R>) => (signal ? client.connection.withAbortSignal(signal, fn) : fn());
  try {
    return await withSignal(() => client.connection.withDeadline(Date.now() + deadlineMs, async (): Promise<DispatchOutcome> => {
      switch (plan.kind) {
        case 'grant':
          return deliverSpec(client, plan.spec, { taskQueue, startEvenIfUnmapped: plan.startEvenIfUnmapped, timeZone: deps.timeZone() });
        case 'customer-sync':
          await requestCustomerSync(client, plan.customerId, plan.request, { taskQueue });
          return 'sync-requested';
        case 'checkin':
          return (await startCheckin(client, plan.input, { taskQueue })) === 'started' ? 'checkin-started' : 'checkin-duplicate';
      }
    }));
  } catch (error) {
    throw new TemporalDispatchError(error);
  }
}
