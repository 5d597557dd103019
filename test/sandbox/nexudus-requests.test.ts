/**
 * The Nexudus sandbox's request log (as the Kisi sandbox's): every API call with its arrival time,
 * route (ids folded) and status, control routes left out. Benchmarks read the pacing from it.
 */
import request from 'supertest';
import { createNexudusSandbox, DEFAULT_SANDBOX_USER } from '../../dev/sandbox/nexudus';

const BASIC = `Basic ${Buffer.from(`${DEFAULT_SANDBOX_USER.username}:${DEFAULT_SANDBOX_USER.password}`).toString('base64')}`;

test('API calls are logged in arrival order with their route and status; control routes are not', async () => {
  const sandbox = createNexudusSandbox({ rateLimit: false });
  const before = Date.now();
  await request(sandbox.app).get('/api/spaces/coworkers/2000001').set('Authorization', BASIC).expect(200);
  await request(sandbox.app).get('/__sandbox/state').expect(200);
  await request(sandbox.app).get('/api/spaces/coworkers/999').set('Authorization', BASIC).expect(404);
  expect(sandbox.requests.map(({ method, route, status }) => ({ method, route, status }))).toEqual([
    { method: 'GET', route: '/api/spaces/coworkers/{id}', status: 200 },
    { method: 'GET', route: '/api/spaces/coworkers/{id}', status: 404 },
  ]);
  expect(sandbox.requests[0]!.at).toBeGreaterThanOrEqual(before);
  expect(sandbox.requests[1]!.at).toBeGreaterThanOrEqual(sandbox.requests[0]!.at);
  sandbox.reset();
  expect(sandbox.requests).toEqual([]);
});
