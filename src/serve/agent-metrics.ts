// The agent's own health in /metrics: its CPU, memory and file descriptors (the standard
// process_* names), the history database's writer, and failed authentications.

import { readdirSync } from 'node:fs';
import type { HistoryStats } from '../history/history-writer.js';
import type { PrometheusWriter } from './prometheus-text.js';

/** What the agent adds to each scrape. */
export interface AgentMetricsInput {
  /** Counters of the history writer, or undefined without a database. */
  readonly history: HistoryStats | undefined;
  /** Failed authentications so far, and those refused by the per-address rate limit. */
  readonly authFailures: number;
  readonly authRateLimited: number;
  /** Agent start, ms since the epoch. */
  readonly startedMs: number;
}

/** Open file descriptors of this process, or -1 when /proc/self/fd cannot be read. */
function openFds(): number {
  // The agent's own descriptors: the one /proc read outside src/attribute (it is not measurement).
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/** Append the agent's families to `w`. */
export function renderAgentMetrics(w: PrometheusWriter, input: AgentMetricsInput): void {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  w.single(
    'process_cpu_user_seconds_total',
    'counter',
    'User CPU time of the agent.',
    cpu.user / 1e6,
  );
  w.single(
    'process_cpu_system_seconds_total',
    'counter',
    'System CPU time of the agent.',
    cpu.system / 1e6,
  );
  w.single(
    'process_cpu_seconds_total',
    'counter',
    'User and system CPU time of the agent (capture threads and history writer included).',
    (cpu.user + cpu.system) / 1e6,
  );
  w.single('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent.', mem.rss);
  w.single('process_heap_bytes', 'gauge', 'JavaScript heap in use.', mem.heapUsed);
  w.single(
    'process_open_fds',
    'gauge',
    'Open file descriptors of the agent (-1 if unknown).',
    openFds(),
  );
  w.single(
    'process_start_time_seconds',
    'gauge',
    'Start of the agent, seconds since the epoch.',
    Math.floor(input.startedMs / 1000),
  );
  w.single(
    'pidflow_auth_failures_total',
    'counter',
    'Requests refused for a missing or wrong token (or client certificate).',
    input.authFailures,
  );
  w.single(
    'pidflow_auth_rate_limited_total',
    'counter',
    'Requests refused without checking because their address failed too often.',
    input.authRateLimited,
  );
  const h = input.history;
  if (h === undefined) return;
  w.single(
    'pidflow_history_up',
    'gauge',
    '1 while the history database opens and writes, 0 while it fails (see the log or /api/v1/stats).',
    h.up ? 1 : 0,
  );
  w.single(
    'pidflow_history_written_intervals_total',
    'counter',
    'Intervals written to the history database.',
    h.writtenIntervals,
  );
  w.single(
    'pidflow_history_written_rows_total',
    'counter',
    'Rows written (one per process, container, remote, total and unknown of each interval).',
    h.writtenRows,
  );
  w.single(
    'pidflow_history_write_errors_total',
    'counter',
    'Intervals the database refused (disk full, read-only file...).',
    h.writeErrors,
  );
  w.single(
    'pidflow_history_dropped_rows_total',
    'counter',
    'Rows lost: refused by the database, or dropped because too many waited for the writer.',
    h.droppedRows,
  );
  w.single(
    'pidflow_history_pending_rows',
    'gauge',
    'Rows handed to the writer thread and not yet written.',
    h.pendingRows,
  );
  w.single(
    'pidflow_history_write_duration_seconds',
    'gauge',
    'Duration of the last write transaction.',
    h.lastWriteMs / 1000,
  );
  w.single(
    'pidflow_history_file_bytes',
    'gauge',
    'Size of the history database file (without its WAL).',
    h.fileBytes,
  );
}
