// The history database: per-interval traffic rows in SQLite (better-sqlite3, WAL), written by one
// writer (the agent's worker thread) and read by the agent and `pidflow history`.
// Schema, downsampling tiers and retention are described in docs/history.md.

import Database from 'better-sqlite3';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PidflowError } from '../errors.js';
import type { IntervalBatch } from './batch.js';
import { runHistoryQuery } from './history-query.js';
import type { HistoryQuery, HistoryResult } from './types.js';
import { toStoredName } from '../text/bytes.js';

/** Kinds of sample rows. */
export const KIND_TOTAL = 0;
export const KIND_UNKNOWN = 1;
export const KIND_PROCESS = 2;
export const KIND_CONTAINER = 3;
export const KIND_REMOTE = 4;
const KINDS = [KIND_TOTAL, KIND_UNKNOWN, KIND_PROCESS, KIND_CONTAINER, KIND_REMOTE];

/** One stored resolution and how long its rows are kept. */
export interface Tier {
  resolutionSeconds: number;
  keepSeconds: number;
}

const SCHEMA_VERSION = 1;
const DAY_S = 86_400;
/** Default interval between rows. */
export const DEFAULT_INTERVAL_SECONDS = 10;
/** Default path of the database file. */
export const DEFAULT_HISTORY_PATH = '/var/lib/pidflow/history.db';
/** Default bound of the main database file. */
export const DEFAULT_MAX_BYTES = 1024 * 1024 * 1024;
export const DEFAULT_RETENTION_DAYS = 90;
/** The WAL file is truncated to this after a checkpoint. */
const JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024;
/** Retention never deletes more than this many rows in one step (keeps the writer responsive). */
const MAX_DELETE_STEPS = 64;

/** Options of {@link HistoryStore.open}. */
export interface HistoryStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  /** Open for reading only (pidflow history). @default false */
  readonly?: boolean;
  /** Seconds between rows, for a new database (1..60, dividing 60). @default 10 */
  intervalSeconds?: number;
  /** Days the coarsest rows are kept. @default 90 */
  retentionDays?: number;
  /** Main file bound, bytes. @default 1 GiB */
  maxBytes?: number;
}

/** Write and maintenance counters. */
export interface StoreSizes {
  /** Bytes of the main file in use (pages minus free pages). */
  usedBytes: number;
  /** Bytes of the main file (pages times page size). */
  fileBytes: number;
}

/** The tiers of a database whose base interval is `intervalSeconds`. */
export function tiersFor(intervalSeconds: number, retentionDays: number): Tier[] {
  const tiers: Tier[] = [{ resolutionSeconds: intervalSeconds, keepSeconds: DAY_S }];
  if (intervalSeconds < 60) tiers.push({ resolutionSeconds: 60, keepSeconds: 7 * DAY_S });
  tiers.push({ resolutionSeconds: 3600, keepSeconds: Math.max(1, retentionDays) * DAY_S });
  // A retention shorter than a finer tier's age shortens that tier too.
  for (const t of tiers)
    t.keepSeconds = Math.min(t.keepSeconds, Math.max(1, retentionDays) * DAY_S);
  return tiers;
}

/** An error of the history database, with the SQLite code when there is one. */
export class HistoryError extends PidflowError {
  constructor(
    message: string,
    readonly sqliteCode: string | undefined,
    options?: { cause?: unknown },
  ) {
    super('ERR_HISTORY', message, options);
    this.name = 'HistoryError';
  }
}

/** `, the file system is read-only` or `, permission denied` when the directory says so. */
function whyNotWritable(path: string): string {
  if (path === ':memory:') return '';
  try {
    accessSync(dirname(path), constants.W_OK);
    return '';
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EROFS') return ': the file system is read-only';
    if (code === 'EACCES') return ': permission denied';
    if (code === 'ENOENT') return ': the directory does not exist';
    return '';
  }
}

