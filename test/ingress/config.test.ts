/**
 * What the ingress demands before it takes webhooks: secrets and Nexudus credentials outside
 * development, and the routes' behaviour when a secret is absent (development accepts unsigned
 * webhooks; a Kisi route without its key refuses everything elsewhere).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import request from 'supertest';
import { AccessMap } from '../../src/config/access-map';
import { ConfigError, parseEnv } from '../../src/config/env';
import { assembleIngress, type Ingress, type WebhookSecrets } from '../../src/ingress/assemble';
import { ingressConfigProblems, inboxPath, webhookSecretsFromEnv } from '../../src/ingress/from-env';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { freePort } from '../../src/temporal/binaries';
import { closeSafeInterceptors } from '../../src/temporal/connection';

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
      client: new Client({ connection }),
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
    const kisi = await request(app).post('/webhooks/kisi').set('Content-Type', 'application/json').send('{"type":"lock.lock_down"}');
    expect(kisi.status).toBe(202);
    const strict = build({ nexudus: 'n', kisi: undefined, acceptUnsigned: true }).app;
    expect((await request(strict).post('/webhooks/nexudus/TariffUpdate').set('Content-Type', 'application/json').send('[{"Id":1}]')).status).toBe(401);
  });
});
