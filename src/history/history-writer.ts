// The agent's side of the history database: hands intervals to the writer thread without
// waiting (bounded: rows beyond the limit are dropped and counted), forwards queries, and keeps
// the counters that /api/v1/stats and /metrics report.

import { Worker } from 'node:worker_threads';
import { PidflowError } from '../errors.js';
import { batchRows, type IntervalBatch } from './batch.js';
import type { HistoryStoreOptions } from './history-store.js';
import type { WorkerReply, WorkerRequest } from './history-worker.js';
import type { HistoryQuery, HistoryResult } from './types.js';

/** Default bound of rows handed to the writer and not yet written. */
export const DEFAULT_MAX_PENDING_ROWS = 100_000;
/** Queries in flight at most; more are refused (503) rather than queued without bound. */
export const MAX_PENDING_QUERIES = 16;
const CLOSE_TIMEOUT_MS = 5000;

/** Options of {@link HistoryWriter}. */
export interface HistoryWriterOptions extends HistoryStoreOptions {
  /** Rows waiting for the writer at most. @default 100000 */
  maxPendingRows?: number;
  /** Called with one line when the database's state changes (opened, failing, recovered). */
  onEvent?: (line: string) => void;
}

/** Counters of the history writer. */
export interface HistoryStats {
  path: string;
  /** True while the last open or write succeeded. */
  up: boolean;
  intervalSeconds: number;
  pendingRows: number;
  writtenIntervals: number;
  writtenRows: number;
  droppedIntervals: number;
  droppedRows: number;
  writeErrors: number;
  /** The last error's message while failing, else null. */
  lastError: string | null;
  /** Duration of the last write transaction (with retention when it ran), ms. */
  lastWriteMs: number;
  usedBytes: number;
  fileBytes: number;
}

/** A query the database could not answer; `code` ERR_HISTORY_UNAVAILABLE, ERR_HISTORY_BUSY... */
export class HistoryQueryError extends PidflowError {}

/** The writer thread and its counters. */
export class HistoryWriter {
  private readonly worker: Worker;
  private readonly maxPendingRows: number;
  private readonly onEvent: (line: string) => void;
  private readonly queries = new Map<
    number,
    { resolve: (r: HistoryResult) => void; reject: (e: Error) => void }
  >();
  private nextQueryId = 1;
  private closed: Promise<void> | undefined;
  private exited = false;
  readonly ready: Promise<void>;
  private readonly s: HistoryStats;

  constructor(options: HistoryWriterOptions) {
    this.maxPendingRows = options.maxPendingRows ?? DEFAULT_MAX_PENDING_ROWS;
    this.onEvent = options.onEvent ?? (() => undefined);
    this.s = {
      path: options.path,
      up: false,
      intervalSeconds: options.intervalSeconds ?? 10,
      pendingRows: 0,
      writtenIntervals: 0,
      writtenRows: 0,
      droppedIntervals: 0,
      droppedRows: 0,
      writeErrors: 0,
      lastError: null,
      lastWriteMs: 0,
      usedBytes: 0,
      fileBytes: 0,
    };
    const storeOptions: HistoryStoreOptions = { path: options.path };
    if (options.intervalSeconds !== undefined)
      storeOptions.intervalSeconds = options.intervalSeconds;
    if (options.retentionDays !== undefined) storeOptions.retentionDays = options.retentionDays;
    if (options.maxBytes !== undefined) storeOptions.maxBytes = options.maxBytes;
    this.worker = new Worker(new URL('./history-worker.js', import.meta.url), {
      workerData: storeOptions,
    });
    this.ready = new Promise<void>((resolve) => {
      const first = (msg: WorkerReply): void => {
        this.worker.off('message', first);
        resolve();
        void msg;
      };
      this.worker.on('message', first);
      this.worker.once('exit', () => resolve());
    });
    this.worker.on('message', (msg: WorkerReply) => this.onReply(msg));
    this.worker.on('error', (error) => this.fail(`history writer thread failed: ${error.message}`));
    this.worker.on('exit', () => {
      this.exited = true;
      this.s.up = false;
      for (const q of this.queries.values()) {
        q.reject(
          new HistoryQueryError('ERR_HISTORY_UNAVAILABLE', 'the history writer has stopped'),
        );
      }
      this.queries.clear();
    });
  }

