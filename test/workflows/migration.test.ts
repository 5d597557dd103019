/**
 * Grants and memberships started before memberships followed the Kisi user (legacy: keyed by
 * customer) move onto the current code without a gap: a legacy grant continues as new on its first
 * step here, asks the Kisi user's membership for its access (an assignment of its own, not relying
 * on the legacy one that is about to go), then gives the legacy lease back; the legacy membership
 * removes its assignment and ends. Recorded for replay (the path through `patched()`).
 */
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { AccessWindow } from '../../src/domain/grant-spec';
import { grantWorkflowId, legacyMembershipWorkflowId, membershipWorkflowId } from '../../src/domain/ids';
import { grantAttributeValues } from '../../src/domain/search-attributes';
import { acquireLeaseSignal } from '../../src/contract/legacy';
import { sourceChangedSignal } from '../../src/contract/grant';
import type { GrantCarried } from '../../workflows/legacy/grant';
import { ADA, DESK_D1, GROUP_MEMBERS, GrantHarness, HOUR, iso, newSourceId } from '../helpers/grant-harness';

jest.setTimeout(120_000);

let h: GrantHarness;
beforeAll(async () => {
  // The worker is stopped while the legacy pair is set up (see the test).
  h = await GrantHarness.start({ restartsWorker: true });
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => h.expectContractClean());
beforeEach(() => h.reset());

test('a legacy contract grant and its legacy membership move onto the Kisi user\'s membership with no gap', async () => {
  const now = await h.now();
  const contract = newSourceId();
  const spec = await h.contractSpec({ Id: contract, StartDate: iso(now - 30 * 24 * HOUR), Desks: [DESK_D1], UpdatedOn: iso(now - HOUR) });
  const window = spec.window as AccessWindow;
  const user = await h.kisiClient.createUser({ email: ADA.email, name: ADA.name, sendEmails: false });
  const legacyId = legacyMembershipWorkflowId(ADA.customerId, GROUP_MEMBERS);

  // The legacy pair as it ran before the deploy, both started while no worker runs: the legacy
  // membership tells its holder what it wrote, and a holder that does not exist yet would lose
  // its lease at once (the assignment deleted before the grant could move off it).
  await h.stopWorker();
  await h.client.workflow.signalWithStart('membershipWorkflow', {
    workflowId: legacyId,
    taskQueue: h.taskQueue,
    args: [{ customerId: ADA.customerId, groupId: GROUP_MEMBERS }],
    signal: acquireLeaseSignal,
    signalArgs: [{ leaseId: grantWorkflowId('contract', contract), window, kisiUserId: user.id, requestSeq: 5 }],
  });

  // The legacy grant (input without `v`, its leases keyed by customer), holding the legacy lease.
  const carried: GrantCarried = {
    leases: { [legacyId]: { customerId: ADA.customerId, groupId: GROUP_MEMBERS, state: 'applied', window, requestSeq: 5, error: null } },
    requestSeq: 5,
    kisiUserId: user.id,
    customerEmail: ADA.email,
    acquireError: null,
    autoRetry: false,
    grantedAt: now - HOUR,
    revokedAt: null,
    published: grantAttributeValues(spec, 'granted', now - HOUR),
    openStart: now - HOUR,
  };
  await h.client.workflow.signalWithStart('contractGrant', {
    workflowId: grantWorkflowId('contract', contract),
    taskQueue: h.taskQueue,
    args: [{ spec, carried }],
    signal: sourceChangedSignal,
    signalArgs: [spec],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  });
  h.track(grantWorkflowId('contract', contract), legacyId);
  await h.startWorker();

  // The legacy membership writes its (open-ended) assignment.
  const legacyCreated = () => h.kisi.state.history.find((e) => e.action === 'created' && e.user_id === user.id && e.group_id === GROUP_MEMBERS && e.valid_until === null);
  await h.until(() => legacyCreated() !== undefined, 'the legacy assignment');
  const legacyAssignment = { id: legacyCreated()!.assignment_id };

  // It moves: the Kisi user's membership writes its own assignment (bounded), then the legacy one goes.
  const current = membershipWorkflowId(user.id, GROUP_MEMBERS);
  await h.until(() => h.assignments(ADA.email, GROUP_MEMBERS).length === 1 && h.assignments(ADA.email, GROUP_MEMBERS)[0]!.id !== legacyAssignment.id, 'only the new assignment left');
  await h.waitForState('contract', contract, 'granted');
  // The legacy membership confirms the return once its assignment is gone.
  const deadline = Date.now() + 20_000;
  let status = await h.status('contract', contract);
  while (status.memberships?.[legacyId] !== 'released' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    status = await h.status('contract', contract);
  }
  expect(status.memberships).toEqual({ [current]: 'applied', [legacyId]: 'released' });
  const [held] = h.assignments(ADA.email, GROUP_MEMBERS);
  expect(held!.valid_until).not.toBeNull();
  // No gap: the new assignment was created before the legacy one was deleted.
  const writes = h.writes().map((c) => [c.method, c.args[0]]);
  const created = writes.findIndex(([m]) => m === 'createGroupRoleAssignment');
  const deleted = writes.findIndex(([m, id]) => m === 'deleteRoleAssignment' && id === legacyAssignment.id);
  expect(created).toBeGreaterThan(-1);
  expect(deleted).toBeGreaterThan(created);
  // The legacy membership, holding nothing, ends.
  await h.client.workflow.getHandle(legacyId).result();
  const run = await h.client.workflow.getHandle(grantWorkflowId('contract', contract)).describe();
  expect(run.status.name).toBe('RUNNING');
});
