/**
 * The ingress' dependencies from the environment: Temporal client (lazy: the ingress answers and
 * queues while Temporal is away), Nexudus client, access map, inbox under DATA_DIR, webhook
 * secrets, operator token, payload codec. Configuration problems are collected and thrown together
 * as a ConfigError, which the entry point turns into exit status 78 with the variables named (never
 * their values).
 */
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import { nexudusClientFromEnv } from '../clients/from-env';
import type { AccessMap } from '../config/access-map';
import { AccessMapSource } from '../config/access-map-source';
import { ConfigError, hasNexudusCredentials, isDevelopment, type Env } from '../config/env';
import type { Logger } from '../config/logger';
import { hasRealCredentials } from '../config/local-sandboxes';
import { connectClient, isTemporalReachable } from '../temporal/connection';
import { AesGcmPayloadCodec, payloadKeysOf } from '../temporal/payload-codec';
import { assembleIngress, type Ingress, type IngressOptions, type WebhookSecrets } from './assemble';
import { announceOperatorAccess, operatorAccess } from './operator-auth';

/** Where the inbox lives: back this file up with the rest of DATA_DIR. */
export function inboxPath(env: Pick<Env, 'DATA_DIR'>): string {
  return path.join(env.DATA_DIR, 'inbox.db');
}

/**
 * Development without real credentials: the sandboxes only, so unsigned webhooks may be tried by
 * hand. With a real Kisi key or real Nexudus credentials configured, development is held to
 * production's rules: an unsigned webhook could then open real doors.
 */
function relaxed(env: Env): boolean {
  return isDevelopment(env) && !hasRealCredentials(env);
}

/**
 * What must be configured before the ingress may take webhooks. Outside relaxed development an
 * unauthenticated webhook could grant door access, so the secrets are required: Nexudus' always,
 * Kisi's when a door checks customers in (otherwise Kisi events are refused anyway).
 */
export function ingressConfigProblems(env: Env, map: AccessMap): string[] {
  if (relaxed(env)) return [];
  const why = isDevelopment(env) ? `NODE_ENV=${env.NODE_ENV} with real Kisi or Nexudus credentials configured` : `NODE_ENV=${env.NODE_ENV}`;
  const problems: string[] = [];
  if (!env.NEXUDUS_WEBHOOK_SECRET) {
    problems.push(`NEXUDUS_WEBHOOK_SECRET: required when ${why} (the shared secret of the Nexudus webhooks; unsigned webhooks are accepted only in development against the sandboxes)`);
  }
  if (!env.KISI_WEBHOOK_SECRET && map.mappedDoorIds().some((id) => map.doorAction(id) === 'checkin')) {
    problems.push(`KISI_WEBHOOK_SECRET: required when ${why} and the access map checks customers in at a door (the signature key of the Kisi event webhook)`);
  }
  if (!hasNexudusCredentials(env)) {
    problems.push(`NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required when ${why} (the ingress re-reads records and lists failed check-ins)`);
  }
  return problems;
}

export function webhookSecretsFromEnv(env: Env): WebhookSecrets {
  return { nexudus: env.NEXUDUS_WEBHOOK_SECRET, kisi: env.KISI_WEBHOOK_SECRET, acceptUnsigned: relaxed(env) };
}

/** The interface the ingress binds: HOST, else loopback in development and every interface otherwise. */
export function listenHost(env: Pick<Env, 'HOST' | 'NODE_ENV'>): string | undefined {
  return env.HOST ?? (isDevelopment(env) ? '127.0.0.1' : undefined);
}

/** Browser origins allowed to call the codec endpoint: CODEC_CORS_ORIGINS, else in development the dev server's UI. */
export function codecCorsOrigins(env: Pick<Env, 'CODEC_CORS_ORIGINS' | 'NODE_ENV' | 'TEMPORAL_UI_PORT'>): string[] {
  if (env.CODEC_CORS_ORIGINS !== undefined) return env.CODEC_CORS_ORIGINS.split(',').map((o) => o.trim()).filter((o) => o.length > 0);
  return isDevelopment(env) ? [`http://localhost:${env.TEMPORAL_UI_PORT}`, `http://127.0.0.1:${env.TEMPORAL_UI_PORT}`] : [];
}

/** Where operators open the Temporal Web UI: TEMPORAL_UI_URL, else in development the dev server's UI. */
export function temporalUiUrl(env: Pick<Env, 'TEMPORAL_UI_URL' | 'NODE_ENV' | 'TEMPORAL_UI_PORT'>): string | undefined {
  return env.TEMPORAL_UI_URL ?? (isDevelopment(env) ? `http://localhost:${env.TEMPORAL_UI_PORT}` : undefined);
}

/**
 * Builds everything; throws ConfigError (or AccessMapError, InboxLockedError) when it cannot run.
 * The access map is read through a reloadable source: the caller decides when it reloads.
 */
export function ingressFromEnv(env: Env, logger: Logger, extras: Pick<IngressOptions, 'console'> = {}): { ingress: Ingress; connection: Connection; accessMap: AccessMapSource } {
  const accessMap = new AccessMapSource(env.ACCESS_MAP, logger);
  const problems = ingressConfigProblems(env, accessMap.get());
  if (problems.length > 0) throw new ConfigError(problems);
  const secrets = webhookSecretsFromEnv(env);
  if (secrets.nexudus === undefined) logger.warn('NEXUDUS_WEBHOOK_SECRET is not set: Nexudus webhooks are accepted without a signature (development only)');
  if (secrets.kisi === undefined) logger.warn(`KISI_WEBHOOK_SECRET is not set: Kisi events are ${secrets.acceptUnsigned ? 'accepted without a signature (development only)' : 'refused'}`);
  // Least privilege: the ingress never calls Kisi, so it should not hold the organization's key.
  if (env.KISI_API_KEY !== undefined) logger.warn('KISI_API_KEY is set for the ingress, which never calls Kisi: remove it from the ingress\' environment');
  const nexudus = hasNexudusCredentials(env) ? nexudusClientFromEnv(env) : undefined;
  if (!nexudus) logger.warn('NEXUDUS_USERNAME / NEXUDUS_PASSWORD are not set: events that need a re-read wait in the inbox (development only)');
  const { client, connection } = connectClient(env);
  const keys = payloadKeysOf(client);
  const access = operatorAccess(env.OPS_TOKEN, isDevelopment(env));
  announceOperatorAccess(access, logger);
  const ingress = assembleIngress({
    logger,
    client,
    isTemporalReachable: () => isTemporalReachable(connection),
    nexudus,
    accessMap: accessMap.get,
    accessMapFile: { file: accessMap.file, reload: (reason) => accessMap.reload(reason) },
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    inboxFile: inboxPath(env),
    secrets,
    inboxMaxAgeMs: env.INBOX_MAX_AGE,
    deadRetentionMs: env.INBOX_DEAD_RETENTION,
    operatorAccess: access,
    codec: { codec: keys ? new AesGcmPayloadCodec(keys) : undefined, corsOrigins: codecCorsOrigins(env) },
    console: extras.console,
  });
  return { ingress, connection, accessMap };
}
