/**
 * Which queued customer sync requests a finished sync already answered. Pure and workflow-safe.
 *
 * The customer workflow numbers the requests it receives (1, 2, ...). Just before a sync reads the
 * customer from Nexudus, its activity asks the workflow how many it has received (`upTo`): every
 * request numbered up to that came from a webhook sent before the read, so the read (and the
 * lists read after it) already reflects it, and a second pass for it would only spend the Nexudus
 * allowance again. A request received later may postdate the read: it keeps its own pass.
 *
 * Never answered by a sync: a deletion (CoworkerDelete runs its own path), and a full request by a
 * sync that looked at the cards only.
 */

export interface QueuedSyncRequest {
  /** The request's number in the order the workflow received it (from 1). */
  seq: number;
  deleted: boolean;
  cardsOnly?: boolean;
}

export interface AnsweringSync {
  /** Requests received when the sync's read was made; undefined when that is not known. */
  upTo: number | undefined;
  /** The sync looked at the cards only (no passes, contracts or bookings). */
  cardsOnly: boolean;
}

/** Splits `queued` into the requests `sync` answered and those still to run, each in order. */
export function answeredSyncRequests<R extends QueuedSyncRequest>(queued: readonly R[], sync: AnsweringSync): { answered: R[]; pending: R[] } {
  const answered: R[] = [];
  const pending: R[] = [];
  for (const request of queued) {
    const covered = sync.upTo !== undefined && request.seq <= sync.upTo && !request.deleted && (!sync.cardsOnly || request.cardsOnly === true);
    (covered ? answered : pending).push(request);
  }
  return { answered, pending };
}

/** A sync's reason for the record, naming the requests it answered while they waited. */
export function syncReason(batch: ReadonlyArray<{ reason: string }>, answered: ReadonlyArray<{ reason: string }> = []): string {
  const reason = unique(batch.map((r) => r.reason));
  if (answered.length === 0) return reason;
  return `${reason}; answered ${answered.length} more (${unique(answered.map((r) => r.reason))})`;
}

function unique(reasons: string[]): string {
  return [...new Set(reasons)].join(', ');
}
