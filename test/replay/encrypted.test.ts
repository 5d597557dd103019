/**
 * Replay of encrypted histories: a small scenario (a booking moved once and expired, a contract
 * granted and cancelled) recorded with payload encryption on, under a committed TEST key, in
 * test/replay/encrypted/ (`npm run replay:record-encrypted` records them again). They must replay
 * against the working tree's workflows with that key, must not without it (the codec is what makes
 * them readable), and must hold no customer email or name in clear: the payloads are sealed and
 * CustomerEmail holds a keyed hash.
 *
 * The key below encrypts nothing but these test histories. Never use it for real data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { grantWorkflowId } from '../../src/domain/ids';
import { dataConverterFor } from '../../src/temporal/connection';
import { isEncrypted, PayloadKeyRing, searchableEmail } from '../../src/temporal/payload-codec';
import { ADA, GrantHarness, HOUR, MIN, iso } from '../helpers/grant-harness';
import { workflowBundle as bundleWorkflows } from '../helpers/workflow-bundle';
import { readableText } from '../helpers/readable-text';
import { DefaultLogger, makeTelemetryFilterString, Runtime } from '@temporalio/worker';

jest.setTimeout(300_000);

// The replays without the key fail on purpose: keep the SDK Core's warnings about it out of the output.
try {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR', other: 'ERROR' }), forward: {} } } });
} catch {
  // Already installed by an earlier suite in this jest worker.
}

export const TEST_PAYLOAD_KEY = 'Q20FY1r55cFPZQqwQdnWTUST1ADmILBv98gvvYJQ8MU=';
const ring = new PayloadKeyRing([Buffer.from(TEST_PAYLOAD_KEY, 'base64')]);
const DIR = path.join(__dirname, 'encrypted');

const recording = process.env.RECORD_ENCRYPTED_HISTORIES === '1';

(recording ? test : test.skip)('record: a booking moved once and expired, a contract granted and cancelled, all encrypted', async () => {
  fs.rmSync(DIR, { recursive: true, force: true });
  const h = await GrantHarness.start({ payloadKeys: ring });
  try {
    const now = await h.now();
    const start = Math.ceil(now / HOUR) * HOUR + 24 * HOUR;
    await h.deliver(await h.bookingSpec({ Id: 7300001, FromTime: iso(start), ToTime: iso(start + HOUR), CoworkerFullName: ADA.name }));
    await h.waitForState('booking', 7300001, 'granted');
    await h.sleep(1_000);
    await h.deliver(await h.bookingSpec({ Id: 7300001, FromTime: iso(start), ToTime: iso(start + 2 * HOUR), CoworkerFullName: ADA.name, UpdatedOn: iso(await h.now()) }));
    await h.deliver(await h.contractSpec({ Id: 6300001, StartDate: iso(now - HOUR), Desks: [4000002], CoworkerFullName: ADA.name }));
    await h.waitForState('contract', 6300001, 'granted');
    await h.deliver(await h.contractSpec({ Id: 6300001, StartDate: iso(now - HOUR), Desks: [4000002], CoworkerFullName: ADA.name, Cancelled: true, CancellationDate: iso(start), UpdatedOn: iso(await h.now()) }));
    await h.sleepUntil(start + 2 * HOUR + 15 * MIN + 1_000);
    await h.client.workflow.getHandle(grantWorkflowId('booking', 7300001)).result();
    await h.client.workflow.getHandle(grantWorkflowId('contract', 6300001)).result();
    const files = await h.saveHistories(DIR);
    expect(files.length).toBeGreaterThanOrEqual(4);
  } finally {
    await h.close();
  }
});

function histories(): Array<{ workflowId: string; history: temporal.api.history.v1.History; file: string; text: string }> {
  return fs
    .readdirSync(DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const json = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8')) as unknown;
      return { workflowId: f.split('.')[0]!, history: temporal.api.history.v1.History.fromObject(json as Record<string, unknown>), file: f, text: readableText(json) };
    });
}

test('the committed encrypted histories hold no email or name in clear; inputs, signals and summaries are sealed; CustomerEmail is the keyed hash', () => {
  if (recording) return;
  const all = histories();
  expect(all.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name).sort()).toEqual(
    expect.arrayContaining(['bookingGrant', 'contractGrant', 'membershipWorkflow']),
  );
  for (const { text, file } of all) {
    for (const clear of [ADA.email, ADA.name, 'Lovelace', 'ada@']) expect(`${file}: ${text.includes(clear) ? clear : ''}`).toBe(`${file}: `);
  }
  // CustomerEmail (a search attribute: the server indexes it, so it cannot be encrypted) is the hash.
  const texts = all.map((h) => h.text).join('\n');
  expect(texts).toContain(JSON.stringify(searchableEmail(ring, ADA.email)));
  expect(texts).toMatch(/"hmac:[0-9a-f]{64}"/);
  for (const { history } of all) {
    for (const event of history.events ?? []) {
      const payloads = [
        ...(event.workflowExecutionStartedEventAttributes?.input?.payloads ?? []),
        ...(event.workflowExecutionSignaledEventAttributes?.input?.payloads ?? []),
        ...(event.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
        ...(event.activityTaskCompletedEventAttributes?.result?.payloads ?? []),
        ...(event.workflowExecutionCompletedEventAttributes?.result?.payloads ?? []),
        ...(event.userMetadata?.summary ? [event.userMetadata.summary] : []),
      ];
      for (const p of payloads) expect(isEncrypted(p)).toBe(true);
    }
  }
});

test('they replay deterministically with the test key, and not without it', async () => {
  if (recording) return;
  const all = histories();
  expect(all.length).toBeGreaterThanOrEqual(4);
  const workflowBundle = await bundleWorkflows();
  const replay = async (keys: PayloadKeyRing | undefined) => {
    const failures: string[] = [];
    for (const { workflowId, history, file } of all) {
      for await (const result of Worker.runReplayHistories({ workflowBundle, dataConverter: dataConverterFor(keys) }, [{ workflowId, history }])) {
        if (result.error) failures.push(`${file}: ${result.error.message}`);
      }
    }
    return failures;
  };
  expect(await replay(ring)).toEqual([]);
  const withoutKey = await replay(undefined);
  expect(withoutKey.length).toBe(all.length);
  const otherKey = await replay(new PayloadKeyRing([Buffer.alloc(32, 9)]));
  expect(otherKey.length).toBe(all.length);
});
