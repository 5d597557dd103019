/**
 * Who a Nexudus customer is in Kisi. Two shared look-ups per worker process, because every grant
 * of a customer asks and both APIs are rate-limited:
 *   - the customer directory: Nexudus customer records, kept for a TTL and refreshed whenever a
 *     customer sync or reconcile reads the customer anyway, so a booking of a known customer costs
 *     no Nexudus read;
 *   - Kisi user ids by email: a new person's user is created first (one call) and looked up only
 *     when Kisi answers that the email is taken.
 * Facts a grant brings (from its customer workflow) win over the directory when newer.
 */
import { currentCallContext } from '../src/clients/call-context';
import { isApiError, isNotFound } from '../src/clients/errors';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import { customerFacts, mayEnter, newerFacts, normalizeEmail, type CustomerFacts } from '../src/domain/customer';
import { laneRank } from '../src/domain/lanes';
import type { NexudusCoworker } from '../src/domain/nexudus-entities';
import { needsPerson } from './failures';

export interface KisiUserDeps {
  kisi: Pick<KisiClient, 'findUserByEmail' | 'createUser'>;
  nexudus: Pick<NexudusClient, 'getCoworker'>;
  sendEmails: boolean;
  /** How long a customer record and a Kisi user id are trusted without asking again (default 10 minutes). */
  cacheTtlMs?: number;
  /** What the CustomerEmail search attribute holds for an email (the email itself unless a payload key hashes it). */
  emailKey?: (email: string) => string;
}

/** Kept answers: a customer's grants start together (a contract and its bookings, a 9:00 rush). */
export const DEFAULT_CACHE_TTL_MS = 10 * 60_000;

/**
 * Answers kept for a TTL and shared while in flight: grants of one customer start together (a
 * contract and its bookings, a 9:00 rush), and each answer costs a call to a rate-limited API.
 */
export class SharedLookups<K, V> {
  private readonly answers = new Map<K, { value: V; at: number }>();
  private readonly inFlight = new Map<K, { loading: Promise<V>; rank: number }>();

  constructor(private readonly ttlMs: number) {}

  /**
   * `fresh` skips the kept answer; `keep` says whether an answer may be kept at all. With
   * `byLane`, a caller joins a load in flight only if that load's lane goes at least as early as
   * the caller's (src/domain/lanes.ts): a live caller does not wait behind a scheduled read queued
   * in the gate during a 9:00 burst, it makes its own (and later callers join that one).
   */
  async get(key: K, load: () => Promise<V>, fresh: boolean, keep: (value: V) => boolean = () => true, byLane = false): Promise<V> {
    const kept = this.peek(key);
    if (kept !== undefined && !fresh) return kept;
    const rank = byLane ? laneRank(currentCallContext().lane) : 0;
    const pending = this.inFlight.get(key);
    if (pending && pending.rank <= rank) return pending.loading;
    const loading = load();
    const entry = { loading, rank };
    this.inFlight.set(key, entry);
    try {
      const value = await loading;
      if (keep(value)) this.set(key, value);
      return value;
    } finally {
      if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
    }
  }

  /** The kept answer while it is fresh. */
  peek(key: K): V | undefined {
    const kept = this.answers.get(key);
    return kept && Date.now() - kept.at < this.ttlMs ? kept.value : undefined;
  }

  set(key: K, value: V): void {
    this.answers.set(key, { value, at: Date.now() });
  }

  delete(key: K): void {
    this.answers.delete(key);
  }
}

/** A customer as the directory knows them: the record, or gone from Nexudus. */
export type DirectoryEntry = { coworker: NexudusCoworker; facts: CustomerFacts } | { gone: true; customerId: number };

export class CustomerDirectory {
  private readonly entries: SharedLookups<number, DirectoryEntry>;

  constructor(
    private readonly nexudus: Pick<NexudusClient, 'getCoworker'>,
    ttlMs = DEFAULT_CACHE_TTL_MS,
  ) {
    this.entries = new SharedLookups(ttlMs);
  }

  /**
   * The customer, read from Nexudus unless kept (or `fresh`). A customer without an email is not kept: a person's fix is seen at once.
   * `beforeRead` runs just before this call's own request goes out; not at all when the answer was
   * kept or comes from a read already in flight (made before this call). A read in flight is joined
   * only from its lane or a later one: a live caller (the pass watcher, a grant whose window is
   * open) does not wait for a customer sync's read queued in the scheduled lane.
   */
  async get(customerId: number, fresh = false, beforeRead?: () => Promise<void>): Promise<DirectoryEntry> {
    return this.entries.get(customerId, () => this.read(customerId, beforeRead), fresh, (e) => 'gone' in e || e.facts.email !== null, true);
  }

  /** A record read by someone else (customer sync, reconcile): keep it if it is not older. */
  note(coworker: NexudusCoworker): void {
    const facts = customerFacts(coworker);
    const kept = this.entries.peek(coworker.Id);
    if (kept && !('gone' in kept) && !newerFacts(kept.facts, facts)) return;
    this.entries.set(coworker.Id, { coworker, facts });
  }

