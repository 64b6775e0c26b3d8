// The history database's one writer: a worker thread that owns the SQLite connection, writes
// each interval in one transaction, runs retention, and answers queries, off the main thread.

import { parentPort, workerData } from 'node:worker_threads';
import type { IntervalBatch } from './batch.js';
import { HistoryStore, type HistoryStoreOptions } from './history-store.js';
import type { HistoryQuery } from './types.js';

/** Messages to the worker. */
export type WorkerRequest =
  | { type: 'write'; batch: IntervalBatch; rows: number; nowMs: number }
  | { type: 'query'; id: number; query: HistoryQuery; nowMs: number }
  | { type: 'close' };

/** Messages from the worker. */
export type WorkerReply =
  | { type: 'opened'; intervalSeconds: number; usedBytes: number; fileBytes: number }
  | { type: 'open-error'; message: string }
  | { type: 'written'; rows: number; ms: number; usedBytes: number; fileBytes: number }
  | { type: 'write-error'; rows: number; message: string; sqliteCode: string | null }
  | { type: 'result'; id: number; result: unknown }
  | { type: 'query-error'; id: number; code: string; message: string }
  | { type: 'closed' };

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function main(): void {
  const port = parentPort;
  if (port === null) return;
  const options = workerData as HistoryStoreOptions;
  const post = (reply: WorkerReply): void => port.postMessage(reply);
  let store: HistoryStore | undefined;
  let openFailure = '';
  const tryOpen = (): boolean => {
    try {
      store = HistoryStore.open(options);
      return true;
    } catch (error) {
      openFailure = errorText(error);
      return false;
    }
  };
  if (tryOpen()) {
    const sizes = store!.sizes();
    post({ type: 'opened', intervalSeconds: store!.intervalSeconds, ...sizes });
  } else {
    post({ type: 'open-error', message: openFailure });
  }
  port.on('message', (msg: WorkerRequest) => {
    switch (msg.type) {
      case 'write': {
        // A database that could not be opened is retried on every interval (the disk may be back).
        if (store === undefined && !tryOpen()) {
          post({ type: 'write-error', rows: msg.rows, message: openFailure, sqliteCode: null });
          return;
        }
        const t0 = performance.now();
        try {
          const rows = store!.write(msg.batch);
          store!.maintain(msg.nowMs);
          const sizes = store!.sizes();
          post({ type: 'written', rows, ms: performance.now() - t0, ...sizes });
        } catch (error) {
          const code = (error as { sqliteCode?: string }).sqliteCode ?? null;
          post({
            type: 'write-error',
            rows: msg.rows,
            message: errorText(error),
            sqliteCode: code,
          });
        }
        return;
      }
      case 'query': {
        if (store === undefined) {
          post({
            type: 'query-error',
            id: msg.id,
            code: 'ERR_HISTORY_UNAVAILABLE',
            message: openFailure,
          });
          return;
        }
        try {
          post({ type: 'result', id: msg.id, result: store.query(msg.query, msg.nowMs) });
        } catch (error) {
          const code = (error as { code?: string }).code ?? 'ERR_HISTORY';
          post({ type: 'query-error', id: msg.id, code, message: errorText(error) });
        }
        return;
      }
      case 'close':
        store?.close();
        post({ type: 'closed' });
        port.close();
        return;
    }
  });
}

main();
