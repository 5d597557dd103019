/**
 * customer-sync-<customer>: the person behind one Nexudus customer. It
 *   - brings everything of the customer in line after AccessControlUpdate / CoworkerUpdate (passes
 *     surface only here: Nexudus has no pass webhook), and tells the customer's grants when who the
 *     customer is in Kisi changes (email) or whether they may enter (active); the grants move;
 *   - owns the access cards the product assigned in Kisi (remembered here, so only those are ever
 *     taken back), and reports card problems as its own needs-attention item;
 *   - checks the customer in on door unlocks, one at a time, so two unlocks of one visit make one
 *     Nexudus check-in;
 *   - ends everything after CoworkerDelete.
 * Requests that arrive while a sync runs are coalesced into one more pass, and none is needed for
 * those received before that sync read the customer (its read answers them; see
 * src/domain/sync-requests.ts). It ends when it holds nothing (no cards of ours, no problem to
 * show, nothing queued) and comes back with the next request.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { checkinResultSignal, type CheckinResult } from '../src/contract/checkin';
import {
  cardsAssignedSignal,
  checkinRequestedSignal,
  customerStatusQuery,
  customerSyncRequestedSignal,
  customerSyncRequestsReceivedQuery,
  maskCard,
  type CardProblem,
  type CheckinRequest,
  type CustomerStatus,
  type CustomerSyncRequest,
  type CustomerWorkflowInput,
  type OwnedCard,
} from '../src/contract/customer';
import type { CustomerFacts } from '../src/domain/customer';
import { answeredSyncRequests, syncReason } from '../src/domain/sync-requests';
import { GrantKind, GrantState, NexudusCustomerId } from '../src/domain/search-attributes';
import { fitDetails } from '../src/domain/temporal-limits';
import { legacyCustomerSyncWorkflow } from './legacy/customer-sync';
import { ACTIVITY_OPTIONS, Deadline, describeFailure, shouldContinueAsNew } from './policy';

const { syncCustomerRecord, endCustomer, tellCustomerGrants } = proxyActivities<Activities>(ACTIVITY_OPTIONS);
/** A check-in is someone at the door: fewer, quicker retries; an outage ends as a failed check-in. */
const { checkInOnce } = proxyActivities<Activities>({ ...ACTIVITY_OPTIONS, scheduleToCloseTimeout: '15 minutes' });

/**
 * After facts changed, tell the grants once more when every worker's customer records have been
 * renewed (their TTL is 10 minutes): a grant started meanwhile from an older record moves too.
 */
const RETELL_AFTER_MS = 11 * 60_000;

/**
 * Queued requests a sync's read already answered are dropped (runs before this marker ran a pass
 * for them). Asked only when the rule drops something, so other histories stay as they were.
 */
export const COALESCE_ANSWERED_SYNCS = 'coalesce-answered-syncs';

/** A sync request with its number in this run (from 1), for coalescing. */
type QueuedSync = CustomerSyncRequest & { seq: number };

interface CustomerData {
  customerId: number;
  facts: CustomerFacts | null;
  kisiUser: { kisiUserId: number; email: string } | null;
  owned: OwnedCard[];
  problems: CardProblem[];
  retellAt: number | null;
  deleted: boolean;
  lastSync: { at: number; reason: string } | null;
  lastError: string | null;
  /** Whether the search attributes show a problem (each upsert is billed). */
  shownState: 'needs-attention' | null;
}

