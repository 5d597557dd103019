/**
 * The operator endpoints behind OPS_TOKEN (src/ingress/operator-auth.ts): 401 without or with a
 * wrong token, served with it; off (404) in production without a token; loopback clients only in
 * development without one. The dead-event routes and the codec endpoint (CORS, the token in its
 * path for the Web UI) on a real inbox file and the real codec. /healthz, /readyz and /metrics stay
 * open.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { defaultPayloadConverter } from '@temporalio/common';
import pino from 'pino';
import request from 'supertest';
import { AccessMap } from '../../src/config/access-map';
import { assembleIngress, type Ingress } from '../../src/ingress/assemble';
import { createIngressMetrics } from '../../src/ingress/metrics';
import { announceOperatorAccess, type OperatorAccess } from '../../src/ingress/operator-auth';
import { freePort } from '../../dev/lib/ports';
import { lazyConnection, newClient } from '../../src/temporal/connection';
import { AesGcmPayloadCodec, PayloadKeyRing } from '../../src/temporal/payload-codec';

const TOKEN = 'operators-test-token-0123456789';
const ring = new PayloadKeyRing([Buffer.alloc(32, 7)]);
const codec = new AesGcmPayloadCodec(ring);
const UI = 'http://localhost:8233';

let dir: string;
let unreachable: string;
const built: Ingress[] = [];
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operators-'));
  unreachable = `127.0.0.1:${await freePort()}`;
});
afterAll(async () => {
  for (const ingress of built) await ingress.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function build(access: OperatorAccess): Ingress {
  const ingress = assembleIngress({
    logger: pino({ level: 'silent' }),
    client: newClient(lazyConnection(unreachable)),
    isTemporalReachable: async () => false,
    nexudus: undefined,
    accessMap: () => AccessMap.parse({ kisiPlaceId: 1 }),
    taskQueue: 'q',
    inboxFile: path.join(dir, `${built.length}.db`),
    secrets: { nexudus: 'n', kisi: 'k', acceptUnsigned: false },
    metrics: createIngressMetrics({ defaultMetrics: false }),
    operatorAccess: access,
    codec: { codec, corsOrigins: [UI] },
  });
  built.push(ingress);
  return ingress;
}

const OPERATOR_ROUTES: Array<['get' | 'post' | 'delete', string]> = [
  ['get', '/reports/failed-checkins'],
  ['get', '/reports/reconcile'],
  ['get', '/reports/dead-events'],
  ['get', '/reports/dead-events/1'],
  ['post', '/ops/dead-events/1/retry'],
  ['delete', '/ops/dead-events/1'],
  ['post', '/codec/decode'],
  ['get', '/reports/anything-added-later'],
];

describe('with OPS_TOKEN', () => {
  let ingress: Ingress;
  beforeAll(() => {
    ingress = build({ mode: 'token', token: TOKEN });
  });

  test.each(OPERATOR_ROUTES)('%s %s: 401 JSON without the token or with a wrong one', async (method, route) => {
    for (const auth of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`]) {
      const req = request(ingress.app)[method](route);
      const res = await (auth ? req.set('Authorization', auth) : req);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer realm="operator"');
      expect(res.body).toEqual({ error: 'unauthorized', details: { reason: expect.any(String) } });
    }
  });

  test('with the token: dead events are listed, shown, retried and dropped', async () => {
    const event = { entityKey: 'booking-5', source: 'nexudus' as const, action: 'BookingUpdate', body: '{"Id":5}', entityIndex: 0, receivedAt: Date.now(), requestId: 'r1' };
    const kept = ingress.inbox.enqueueDead(event, 'invalid BookingUpdate body', 'invalid-entity');
    const unkept = ingress.inbox.enqueueDead({ ...event, entityKey: 'nexudus-unreadable' }, 'the body is not JSON', 'not-json', { bodyKept: false });
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const list = await request(ingress.app).get('/reports/dead-events').set(auth);
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ total: 2, next: null, retentionDays: 30, items: [{ id: unkept, bodyKept: false }, { id: kept, entityKey: 'booking-5', cause: 'invalid-entity' }] });
    expect((await request(ingress.app).get('/reports/dead-events').query({ limit: 1 }).set(auth)).body).toMatchObject({ items: [{ id: unkept }], next: unkept });
    expect((await request(ingress.app).get(`/reports/dead-events/${kept}`).set(auth)).body).toMatchObject({ id: kept, status: 'dead', body: '{"Id":5}' });
    expect((await request(ingress.app).get('/reports/dead-events').query({ limit: 'x' }).set(auth)).status).toBe(400);

    expect((await request(ingress.app).post(`/ops/dead-events/${unkept}/retry`).set(auth)).status).toBe(409);
    const retried = await request(ingress.app).post(`/ops/dead-events/${kept}/retry`).set(auth);
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ id: kept, retried: true, event: { status: 'pending' } });
    expect((await request(ingress.app).post(`/ops/dead-events/${kept}/retry`).set(auth)).status).toBe(404);
    expect((await request(ingress.app).delete(`/ops/dead-events/${unkept}`).set(auth)).body).toEqual({ id: unkept, dropped: true });
    expect((await request(ingress.app).delete(`/ops/dead-events/${unkept}`).set(auth)).status).toBe(404);
  });

  test('/healthz, /readyz and /metrics stay open, and /readyz names no event', async () => {
    expect((await request(ingress.app).get('/healthz')).status).not.toBe(401);
    const ready = await request(ingress.app).get('/readyz');
    expect(ready.status).toBe(503); // Temporal is unreachable here; what matters: no 401, counts only
    expect(Object.keys(ready.body.inbox).sort()).toEqual(['backlog', 'dead', 'entities', 'oldestAgeSeconds', 'temporalBreaker']);
    expect((await request(ingress.app).get('/metrics')).status).toBe(200);
  });

  test('the codec endpoint decodes what the codec sealed, with the token in the header or in its path; CORS for the UI only', async () => {
    const [sealed] = await codec.encode([defaultPayloadConverter.toPayload({ customerName: 'Ada Lovelace' })]);
    const wire = { payloads: [{ metadata: Object.fromEntries(Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(sealed!.data!).toString('base64') }] };
    const fromWire = (body: { payloads: Array<{ metadata: Record<string, string>; data: string }> }) =>
      defaultPayloadConverter.fromPayload({
        metadata: Object.fromEntries(Object.entries(body.payloads[0]!.metadata).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
        data: new Uint8Array(Buffer.from(body.payloads[0]!.data, 'base64')),
      });
    const byHeader = await request(ingress.app).post('/codec/decode').set('Authorization', `Bearer ${TOKEN}`).set('X-Namespace', 'default').send(wire);
    expect(byHeader.status).toBe(200);
    expect(fromWire(byHeader.body)).toEqual({ customerName: 'Ada Lovelace' });
    const byPath = await request(ingress.app).post(`/codec/${TOKEN}/decode`).set('Origin', UI).send(wire);
    expect(byPath.status).toBe(200);
    expect(byPath.headers['access-control-allow-origin']).toBe(UI);
    expect(fromWire(byPath.body)).toEqual({ customerName: 'Ada Lovelace' });
    expect((await request(ingress.app).post('/codec/not-the-token/decode').send(wire)).status).toBe(401);

    const preflight = await request(ingress.app).options('/codec/decode').set('Origin', UI).set('Access-Control-Request-Method', 'POST');
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': UI, 'access-control-allow-headers': expect.stringContaining('X-Namespace') });
    const stranger = await request(ingress.app).options('/codec/decode').set('Origin', 'https://evil.example').set('Access-Control-Request-Method', 'POST');
    expect(stranger.status).toBe(403);
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
  });
});

test('production without OPS_TOKEN: every operator endpoint is off (404, like an unknown route), and the log says so once', async () => {
  const ingress = build({ mode: 'off' });
  for (const [method, route] of OPERATOR_ROUTES) {
    const res = await request(ingress.app)[method](route).set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toBe('not found');
  }
  const lines: string[] = [];
  announceOperatorAccess({ mode: 'off' }, pino({ level: 'info' }, { write: (l: string) => void lines.push(l) }));
  expect(lines.map((l) => JSON.parse(l).msg)).toEqual([expect.stringMatching(/OPS_TOKEN is not set: the operator endpoints .* are off \(404\)/)]);
});

test('development without OPS_TOKEN: loopback clients are served, any other address gets 403', async () => {
  const ingress = build({ mode: 'loopback' });
  expect((await request(ingress.app).get('/reports/dead-events')).status).toBe(200);
  const external = Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!external) return; // no other interface on this machine: nothing more to show
  const server = http.createServer(ingress.app);
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  try {
    const res = await fetch(`http://${external.address}:${(server.address() as AddressInfo).port}/reports/dead-events`);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'forbidden', details: { reason: expect.stringContaining('loopback clients only') } });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
