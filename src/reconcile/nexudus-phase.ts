/**
 * Reconcile from Nexudus, one kind of record per phase (bookings, contracts, passes):
 *
 *   1. list the running grants of that kind (visibility: free, no API limit);
 *   2. list the records that may need access (paged, large pages: a handful of Nexudus calls);
 *   3. every record that should have a grant and has none gets one (deliverSpec, counted
 *      "created"); a running grant whose attributes disagree with its record is told the record's
 *      state ("updated", or "ended" when that state ends it); a grant that agrees is left alone,
 *      so a quiet run sends nothing;
 *   4. running grants whose record was not listed are re-read one by one (SpecSource.load: a 404
 *      is an ended spec) and told when they differ. Bookings outside the window are not listed
 *      by design, so their grants are not re-read.
 *
 * Contracts from the list have no `Desks`: one listFloorPlanDesks call (each desk names the
 * contracts holding it) replaces a getContract per contract.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { AccessMap } from '../config/access-map';
import type { NexudusClient } from '../clients/nexudus';
import type { GrantSpec } from '../domain/grant-spec';
import { grantWorkflowId, type GrantKind } from '../domain/ids';
import type { NexudusContract } from '../domain/nexudus-entities';
import { closedGrantVerdict, deliverSpec } from '../temporal/starters';
import type { SpecSource } from '../clients/nexudus-grant-specs';
import { grantStatusQuery } from '../contract/grant';
import { compareWithGrant, deliveryEffect, wantsGrant, type RunningGrant } from './compare';
import { errorMessage, isCancelledCall, isRetryableError } from '../clients/errors';
import { mapPool } from '../domain/map-pool';
import type { PhaseProgress } from './progress';
import { listRunningGrants } from './visibility';

export interface NexudusPhaseDeps {
  nexudus: Pick<NexudusClient, 'listBookings' | 'listContracts' | 'listFloorPlanDesks' | 'listCoworkerTimePasses'>;
  specs: Pick<SpecSource, 'fromBooking' | 'fromContract' | 'fromPass' | 'load'>;
  temporal: Client;
  taskQueue: string;
  accessMap: () => AccessMap;
  now: () => number;
  /** Stops the phase between items when the activity is cancelled. */
  throwIfCancelled?: () => void;
}

export interface NexudusPhaseInput {
  dryRun: boolean;
  /** Epoch ms; used by bookings (contracts and passes are listed whole). */
  window: { from: number; to: number };
}

/** Deliveries are Temporal calls only: a few at a time. Nexudus re-reads stay one at a time (the pacer rules). */
const DELIVERY_CONCURRENCY = 8;
const CHUNK = 50;

interface Candidate {
  sourceId: number;
  spec: GrantSpec;
}

