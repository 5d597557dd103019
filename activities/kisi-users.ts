/**
 * The Kisi user behind a Nexudus customer: found by email or created (name, invitation email per
 * KISI_SEND_EMAILS, the customer's access cards). Cached briefly per process, because every
 * grant of a customer asks and Kisi allows 5 requests per second.
 */
import { isApiError } from '../src/clients/errors';
import type { KisiClient } from '../src/clients/kisi';
import type { NexudusClient } from '../src/clients/nexudus';
import { accessCardNumbers, type NexudusCoworker } from '../src/domain/nexudus-entities';
import { needsPerson } from './failures';

export interface KisiUserDeps {
  kisi: Pick<KisiClient, 'findUserByEmail' | 'createUser' | 'updateUser' | 'syncUserCards'>;
  nexudus: Pick<NexudusClient, 'getCoworker'>;
  sendEmails: boolean;
  /** How long a found user id is trusted without asking Kisi again (default 5 minutes). */
  cacheTtlMs?: number;
}

const DEFAULT_CACHE_TTL_MS = 5 * 60_000;

/**
 * Answers kept for a TTL and shared while in flight: grants of one customer start together (a
 * contract and its bookings, a 9:00 rush), and each answer costs a call to a rate-limited API.
 */
class SharedLookups<K, V> {
  private readonly answers = new Map<K, { value: V; at: number }>();
  private readonly inFlight = new Map<K, Promise<V>>();

  constructor(private readonly ttlMs: number) {}

  /** `fresh` skips the kept answer; `keep` says whether an answer may be kept at all. */
  async get(key: K, load: () => Promise<V>, fresh: boolean, keep: (value: V) => boolean = () => true): Promise<V> {
    const kept = this.answers.get(key);
    if (kept && !fresh && Date.now() - kept.at < this.ttlMs) return kept.value;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const loading = load();
    this.inFlight.set(key, loading);
    try {
      const value = await loading;
      if (keep(value)) this.set(key, value);
      return value;
    } finally {
      this.inFlight.delete(key);
    }
  }

  set(key: K, value: V): void {
    this.answers.set(key, { value, at: Date.now() });
  }

  delete(key: K): void {
    this.answers.delete(key);
  }
}

export class KisiUsers {
  /** Email -> Kisi user id. */
  private readonly userIds: SharedLookups<string, number>;
  /** Customer id -> Nexudus record, for grants whose webhook carried no email (bookings). */
  private readonly coworkers: SharedLookups<number, NexudusCoworker>;

  constructor(private readonly deps: KisiUserDeps) {
    const ttl = deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    this.userIds = new SharedLookups(ttl);
    this.coworkers = new SharedLookups(ttl);
  }

  /**
   * The Kisi user id for a customer, creating the user (with cards) when Kisi has none. `fresh`
   * skips what is kept: an operator's retry must see a user deleted by hand in Kisi.
   */
  async ensure(customer: { customerId: number; email: string | null; name: string | null }, fresh = false): Promise<{ kisiUserId: number; email: string }> {
    let email = customer.email?.trim().toLowerCase() || null;
    if (!email) email = (await this.coworker(customer.customerId, fresh)).Email?.trim().toLowerCase() || null;
    if (!email) throw needsPerson('CustomerWithoutEmail', `Nexudus customer ${customer.customerId} has no email address: Kisi needs one to create the user`);
    const address = email;
    const kisiUserId = await this.userIds.get(address, () => this.findOrCreate(address, customer), fresh);
    return { kisiUserId, email: address };
  }

  /** The Nexudus customer; one without an email is not kept, so a person's fix is seen on the next attempt. */
  private coworker(customerId: number, fresh: boolean): Promise<NexudusCoworker> {
    return this.coworkers.get(customerId, () => this.deps.nexudus.getCoworker(customerId), fresh, (c) => Boolean(c.Email?.trim()));
  }

  private async findOrCreate(email: string, customer: { customerId: number; name: string | null }): Promise<number> {
    const existing = await this.deps.kisi.findUserByEmail(email);
    if (existing) return existing.id;
    // Read just above when the webhook had no email; otherwise once per TTL like every other read.
    const record = await this.coworker(customer.customerId, false);
    let created: { id: number };
    try {
      created = await this.deps.kisi.createUser({
        email,
        name: record.FullName?.trim() || customer.name?.trim() || email,
        sendEmails: this.deps.sendEmails,
        metadata: { nexudus_customer_id: customer.customerId },
      });
    } catch (error) {
      // Another worker created the user in between: Kisi answers 422 "email has already been taken".
      if (isApiError(error) && error.status === 422 && error.fieldErrors?.email) {
        const raced = await this.deps.kisi.findUserByEmail(email);
        if (raced) return raced.id;
      }
      throw error;
    }
    await this.deps.kisi.syncUserCards(created.id, accessCardNumbers(record));
    return created.id;
  }

  /** Brings an existing Kisi user's name and cards in line with the Nexudus customer (customer sync). */
  async refresh(coworker: NexudusCoworker): Promise<{ kisiUserId: number | null; cards: { added: number; removed: number } | null }> {
    // The customer sync read the customer just now: later grants use this (maybe changed) email.
    this.coworkers.set(coworker.Id, coworker);
    const email = coworker.Email?.trim().toLowerCase();
    if (!email) return { kisiUserId: null, cards: null };
    const user = await this.deps.kisi.findUserByEmail(email);
    if (!user) return { kisiUserId: null, cards: null }; // created on the first grant, not before
    const name = coworker.FullName?.trim();
    if (name && name !== user.name) await this.deps.kisi.updateUser(user.id, { name });
    const cards = await this.deps.kisi.syncUserCards(user.id, accessCardNumbers(coworker));
    this.userIds.set(email, user.id);
    return { kisiUserId: user.id, cards };
  }

  forget(email: string): void {
    this.userIds.delete(email.trim().toLowerCase());
  }
}
