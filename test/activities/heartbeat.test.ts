/**
 * asActivity's keep-alive heartbeats: they must not erase what an activity resumes from. Temporal
 * keeps only the latest heartbeat's details, and a reconcile phase resumes from its checkpoint.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { asActivity, HEARTBEAT_EVERY_MS } from '../../activities/failures';

jest.setTimeout(20_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('keep-alive beats carry the details the activity gives, the latest each time', async () => {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  let cursor = 'a';
  await env.run(() =>
    asActivity(
      async () => {
        // Beats fall at 5 s and 10 s: the cursor changes at 7 s and the body ends at 11 s, so each
        // beat has a second or more of margin on a loaded machine.
        await sleep(HEARTBEAT_EVERY_MS + 2_000);
        cursor = 'b';
        await sleep(HEARTBEAT_EVERY_MS - 1_000);
      },
      { details: () => ({ cursor }) },
    ),
  );
  expect(beats).toEqual([{ cursor: 'a' }, { cursor: 'b' }]);
});

test('without details the keep-alive still beats while the body waits', async () => {
  const env = new MockActivityEnvironment();
  let count = 0;
  env.on('heartbeat', () => count++);
  await env.run(() => asActivity(() => sleep(HEARTBEAT_EVERY_MS + 2_000)));
  expect(count).toBe(1);
});
