/**
 * Personal data in Temporal, encrypted (TEMPORAL_PAYLOAD_KEY): a booking webhook through the
 * ingress, granted by the worker, both with the payload codec. The grant's and its membership's
 * histories, as `temporal workflow show --output json` prints them, hold no email or name in clear
 * (payload data decoded and searched); CustomerEmail is the keyed hash, which `grants list --email`
 * finds; `grants show` still finds the Kisi user; the codec endpoint gives the Web UI the input.
 */
import { membershipWorkflowId } from '../../src/domain/ids';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import request from 'supertest';
import { randomBytes } from 'node:crypto';
import { CustomerEmail } from '../../src/domain/search-attributes';
import { listGrants, showGrant } from '../../src/ops/grant-commands';
import { binLinkPath } from '../../dev/temporal-binaries';
import { PayloadKeyRing, searchableEmail } from '../../src/temporal/payload-codec';
import { readableText } from '../helpers/readable-text';
import { eventually, GROUP_ROOM_THAMES, HOUR, IngressHarness, iso, OPS_TOKEN, ROOM_THAMES } from './harness';

jest.setTimeout(120_000);

const ring = new PayloadKeyRing([randomBytes(32)]);
let h: IngressHarness;
beforeAll(async () => {
  h = await IngressHarness.start({ payloadKeys: ring });
});
afterAll(async () => {
  await h?.close();
});

test('a grant\'s history holds no email or name in clear; CustomerEmail is the keyed hash; the operator tools still find the customer', async () => {
  const email = `encrypted-${randomBytes(3).toString('hex')}@example.com`;
  const name = `Hedy Lamarr ${randomBytes(2).toString('hex')}`;
  const customerId = h.nexudus.state.addCoworker({ FullName: name, Email: email }).Id as number;
  const start = Math.ceil(Date.now() / HOUR) * HOUR + 30 * HOUR;
  const booking = h.nexudus.state.addBooking({ ResourceId: ROOM_THAMES, CoworkerId: customerId, FromTime: iso(start), ToTime: iso(start + HOUR) });
  const res = await h.postNexudus('BookingCreate', [{ ...booking, CoworkerFullName: name, CoworkerEmail: email }]);
  expect(res.status).toBe(200);
  const workflowId = `booking-${booking.Id}`;
  await eventually(async () => (await h.status(workflowId)).state === 'granted' && true, 'the grant granted');
  expect(h.assignments(email, GROUP_ROOM_THAMES)).toHaveLength(1);

  // As the temporal CLI prints them.
  const cli = binLinkPath('cli');
  const membershipId = membershipWorkflowId(h.kisiUserId(email)!, GROUP_ROOM_THAMES);
  for (const id of [workflowId, membershipId]) {
    const { stdout } = await promisify(execFile)(cli, ['workflow', 'show', '--workflow-id', id, '--address', `127.0.0.1:${h.temporalPort}`, '--output', 'json'], { maxBuffer: 16 * 1024 * 1024 });
    const readable = readableText(JSON.parse(stdout));
    expect(readable.length).toBeGreaterThan(1000);
    for (const clear of [email, name, email.split('@')[0]!, 'Hedy']) expect(`${id}: ${readable.includes(clear) ? clear : ''}`).toBe(`${id}: `);
  }

  // Search attributes cannot be encrypted: the email is stored as its keyed hash, on both workflows.
  const hash = searchableEmail(ring, email);
  await eventually(async () => (await h.client.workflow.getHandle(workflowId).describe()).typedSearchAttributes.get(CustomerEmail) === hash, 'the grant\'s CustomerEmail');
  expect((await h.client.workflow.getHandle(membershipId).describe()).typedSearchAttributes.get(CustomerEmail)).toBe(hash);
  const found = await eventually(async () => {
    const list = await listGrants(h.client, h.taskQueue, { email: email.toUpperCase(), includeClosed: false, limit: 10 });
    return list.grants.length > 0 && list;
  }, 'grants list --email');
  expect(found.query).toContain(hash);
  expect(found.query).not.toContain(email);
  expect(found.grants.map((g) => g.workflowId)).toEqual([workflowId]);

  // grants show: the grant holds the hash, so the Kisi user is found by the id it recorded.
  const view = await showGrant({ client: h.client, kisi: h.kisiClient }, workflowId);
  expect(view.kisi).toMatchObject({ available: true, email, assignments: [expect.objectContaining({ groupId: GROUP_ROOM_THAMES, grantGroup: true })] });

  // The temporal CLI decodes through the ingress' codec endpoint with the token.
  const { stdout: decodedShow } = await promisify(execFile)(
    cli,
    ['workflow', 'show', '--workflow-id', workflowId, '--address', `127.0.0.1:${h.temporalPort}`, '--output', 'json', '--codec-endpoint', `${h.url}/codec`, '--codec-auth', `Bearer ${OPS_TOKEN}`],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  expect(readableText(JSON.parse(decodedShow))).toContain(name);

  // The Web UI reads the input through the codec endpoint.
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
  const wire = { payloads: [{ metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(input.data!).toString('base64') }] };
  const decoded = await request(h.ingress.app).post('/codec/decode').set('Authorization', `Bearer ${OPS_TOKEN}`).send(wire);
  expect(decoded.status).toBe(200);
  const plain = JSON.parse(Buffer.from(decoded.body.payloads[0].data, 'base64').toString('utf8'));
  expect(plain).toMatchObject({ spec: { customerName: name, customerEmail: email, sourceId: booking.Id } });
});