/** What went wrong with `path`, in words with a fix. */
export function describeDbError(error: unknown, path: string): HistoryError {
  const code = (error as { code?: string }).code;
  const raw = error instanceof Error ? error.message : String(error);
  let why = raw;
  switch (code) {
    case 'SQLITE_FULL':
      why = `the disk is full (${raw}): free space on the file system of ${path}, or lower --history-max-size`;
      break;
    case 'SQLITE_READONLY':
    case 'SQLITE_READONLY_DBMOVED':
    case 'SQLITE_READONLY_DIRECTORY':
    case 'SQLITE_READONLY_RECOVERY':
    case 'SQLITE_READONLY_CANTINIT':
    case 'SQLITE_CANTOPEN':
      why = `${raw} (${code}${whyNotWritable(path)}): make ${path} and its directory writable by the agent's user, or choose another file with --history-db`;
      break;
    case 'SQLITE_CORRUPT':
    case 'SQLITE_NOTADB':
      why = `${raw} (${code}): the file is not a valid pidflow history database; move it away and restart (a new one is created)`;
      break;
    case 'SQLITE_BUSY':
      why = `${raw} (${code}): another process holds a lock on ${path}; only one agent may write a history database`;
      break;
    default:
      if (code !== undefined) why = `${raw} (${code})`;
  }
  return new HistoryError(`history database ${path}: ${why}`, code, { cause: error });
}

/** The database: one connection, synchronous (better-sqlite3). */
export class HistoryStore {
  readonly tiers: Tier[];
  readonly intervalSeconds: number;
  private readonly processIds = new Map<string, number>();
  private readonly nameIds = new Map<string, number>();
  private readonly stmts: ReturnType<HistoryStore['prepare']> | undefined;
  private lastRetentionMs = 0;

  private constructor(
    readonly db: Database.Database,
    readonly path: string,
    private readonly maxBytes: number,
    intervalSeconds: number,
    retentionDays: number,
    readonly isReadonly: boolean,
  ) {
    this.intervalSeconds = intervalSeconds;
    this.tiers = tiersFor(intervalSeconds, retentionDays);
    this.stmts = isReadonly ? undefined : this.prepare();
  }

