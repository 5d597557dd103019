/**
 * Bounded validity with our side down, on the dev server in real time: with KISI_MAX_VALIDITY of
 * 20 seconds, an open-ended grant's assignment ends 20 s after its last write and is renewed with a
 * third left. The worker is stopped across a renewal: Kisi closes the door by itself at the end
 * of the validity (no later than KISI_MAX_VALIDITY after our side stopped), and the access returns
 * when the worker is back. (The time-skipping server does not skip time while a workflow task
 * waits for a worker, so a stopped worker cannot be shown there.)
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ADA, DAY, DESK_D1, GROUP_MEMBERS, GrantHarness, iso, newSourceId } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

jest.setTimeout(120_000);

const MAX_VALIDITY = 20_000;

let env: TestWorkflowEnvironment;
let h: GrantHarness;
beforeAll(async () => {
  env = await createDevServerEnv();
  h = await GrantHarness.start({ env, maxValidityMs: MAX_VALIDITY, restartsWorker: true });
});
afterAll(async () => {
  await h?.close();
  await env?.teardown();
});
afterEach(() => h.expectContractClean());

test('an open-ended grant with our side down across a renewal: the door closes at most KISI_MAX_VALIDITY after, and opens again when we are back', async () => {
  const contract = newSourceId();
  await h.deliver(await h.contractSpec({ Id: contract, StartDate: iso(Date.now() - DAY), Desks: [DESK_D1] }));
  await h.waitForState('contract', contract, 'granted');
  const [held] = h.assignments(ADA.email, GROUP_MEMBERS);
  const lapse = Date.parse(held!.valid_until!);
  expect(lapse - Date.now()).toBeLessThanOrEqual(MAX_VALIDITY);
  await h.stopWorker();
  const stoppedAt = Date.now();
  // Down across the renewal (due with a third left) and past the end of the validity.
  await new Promise((r) => setTimeout(r, lapse - Date.now() + 2_000));
  expect(h.isMember(ADA.email, GROUP_MEMBERS, Date.now())).toBe(false);
  expect(lapse - stoppedAt).toBeLessThanOrEqual(MAX_VALIDITY);
  // The assignment is still ours and still there: Kisi only stopped honouring it.
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ id: held!.id })]);
  await h.startWorker();
  await h.until(() => h.isMember(ADA.email, GROUP_MEMBERS, Date.now()), 'the door open again', 30_000);
  expect(h.assignments(ADA.email, GROUP_MEMBERS)).toEqual([expect.objectContaining({ id: held!.id })]);
  // Renewed again before it lapses, while we are up.
  const renewed = Date.parse(h.assignments(ADA.email, GROUP_MEMBERS)[0]!.valid_until!);
  await new Promise((r) => setTimeout(r, renewed - Date.now() + 2_000));
  expect(h.isMember(ADA.email, GROUP_MEMBERS, Date.now())).toBe(true);
});
