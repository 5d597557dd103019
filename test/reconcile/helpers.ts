/**
 * Reconcile tests run a real worker (the grant harness) on a dev server: reconcile reads
 * visibility, which the time-skipping server lacks. The Nexudus sandbox starts without bookings,
 * contracts or passes (each test adds its own, with ids no earlier test used: grants are
 * REJECT_DUPLICATE, so a reused id would find the previous test's closed grant).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../dev/lib/ports';
import { parseSeed } from '../../dev/sandbox/nexudus/seed';
import { listRunningGrants } from '../../src/reconcile/visibility';
import { literal } from '../../src/temporal/visibility-queries';
import type { ReconcileReport } from '../../src/domain/reconcile-report';
import { legacyMembershipWorkflowId } from '../../src/domain/ids';
import { CustomerEmail, KisiGroupIds, NexudusCustomerId } from '../../src/domain/search-attributes';
import type { ReconcileInput } from '../../src/contract/reconcile';
import type { MembershipInput as LegacyMembershipInput, MembershipState as LegacyMembershipState } from '../../workflows/legacy/membership';
import { GrantHarness, DEFAULT_MAP, HOUR } from '../helpers/grant-harness';
import { createDevServerEnv } from '../helpers/temporal-env';

export interface ReconcileSuite {
  env: TestWorkflowEnvironment;
  h: GrantHarness;
  port: number;
}

/** The sandbox seed's customers, places and pass types, without any booking, contract or pass. */
function emptySeed() {
  const raw = JSON.parse(fs.readFileSync(path.join(__dirname, '../../config/sandbox/nexudus-seed.json'), 'utf8')) as Record<string, unknown>;
  return parseSeed({ ...raw, bookings: [], contracts: [], coworkerTimePasses: [], webhooks: [] }, 'reconcile tests');
}

export async function startSuite(): Promise<ReconcileSuite> {
  const port = await freePort();
  const env = await createDevServerEnv({ port });
  const h = await GrantHarness.start({ env });
  h.nexudus.state.load(emptySeed());
  return { env, h, port };
}

export async function stopSuite(s: ReconcileSuite | undefined): Promise<void> {
  if (!s) return;
  await terminateAll(s.h).catch(() => undefined);
  await s.h.close();
  await s.env.teardown();
}

let idBase = 9_100_000 + Math.floor(Math.random() * 100) * 100_000;
let kisiIdBase = 0;

/**
 * Between tests: no workflow left running, sandboxes back to their seeds, Nexudus ids never reused,
 * and Kisi assignment ids never reused either: the drift policy matches `kisi assignment <id>`
 * against the previous run's report, which may be an earlier test's (Kisi never reuses an id).
 */
export async function resetSuite(s: ReconcileSuite, map = DEFAULT_MAP): Promise<void> {
  await terminateAll(s.h);
  await s.h.reset(map);
  idBase += 100_000;
  s.h.nexudus.state.store.reserveAbove(idBase);
  kisiIdBase += 10_000;
  while (s.h.kisi.state.nextId('role_assignments') < kisiIdBase);
}