export async function runCustomer(input: CustomerWorkflowInput): Promise<void> {
  const s: CustomerData = (input.carried as CustomerData | undefined) ?? {
    customerId: input.customerId,
    facts: null,
    kisiUser: null,
    owned: [],
    problems: [],
    retellAt: null,
    deleted: false,
    lastSync: null,
    lastError: null,
    shownState: null,
  };
  const syncs: QueuedSync[] = [];
  /**
   * Sync requests received by this run. Not carried over continue-as-new: a run continues only with
   * no request queued, and a sync asks the run it belongs to.
   */
  let syncsReceived = 0;
  const checkins: CheckinRequest[] = [];
  let checkingIn = false;
  /** Check-ins answered so far: the main loop wakes when the check-in loop falls idle. */
  let checkinsAnswered = 0;
  /** Cards recorded from grants (wakes the loop to publish and to stay alive while it owns them). */
  let recorded = 0;
  const deadline = new Deadline('tell the grants again');

  setHandler(customerSyncRequestedSignal, (request) => {
    syncs.push({ ...request, seq: ++syncsReceived });
  });
  setHandler(customerSyncRequestsReceivedQuery, () => syncsReceived);
  setHandler(checkinRequestedSignal, (request) => {
    checkins.push(request);
  });
  // The grant that created the customer's Kisi user assigned their cards: they are ours.
  setHandler(cardsAssignedSignal, (assigned) => {
    s.kisiUser = s.kisiUser?.kisiUserId === assigned.kisiUserId ? s.kisiUser : { kisiUserId: assigned.kisiUserId, email: s.kisiUser?.email ?? '' };
    for (const card of assigned.owned) if (!s.owned.some((o) => o.assignmentId === card.assignmentId)) s.owned.push(card);
    s.problems = assigned.problems;
    recorded++;
  });
  setHandler(customerStatusQuery, (): CustomerStatus => ({
    customerId: s.customerId,
    facts: s.facts,
    kisiUser: s.kisiUser,
    cards: s.owned.map((c) => ({ card: maskCard(c.token), kisiUserId: c.kisiUserId })),
    cardProblems: s.problems,
    deleted: s.deleted,
    lastSync: s.lastSync ? { at: new Date(s.lastSync.at).toISOString(), reason: s.lastSync.reason } : null,
    lastError: s.lastError,
  }));

  // Check-ins run beside syncs: someone is at the door, a sync may take a while.
  void (async () => {
    for (;;) {
      await condition(() => checkins.length > 0);
      checkingIn = true;
      const request = checkins.shift()!;
      let result: CheckinResult;
      try {
        result = await checkInOnce({ customerId: s.customerId, unlockedAt: request.unlockedAt });
      } catch (error) {
        if (isCancellation(error)) throw error;
        result = { outcome: 'failed', customerId: s.customerId, checkinId: null, reason: describeFailure(error) };
      }
      try {
        await getExternalWorkflowHandle(request.replyTo).signal(checkinResultSignal, result);
      } catch (error) {
        if (isCancellation(error)) throw error; // the check-in workflow is gone: nobody to tell
      }
      checkingIn = false;
      checkinsAnswered++;
    }
  })().catch((error: unknown) => {
    if (!isCancellation(error)) throw error;
  });

  // A run starts with its first request (signal-with-start), applied once the workflow yields:
  // wait for it before deciding anything (a run that ended at once would drop it).
  if (!input.carried) await condition(() => syncs.length > 0 || checkins.length > 0 || checkingIn || recorded > 0, '1 minute');

  for (;;) {
    if (syncs.length > 0) {
      const batch = syncs.splice(0);
      const reason = syncReason(batch);
      setCurrentDetails(fitDetails(`Syncing Nexudus customer ${s.customerId} (${reason})`));
      let answered: QueuedSync[] = [];
      try {
        if (batch.some((r) => r.deleted)) await deleted();
        else {
          const cardsOnly = batch.every((r) => r.cardsOnly === true);
          const upTo = await sync(cardsOnly);
          // Requests received before the sync's read need no pass of their own.
          const split = answeredSyncRequests(syncs, { upTo, cardsOnly });
          if (split.answered.length > 0 && patched(COALESCE_ANSWERED_SYNCS)) {
            answered = split.answered;
            syncs.splice(0, syncs.length, ...split.pending);
          }
        }
        s.lastError = null;
      } catch (error) {
        if (isCancellation(error)) throw error;
        s.lastError = describeFailure(error); // the next request (or reconcile) tries again
      }
      s.lastSync = { at: Date.now(), reason: syncReason(batch, answered) };
      publish();
      continue;
    }
    if (s.retellAt !== null && s.retellAt <= Date.now() && s.facts) {
      s.retellAt = null;
      try {
        await tellCustomerGrants({ customerId: s.customerId, facts: s.facts });
      } catch (error) {
        if (isCancellation(error)) throw error;
      }
      continue;
    }
    publish();
    const idle = () => syncs.length === 0 && checkins.length === 0 && !checkingIn;
    const holdsNothing = () => s.deleted || (s.owned.length === 0 && s.problems.length === 0 && s.retellAt === null);
    if (idle() && holdsNothing()) {
      // Nothing to hold: end (the next request starts a new run). Signals delivered with the start
      // are applied once the workflow yields: look again after that.
      await condition(allHandlersFinished);
      if (idle() && holdsNothing()) return;
      continue;
    }
    if (idle() && shouldContinueAsNew(input.historyLimit) && allHandlersFinished()) {
      await continueAsNew<typeof customerSyncWorkflow>({ v: 2, customerId: s.customerId, carried: s, historyLimit: input.historyLimit });
    }
    const answered = checkinsAnswered;
    const seen = recorded;
    deadline.set(s.retellAt ?? undefined);
    await condition(() => syncs.length > 0 || deadline.passed || recorded !== seen || (checkinsAnswered !== answered && checkins.length === 0 && !checkingIn));
  }

  /** Returns how many requests the sync's read answers (undefined: not known). */
  async function sync(cardsOnly: boolean): Promise<number | undefined> {
    const result = await syncCustomerRecord({ customerId: s.customerId, cardsOnly, owned: s.owned });
    s.owned = result.owned;
    if (result.deleted) {
      s.deleted = true;
      s.problems = [];
      return result.answersRequestsUpTo;
    }
    s.facts = result.facts;
    s.kisiUser = result.kisiUser;
    s.problems = result.problems;
    // Grants had to be told: some may have started from an older record on another worker.
    if (result.told > 0) s.retellAt = Date.now() + RETELL_AFTER_MS;
    return result.answersRequestsUpTo;
  }

  async function deleted(): Promise<void> {
    const result = await endCustomer({ customerId: s.customerId, owned: s.owned });
    s.owned = result.owned;
    s.problems = [];
    s.deleted = true;
  }

  /** Card problems are the customer's own needs-attention item (status, Web UI, grants CLI). */
  function publish(): void {
    const shown = s.problems.length > 0 ? 'needs-attention' : null;
    if (shown !== s.shownState) {
      // Listed (as kind "customer") only while there is something to look at.
      upsertSearchAttributes([
        { key: GrantKind, value: shown ? 'customer' : null },
        { key: NexudusCustomerId, value: String(s.customerId) },
        { key: GrantState, value: shown },
      ]);
      s.shownState = shown;
    }
    const lines = [
      `**Nexudus customer ${s.customerId}**${s.facts?.name ? ` ${s.facts.name}` : ''}${s.facts?.email ? ` <${s.facts.email}>` : ''}${s.facts && !s.facts.active ? ' (inactive: no door)' : ''}`,
      s.kisiUser ? `Kisi user ${s.kisiUser.kisiUserId}` : 'No Kisi user yet',
      `Cards assigned by the product: ${s.owned.map((c) => maskCard(c.token)).join(', ') || 'none'}`,
    ];
    if (s.problems.length > 0) lines.push(`**Card problems** (door access is not affected):\n${s.problems.map((p) => `- ${p.detail}`).join('\n')}`, 'Fix the card numbers in Nexudus; the next sync picks them up.');
    if (s.lastError) lines.push(`Last sync failed: ${s.lastError}`);
    setCurrentDetails(fitDetails(lines.join('\n\n')));
  }
}

/** Runs the legacy code for customer syncs started before `v: 2`. */
export async function customerSyncWorkflow(input: CustomerWorkflowInput | { customerId: number }): Promise<unknown> {
  if ((input as CustomerWorkflowInput).v === 2) return runCustomer(input as CustomerWorkflowInput);
  return legacyCustomerSyncWorkflow(input);
}
