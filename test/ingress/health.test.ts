/** /healthz and /readyz of the ingress app factory (src/ingress/app.ts). */
import request from 'supertest';
import pino from 'pino';
import { createApp } from '../../src/ingress/app';

const logger = pino({ level: 'silent' });

test('/healthz is 200 whatever Temporal does', async () => {
  const app = createApp({ logger, isTemporalReachable: () => Promise.reject(new Error('down')) });
  const response = await request(app).get('/healthz');
  expect(response.status).toBe(200);
  expect(response.body).toEqual({ status: 'ok' });
});

test('/healthz is 503 with the problems while the process reports any (forwarder down, inbox stale), 200 again after', async () => {
  let problems = ['the inbox forwarder is not running'];
  const app = createApp({ logger, isTemporalReachable: async () => true, health: () => problems });
  const red = await request(app).get('/healthz');
  expect(red.status).toBe(503);
  expect(red.body).toEqual({ status: 'unhealthy', problems: ['the inbox forwarder is not running'] });
  problems = [];
  expect((await request(app).get('/healthz')).status).toBe(200);
});

test('/readyz follows Temporal reachability, with a JSON body either way', async () => {
  let reachable = true;
  const app = createApp({ logger, isTemporalReachable: async () => reachable });
  const up = await request(app).get('/readyz');
  expect(up.status).toBe(200);
  expect(up.body).toEqual({ status: 'ready', temporal: 'reachable' });
  reachable = false;
  const down = await request(app).get('/readyz');
  expect(down.status).toBe(503);
  expect(down.body).toEqual({ status: 'not-ready', temporal: 'unreachable' });
});

test('/readyz treats a failing health check as not ready rather than a 500', async () => {
  const app = createApp({ logger, isTemporalReachable: () => Promise.reject(new Error('boom')) });
  expect((await request(app).get('/readyz')).status).toBe(503);
});