  /** Counters now (a copy). */
  stats(): HistoryStats {
    return { ...this.s };
  }

  /** Interval length of the database (known once `ready`). */
  get intervalSeconds(): number {
    return this.s.intervalSeconds;
  }

  /** Hand one interval to the writer; never blocks. Dropped (and counted) when too much is pending. */
  write(batch: IntervalBatch, nowMs: number): void {
    const rows = batchRows(batch);
    if (
      this.exited ||
      this.closed !== undefined ||
      this.s.pendingRows + rows > this.maxPendingRows
    ) {
      this.s.droppedIntervals++;
      this.s.droppedRows += rows;
      return;
    }
    this.s.pendingRows += rows;
    this.post({ type: 'write', batch, rows, nowMs });
  }

  /** Answer a query in the writer thread. */
  query(query: HistoryQuery, nowMs: number): Promise<HistoryResult> {
    if (this.exited || this.closed !== undefined) {
      return Promise.reject(
        new HistoryQueryError('ERR_HISTORY_UNAVAILABLE', 'the history writer has stopped'),
      );
    }
    if (this.queries.size >= MAX_PENDING_QUERIES) {
      return Promise.reject(
        new HistoryQueryError(
          'ERR_HISTORY_BUSY',
          `${MAX_PENDING_QUERIES} history queries are already running: retry in a moment`,
        ),
      );
    }
    const id = this.nextQueryId++;
    return new Promise<HistoryResult>((resolve, reject) => {
      this.queries.set(id, { resolve, reject });
      this.post({ type: 'query', id, query, nowMs });
    });
  }

  /** Write what is pending, close the database and end the thread. A second call is harmless. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.exited) {
        resolve();
        return;
      }
      const timer = setTimeout(() => void this.worker.terminate(), CLOSE_TIMEOUT_MS);
      this.worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.post({ type: 'close' });
    });
    return this.closed;
  }

  private post(msg: WorkerRequest): void {
    this.worker.postMessage(msg);
  }

  private onReply(msg: WorkerReply): void {
    switch (msg.type) {
      case 'opened':
        this.s.intervalSeconds = msg.intervalSeconds;
        this.s.usedBytes = msg.usedBytes;
        this.s.fileBytes = msg.fileBytes;
        this.recover(`history: writing ${this.s.path} every ${msg.intervalSeconds} s`);
        return;
      case 'open-error':
        this.fail(msg.message);
        return;
      case 'written':
        this.s.pendingRows = Math.max(0, this.s.pendingRows - msg.rows);
        this.s.writtenIntervals++;
        this.s.writtenRows += msg.rows;
        this.s.lastWriteMs = msg.ms;
        this.s.usedBytes = msg.usedBytes;
        this.s.fileBytes = msg.fileBytes;
        this.recover(`history: writing ${this.s.path} again`);
        return;
      case 'write-error':
        this.s.pendingRows = Math.max(0, this.s.pendingRows - msg.rows);
        this.s.writeErrors++;
        this.s.droppedIntervals++;
        this.s.droppedRows += msg.rows;
        this.fail(msg.message);
        return;
      case 'result': {
        const q = this.queries.get(msg.id);
        this.queries.delete(msg.id);
        q?.resolve(msg.result as HistoryResult);
        return;
      }
      case 'query-error': {
        const q = this.queries.get(msg.id);
        this.queries.delete(msg.id);
        q?.reject(new HistoryQueryError(msg.code, msg.message));
        return;
      }
      case 'closed':
        return;
    }
  }

  /** Failing: report once per distinct message. */
  private fail(message: string): void {
    this.s.up = false;
    if (this.s.lastError !== message) {
      this.s.lastError = message;
      this.onEvent(
        `history: error: ${message} (live data is still served; writing is retried every interval)`,
      );
    }
  }

  private recover(line: string): void {
    const wasFailing = this.s.lastError !== null;
    const first = !this.s.up && !wasFailing && this.s.writtenIntervals === 0;
    this.s.up = true;
    this.s.lastError = null;
    if (wasFailing || first) this.onEvent(line);
  }
}
