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
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

export interface NewInboxEvent {
  entityKey: string;
  source: 'nexudus' | 'kisi';
  /** Nexudus action (from the URL) or Kisi event type. */
  action: string;
  /** The verified raw body, exactly as received (its signature was checked over these bytes). */
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

export interface DeadEvent {
  id: number;
  entityKey: string;
  source: string;
  action: string;
  receivedAt: string;
  deadAt: string;
  reason: string;
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

/** How many dead events are kept for operators (the oldest are dropped beyond this). */
const DEAD_KEPT = 1000;

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
  dead_reason TEXT
);
CREATE INDEX IF NOT EXISTS events_by_entity ON events (entity_key, status, id);
CREATE INDEX IF NOT EXISTS events_by_status ON events (status, id);
`;

export interface InboxOptions {
  /** How long to wait for another process to let go of the file before giving up (ms). */
  lockTimeoutMs?: number;
}

export class Inbox {
  private readonly db: Database.Database;
  /** Pending events per entity key, mirrored from the table (this connection is its only writer). */
  private readonly pendingByKey = new Map<string, number>();
  private readonly statements;
  private closed = false;

  private constructor(
    readonly file: string,
    options: InboxOptions,
  ) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file, { timeout: options.lockTimeoutMs ?? 5_000 });
    try {
      // Exclusive before WAL: the WAL index then lives in this process' memory and the file lock
      // is taken by the first write below and held until close.
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      this.db.exec(SCHEMA);
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
      keyOf: this.db.prepare(`SELECT entity_key FROM events WHERE id = ? AND status = 'pending'`),
      remove: this.db.prepare(`DELETE FROM events WHERE id = ?`),
      retryLater: this.db.prepare(`UPDATE events SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?`),
      kill: this.db.prepare(`UPDATE events SET status = 'dead', attempts = attempts + 1, dead_at = ?, dead_reason = ? WHERE id = ?`),
      pruneDead: this.db.prepare(`DELETE FROM events WHERE status = 'dead' AND id NOT IN (SELECT id FROM events WHERE status = 'dead' ORDER BY id DESC LIMIT ${DEAD_KEPT})`),
      stats: this.db.prepare(
        `SELECT
           COALESCE(SUM(status = 'pending'), 0) AS backlog,
           COUNT(DISTINCT CASE WHEN status = 'pending' THEN entity_key END) AS entities,
           MIN(CASE WHEN status = 'pending' THEN received_at END) AS oldest,
           COALESCE(SUM(status = 'dead'), 0) AS dead
         FROM events`,
      ),
      recentDead: this.db.prepare(
        `SELECT id, entity_key, source, action, received_at, dead_at, dead_reason FROM events WHERE status = 'dead' ORDER BY id DESC LIMIT ?`,
      ),
      pendingKeys: this.db.prepare(`SELECT entity_key, COUNT(*) AS n FROM events WHERE status = 'pending' GROUP BY entity_key`),
    };
    for (const row of this.statements.pendingKeys.all() as Array<{ entity_key: string; n: number }>) this.pendingByKey.set(row.entity_key, row.n);
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

  /** A poison event: kept (for /readyz and operators) but no longer blocking its key. */
  kill(id: number, reason: string, now = Date.now()): void {
    this.settle(id, () => {
      this.statements.kill.run(now, reason.slice(0, 2000), id);
      this.statements.pruneDead.run();
    });
  }

  stats(): InboxStats {
    const row = this.statements.stats.get() as { backlog: number; entities: number; oldest: number | null; dead: number };
    return { backlog: row.backlog, entities: row.entities, oldestReceivedAt: row.oldest, dead: row.dead };
  }

  recentDead(limit = 20): DeadEvent[] {
    const rows = this.statements.recentDead.all(limit) as Array<{
      id: number;
      entity_key: string;
      source: string;
      action: string;
      received_at: number;
      dead_at: number;
      dead_reason: string;
    }>;
    return rows.map((r) => ({
      id: r.id,
      entityKey: r.entity_key,
      source: r.source,
      action: r.action,
      receivedAt: new Date(r.received_at).toISOString(),
      deadAt: new Date(r.dead_at).toISOString(),
      reason: r.dead_reason,
    }));
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