/** The bookings, contracts or passes phase. */
export async function reconcileRecords(kind: GrantKind, deps: NexudusPhaseDeps, input: NexudusPhaseInput, progress: PhaseProgress): Promise<void> {
  const tally = progress.tally;
  const [stage, cursorId] = parseCursor(progress.cursor);

  progress.at(`listing running ${kind} grants`, 0, 0);
  const running = await listRunningGrants(deps.temporal, deps.taskQueue, [kind]);

  progress.at(`listing ${kind}s in Nexudus`, 0, 0);
  const listed = (await listCandidates(kind, deps, input)).sort((a, b) => a.sourceId - b.sourceId);
  const listedIds = new Set(listed.map((c) => c.sourceId));

  // Records from the lists, in id order so that a retried attempt can skip what is done.
  if (stage === 'listed') {
    const todo = listed.filter((c) => cursorId === null || c.sourceId > cursorId);
    const doneBefore = listed.length - todo.length;
    for (let i = 0; i < todo.length; i += CHUNK) {
      deps.throwIfCancelled?.();
      const chunk = todo.slice(i, i + CHUNK);
      progress.at(`comparing ${kind}s with their grants`, doneBefore + i, listed.length);
      await mapPool(chunk, DELIVERY_CONCURRENCY, (c) => settle(c.spec, running.get(grantWorkflowId(kind, c.sourceId))));
      progress.checkpoint(`listed:${chunk[chunk.length - 1]!.sourceId}`);
    }
  }

  // Running grants whose record the lists did not show: re-read each (gone means ended).
  const absent = [...running.values()]
    .filter((g) => !listedIds.has(g.sourceId) && !outsideListing(kind, g, input.window))
    .sort((a, b) => a.sourceId - b.sourceId)
    .filter((g) => stage === 'listed' || cursorId === null || g.sourceId > cursorId);
  for (const [i, grant] of absent.entries()) {
    deps.throwIfCancelled?.();
    progress.at(`re-reading ${kind}s missing from the list`, i, absent.length);
    let spec: GrantSpec;
    try {
      spec = await deps.specs.load(kind, grant.sourceId, grant.customerId ?? 0);
    } catch (error) {
      if (isRetryableError(error) || isCancelledCall(error)) throw error; // the activity retries and resumes here
      tally.error(grant.workflowId, `cannot re-read the record: ${errorMessage(error)}`);
      progress.checkpoint(`absent:${grant.sourceId}`);
      continue;
    }
    await settle(spec, grant);
    progress.checkpoint(`absent:${grant.sourceId}`);
  }
  progress.at(`${kind}s done`, listed.length + absent.length, listed.length + absent.length);

  /** Compares one record with its grant and delivers when they differ (or no grant exists). */
  async function settle(spec: GrantSpec, grant: RunningGrant | undefined): Promise<void> {
    const now = deps.now();
    const workflowId = grantWorkflowId(spec.kind, spec.sourceId);
    const wanted = wantsGrant(spec, now);
    if (!grant && !wanted) return; // nothing mapped or nothing left to grant, and no grant: not our business
    tally.count('checked');
    try {
      if (grant) {
        let comparison = compareWithGrant(spec, grant);
        if (comparison.verdict === 'ask-lifecycle') comparison = await askLifecycle(spec, grant);
        if (comparison.verdict === 'same') return;
        const effect = deliveryEffect(spec, now);
        tally.record(effect, effect, workflowId, `${input.dryRun ? 'would tell' : 'told'} the grant: ${comparison.why}`);
        if (!input.dryRun) await deliver(spec, now);
        return;
      }
      const outcome = input.dryRun ? await predictStart(spec, now) : await deliver(spec, now);
      if (outcome === 'closed') {
        tally.record('skipped', 'skipped', workflowId, 'the record asks for access but its grant was closed for good (cancelled, terminated or ended)');
        return;
      }
      tally.record('created', 'created', workflowId, `${input.dryRun ? 'would start' : 'started'} the grant: ${describeSpec(spec)}${outcome === 'revived' ? ' (revived an expired grant)' : ''}`);
    } catch (error) {
      tally.error(workflowId, errorMessage(error));
    }
  }

  async function askLifecycle(spec: GrantSpec, grant: RunningGrant) {
    try {
      const status = await deps.temporal.workflow.getHandle(grant.workflowId).query(grantStatusQuery);
      if (status.lifecycle !== spec.lifecycle) return { verdict: 'differs' as const, why: `${status.lifecycle} → ${spec.lifecycle}` };
      return { verdict: 'same' as const };
    } catch {
      // Closed since the listing, or busy: the next run looks again.
      return { verdict: 'same' as const };
    }
  }

  function deliver(spec: GrantSpec, now: number) {
    return deliverSpec(deps.temporal, spec, { taskQueue: deps.taskQueue, timeZone: deps.accessMap().timeZone, now });
  }

  /** What deliverSpec would answer for a grant not running, without starting anything. */
  async function predictStart(spec: GrantSpec, now: number): Promise<'delivered' | 'revived' | 'closed'> {
    const handle = deps.temporal.workflow.getHandle(grantWorkflowId(spec.kind, spec.sourceId));
    let status: string;
    try {
      status = (await handle.describe()).status.name;
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return 'delivered';
      throw error;
    }
    if (status === 'RUNNING') return 'delivered';
    return (await closedGrantVerdict(handle, spec, now)) === 'revive' ? 'revived' : 'closed';
  }
}

