/**
 * The customer's access cards in Kisi. The customer workflow remembers which card assignments the
 * product made (`OwnedCard`) and this module converges Kisi to what Nexudus says, touching only
 * those:
 *   - the card numbers in `AccessCardId` / `KeyFobNumber` (values that are not card numbers are
 *     reported, never sent to Kisi; at most four cards) go on the customer's current Kisi user;
 *   - ours on another user (the email changed) or no longer in Nexudus are taken back; a suspended
 *     or deleted customer keeps none of ours; assignments made by hand are never removed;
 *   - a card number held by another Kisi user moves only when that user is no longer a Nexudus
 *     customer holding the card (a card re-issued after someone left); otherwise it is reported.
 * A card problem never blocks door access: it is returned, not thrown (only outages are thrown, so
 * the activity retries).
 */
import { isApiError, isNotFound, isRetryableError, errorMessage } from '../src/clients/errors';
import { MAX_CARDS_PER_USER, type KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import { maskCard, type CardProblem, type OwnedCard } from '../src/contract/customer';
import { normalizeEmail } from '../src/domain/customer';
import { CARD_NUMBER, cardValues, type NexudusCoworker } from '../src/domain/nexudus-entities';

export interface CardDeps {
  kisi: Pick<KisiClient, 'findCardsByToken' | 'createCard' | 'listCardAssignments' | 'createCardAssignment' | 'deleteCardAssignment' | 'getUser'>;
  nexudus: Pick<NexudusClient, 'findCoworkersByEmail' | 'getCoworker'>;
}

export interface CardSyncInput {
  customerId: number;
  /** The customer's record; null when the customer is gone or may not enter (nothing of ours stays). */
  coworker: Pick<NexudusCoworker, 'AccessCardId' | 'KeyFobNumber'> | null;
  /** Where the cards belong: the Kisi user of the customer's current email (null: none yet). */
  kisiUserId: number | null;
  owned: OwnedCard[];
}

export interface CardSyncResult {
  owned: OwnedCard[];
  problems: CardProblem[];
}

/** The valid card numbers of a customer (at most four) and the values that are not card numbers. */
export function cardNumbersOf(coworker: Pick<NexudusCoworker, 'AccessCardId' | 'KeyFobNumber'>): { numbers: string[]; problems: CardProblem[] } {
  const problems: CardProblem[] = [];
  const numbers: string[] = [];
  for (const value of cardValues(coworker)) {
    if (!CARD_NUMBER.test(value)) {
      problems.push({ code: 'not-a-card-number', card: maskCard(value), detail: `"${maskCard(value)}" in AccessCardId/KeyFobNumber is not a card number (4-32 hex digits): not sent to Kisi` });
    } else if (!numbers.some((n) => n.toLowerCase() === value.toLowerCase())) numbers.push(value);
  }
  if (numbers.length > MAX_CARDS_PER_USER) {
    problems.push({ code: 'too-many-cards', card: maskCard(numbers[MAX_CARDS_PER_USER]!), detail: `${numbers.length} card numbers: Kisi holds ${MAX_CARDS_PER_USER} per person; the first ${MAX_CARDS_PER_USER} are used` });
    numbers.length = MAX_CARDS_PER_USER;
  }
  return { numbers, problems };
}

export async function syncCards(deps: CardDeps, input: CardSyncInput): Promise<CardSyncResult> {
  const parsed = input.coworker ? cardNumbersOf(input.coworker) : { numbers: [], problems: [] };
  const problems = [...parsed.problems];
  const target = input.kisiUserId;
  const wanted = target === null ? [] : parsed.numbers;
  const isWanted = (token: string) => wanted.some((w) => w.toLowerCase() === token.toLowerCase());

  // Take back ours that no longer belong: on another user, or no longer the customer's.
  const owned: OwnedCard[] = [];
  for (const card of input.owned) {
    if (card.kisiUserId === target && isWanted(card.token)) {
      owned.push(card);
      continue;
    }
    await deps.kisi.deleteCardAssignment(card.assignmentId); // gone already counts as done
  }

  for (const token of wanted) {
    if (target === null || owned.some((c) => c.token.toLowerCase() === token.toLowerCase())) continue;
    try {
      const placed = await place(deps, input.customerId, token, target);
      if (placed.kind === 'assigned') owned.push({ token, cardId: placed.cardId, assignmentId: placed.assignmentId, kisiUserId: target });
      else if (placed.kind === 'conflict') problems.push({ code: 'held-by-another-customer', card: maskCard(token), detail: placed.detail });
    } catch (error) {
      if (isRetryableError(error)) throw error;
      problems.push({ code: 'kisi-refused', card: maskCard(token), detail: `Kisi refused card ${maskCard(token)}: ${errorMessage(error)}` });
    }
  }
  return { owned, problems };
}

type Placement = { kind: 'assigned'; cardId: number; assignmentId: number } | { kind: 'present' } | { kind: 'conflict'; detail: string };

/** Puts card `token` on `userId`: ours when we assign it, left alone when already there. */
async function place(deps: CardDeps, customerId: number, token: string, userId: number): Promise<Placement> {
  let card = (await deps.kisi.findCardsByToken(token))[0];
  if (!card) {
    try {
      card = await deps.kisi.createCard({ token });
    } catch (error) {
      // Created meanwhile (another worker, a lost answer): Kisi says the token is taken.
      if (!(isApiError(error) && error.status === 422)) throw error;
      card = (await deps.kisi.findCardsByToken(token))[0];
      if (!card) throw error;
    }
  }
  const assignments = await deps.kisi.listCardAssignments({ cardId: card.id });
  // Already on this user (assigned by hand, or a lost answer of ours): it serves; we never take it back.
  if (assignments.some((a) => a.user_id === userId)) return { kind: 'present' };
  for (const other of assignments) {
    const holder = await previousHolderStillHolds(deps, other.user_id, token, customerId);
    if (holder) return { kind: 'conflict', detail: `card ${maskCard(token)} is held in Kisi by user ${other.user_id}, who is Nexudus customer ${holder} with that card: not moved (fix the card number in Nexudus)` };
  }
  // Re-issued: the previous holder is no longer a customer holding it.
  for (const other of assignments) await deps.kisi.deleteCardAssignment(other.id);
  const created = await deps.kisi.createCardAssignment({ userId, cardId: card.id });
  return { kind: 'assigned', cardId: card.id, assignmentId: created.id };
}

/**
 * The Nexudus customer (other than `customerId`) behind Kisi user `kisiUserId` who still holds
 * card `token`, or null when none does (the card may move).
 */
async function previousHolderStillHolds(deps: CardDeps, kisiUserId: number, token: string, customerId: number): Promise<number | null> {
  let email: string | null;
  try {
    email = normalizeEmail((await deps.kisi.getUser(kisiUserId)).email);
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  if (!email) return null;
  for (const coworker of await deps.nexudus.findCoworkersByEmail(email)) {
    if (coworker.Id === customerId) continue;
    if (cardValues(coworker).some((v) => v.toLowerCase() === token.toLowerCase())) return coworker.Id;
  }
  return null;
}
