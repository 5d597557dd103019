/**
 * Reconcile tests run a real worker (the grant harness) on a dev server: reconcile reads
 * visibility, which the time-skipping server lacks. The Nexudus sandbox starts without bookings,
 * contracts or passes (each test adds its own, with ids no earlier test used: grants are
 * REJECT_DUPLICATE, so a reused id would find the previous test's closed grant).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { freePort } from '../../src/temporal/binaries';
import { parseSeed } from '../../src/sandbox/nexudus/seed';
import { literal, listRunningGrants } from '../../src/reconcile/visibility';
import type { ReconcileReport } from '../../src/reconcile/report';
import type { ReconcileInput } from '../../workflows/reconcile';
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

/** Between tests: no workflow left running, sandboxes back to their seeds, Nexudus ids never reused. */
export async function resetSuite(s: ReconcileSuite, map = DEFAULT_MAP): Promise<void> {
  await terminateAll(s.h);
  await s.h.reset(map);
  idBase += 100_000;
  s.h.nexudus.state.store.reserveAbove(idBase);
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

/** One reconcile, run to completion by the harness's worker. */
export async function runReconcile(h: GrantHarness, input: ReconcileInput = {}): Promise<ReconcileReport> {
  return h.client.workflow.execute('reconcileWorkflow', {
    taskQueue: h.taskQueue,
    workflowId: `reconcile-test-${process.pid}-${++runs}-${Date.now()}`,
    args: [{ trigger: 'manual', ...input }],
  }) as Promise<ReconcileReport>;
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