/** The records of one kind that may need a grant, as specs. */
async function listCandidates(kind: GrantKind, deps: NexudusPhaseDeps, input: NexudusPhaseInput): Promise<Candidate[]> {
  const map = deps.accessMap();
  if (kind === 'booking') {
    // Widen by the largest lead and lag: a booking whose access window touches ours is listed.
    const { leadMs: lead, lagMs: lag } = map.widestBookingTiming();
    const bookings = await deps.nexudus.listBookings({ from: new Date(input.window.from - lag).toISOString(), to: new Date(input.window.to + lead).toISOString() });
    return bookings.map((b) => ({ sourceId: b.Id, spec: deps.specs.fromBooking(b) }));
  }
  if (kind === 'contract') {
    const contracts = await deps.nexudus.listContracts({ activeOnly: true });
    const desksByContract = await contractDesks(deps);
    return contracts.map((c) => ({ sourceId: c.Id, spec: deps.specs.fromContract(withDesks(c, desksByContract.get(c.Id) ?? [])) }));
  }
  const out: Candidate[] = [];
  for (const timePassId of map.mappedPassIds()) {
    const passes = await deps.nexudus.listCoworkerTimePasses({ timePassId });
    for (const p of passes) out.push({ sourceId: p.Id, spec: await deps.specs.fromPass(p) });
  }
  return out;
}

/** Contract id -> floor-plan desk ids, from one listing of the desks (`CoworkerContractIds` "12,34"). */
async function contractDesks(deps: NexudusPhaseDeps): Promise<Map<number, number[]>> {
  const byContract = new Map<number, number[]>();
  for (const desk of await deps.nexudus.listFloorPlanDesks()) {
    for (const text of (desk.CoworkerContractIds ?? '').split(/[,;\s]+/)) {
      if (!/^\d+$/.test(text)) continue;
      const id = Number(text);
      const desks = byContract.get(id) ?? [];
      if (!desks.includes(desk.Id)) desks.push(desk.Id);
      byContract.set(id, desks);
    }
  }
  return byContract;
}

/** The contract with the union of the desks it carries (if any) and those the floor plan names. */
export function withDesks(contract: NexudusContract, fromFloorPlan: number[]): NexudusContract {
  const own = (contract.Desks ?? []).map((d) => (typeof d === 'number' ? d : d.Id));
  return { ...contract, Desks: [...new Set([...own, ...fromFloorPlan])] };
}

/**
 * A booking grant whose access lies wholly outside the window is not in the listing by design:
 * one that starts later is reconciled by a later run; one that ended before is ending by itself.
 */
function outsideListing(kind: GrantKind, grant: RunningGrant, window: { from: number; to: number }): boolean {
  if (kind !== 'booking') return false;
  if (grant.startsAt !== null && grant.startsAt > window.to) return true;
  return grant.endsAt !== null && grant.endsAt < window.from;
}

function parseCursor(cursor: string | null): ['listed' | 'absent', number | null] {
  const m = cursor ? /^(listed|absent):(\d+)$/.exec(cursor) : null;
  if (!m) return ['listed', null];
  return [m[1] as 'listed' | 'absent', Number(m[2])];
}

function describeSpec(spec: GrantSpec): string {
  const w = spec.window;
  const when = w ? `${w.from === null ? 'now' : new Date(w.from).toISOString()} → ${w.until === null ? 'open-ended' : new Date(w.until).toISOString()}` : 'no window';
  return `${spec.label} for customer ${spec.customerId}, groups [${spec.groups.join(',')}], ${when}${spec.lifecycle === 'tentative' ? ' (tentative)' : ''}`;
}


