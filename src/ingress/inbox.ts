/**
 * The durable local inbox: verified events that could not be handed to Temporal yet (Temporal or
 * Nexudus unreachable, or an earlier event of the same record still waiting). One SQLite file,
 * `${DATA_DIR}/inbox.db`, in WAL mode with `synchronous=FULL`: an event is on disk (fsynced) before
 * the webhook is answered, so a 202 is a promise kept across crashes and power loss.
 *
 * Single writer: the connection holds an exclusive lock on the file for its whole life
 * (`locking_mode=EXCLUSIVE`), so a second ingress on the same file cannot open it and cannot
 * deliver the same backlog twice. The lock dies with the process, even on SIGKILL.
 *
 * Ordering: events are numbered on arrival; per entity key (`booking-123`, `customer-9`) only the
 * oldest pending event is ever handed out, so each record's events reach Temporal in arrival order.
 * A poison event is marked dead (kept with its reason for operators) and stops blocking its key.
 *
 * Least data: the file is readable by its owner only (0600, its directory 0700 when created here),
 * callers store only the fields the product reads (never PINs or card numbers, see
 * src/ingress/stored-body.ts), and dead events are deleted `deadRetentionMs` after they died.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface NewInboxEvent {
  entityKey: string;
  source: 'nexudus' | 'kisi';
  /** Nexudus action (from the URL) or Kisi event type. */
  action: string;
  /**
   * What the product reads of the verified body: one entity's known fields as JSON
   * (src/ingress/stored-body.ts). Rows written by older versions hold the whole raw body.
   */
  body: string;
  /** Which entity of the body this event is (Nexudus bodies are arrays; one entity in practice). */
  entityIndex: number;
  receivedAt: number;
  requestId: string | null;
}

export interface StoredEvent extends NewInboxEvent {
  id: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
}

/** Why an event died, as a bounded label (metrics) beside its reason text. */
export type DeadCause =
  | 'not-json'
  | 'unreadable-body'
  | 'unhandled-action'
  | 'invalid-entity'
  | 'invalid-event'
  | 'not-found'
  | 'unreadable-record'
  | 'temporal-invalid-argument'
  | 'other';

export interface DeadEvent {
  id: number;
  entityKey: string;
  source: string;
  action: string;
  receivedAt: string;
  deadAt: string;
  reason: string;
  cause: DeadCause;
  attempts: number;
  requestId: string | null;
  /** False when the body could not be kept (it was not readable): such an event cannot be retried. */
  bodyKept: boolean;
}

/** One event as an operator sees it: a dead one, or one still waiting. */
export interface InboxEventView extends Omit<DeadEvent, 'deadAt'> {
  status: 'pending' | 'dead';
  deadAt: string | null;
  /** The stored fields (JSON text), for `npm run inbox -- show`. */
  body: string;
  lastError: string | null;
  nextAttemptAt: string | null;
}

export interface InboxStats {
  /** Pending events. */
  backlog: number;
  /** Entity keys with pending events. */
  entities: number;
  /** Arrival time of the oldest pending event (ms), null when empty. */
  oldestReceivedAt: number | null;
  dead: number;
}

export class InboxLockedError extends Error {
  constructor(readonly file: string) {
    super(`the inbox ${file} is held by another ingress process: one ingress per inbox file (set DATA_DIR to a directory of its own)`);
    this.name = 'InboxLockedError';
  }
}

/**
 * How many dead events are kept at most (the oldest are dropped beyond this), a bound on the file
 * whatever the retention: only correctly signed deliveries can become dead events.
 */
const DEAD_KEPT = 10_000;
/** Default retention of dead events (INBOX_DEAD_RETENTION). */
export const DEFAULT_DEAD_RETENTION_MS = 30 * 86_400_000;

interface Row {
  id: number;
  entity_key: string;
  source: 'nexudus' | 'kisi';
  action: string;
  body: string;
  entity_index: number;
  received_at: number;
  request_id: string | null;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  entity_key TEXT NOT NULL,
  source TEXT NOT NULL,
  action TEXT NOT NULL,
  body TEXT NOT NULL,
  entity_index INTEGER NOT NULL DEFAULT 0,
  received_at INTEGER NOT NULL,
  request_id TEXT,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dead')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  dead_at INTEGER,
  dead_reason TEXT,
  dead_cause TEXT,
  body_kept INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS events_by_entity ON events (entity_key, status, id);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, id);
