/**
 * Puts the ingress together from explicit dependencies: inbox, translator, intake, forwarder,
 * routes and metrics around the app factory. src/ingress/from-env.ts feeds it the environment;
 * tests feed it sandboxes and a test server. The forwarder starts at once, so a backlog left by a
 * previous run starts moving as soon as the process is up.
 */
import type { Express, Router } from 'express';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { NexudusClient } from '../clients/nexudus';
import type { AccessMap } from '../config/access-map';
import type { ReloadOutcome } from '../config/access-map-source';
import { ReportRunner } from './reports';
import { ConfigError } from '../config/env';
import { SpecSource } from '../clients/nexudus-grant-specs';
import type { Logger } from '../config/logger';
import { createApp } from './app';
import { DeadLetters } from './dead-letters';
import { pokePassWatch } from '../temporal/starters';
import { dispatchPlan, type DispatchDeps } from './dispatch';
import { Forwarder, type ForwarderOptions } from './forwarder';
import { Inbox, type StoredEvent } from './inbox';
import { EventIntake } from './intake';
import { createIngressMetrics, type IngressMetrics } from './metrics';
import { PassWatchPoker } from './pass-poker';
import { entitiesOf, webhookBodySchema } from './nexudus-events';
import type { OperatorAccess } from './operator-auth';
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
  /** The file the access map is read from and how to reload it (the console's Setup saves and reloads it). */
  accessMapFile?: AccessMapFileAccess;
  taskQueue: string;
  inboxFile: string;
  secrets: WebhookSecrets;
  metrics?: IngressMetrics;
  /** Hot path: how long to wait for Temporal before queueing (ms, default 2 s). */
  hotPathDeadlineMs?: number;
  /** At most one pass-watcher poke per this many ms (default 1 s; src/ingress/pass-poker.ts). */
  passWatchPokeIntervalMs?: number;
  /** Forwarder: how long one delivery may take (ms, default 10 s). */
  forwarderDeadlineMs?: number;
  forwarder?: Pick<ForwarderOptions, 'concurrency' | 'initialBackoffMs' | 'maxBackoffMs' | 'idlePollMs' | 'purgeEveryMs'>;
  inboxLockTimeoutMs?: number;
  /** /healthz fails while the oldest queued event is older than this (ms, default 10 min: INBOX_MAX_AGE). */
  inboxMaxAgeMs?: number;
  /** Dead events are deleted this long after they died (ms, default 30 days: INBOX_DEAD_RETENTION). */
  deadRetentionMs?: number;
  /** Who may use the operator endpoints (default: nobody). */
  operatorAccess?: OperatorAccess;
  /** How long a report is answered from the cache (ms, default a minute). */
  reportCacheMs?: number;
  /** The codec endpoint for the Web UI: the process' codec (none without keys) and the UI origins. */
  codec?: { codec: PayloadCodec | undefined; corsOrigins: string[] };
  /**
   * The operator console (src/console/, which builds on the ingress, never the other way round):
   * its routes from the ingress' parts. No console unless given.
   */
  console?: (parts: IngressParts) => Router;
}

/** The access map's file, and the reload of the map in force in this process. */
export interface AccessMapFileAccess {
  file: string;
  reload(reason: string): ReloadOutcome;
}

/** What the console is built from: the ingress' own inbox, clients and rules. */
export interface IngressParts {
  logger: Logger;
  client: Client;
  taskQueue: string;
  operatorAccess: OperatorAccess;
  inbox: Inbox;
  /** Moves a retried dead event at once. */
  nudgeForwarder: () => void;
  accessMap: () => AccessMap;
  accessMapFile: AccessMapFileAccess | undefined;
  nexudus: NexudusClient | undefined;
  /** The reports' runner (one computation at a time, answers cached), shared with /reports. */
  reportRunner: ReportRunner;
  metrics: IngressMetrics;
  breaker: TemporalBreaker;
  health: () => string[];
}

export interface Ingress {
  app: Express;
  inbox: Inbox;
  forwarder: Forwarder;
  breaker: TemporalBreaker;
  metrics: IngressMetrics;
  /** Pokes the pass watcher on AccessControlUpdate (throttled). */
  passWatch: PassWatchPoker;
  /** What is wrong now (empty: healthy), as /healthz reports it. */
  health(): string[];
  /** Stops the forwarder (waiting for deliveries in flight) and closes the inbox. */
  close(): Promise<void>;
}

