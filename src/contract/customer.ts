/**
 * The customer workflow's contract: `customer-sync-<customerId>` is the person behind a Nexudus
 * customer. It follows the customer's record (email, active, cards), tells the customer's grants
 * when who they are in Kisi changes, owns the access cards the product assigned, and checks the
 * customer in on door unlocks one at a time. Workflow-safe.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { CustomerFacts } from '../domain/customer';

export const CUSTOMER_WORKFLOW_TYPE = 'customerSyncWorkflow';

export interface CustomerSyncRequest {
  /** CoworkerDelete: end every grant of the customer and take back their cards. */
  deleted: boolean;
  /** Which webhook or component asked, for the record. */
  reason: string;
  /** Only the cards need a look (a Kisi user was just created for the customer). */
  cardsOnly?: boolean;
}

export const customerSyncRequestedSignal = defineSignal<[CustomerSyncRequest]>('syncRequested');

/**
 * How many sync requests the workflow's current run has received. A sync asks just before it reads
 * the customer from Nexudus: the requests received by then are answered by that read (see
 * src/domain/sync-requests.ts). Queries cost no Temporal actions.
 */
export const customerSyncRequestsReceivedQuery = defineQuery<number>('customerSyncRequestsReceived');

/** A door unlock to check the customer in for (from the check-in workflow of that unlock). */
export interface CheckinRequest {
  eventUuid: string;
  /** ISO instant of the unlock. */
  unlockedAt: string;
  lockId: number;
  lockName: string | null;
  /** The check-in workflow to answer (checkin-<uuid>). */
  replyTo: string;
}

export const checkinRequestedSignal = defineSignal<[CheckinRequest]>('checkinRequested');

/**
 * Cards assigned when the customer's Kisi user was created (by the grant that created it, so the
 * user has its cards from the first door): the customer workflow records them as its own.
 */
export interface CardsAssigned {
  kisiUserId: number;
  owned: OwnedCard[];
  problems: CardProblem[];
}

export const cardsAssignedSignal = defineSignal<[CardsAssigned]>('cardsAssigned');

export interface CustomerWorkflowInput {
  /** 2: the current code; customer syncs started without it run the legacy code. */
  v: 2;
  customerId: number;
  carried?: unknown;
  historyLimit?: number;
}

/** A card the product assigned in Kisi (it alone may take it back). */
export interface OwnedCard {
  /** The card number (Kisi's card token). */
  token: string;
  cardId: number;
  assignmentId: number;
  kisiUserId: number;
}

/** Something about the customer's cards a person must look at; never blocks door access. */
export interface CardProblem {
  code: 'not-a-card-number' | 'held-by-another-customer' | 'too-many-cards' | 'kisi-refused';
  /** The card number, shortened for operators (last four characters). */
  card: string;
  detail: string;
}

export interface CustomerStatus {
  customerId: number;
  facts: CustomerFacts | null;
  kisiUser: { kisiUserId: number; email: string } | null;
  cards: Array<{ card: string; kisiUserId: number }>;
  cardProblems: CardProblem[];
  deleted: boolean;
  lastSync: { at: string; reason: string } | null;
  lastError: string | null;
}

export const customerStatusQuery = defineQuery<CustomerStatus>('customerStatus');

/** Shortens a card number for display: cards open doors, so logs and the UI show only the end. */
export function maskCard(token: string): string {
  return token.length <= 4 ? '…' + token.slice(-2) : '…' + token.slice(-4);
}
