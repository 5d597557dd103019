/**
 * The ingress' dependencies from the environment: Temporal client (lazy: the ingress answers and
 * queues while Temporal is away), Nexudus client, access map, inbox under DATA_DIR, webhook
 * secrets. Configuration problems are collected and thrown together as a ConfigError, which the
 * entry point turns into exit status 78 with the variables named (never their values).
 */
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { nexudusClientFromEnv } from '../clients/from-env';
import { AccessMap } from '../config/access-map';
import { ConfigError, hasNexudusCredentials, type Env } from '../config/env';
import type { Logger } from '../logger';
import { connectClient, isTemporalReachable } from '../temporal/connection';
import { assembleIngress, type Ingress, type WebhookSecrets } from './assemble';

/** Where the inbox lives: back this file up with the rest of DATA_DIR. */
export function inboxPath(env: Pick<Env, 'DATA_DIR'>): string {
  return path.join(env.DATA_DIR, 'inbox.db');
}

function isDevelopment(env: Pick<Env, 'NODE_ENV'>): boolean {
  return env.NODE_ENV === 'development' || env.NODE_ENV === 'test';
}

/**
 * What must be configured before the ingress may take webhooks. Outside development an
 * unauthenticated webhook could grant door access, so the secrets are required: Nexudus' always,
 * Kisi's when a door checks customers in (otherwise Kisi events are refused anyway).
 */
export function ingressConfigProblems(env: Env, map: AccessMap): string[] {
  if (isDevelopment(env)) return [];
  const problems: string[] = [];
  if (!env.NEXUDUS_WEBHOOK_SECRET) {
    problems.push(`NEXUDUS_WEBHOOK_SECRET: required when NODE_ENV=${env.NODE_ENV} (the shared secret of the Nexudus webhooks; unsigned webhooks are accepted in development only)`);
  }
  if (!env.KISI_WEBHOOK_SECRET && map.mappedDoorIds().some((id) => map.doorAction(id) === 'checkin')) {
    problems.push(`KISI_WEBHOOK_SECRET: required when NODE_ENV=${env.NODE_ENV} and the access map checks customers in at a door (the signature key of the Kisi event webhook)`);
  }
  if (!hasNexudusCredentials(env)) {
    problems.push(`NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required when NODE_ENV=${env.NODE_ENV} (the ingress re-reads records and lists failed check-ins)`);
  }
  return problems;
}

export function webhookSecretsFromEnv(env: Env): WebhookSecrets {
  return { nexudus: env.NEXUDUS_WEBHOOK_SECRET, kisi: env.KISI_WEBHOOK_SECRET, acceptUnsigned: isDevelopment(env) };
}

/** Builds everything; throws ConfigError (or AccessMapError, InboxLockedError) when it cannot run. */
export function ingressFromEnv(env: Env, logger: Logger): { ingress: Ingress; connection: Connection } {
  const map = AccessMap.load(env.ACCESS_MAP);
  const problems = ingressConfigProblems(env, map);
  if (problems.length > 0) throw new ConfigError(problems);
  const secrets = webhookSecretsFromEnv(env);
  if (secrets.nexudus === undefined) logger.warn('NEXUDUS_WEBHOOK_SECRET is not set: Nexudus webhooks are accepted without a signature (development only)');
  if (secrets.kisi === undefined) logger.warn('KISI_WEBHOOK_SECRET is not set: Kisi events are accepted without a signature (development only)');
  const nexudus = hasNexudusCredentials(env) ? nexudusClientFromEnv(env) : undefined;
  if (!nexudus) logger.warn('NEXUDUS_USERNAME / NEXUDUS_PASSWORD are not set: events that need a re-read wait in the inbox (development only)');
  const { client, connection } = connectClient(env);
  const ingress = assembleIngress({
    logger,
    client,
    isTemporalReachable: () => isTemporalReachable(connection),
    nexudus,
    accessMap: () => map,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    inboxFile: inboxPath(env),
    secrets,
  });
  return { ingress, connection };
}