  forget(customerId: number): void {
    this.entries.delete(customerId);
  }

  private async read(customerId: number, beforeSend?: () => Promise<void>): Promise<DirectoryEntry> {
    try {
      const coworker = await (beforeSend ? this.nexudus.getCoworker(customerId, { beforeSend }) : this.nexudus.getCoworker(customerId));
      return { coworker, facts: customerFacts(coworker) };
    } catch (error) {
      if (isNotFound(error)) return { gone: true, customerId };
      throw error;
    }
  }
}

/** Who the customer is in Kisi now, and whether they may enter. */
export interface Resolution {
  active: boolean;
  facts: CustomerFacts | null;
  person: { customerId: number; kisiUserId: number; email: string; emailKey: string; name: string | null; version: number | null } | null;
  /** The Kisi user was created just now (its cards are still to be assigned). */
  created: boolean;
  /** The customer record used (for card numbers), when one was read. */
  coworker: NexudusCoworker | null;
}

export class KisiUsers {
  /** Email -> Kisi user id. */
  private readonly userIds: SharedLookups<string, { id: number; created: boolean }>;
  readonly directory: CustomerDirectory;

  constructor(private readonly deps: KisiUserDeps) {
    const ttl = deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.userIds = new SharedLookups(ttl);
    this.directory = new CustomerDirectory(deps.nexudus, ttl);
  }

  emailKey(email: string): string {
    return this.deps.emailKey ? this.deps.emailKey(email) : email;
  }

  /**
   * The customer's Kisi user (created when Kisi has none) and whether they may enter. `known`:
   * facts the caller heard from the customer workflow, used when newer than the directory's.
   * `fresh` skips every kept answer: an operator's retry must see a user deleted by hand in Kisi.
   */
  async resolve(customer: { customerId: number; name: string | null; known?: CustomerFacts | null }, fresh = false): Promise<Resolution> {
    const entry = await this.directory.get(customer.customerId, fresh);
    if ('gone' in entry) return { active: false, facts: null, person: null, created: false, coworker: null };
    let facts = entry.facts;
    if (customer.known && newerFacts(facts, customer.known)) facts = customer.known;
    if (!mayEnter(facts)) return { active: false, facts, person: null, created: false, coworker: entry.coworker };
    const email = facts.email;
    if (!email) throw needsPerson('CustomerWithoutEmail', `Nexudus customer ${customer.customerId} has no email address: Kisi needs one to create the user`);
    const name = facts.name ?? customer.name?.trim() ?? email;
    const user = await this.userIds.get(email, () => this.createOrFind(email, name || email, customer.customerId), fresh);
    if (user.created) this.userIds.set(email, { id: user.id, created: false }); // later callers find it, not create it
    return {
      active: true,
      facts,
      person: { customerId: customer.customerId, kisiUserId: user.id, email, emailKey: this.emailKey(email), name: facts.name, version: facts.version },
      created: user.created,
      coworker: entry.coworker,
    };
  }

  /** The Kisi user of an email if Kisi has one (never creates). */
  async existing(email: string): Promise<number | null> {
    const address = normalizeEmail(email);
    if (!address) return null;
    const kept = this.userIds.peek(address);
    if (kept) return kept.id;
    const user = await this.deps.kisi.findUserByEmail(address);
    if (user) this.userIds.set(address, { id: user.id, created: false });
    return user?.id ?? null;
  }

  /**
   * Legacy grants' look-up (activities/grant-leases.ts acquireLeases): the Kisi user for a customer by
   * the webhook's email or the customer record, created when missing.
   */
  async ensure(customer: { customerId: number; email: string | null; name: string | null }, fresh = false): Promise<{ kisiUserId: number; email: string }> {
    let email = normalizeEmail(customer.email);
    if (!email) {
      const entry = await this.directory.get(customer.customerId, fresh);
      email = 'gone' in entry ? null : entry.facts.email;
    }
    if (!email) throw needsPerson('CustomerWithoutEmail', `Nexudus customer ${customer.customerId} has no email address: Kisi needs one to create the user`);
    const address = email;
    const user = await this.userIds.get(address, () => this.createOrFind(address, customer.name?.trim() || address, customer.customerId), fresh);
    return { kisiUserId: user.id, email: address };
  }

  /** Creates the user (one call for a new person); Kisi's 422 "taken" means it exists: look it up. */
  private async createOrFind(email: string, name: string, customerId: number): Promise<{ id: number; created: boolean }> {
    try {
      const created = await this.deps.kisi.createUser({ email, name, sendEmails: this.deps.sendEmails, metadata: { nexudus_customer_id: customerId } });
      return { id: created.id, created: true };
    } catch (error) {
      if (!(isApiError(error) && error.status === 422 && error.fieldErrors?.email)) throw error;
    }
    const existing = await this.deps.kisi.findUserByEmail(email);
    if (!existing) throw needsPerson('KisiEmailRefused', `Kisi refused the email ${email} as taken but has no user with it`);
    return { id: existing.id, created: false };
  }

  forget(email: string): void {
    const address = normalizeEmail(email);
    if (address) this.userIds.delete(address);
  }
}