/** Terminates every running workflow of the harness's task queue and waits until visibility agrees. */
export async function terminateAll(h: GrantHarness): Promise<void> {
  const query = `ExecutionStatus = 'Running' AND TaskQueue = ${literal(h.taskQueue)}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const running: string[] = [];
    for await (const info of h.client.workflow.list({ query })) running.push(info.workflowId);
    if (running.length === 0) return;
    if (Date.now() > deadline) throw new Error(`still running after terminate: ${running.join(', ')}`);
    await Promise.all(running.map((id) => h.client.workflow.getHandle(id).terminate('reconcile test cleanup').catch(() => undefined)));
    await sleep(200);
  }
}

let runs = 0;

/**
 * One reconcile, run to completion by the harness's worker, and listed by visibility as completed
 * before this returns (the next run reads it as the previous report).
 */
export async function runReconcile(h: GrantHarness, input: ReconcileInput = {}): Promise<ReconcileReport> {
  const workflowId = `reconcile-test-${process.pid}-${++runs}-${Date.now()}`;
  const report = (await h.client.workflow.execute('reconcileWorkflow', { taskQueue: h.taskQueue, workflowId, args: [{ trigger: 'manual', ...input }] })) as ReconcileReport;
  const query = `WorkflowId = ${literal(workflowId)} AND ExecutionStatus = 'Completed'`;
  await eventually(async () => (await h.client.workflow.count(query)).count === 1, `${workflowId} listed as completed`, 10_000);
  return report;
}

/** Waits until visibility lists the grants with the given states (it trails the workflows a little). */
export async function visibleGrants(h: GrantHarness, expected: Record<string, string>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const running = await listRunningGrants(h.client, h.taskQueue);
    const ok = Object.entries(expected).every(([id, state]) => running.get(id)?.state === state);
    if (ok) return;
    last = JSON.stringify([...running.values()].map((g) => [g.workflowId, g.state]));
    if (Date.now() > deadline) throw new Error(`visibility never showed ${JSON.stringify(expected)}; last ${last}`);
    await sleep(100);
  }
}

/** Waits (real time) until `check` holds. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A Kisi user and a role assignment made by hand (not by any membership), `ageMs` old. */
export function handAddedMember(h: GrantHarness, email: string, groupId: number, ageMs = 2 * HOUR): { userId: number; assignmentId: number } {
  const state = h.kisi.state;
  let user = [...state.users.values()].find((u) => u.email === email);
  const stamp = new Date(Date.now() - ageMs).toISOString();
  if (!user) {
    const id = state.nextId('users');
    user = { id, email, name: email, metadata: {}, notes: null, access_enabled: true, send_emails: false, confirmed: true, last_accessed_at: null, created_at: stamp, updated_at: stamp };
    state.users.set(id, user);
  }
  const assignmentId = state.nextId('role_assignments');
  state.roleAssignments.set(assignmentId, {
    id: assignmentId,
    role_id: 'group_basic',
    user_id: user.id,
    group_id: groupId,
    notify: false,
    valid_from: null,
    valid_until: null,
    created_at: stamp,
    updated_at: stamp,
  });
  return { userId: user.id, assignmentId };
}

/** Kisi's role assignments as plain data, to compare before and after. */
export function kisiSnapshot(h: GrantHarness): string {
  return JSON.stringify([...h.kisi.state.roleAssignments.values()].sort((a, b) => a.id - b.id));
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A legacy membership (keyed by customer, from before memberships followed the Kisi user) as a
 * deploy finds it: running with the legacy input, holding `leases` for grants and the assignment
 * it applied (`assignment`, created here in Kisi `ageMs` ago), its holders already told. It stays
 * quiet until a signal wakes it.
 */
export async function legacyMembership(
  h: GrantHarness,
  options: { customerId: number; groupId: number; kisiUserId: number; email: string; window: { from: number | null; until: number | null }; leases: Record<string, number>; ageMs?: number },
): Promise<{ workflowId: string; assignmentId: number }> {
  const state = h.kisi.state;
  const stamp = new Date(Date.now() - (options.ageMs ?? 2 * HOUR)).toISOString();
  const assignmentId = state.nextId('role_assignments');
  const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  state.roleAssignments.set(assignmentId, {
    id: assignmentId,
    role_id: 'group_basic',
    user_id: options.kisiUserId,
    group_id: options.groupId,
    notify: false,
    valid_from: options.window.from !== null && options.window.from > Date.now() ? isoOrNull(options.window.from) : null,
    valid_until: isoOrNull(options.window.until),
    created_at: stamp,
    updated_at: stamp,
  });
  const carried: LegacyMembershipState = {
    kisiUserId: options.kisiUserId,
    leases: Object.fromEntries(Object.entries(options.leases).map(([leaseId, requestSeq]) => [leaseId, { window: options.window, requestSeq, notified: { status: 'applied' as const, window: options.window } }])),
    releasedSeq: {},
    pendingReleases: {},
    applied: { assignmentId, from: options.window.from, until: options.window.until },
    needsAttention: false,
    lastError: null,
    autoRetry: false,
  };
  const workflowId = legacyMembershipWorkflowId(options.customerId, options.groupId);
  const input: LegacyMembershipInput = { customerId: options.customerId, groupId: options.groupId, carried };
  await h.client.workflow.start('membershipWorkflow', {
    workflowId,
    taskQueue: h.taskQueue,
    args: [input],
    typedSearchAttributes: [
      { key: NexudusCustomerId, value: String(options.customerId) },
      { key: CustomerEmail, value: options.email },
      { key: KisiGroupIds, value: [String(options.groupId)] },
    ],
  });
  return { workflowId, assignmentId };
}

/** The signals a workflow received, by name, in order. */
export async function signalsReceived(h: GrantHarness, workflowId: string): Promise<string[]> {
  const history = await h.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter((n): n is string => typeof n === 'string');
}