  /** Open (and create, unless readonly) the database. Throws HistoryError with the reason. */
  static open(options: HistoryStoreOptions): HistoryStore {
    const path = options.path;
    const readonly = options.readonly ?? false;
    const requested = options.intervalSeconds ?? DEFAULT_INTERVAL_SECONDS;
    if (!Number.isInteger(requested) || requested < 1 || requested > 60 || 60 % requested !== 0) {
      throw new HistoryError(
        `history interval must be a whole number of seconds dividing 60 (1, 2, 5, 10, 15, 20, 30, 60), got ${String(requested)}`,
        undefined,
      );
    }
    let db: Database.Database;
    try {
      if (!readonly && path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { readonly, fileMustExist: readonly });
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CANTOPEN' && readonly) {
        throw new HistoryError(
          `history database ${path} does not exist or cannot be opened: run pidflow serve to create it, or pass --history-db with the agent's file`,
          'SQLITE_CANTOPEN',
          { cause: error },
        );
      }
      throw describeDbError(error, path);
    }
    try {
      db.pragma('busy_timeout = 5000');
      let interval = requested;
      if (!readonly) {
        // auto_vacuum must be chosen before the first table exists.
        db.pragma('auto_vacuum = INCREMENTAL');
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT_BYTES}`);
        createSchema(db);
        const row = db.prepare("SELECT value FROM meta WHERE key = 'intervalSeconds'").get() as
          { value: string } | undefined;
        if (row === undefined) {
          db.prepare("INSERT INTO meta(key, value) VALUES ('intervalSeconds', ?)").run(
            String(requested),
          );
        } else {
          interval = Number(row.value);
        }
      } else {
        const row = readMeta(db, 'intervalSeconds');
        if (row === undefined) {
          throw new HistoryError(
            `history database ${path} has no pidflow schema: is it the agent's file?`,
            undefined,
          );
        }
        interval = Number(row);
      }
      return new HistoryStore(
        db,
        path,
        options.maxBytes ?? DEFAULT_MAX_BYTES,
        interval,
        options.retentionDays ?? DEFAULT_RETENTION_DAYS,
        readonly,
      );
    } catch (error) {
      db.close();
      if (error instanceof HistoryError) throw error;
      throw describeDbError(error, path);
    }
  }

  private prepare() {
    const db = this.db;
    return {
      sample: db.prepare(
        `INSERT INTO samples(res, kind, t, ref, sent, received, covered) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(res, kind, t, ref) DO UPDATE SET sent = sent + excluded.sent,
           received = received + excluded.received, covered = covered + excluded.covered`,
      ),
      processInsert: db.prepare(
        `INSERT INTO processes(key, pid, start_time, comm, user, uid, container_id, container_runtime,
           exe, cmdline, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET comm = excluded.comm, user = excluded.user, uid = excluded.uid,
           container_id = excluded.container_id, container_runtime = excluded.container_runtime,
           exe = excluded.exe, cmdline = excluded.cmdline, last_seen = excluded.last_seen
         RETURNING id`,
      ),
      processSeen: db.prepare('UPDATE processes SET last_seen = ? WHERE id = ?'),
      nameInsert: db.prepare(
        `INSERT INTO names(kind, name, extra, last_seen) VALUES (?, ?, ?, ?)
         ON CONFLICT(kind, name) DO UPDATE SET extra = excluded.extra, last_seen = excluded.last_seen
         RETURNING id`,
      ),
      nameSeen: db.prepare('UPDATE names SET last_seen = ? WHERE id = ?'),
    };
  }

  /**
   * Write one interval in one transaction, at every resolution. Returns the number of rows.
   * Throws HistoryError (disk full, read-only...) and leaves the database as it was.
   */
  write(batch: IntervalBatch): number {
    const s = this.stmts;
    if (s === undefined)
      throw new HistoryError(`history database ${this.path} is open read-only`, undefined);
    let rows = 0;
    const tSeconds = batch.startSeconds;
    const seenMs = batch.endMs;
    const put = (
      kind: number,
      ref: number,
      sent: number,
      received: number,
      covered: number,
    ): void => {
      for (const tier of this.tiers) {
        const t = tSeconds - (tSeconds % tier.resolutionSeconds);
        s.sample.run(tier.resolutionSeconds, kind, t, ref, sent, received, covered);
      }
      rows++;
    };
    const txn = this.db.transaction(() => {
      put(KIND_TOTAL, 0, batch.totalSent, batch.totalReceived, batch.coveredMs);
      put(KIND_UNKNOWN, 0, batch.unknownSent, batch.unknownReceived, 0);
      for (const p of batch.processes) {
        put(KIND_PROCESS, this.processId(p, seenMs), p.sentBytes, p.receivedBytes, 0);
      }
      if (batch.otherProcessSent + batch.otherProcessReceived > 0) {
        put(KIND_PROCESS, 0, batch.otherProcessSent, batch.otherProcessReceived, 0);
      }
      for (const c of batch.containers) {
        const ref = this.nameId(KIND_CONTAINER, c.containerId, c.containerRuntime, seenMs);
        put(KIND_CONTAINER, ref, c.sentBytes, c.receivedBytes, 0);
      }
      for (const r of batch.remotes) {
        put(
          KIND_REMOTE,
          this.nameId(KIND_REMOTE, r.remoteAddress, null, seenMs),
          r.sentBytes,
          r.receivedBytes,
          0,
        );
      }
      if (batch.otherRemoteSent + batch.otherRemoteReceived > 0) {
        put(KIND_REMOTE, 0, batch.otherRemoteSent, batch.otherRemoteReceived, 0);
      }
    });
    try {
      txn();
    } catch (error) {
      // The transaction rolled back: ids cached inside it may not exist.
      this.processIds.clear();
      this.nameIds.clear();
      throw describeDbError(error, this.path);
    }
    return rows;
  }

  private processId(p: IntervalBatch['processes'][number], seenMs: number): number {
    const s = this.stmts!;
    const cached = this.processIds.get(p.key);
    if (cached !== undefined) {
      s.processSeen.run(seenMs, cached);
      return cached;
    }
    const row = s.processInsert.get(
      p.key,
      p.pid,
      p.startTime,
      // Names keep their exact bytes: undecodable ones are stored as a BLOB (src/text/bytes.ts).
      toStoredName(p.comm),
      toStoredName(p.user),
      p.uid,
      p.containerId,
      p.containerRuntime,
      toStoredName(p.exe),
      toStoredName(p.cmdline.join('\0')),
      seenMs,
      seenMs,
    ) as { id: number };
    if (this.processIds.size >= 100_000) this.processIds.clear();
    this.processIds.set(p.key, row.id);
    return row.id;
  }

  private nameId(kind: number, name: string, extra: string | null, seenMs: number): number {
    const s = this.stmts!;
    const cacheKey = `${kind}\0${name}`;
    const cached = this.nameIds.get(cacheKey);
    if (cached !== undefined) {
      s.nameSeen.run(seenMs, cached);
      return cached;
    }
    const row = s.nameInsert.get(kind, name, extra, seenMs) as { id: number };
    if (this.nameIds.size >= 100_000) this.nameIds.clear();
    this.nameIds.set(cacheKey, row.id);
    return row.id;
  }

  /** Sizes of the main file. */
  sizes(): StoreSizes {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    return { usedBytes: (pages - free) * pageSize, fileBytes: pages * pageSize };
  }

  /**
   * Delete rows past their tier's age, then the oldest rows while the file is over its bound,
   * and give freed pages back. Runs at most once a minute unless `force`. Returns rows deleted.
   */
  maintain(nowMs: number, force = false): number {
    if (this.isReadonly) return 0;
    if (!force && nowMs - this.lastRetentionMs < 60_000) return 0;
    this.lastRetentionMs = nowMs;
    const nowS = Math.floor(nowMs / 1000);
    let deleted = 0;
    try {
      const del = this.db.prepare('DELETE FROM samples WHERE res = ? AND kind = ? AND t < ?');
      for (const tier of this.tiers) {
        for (const kind of KINDS) {
          deleted += del.run(tier.resolutionSeconds, kind, nowS - tier.keepSeconds).changes;
        }
      }
      deleted += this.shrinkToBound(del);
      const oldestKeep = nowS - Math.max(...this.tiers.map((t) => t.keepSeconds));
      const gone = this.db
        .prepare('DELETE FROM processes WHERE last_seen < ?')
        .run(oldestKeep * 1000).changes;
      const goneNames = this.db
        .prepare('DELETE FROM names WHERE last_seen < ?')
        .run(oldestKeep * 1000).changes;
      if (gone + goneNames > 0) {
        this.processIds.clear();
        this.nameIds.clear();
      }
      if (deleted > 0) {
        this.db.pragma('incremental_vacuum');
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      }
    } catch (error) {
      throw describeDbError(error, this.path);
    }
    return deleted;
  }

  /** While over maxBytes: delete the oldest tenth of the finest tier that has rows. */
  private shrinkToBound(del: Database.Statement): number {
    let deleted = 0;
    for (let step = 0; step < MAX_DELETE_STEPS && this.sizes().usedBytes > this.maxBytes; step++) {
      let did = false;
      for (const tier of this.tiers) {
        const range = this.db
          .prepare('SELECT min(t) lo, max(t) hi FROM samples WHERE res = ? AND kind = 0')
          .get(tier.resolutionSeconds) as { lo: number | null; hi: number | null };
        if (range.lo === null || range.hi === null) continue;
        const cut =
          range.lo + Math.max(tier.resolutionSeconds, Math.ceil((range.hi - range.lo) / 10));
        for (const kind of KINDS) deleted += del.run(tier.resolutionSeconds, kind, cut).changes;
        did = true;
        break;
      }
      if (!did) break;
      // Freed pages only count once the free list is given back.
      this.db.pragma('incremental_vacuum');
    }
    return deleted;
  }

  /** Answer a history query. Throws HistoryQueryError for values out of range. */
  query(q: HistoryQuery, nowMs: number): HistoryResult {
    try {
      return runHistoryQuery(this, q, nowMs);
    } catch (error) {
      if (error instanceof PidflowError) throw error;
      throw describeDbError(error, this.path);
    }
  }

  /** Run `PRAGMA integrity_check`: 'ok' or the problems found. */
  integrityCheck(): string {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    return rows.map((r) => r.integrity_check).join('; ');
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function readMeta(db: Database.Database, key: string): string | undefined {
  try {
    const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined;
    return row?.value;
  } catch {
    return undefined;
  }
}

function createSchema(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS processes (
      id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, pid INTEGER NOT NULL,
      start_time INTEGER NOT NULL, comm TEXT NOT NULL, user TEXT NOT NULL, uid INTEGER NOT NULL,
      container_id TEXT, container_runtime TEXT, exe TEXT NOT NULL, cmdline TEXT NOT NULL,
      first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS processes_pid ON processes(pid);
    CREATE INDEX IF NOT EXISTS processes_last_seen ON processes(last_seen);
    CREATE TABLE IF NOT EXISTS names (
      id INTEGER PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL, extra TEXT,
      last_seen INTEGER NOT NULL, UNIQUE(kind, name));
    CREATE TABLE IF NOT EXISTS samples (
      res INTEGER NOT NULL, kind INTEGER NOT NULL, t INTEGER NOT NULL, ref INTEGER NOT NULL,
      sent INTEGER NOT NULL, received INTEGER NOT NULL, covered INTEGER NOT NULL,
      PRIMARY KEY (res, kind, t, ref)) WITHOUT ROWID;
  `);
  db.prepare("INSERT OR IGNORE INTO meta(key, value) VALUES ('schemaVersion', ?)").run(
    String(SCHEMA_VERSION),
  );
}
