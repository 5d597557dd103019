/**
 * Puts the ingress together from explicit dependencies: inbox, translator, intake, forwarder,
 * routes and metrics around the app factory. src/ingress/from-env.ts feeds it the environment;
 * tests feed it sandboxes and a test server. The forwarder starts at once, so a backlog left by a
 * previous run starts moving as soon as the process is up.
 */
import type { Express } from 'express';
import type { Client } from '@temporalio/client';
import type { NexudusClient } from '../clients/nexudus';
import type { AccessMap } from '../config/access-map';
import { ConfigError } from '../config/env';
import { SpecSource } from '../grants/specs';
import type { Logger } from '../logger';
import { createApp } from './app';
import { dispatchPlan, type DispatchDeps } from './dispatch';
import { Forwarder, type ForwarderOptions } from './forwarder';
import { Inbox, type StoredEvent } from './inbox';
import { EventIntake } from './intake';
import { createIngressMetrics, type IngressMetrics } from './metrics';
import { entitiesOf, webhookBodySchema } from './nexudus-events';
import { TemporalBreaker } from './temporal-breaker';
import { EventTranslator, PermanentEventError, planTarget, type ReceivedEvent } from './translate';

export interface WebhookSecrets {
  nexudus: string | undefined;
  kisi: string | undefined;
  /** Development only: accept webhooks without a signature when no secret is configured. */
  acceptUnsigned: boolean;
}

export interface IngressOptions {
  logger: Logger;
  client: Client;
  isTemporalReachable: () => Promise<boolean>;
  /** Undefined only in development without Nexudus credentials: re-reads and the report then fail. */
  nexudus: NexudusClient | undefined;
  accessMap: () => AccessMap;
  taskQueue: string;
  inboxFile: string;
  secrets: WebhookSecrets;
  metrics?: IngressMetrics;
  /** Hot path: how long to wait for Temporal before queueing (ms, default 2 s). */
  hotPathDeadlineMs?: number;
  /** Forwarder: how long one delivery may take (ms, default 10 s). */
  forwarderDeadlineMs?: number;
  forwarder?: Pick<ForwarderOptions, 'concurrency' | 'initialBackoffMs' | 'maxBackoffMs' | 'idlePollMs'>;
  inboxLockTimeoutMs?: number;
}

export interface Ingress {
  app: Express;
  inbox: Inbox;
  forwarder: Forwarder;
  breaker: TemporalBreaker;
  metrics: IngressMetrics;
  /** Stops the forwarder (waiting for deliveries in flight) and closes the inbox. */
  close(): Promise<void>;
}

export function assembleIngress(options: IngressOptions): Ingress {
  const { logger, secrets } = options;
  if (secrets.nexudus === undefined && !secrets.acceptUnsigned) {
    throw new ConfigError(['NEXUDUS_WEBHOOK_SECRET: required (unsigned Nexudus webhooks are accepted in development only)']);
  }
  const metrics = options.metrics ?? createIngressMetrics();
  const inbox = Inbox.open(options.inboxFile, { lockTimeoutMs: options.inboxLockTimeoutMs });
  metrics.watchInbox(inbox);
  const breaker = new TemporalBreaker();
  const specs = new SpecSource({ nexudus: options.nexudus ?? missingNexudus(), accessMap: options.accessMap });
  const translator = new EventTranslator({ specs, nexudus: options.nexudus, accessMap: options.accessMap });
  const dispatch: DispatchDeps = { client: options.client, taskQueue: options.taskQueue, timeZone: () => options.accessMap().timeZone };

  const forwarder = new Forwarder({
    inbox,
    breaker,
    logger: logger.child({ component: 'inbox' }),
    metrics,
    ...options.forwarder,
    deliver: async (event, signal) => {
      const plan = await translator.translate(storedToReceived(event));
      const outcome = await dispatchPlan(dispatch, plan, options.forwarderDeadlineMs ?? 10_000, signal);
      return { outcome, workflowId: planTarget(plan) };
    },
  });
  const intake = new EventIntake({ inbox, dispatch, breaker, onQueued: () => forwarder.nudge(), deadlineMs: options.hotPathDeadlineMs });

  const app = createApp({
    logger,
    client: options.client,
    taskQueue: options.taskQueue,
    isTemporalReachable: options.isTemporalReachable,
    metrics,
    inbox,
    breaker,
    nexudusWebhooks: { intake, translator, secret: secrets.nexudus, logger, metrics },
    kisiWebhooks: { intake, accessMap: options.accessMap, secret: secrets.kisi, acceptUnsigned: secrets.acceptUnsigned, logger, metrics },
    failedCheckins: { client: options.client, nexudus: options.nexudus, logger },
  });
  forwarder.start();

  let closing: Promise<void> | undefined;
  return {
    app,
    inbox,
    forwarder,
    breaker,
    metrics,
    close() {
      closing ??= forwarder.stop().finally(() => inbox.close());
      return closing;
    },
  };
}

/** The stored raw body back to the one entity it carried; unreadable bodies are poison. */
export function storedToReceived(event: StoredEvent): ReceivedEvent {
  let json: unknown;
  try {
    json = JSON.parse(event.body);
  } catch {
    throw new PermanentEventError('stored body is not JSON');
  }
  if (event.source === 'kisi') return { source: 'kisi', action: event.action, record: json };
  const body = webhookBodySchema.safeParse(json);
  const record = body.success ? entitiesOf(body.data)[event.entityIndex] : undefined;
  if (record === undefined) throw new PermanentEventError(`stored body has no entity ${event.entityIndex}`);
  return { source: 'nexudus', action: event.action, record };
}

/** Stands in for the client when none is configured: every read says why it cannot happen. */
function missingNexudus(): ConstructorParameters<typeof SpecSource>[0]['nexudus'] {
  const fail = () => Promise.reject(new Error('Nexudus credentials are not configured'));
  return { getBooking: fail, getContract: fail, getCoworkerTimePass: fail, listTimePasses: fail };
}
