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

export class KisiUsers {
  private readonly byEmail = new Map<string, { id: number; at: number }>();
  private readonly inFlight = new Map<string, Promise<number>>();
  /**
   * Customer id -> email, for grants whose webhook carried no email (bookings): a 9:00 rush of one
   * customer's bookings reads the customer from Nexudus (120 requests/min) once, not once per booking.
   */
  private readonly coworkerById = new Map<number, { coworker: NexudusCoworker; at: number }>();
  private readonly coworkerInFlight = new Map<number, Promise<NexudusCoworker>>();

  constructor(private readonly deps: KisiUserDeps) {}

  /** The Kisi user id for a customer, creating the user (with cards) when Kisi has none. */
  /** `fresh` skips the cache: an operator's retry must see a user deleted by hand in Kisi. */
  async ensure(customer: { customerId: number; email: string | null; name: string | null }, fresh = false): Promise<{ kisiUserId: number; email: string }> {
    let coworker: NexudusCoworker | undefined;
    let email = customer.email?.trim().toLowerCase() || null;
    if (!email) {
      coworker = await this.coworker(customer.customerId, fresh);
      email = coworker.Email?.trim().toLowerCase() || null;
    }
    if (!email) throw needsPerson('CustomerWithoutEmail', `Nexudus customer ${customer.customerId} has no email address: Kisi needs one to create the user`);

    const cached = this.byEmail.get(email);
    if (cached && !fresh && Date.now() - cached.at < this.ttl()) return { kisiUserId: cached.id, email };

    // Grants of one customer start together (a contract and its bookings): one lookup per email at a time.
    const pending = this.inFlight.get(email);
    if (pending) return { kisiUserId: await pending, email };
    const lookup = this.findOrCreate(email, customer, coworker);
    this.inFlight.set(email, lookup);
    try {
      const kisiUserId = await lookup;
      this.byEmail.set(email, { id: kisiUserId, at: Date.now() });
      return { kisiUserId, email };
    } finally {
      this.inFlight.delete(email);
    }
  }

  /** The Nexudus customer, read at most once per TTL (and once at a time) per customer id. */
  private async coworker(customerId: number, fresh: boolean): Promise<NexudusCoworker> {
    const cached = this.coworkerById.get(customerId);
    if (cached && !fresh && Date.now() - cached.at < this.ttl()) return cached.coworker;
    const pending = this.coworkerInFlight.get(customerId);
    if (pending) return pending;
    const read = this.deps.nexudus.getCoworker(customerId);
    this.coworkerInFlight.set(customerId, read);
    try {
      const coworker = await read;
      // Without an email the grant needs a person; their fix must be seen on the next attempt.
      if (coworker.Email?.trim()) this.coworkerById.set(customerId, { coworker, at: Date.now() });
      return coworker;
    } finally {
      this.coworkerInFlight.delete(customerId);
    }
  }

  private ttl(): number {
    return this.deps.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  }

  private async findOrCreate(email: string, customer: { customerId: number; name: string | null }, coworker: NexudusCoworker | undefined): Promise<number> {
    const existing = await this.deps.kisi.findUserByEmail(email);
    if (existing) return existing.id;
    const record = coworker ?? (await this.deps.nexudus.getCoworker(customer.customerId));
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
    this.coworkerById.set(coworker.Id, { coworker, at: Date.now() });
    const email = coworker.Email?.trim().toLowerCase();
    if (!email) return { kisiUserId: null, cards: null };
    const user = await this.deps.kisi.findUserByEmail(email);
    if (!user) return { kisiUserId: null, cards: null }; // created on the first grant, not before
    const name = coworker.FullName?.trim();
    if (name && name !== user.name) await this.deps.kisi.updateUser(user.id, { name });
    const cards = await this.deps.kisi.syncUserCards(user.id, accessCardNumbers(coworker));
    this.byEmail.set(email, { id: user.id, at: Date.now() });
    return { kisiUserId: user.id, cards };
  }

  forget(email: string): void {
    this.byEmail.delete(email.trim().toLowerCase());
  }
}