export function assembleIngress(options: IngressOptions): Ingress {
  const { logger, secrets } = options;
  if (secrets.nexudus === undefined && !secrets.acceptUnsigned) {
    throw new ConfigError(['NEXUDUS_WEBHOOK_SECRET: required (unsigned Nexudus webhooks are accepted in development only)']);
  }
  const metrics = options.metrics ?? createIngressMetrics();
  const inbox = Inbox.open(options.inboxFile, { lockTimeoutMs: options.inboxLockTimeoutMs, deadRetentionMs: options.deadRetentionMs });
  metrics.watchInbox(inbox);
  const breaker = new TemporalBreaker();
  const deadLetters = new DeadLetters(inbox, logger, metrics);
  const specs = new SpecSource({ nexudus: options.nexudus ?? missingNexudus(), accessMap: options.accessMap });
  const translator = new EventTranslator({ specs, nexudus: options.nexudus, accessMap: options.accessMap });
  const client = options.client;
  const passWatch = new PassWatchPoker({
    // Its own deadline: a Temporal that does not answer holds no webhook (the poke is off their path).
    send: () => client.connection.withDeadline(Date.now() + (options.forwarderDeadlineMs ?? 10_000), () => pokePassWatch(client, { taskQueue: options.taskQueue })),
    logger: logger.child({ component: 'pass-watch' }),
    intervalMs: options.passWatchPokeIntervalMs,
    onOutcome: (outcome) => metrics.passWatchPokes.inc({ outcome }),
  });
  const dispatch: DispatchDeps = { client, taskQueue: options.taskQueue, timeZone: () => options.accessMap().timeZone, passWatch };

  const forwarder = new Forwarder({
    inbox,
    breaker,
    deadLetters,
    logger: logger.child({ component: 'inbox' }),
    metrics,
    ...options.forwarder,
    deliver: async (event, signal) => {
      const plan = await translator.translate(storedToReceived(event));
      const outcome = await dispatchPlan(dispatch, plan, options.forwarderDeadlineMs ?? 10_000, signal);
      return { outcome, workflowId: planTarget(plan) };
    },
  });
  const intake = new EventIntake({ inbox, dispatch, breaker, deadLetters, onQueued: () => forwarder.nudge(), deadlineMs: options.hotPathDeadlineMs });

  const maxAgeMs = options.inboxMaxAgeMs ?? 600_000;
  const health = (): string[] => {
    const problems: string[] = [];
    const state = forwarder.health();
    if (!state.running) problems.push('the inbox forwarder is not running');
    if (state.failingSince !== null) problems.push(`the inbox forwarder has been failing for ${Math.round((Date.now() - state.failingSince) / 1000)} s: ${state.lastError ?? 'unknown error'}`);
    if (inbox.isClosed) return problems;
    try {
      const oldest = inbox.stats().oldestReceivedAt;
      if (oldest !== null && Date.now() - oldest > maxAgeMs) {
        problems.push(`the oldest queued event has waited ${Math.round((Date.now() - oldest) / 1000)} s (INBOX_MAX_AGE ${Math.round(maxAgeMs / 1000)} s)`);
      }
    } catch (error) {
      problems.push(`the inbox cannot be read: ${(error as Error).message}`);
    }
    return problems;
  };

  const reportRunner = new ReportRunner({ cacheMs: options.reportCacheMs });
  const parts: IngressParts = {
    logger: logger.child({ component: 'console' }),
    client,
    taskQueue: options.taskQueue,
    operatorAccess: options.operatorAccess ?? { mode: 'off' },
    inbox,
    nudgeForwarder: () => forwarder.nudge(),
    accessMap: options.accessMap,
    accessMapFile: options.accessMapFile,
    nexudus: options.nexudus,
    reportRunner,
    metrics,
    breaker,
    health,
  };

  const app = createApp({
    logger,
    reconcileReport: { client: options.client, taskQueue: options.taskQueue },
    isTemporalReachable: options.isTemporalReachable,
    operatorAccess: options.operatorAccess,
    reportRunner,
    health,
    metrics,
    inbox,
    breaker,
    nexudusWebhooks: { intake, translator, secret: secrets.nexudus, logger, metrics },
    kisiWebhooks: { intake, accessMap: options.accessMap, secret: secrets.kisi, acceptUnsigned: secrets.acceptUnsigned, logger, metrics },
    failedCheckins: { client: options.client, taskQueue: options.taskQueue, nexudus: options.nexudus, logger },
    deadEvents: { inbox, onRetried: () => forwarder.nudge() },
    codec: options.codec,
    console: options.console?.(parts),
  });
  forwarder.start();

  let closing: Promise<void> | undefined;
  return {
    app,
    inbox,
    forwarder,
    breaker,
    metrics,
    passWatch,
    health,
    close() {
      passWatch.close();
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
    throw new PermanentEventError('stored body is not JSON', 'unreadable-body');
  }
  if (event.source === 'kisi') return { source: 'kisi', action: event.action, record: json };
  const body = webhookBodySchema.safeParse(json);
  const record = body.success ? entitiesOf(body.data)[event.entityIndex] : undefined;
  if (record === undefined) throw new PermanentEventError(`stored body has no entity ${event.entityIndex}`, 'unreadable-body');
  return { source: 'nexudus', action: event.action, record };
}

/** Stands in for the client when none is configured: every read says why it cannot happen. */
function missingNexudus(): ConstructorParameters<typeof SpecSource>[0]['nexudus'] {
  const fail = () => Promise.reject(new Error('Nexudus credentials are not configured'));
  return { getBooking: fail, getContract: fail, getCoworkerTimePass: fail, listTimePasses: fail };
}
