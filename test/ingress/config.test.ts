/**
 * What the ingress demands before it takes webhooks: secrets and Nexudus credentials outside
 * development, and the routes' behaviour when a secret is absent (development accepts unsigned
 * webhooks; a Kisi route without its key refuses everything elsewhere).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import { AccessMap } from '../../src/config/access-map';
import { ConfigError, parseEnv } from '../../src/config/env';
import { assembleIngress, type Ingress, type WebhookSecrets } from '../../src/ingress/assemble';
import { codecCorsOrigins, ingressConfigProblems, inboxPath, listenHost, webhookSecretsFromEnv } from '../../src/ingress/from-env';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { freePort } from '../../dev/lib/ports';
import { closeSafeInterceptors, newClient } from '../../src/temporal/connection';

const withCheckinDoor = AccessMap.parse({ kisiPlaceId: 1, nexudusBusinessId: 1, doors: { 1001: { onUnlock: 'checkin' } } });
const withoutDoors = AccessMap.parse({ kisiPlaceId: 1 });

test('production without secrets or credentials: every missing variable named, with why', () => {
  const problems = ingressConfigProblems(parseEnv({ NODE_ENV: 'production' }), withCheckinDoor);
  expect(problems).toEqual([
    expect.stringMatching(/^NEXUDUS_WEBHOOK_SECRET: required when NODE_ENV=production/),
    expect.stringMatching(/^KISI_WEBHOOK_SECRET: required when NODE_ENV=production and the access map checks customers in/),
    expect.stringMatching(/^NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required/),
  ]);
});

test('production without check-in doors needs no Kisi key; development needs nothing', () => {
  const env = parseEnv({ NODE_ENV: 'production', NEXUDUS_WEBHOOK_SECRET: 's', NEXUDUS_USERNAME: 'u', NEXUDUS_PASSWORD: 'p' });
  expect(ingressConfigProblems(env, withoutDoors)).toEqual([]);
  expect(ingressConfigProblems(env, withCheckinDoor)).toEqual([expect.stringMatching(/^KISI_WEBHOOK_SECRET/)]);
  expect(ingressConfigProblems(parseEnv({ NODE_ENV: 'development' }), withCheckinDoor)).toEqual([]);
  expect(webhookSecretsFromEnv(parseEnv({ NODE_ENV: 'development' }))).toEqual({ nexudus: undefined, kisi: undefined, acceptUnsigned: true });
  expect(webhookSecretsFromEnv(env)).toMatchObject({ nexudus: 's', acceptUnsigned: false });
  expect(inboxPath(parseEnv({ DATA_DIR: '/var/lib/access' }))).toBe('/var/lib/access/inbox.db');
});

test('development with real credentials is held to production\'s rules; the sandboxes\' own credentials are not real', () => {
  const realKisi = parseEnv({ NODE_ENV: 'development', KISI_API_KEY: 'live-key' });
  expect(ingressConfigProblems(realKisi, withCheckinDoor)).toEqual([
    expect.stringMatching(/^NEXUDUS_WEBHOOK_SECRET: required when NODE_ENV=development with real Kisi or Nexudus credentials configured/),
    expect.stringMatching(/^KISI_WEBHOOK_SECRET: required/),
    expect.stringMatching(/^NEXUDUS_USERNAME and NEXUDUS_PASSWORD: required/),
  ]);
  expect(webhookSecretsFromEnv(realKisi).acceptUnsigned).toBe(false);
  const realNexudus = parseEnv({ NODE_ENV: 'development', NEXUDUS_USERNAME: 'me@space.example', NEXUDUS_PASSWORD: 'x' });
  expect(ingressConfigProblems(realNexudus, withoutDoors)).toEqual([expect.stringMatching(/^NEXUDUS_WEBHOOK_SECRET/)]);
  const sandboxes = parseEnv({ NODE_ENV: 'development', KISI_API_KEY: 'sandbox-api-key', NEXUDUS_USERNAME: 'sandbox@nexudus.invalid', NEXUDUS_PASSWORD: 'sandbox-password' });
  expect(ingressConfigProblems(sandboxes, withCheckinDoor)).toEqual([]);
  expect(webhookSecretsFromEnv(sandboxes).acceptUnsigned).toBe(true);
});

test('the ingress binds loopback in development unless HOST says otherwise; every interface in production', () => {
  expect(listenHost(parseEnv({ NODE_ENV: 'development' }))).toBe('127.0.0.1');
  expect(listenHost(parseEnv({ NODE_ENV: 'development', HOST: '0.0.0.0' }))).toBe('0.0.0.0');
  expect(listenHost(parseEnv({ NODE_ENV: 'production' }))).toBeUndefined();
  expect(listenHost(parseEnv({ NODE_ENV: 'production', HOST: '10.0.0.5' }))).toBe('10.0.0.5');
});

test('codec CORS: the configured origins, else the dev server\'s UI in development and none in production', () => {
  expect(codecCorsOrigins(parseEnv({ CODEC_CORS_ORIGINS: 'https://temporal.example, http://localhost:8080' }))).toEqual(['https://temporal.example', 'http://localhost:8080']);
  expect(codecCorsOrigins(parseEnv({ NODE_ENV: 'development', TEMPORAL_UI_PORT: '8999' }))).toEqual(['http://localhost:8999', 'http://127.0.0.1:8999']);
  expect(codecCorsOrigins(parseEnv({ NODE_ENV: 'production' }))).toEqual([]);
});

test('production refuses http:// API base URLs except on loopback; a short OPS_TOKEN is refused', () => {
  expect(() => parseEnv({ NODE_ENV: 'production', KISI_BASE_URL: 'http://api.kisi.io' })).toThrow(/KISI_BASE_URL: expected an https:\/\/ URL/);
  expect(parseEnv({ NODE_ENV: 'production', KISI_BASE_URL: 'http://localhost:4010', NEXUDUS_BASE_URL: 'http://127.0.0.1:4020/api' }).KISI_BASE_URL).toBe('http://localhost:4010');
  expect(parseEnv({ NODE_ENV: 'development', KISI_BASE_URL: 'http://kisi.test' }).KISI_BASE_URL).toBe('http://kisi.test');
  expect(() => parseEnv({ OPS_TOKEN: 'short' })).toThrow(/OPS_TOKEN: expected at least 16 characters/);
});

describe('routes without secrets', () => {
  let dir: string;
  let connection: Connection;
  const built: Ingress[] = [];
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingress-config-'));
    // A real client pointed at a port nobody listens on: these requests never reach Temporal.
    connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, interceptors: closeSafeInterceptors() });
  });
  afterAll(async () => {
    for (const ingress of built) await ingress.close();
    await connection.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function build(secrets: WebhookSecrets): Ingress {
    const ingress = assembleIngress({
      logger: pino({ level: 'silent' }),
      client: newClient(connection),
      isTemporalReachable: async () => false,
      nexudus: undefined,
      accessMap: () => withCheckinDoor,
      taskQueue: 'q',
      inboxFile: path.join(dir, `${built.length}.db`),
      secrets,
      metrics: createIngressMetrics({ defaultMetrics: false }),
    });
    built.push(ingress);
    return ingress;
  }

  test('no Nexudus secret and not development: refused at assembly', () => {
    expect(() => build({ nexudus: undefined, kisi: 'k', acceptUnsigned: false })).toThrow(ConfigError);
  });

  test('no Kisi key outside development: every Kisi event is refused (401), naming the variable', async () => {
    const { app } = build({ nexudus: 'n', kisi: undefined, acceptUnsigned: false });
    const res = await request(app).post('/webhooks/kisi').set('Content-Type', 'application/json').send('{"type":"lock.unlock"}');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'kisi webhooks are not configured', details: { reason: 'KISI_WEBHOOK_SECRET is not set' } });
  });

  test('development without secrets accepts unsigned webhooks; a configured secret is still enforced', async () => {
    const { app } = build({ nexudus: undefined, kisi: undefined, acceptUnsigned: true });
    const nexudus = await request(app).post('/webhooks/nexudus/TariffUpdate').set('Content-Type', 'application/json').send('[{"Id":1}]');
    expect(nexudus.status).toBe(202);
    expect(nexudus.body).toMatchObject({ result: 'dead', reason: expect.stringContaining('TariffUpdate is not handled') });
    const kisi = await request(app).post('/webhooks/kisi').set('Content-Type', 'application/json').send('{"type":"lock.lock_down"}');
    expect(kisi.status).toBe(202);
    const strict = build({ nexudus: 'n', kisi: undefined, acceptUnsigned: true }).app;
    expect((await request(strict).post('/webhooks/nexudus/TariffUpdate').set('Content-Type', 'application/json').send('[{"Id":1}]')).status).toBe(401);
  });
});