`;

export interface InboxOptions {
  /** How long to wait for another process to let go of the file before giving up (ms). */
  lockTimeoutMs?: number;
  /** Dead events older than this are deleted (ms, default 30 days). */
  deadRetentionMs?: number;
}

/** Columns added after the first release: added to an existing file on open. */
const ADDED_COLUMNS: Array<[string, string]> = [
  ['dead_cause', 'TEXT'],
  ['body_kept', 'INTEGER NOT NULL DEFAULT 1'],
];

export class Inbox {
  private readonly db: Database.Database;
  /** Pending events per entity key, mirrored from the table (this connection is its only writer). */
  private readonly pendingByKey = new Map<string, number>();
  /** Dead events in the table, mirrored like pendingByKey. */
  private deadCount = 0;
  private readonly statements;
  private closed = false;
  readonly deadRetentionMs: number;

  private constructor(
    readonly file: string,
    options: InboxOptions,
  ) {
    this.deadRetentionMs = options.deadRetentionMs ?? DEFAULT_DEAD_RETENTION_MS;
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Owner only, before SQLite opens it: it creates its WAL and shared-memory files with the
    // database file's permissions.
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    fs.chmodSync(file, 0o600);
    this.db = new Database(file, { timeout: options.lockTimeoutMs ?? 5_000 });
    try {
      // Exclusive before WAL: the WAL index then lives in this process' memory and the file lock
      // is taken by the first write below and held until close.
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(SCHEMA);
      const columns = new Set((this.db.pragma('table_info(events)') as Array<{ name: string }>).map((c) => c.name));
      for (const [name, type] of ADDED_COLUMNS) if (!columns.has(name)) this.db.exec(`ALTER TABLE events ADD COLUMN ${name} ${type}`);
      for (const extra of [`${file}-wal`, `${file}-shm`]) if (fs.existsSync(extra)) fs.chmodSync(extra, 0o600);
    } catch (error) {
      this.db.close();
      if ((error as { code?: string }).code === 'SQLITE_BUSY') throw new InboxLockedError(file);
      throw error;
    }
    this.statements = {
      insert: this.db.prepare(
        `INSERT INTO events (entity_key, source, action, body, entity_index, received_at, request_id, next_attempt_at)
         VALUES (@entityKey, @source, @action, @body, @entityIndex, @receivedAt, @requestId, @receivedAt)`,
      ),
      dueHeads: this.db.prepare(
        `SELECT id, entity_key, source, action, body, entity_index, received_at, request_id, attempts, next_attempt_at, last_error
         FROM events e
         WHERE status = 'pending' AND next_attempt_at <= ?
           AND id = (SELECT MIN(id) FROM events h WHERE h.entity_key = e.entity_key AND h.status = 'pending')
         ORDER BY id LIMIT ?`,
      ),
      nextDueAt: this.db.prepare(
        `SELECT MIN(next_attempt_at) AS at FROM events e
         WHERE status = 'pending' AND id = (SELECT MIN(id) FROM events h WHERE h.entity_key = e.entity_key AND h.status = 'pending')`,
      ),
      insertDead: this.db.prepare(
        `INSERT INTO events (entity_key, source, action, body, entity_index, received_at, request_id, next_attempt_at, status, attempts, dead_at, dead_reason, dead_cause, body_kept)
         VALUES (@entityKey, @source, @action, @body, @entityIndex, @receivedAt, @requestId, @receivedAt, 'dead', 0, @deadAt, @reason, @cause, @bodyKept)`,
      ),
      keyOf: this.db.prepare(`SELECT entity_key FROM events WHERE id = ? AND status = 'pending'`),
      remove: this.db.prepare(`DELETE FROM events WHERE id = ?`),
      retryLater: this.db.prepare(`UPDATE events SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`),
      kill: this.db.prepare(`UPDATE events SET status = 'dead', attempts = attempts + 1, dead_at = ?, dead_reason = ?, dead_cause = ? WHERE id = ?`),
      pruneOldestDead: this.db.prepare(`DELETE FROM events WHERE id IN (SELECT id FROM events WHERE status = 'dead' ORDER BY id LIMIT ?)`),
      deadCount: this.db.prepare(`SELECT COUNT(*) AS n FROM events WHERE status = 'dead'`),
      purgeDead: this.db.prepare(`DELETE FROM events WHERE status = 'dead' AND dead_at < ?`),
      deadPage: this.db.prepare(
        `SELECT id, entity_key, source, action, received_at, dead_at, dead_reason, dead_cause, attempts, request_id, body_kept
         FROM events WHERE status = 'dead' AND id < ? ORDER BY id DESC LIMIT ?`,
      ),
      one: this.db.prepare(`SELECT * FROM events WHERE id = ?`),
      revive: this.db.prepare(
        `UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = ?, last_error = ?, dead_at = NULL, dead_reason = NULL, dead_cause = NULL WHERE id = ? AND status = 'dead'`,
      ),
      removeDead: this.db.prepare(`DELETE FROM events WHERE id = ? AND status = 'dead'`),
      stats: this.db.prepare(
        `SELECT
           COALESCE(SUM(status = 'pending'), 0) AS backlog,
           COUNT(DISTINCT CASE WHEN status = 'pending' THEN entity_key END) AS entities,
           MIN(CASE WHEN status = 'pending' THEN received_at END) AS oldest,
           COALESCE(SUM(status = 'dead'), 0) AS dead
         FROM events`,
      ),
      pendingKeys: this.db.prepare(`SELECT entity_key, COUNT(*) AS n FROM events WHERE status = 'pending' GROUP BY entity_key`),
    };
    for (const row of this.statements.pendingKeys.all() as Array<{ entity_key: string; n: number }>) this.pendingByKey.set(row.entity_key, row.n);
    this.deadCount = (this.statements.deadCount.get() as { n: number }).n;
    this.pruneDead();
  }

  /** Dead events beyond DEAD_KEPT go, oldest first (cheap: only the excess is touched). */
  private pruneDead(): void {
    if (this.deadCount <= DEAD_KEPT) return;
    this.deadCount -= this.statements.pruneOldestDead.run(this.deadCount - DEAD_KEPT).changes;
  }

  /** Opens (creating if needed) the inbox file; throws InboxLockedError when another process holds it. */
  static open(file: string, options: InboxOptions = {}): Inbox {
    return new Inbox(file, options);
  }

  /** Stores an event durably (fsynced when this returns); answers its id (arrival order). */
  enqueue(event: NewInboxEvent): number {
    const result = this.statements.insert.run(event);
    this.pendingByKey.set(event.entityKey, (this.pendingByKey.get(event.entityKey) ?? 0) + 1);
    return Number(result.lastInsertRowid);
  }

  /** True while earlier events of this record wait here: a new one must queue behind them. */
  hasBacklog(entityKey: string): boolean {
    return (this.pendingByKey.get(entityKey) ?? 0) > 0;
  }

  /** The oldest pending event of each entity whose retry time has come, oldest first. */
  dueHeads(now: number, limit: number): StoredEvent[] {
    return (this.statements.dueHeads.all(now, limit) as Row[]).map(toStored);
  }

  /** When the next head becomes due (ms), or null when nothing is pending. */
  nextDueAt(): number | null {
    const row = this.statements.nextDueAt.get() as { at: number | null };
    return row.at;
  }

  /** The event reached Temporal: forget it. */
  delivered(id: number): void {
    this.settle(id, () => this.statements.remove.run(id));
  }

  /** Delivery failed in a way that may pass: keep the event at the head of its key until `at`. */
  retryLater(id: number, at: number, error: string): void {
    this.statements.retryLater.run(at, error.slice(0, 2000), id);
  }

  /** A poison event: kept for operators but no longer blocking its key. */
  kill(id: number, reason: string, cause: DeadCause = 'other', now = Date.now()): void {
    this.settle(id, () => {
      this.deadCount += this.statements.kill.run(now, reason.slice(0, 2000), cause, id).changes;
      this.pruneDead();
    });
  }

  /**
   * An event the product cannot use, kept dead from the start (a signed delivery is never refused:
   * what cannot be used is kept for operators instead). `bodyKept: false` when `body` is only a
   * description of what arrived. Fsynced when this returns, like enqueue.
   */
  enqueueDead(event: NewInboxEvent, reason: string, cause: DeadCause, options: { bodyKept?: boolean; now?: number } = {}): number {
    const result = this.statements.insertDead.run({
      ...event,
      deadAt: options.now ?? Date.now(),
      reason: reason.slice(0, 2000),
      cause,
      bodyKept: options.bodyKept === false ? 0 : 1,
    });
    this.deadCount++;
    this.pruneDead();
    return Number(result.lastInsertRowid);
  }

  /** Deletes dead events that died before `now - deadRetentionMs`; answers how many. */
  purgeExpiredDead(now = Date.now()): number {
    const purged = this.statements.purgeDead.run(now - this.deadRetentionMs).changes;
    this.deadCount -= purged;
    return purged;
  }

  /** Dead events, newest first; `beforeId` pages on. */
  listDead(options: { limit?: number; beforeId?: number } = {}): DeadEvent[] {
    const rows = this.statements.deadPage.all(options.beforeId ?? Number.MAX_SAFE_INTEGER, options.limit ?? 50) as DeadRow[];
    return rows.map(toDead);
  }

  /** One event (dead or pending) with its stored fields, or undefined. */
  event(id: number): InboxEventView | undefined {
    const row = this.statements.one.get(id) as (DeadRow & { status: 'pending' | 'dead'; body: string; last_error: string | null; next_attempt_at: number }) | undefined;
    if (!row) return undefined;
    return {
      ...toDead(row),
      deadAt: row.dead_at === null ? null : new Date(row.dead_at).toISOString(),
      status: row.status,
      body: row.body,
      lastError: row.last_error,
      nextAttemptAt: row.status === 'pending' ? new Date(row.next_attempt_at).toISOString() : null,
    };
  }

  /**
   * A dead event goes back to the queue (after its cause was fixed), at its place in its record's
   * order. Answers false when there is no such dead event; throws when its body was not kept.
   */
  retryDead(id: number, now = Date.now()): boolean {
    const row = this.statements.one.get(id) as { entity_key: string; status: string; body_kept: number } | undefined;
    if (!row || row.status !== 'dead') return false;
    if (row.body_kept === 0) throw new DeadEventNotRetryableError(id);
    this.statements.revive.run(now, 'retried by an operator', id);
    this.deadCount--;
    this.pendingByKey.set(row.entity_key, (this.pendingByKey.get(row.entity_key) ?? 0) + 1);
    return true;
  }

  /** Deletes a dead event; false when there is no such dead event. */
  dropDead(id: number): boolean {
    const dropped = this.statements.removeDead.run(id).changes > 0;
    if (dropped) this.deadCount--;
    return dropped;
  }

  stats(): InboxStats {
    const row = this.statements.stats.get() as { backlog: number; entities: number; oldest: number | null; dead: number };
    return { backlog: row.backlog, entities: row.entities, oldestReceivedAt: row.oldest, dead: row.dead };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Folds the WAL into the main file (so a copy of inbox.db alone is complete) and lets go of the lock. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      this.db.close();
    }
  }

  private settle(id: number, change: () => void): void {
    const row = this.statements.keyOf.get(id) as { entity_key: string } | undefined;
    change();
    if (!row) return;
    const left = (this.pendingByKey.get(row.entity_key) ?? 1) - 1;
    if (left > 0) this.pendingByKey.set(row.entity_key, left);
    else this.pendingByKey.delete(row.entity_key);
  }
}

export class DeadEventNotRetryableError extends Error {
  constructor(readonly id: number) {
    super(`dead event ${id} cannot be retried: its body was not kept (unreadable, or an action the product does not handle: only its shape is kept); drop it`);
    this.name = 'DeadEventNotRetryableError';
  }
}

interface DeadRow {
  id: number;
  entity_key: string;
  source: string;
  action: string;
  received_at: number;
  dead_at: number | null;
  dead_reason: string | null;
  dead_cause: string | null;
  attempts: number;
  request_id: string | null;
  body_kept: number;
}

function toDead(r: DeadRow): DeadEvent {
  return {
    id: r.id,
    entityKey: r.entity_key,
    source: r.source,
    action: r.action,
    receivedAt: new Date(r.received_at).toISOString(),
    deadAt: r.dead_at === null ? '' : new Date(r.dead_at).toISOString(),
    reason: r.dead_reason ?? '',
    cause: (r.dead_cause ?? 'other') as DeadCause,
    attempts: r.attempts,
    requestId: r.request_id,
    bodyKept: r.body_kept !== 0,
  };
}

function toStored(row: Row): StoredEvent {
  return {
    id: row.id,
    entityKey: row.entity_key,
    source: row.source,
    action: row.action,
    body: row.body,
    entityIndex: row.entity_index,
    receivedAt: row.received_at,
    requestId: row.request_id,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    lastError: row.last_error,
  };
}
