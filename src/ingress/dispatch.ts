/**
 * Hands a delivery plan to Temporal through the shared starters in src/temporal/starters.ts, under a
 * deadline: a Temporal that does not answer must not hold a webhook sender for the client's
 * default retry budget (about 20 s), the event goes to the inbox instead.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Client } from '@temporalio/client';
import { deliverSpec, requestCustomerSync, startCheckin, type DeliveryOutcome } from '../temporal/starters';
import { PermanentEventError, type DeliveryPlan } from './translate';

export type DispatchOutcome = DeliveryOutcome | 'sync-requested' | 'checkin-started' | 'checkin-duplicate' | 'ignored';

export interface DispatchDeps {
  client: Client;
  taskQueue: string;
  /** The location's zone, for the grant summary in the Web UI. */
  timeZone: () => string;
  /**
   * Told of every `AccessControlUpdate` handed to Temporal: the pass watcher looks for passes
   * bought at the desk (throttled, never failing or delaying the webhook; src/ingress/pass-poker.ts).
   */
  passWatch?: { poke(): void };
}

/** Temporal did not accept the plan (unreachable, timed out, refused): try again later. */
export class TemporalDispatchError extends Error {
  constructor(override readonly cause: unknown) {
    super(`Temporal did not accept the delivery: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'TemporalDispatchError';
  }
}

/**
 * Temporal refused the delivery as invalid (INVALID_ARGUMENT: a value over a server limit, an
 * attribute the namespace does not know...). Sending it again gets the same answer, so it is dead,
 * with Temporal's words as its reason, instead of blocking its record's later events for good.
 * An operator retries it (`npm run inbox -- retry`) once the cause is fixed.
 */
export class TemporalRejectedError extends PermanentEventError {
  constructor(cause: unknown) {
    super(`Temporal refused the delivery as invalid: ${messageChain(cause)}`, 'temporal-invalid-argument');
    this.name = 'TemporalRejectedError';
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
          // Passes have no webhook: their customer's AccessControlUpdate is the sign (CoworkerUpdate
          // is about the person record). The poke goes off this path, at most once per 500 ms.
          if (plan.request.reason === 'AccessControlUpdate' && !plan.request.deleted) deps.passWatch?.poke();
          await requestCustomerSync(client, plan.customerId, plan.request, { taskQueue });
          return 'sync-requested';
        case 'checkin':
          return (await startCheckin(client, plan.input, { taskQueue })) === 'started' ? 'checkin-started' : 'checkin-duplicate';
      }
    }));
  } catch (error) {
    if (isInvalidArgument(error)) throw new TemporalRejectedError(error);
    throw new TemporalDispatchError(error);
  }
}

/** The gRPC status INVALID_ARGUMENT anywhere in the error's cause chain (the SDK wraps it). */
export function isInvalidArgument(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++, e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === grpcStatus.INVALID_ARGUMENT) return true;
  }
  return false;
}

function messageChain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++, e = (e as { cause?: unknown }).cause) {
    const message = e instanceof Error ? e.message : String(e);
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join(': ');
}
