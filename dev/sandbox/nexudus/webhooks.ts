/**
 * Webhook deliveries the way Nexudus makes them (help.nexudus.com "Verifying Webhooks Created via
 * the API"; developers.nexudus.com sys/webhooks):
 *   - POST to the webhook's URL, body = JSON array holding the one entity;
 *   - `X-Nexudus-Hook-Signature` = upper-case hex HMAC-SHA256 of the body with the shared secret.
 *     Nexudus' sample encodes key and body with .NET's ASCIIEncoding, which turns every non-ASCII
 *     character into '?': `signatureEncoding: 'ascii'` (default) copies that, 'utf8' signs the bytes sent;
 *   - a non-2xx answer (or no answer) is a failure: `ErrorCount` and `LastError` record it, the
 *     delivery is retried after growing delays, and after `maxFailures` consecutive failures the
 *     webhook is disabled (`Active=false`) until someone re-enables it.
 * Delivery faults for drills: each delivery sent 1..N times, and a batch sent in random order.
 */
import { createHmac } from 'node:crypto';
import axios from 'axios';
import { actionId, actionName } from './actions';
import type { Json } from './render';
import type { Store } from './store';
import { seededRandom } from '../../lib/seeded-random';

export type SignatureEncoding = 'ascii' | 'utf8';

export interface DeliveryOptions {
  /** Each delivery is sent a random number of times in [min, max] (default [1, 1]). */
  duplicates?: [number, number];
  /** Send each batch of deliveries in random order. */
  shuffle?: boolean;
  /** How long deliveries wait to form a batch before sending (ms; default 0 = next tick). */
  holdMs?: number;
  /** Delays before each retry (ms); its length + 1 is the attempts one delivery gets. */
  retryDelaysMs?: number[];
  /** Consecutive failures after which a webhook is disabled (Nexudus: 10). */
  maxFailures?: number;
  /** Per-request timeout (ms). */
  timeoutMs?: number;
  /** Seed for duplicate and shuffle draws. */
  seed?: number;
}

/** Nexudus retries "with growing delays"; the exact schedule is not published. */
export const DEFAULT_RETRY_DELAYS_MS = [60_000, 120_000, 240_000, 480_000, 900_000, 1_800_000, 3_600_000, 3_600_000, 3_600_000];

export interface DeliveryAttempt {
  deliveryId: number;
  webhookId: number;
  action: string;
  entityId: unknown;
  attempt: number;
  copy: number;
  at: string;
  status?: number;
  error?: string;
  ok: boolean;
}

interface Delivery {
  deliveryId: number;
  webhookId: number;
  action: string;
  entityId: unknown;
  body: string;
  attempt: number;
  copy: number;
}

/** The header value Nexudus would send for `body`. */
export function signNexudusBody(body: string, secret: string, encoding: SignatureEncoding = 'ascii'): string {
  const bytes = (text: string) => (encoding === 'ascii' ? Buffer.from(text.replace(/[^\p{ASCII}]/gu, '?'), 'latin1') : Buffer.from(text, 'utf8'));
  return createHmac('sha256', bytes(secret)).update(bytes(body)).digest('hex').toUpperCase();
}

export class WebhookDispatcher {
  /** Every attempt, oldest first. */
  readonly log: DeliveryAttempt[] = [];
  private queue: Delivery[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  /** One batch at a time, so batches never interleave (only `shuffle` reorders). */
  private flushing = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private sequence = 0;
  private readonly random: () => number;
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly options: { secret?: string; signatureEncoding: SignatureEncoding; delivery: DeliveryOptions },
  ) {
    this.random = options.delivery.seed === undefined ? Math.random : seededRandom(options.delivery.seed);
  }

  /** Queues a delivery of `entity` to every active webhook for `action` (and the entity's business). */
  fire(action: string, entity: Json, businessId: number | null): void {
    if (this.stopped) return;
    const id = actionId(action);
    if (id === undefined) return;
    const body = JSON.stringify([entity]);
    const [min, max] = this.options.delivery.duplicates ?? [1, 1];
    for (const hook of this.store.webhooks.all()) {
      if (!hook.Active || hook.Action !== id) continue;
      if (hook.BusinessId !== null && businessId !== null && hook.BusinessId !== businessId) continue;
      const deliveryId = ++this.sequence;
      const copies = min + Math.floor(this.random() * (Math.max(min, max) - min + 1));
      for (let copy = 1; copy <= copies; copy++) {
        this.queue.push({ deliveryId, webhookId: hook.Id, action: actionName(id), entityId: entity.Id, body, attempt: 1, copy });
      }
    }
    this.scheduleFlush();
  }

  /** Sends one signed body to `url` right now, once; answers the receiver's status (or throws). */
  async sendOnce(url: string, body: string): Promise<{ status: number; data: unknown }> {
    const response = await axios.post(url, body, {
      headers: this.headers(body),
      timeout: this.options.delivery.timeoutMs ?? 10_000,
      validateStatus: () => true,
      transformRequest: [(data: unknown) => data],
    });
    return { status: response.status, data: response.data };
  }

  private headers(body: string): Record<string, string> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'Nexudus-Sandbox-Webhooks' };
    if (this.options.secret) headers['X-Nexudus-Hook-Signature'] = signNexudusBody(body, this.options.secret, this.options.signatureEncoding);
    return headers;
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.flushing || this.queue.length === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flush();
    }, this.options.delivery.holdMs ?? 0);
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    if (this.options.delivery.shuffle) {
      for (let i = batch.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [batch[i], batch[j]] = [batch[j]!, batch[i]!];
      }
    }
    this.inFlight++;
    this.flushing = true;
    try {
      // In order, one at a time: the receiver sees exactly the order chosen here.
      for (const d of batch) await this.attempt(d);
    } finally {
      this.flushing = false;
      this.inFlight--;
      this.scheduleFlush();
      this.notifyIfIdle();
    }
  }

  private async attempt(d: Delivery): Promise<void> {
    const hook = this.store.webhooks.get(d.webhookId);
    if (!hook || !hook.Active || this.stopped) return;
    const at = Date.now();
    const entry: DeliveryAttempt = { deliveryId: d.deliveryId, webhookId: d.webhookId, action: d.action, entityId: d.entityId, attempt: d.attempt, copy: d.copy, at: new Date(at).toISOString(), ok: false };
    try {
      const { status } = await this.sendOnce(hook.URL, d.body);
      entry.status = status;
      entry.ok = status >= 200 && status < 300;
      if (!entry.ok) entry.error = `HTTP ${status}`;
    } catch (e) {
      entry.error = (e as Error).message;
    }
    this.log.push(entry);
    const current = this.store.webhooks.get(d.webhookId);
    if (!current) return;
    current.LastTrigger = at;
    if (entry.ok) {
      // ErrorCount counts consecutive failures here (a success clears it); whether Nexudus clears
      // it on success is UNVERIFIED, but "disabled after 10 consecutive failures" needs the count.
      current.ErrorCount = 0;
      return;
    }
    current.ErrorCount += 1;
    current.LastError = entry.error ?? 'failed';
    current.UpdatedOn = at;
    if (current.ErrorCount >= (this.options.delivery.maxFailures ?? 10)) {
      current.Active = false;
      return;
    }
    const delays = this.options.delivery.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const delay = delays[d.attempt - 1];
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.inFlight++;
      void this.attempt({ ...d, attempt: d.attempt + 1 }).finally(() => {
        this.inFlight--;
        this.notifyIfIdle();
      });
    }, delay);
    // Pending retries (up to an hour apart by default) must not keep a test run or CLI alive.
    timer.unref();
    this.timers.add(timer);
  }

  /** True while deliveries are queued, being sent, or waiting for a retry. */
  get busy(): boolean {
    return this.queue.length > 0 || this.flushTimer !== undefined || this.inFlight > 0 || this.timers.size > 0;
  }

  /** Resolves once nothing is queued, in flight or waiting for a retry. */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIfIdle(): void {
    if (this.busy) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Drops queued deliveries and pending retries, and forgets the log (sandbox reset). */
  clear(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue = [];
    this.log.length = 0;
    this.notifyIfIdle();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  /** Attempts for one webhook (for `GET /__sandbox/state`). */
  attemptsFor(webhookId: number): DeliveryAttempt[] {
    return this.log.filter((a) => a.webhookId === webhookId);
  }
}
