// Turns the monitor's per-tick snapshots into history intervals (default 10 s): per-process,
// per-container and per-remote bytes of each interval, handed to the history writer thread.
// Per tick it only adds deltas into a bounded map; rows are built once per interval.

import type { IntervalBatch, ProcessRow } from '../history/batch.js';
import type { ProcessEntry, RankEntry, RankOptions, Snapshot } from '../monitor/types.js';
import { ProcessDeltaTracker, isAggregateEntry } from './process-deltas.js';

/** Process rows per interval at most; the rest is summed into `other`. */
export const DEFAULT_MAX_PROCESS_ROWS = 1000;
/** Remote rows per interval at most. */
export const DEFAULT_MAX_REMOTE_ROWS = 200;
/** Container rows per interval at most. */
const MAX_CONTAINER_ROWS = 1000;
/** Processes collected within one interval at most (a fork storm cannot grow the map). */
const MAX_PROCESSES_PER_INTERVAL = 20_000;
/** Remote addresses remembered between intervals at most. */
const MAX_REMOTES_TRACKED = 20_000;

/** Where intervals go. */
export interface IntervalSink {
  write(batch: IntervalBatch, nowMs: number): void;
}

/** Options of {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  intervalSeconds: number;
  maxProcessRows?: number;
  maxRemoteRows?: number;
  /** The monitor's ranking (for per-remote totals). */
  rank(options: RankOptions): RankEntry[];
  /** Remote entries the monitor keeps at most (its maxRemotes). */
  maxRemotes: number;
}

interface Acc {
  entry: ProcessEntry;
  sentBytes: number;
  receivedBytes: number;
}

/** Accumulates ticks into intervals. */
export class HistoryRecorder {
  private readonly tracker = new ProcessDeltaTracker();
  private readonly intervalMs: number;
  private current: number | undefined;
  private readonly acc = new Map<string, Acc>();
  private otherSent = 0;
  private otherReceived = 0;
  private coveredMs = 0;
  private lastTickMs = 0;
  private totals = { sent: 0, received: 0, unknownSent: 0, unknownReceived: 0 };
  private prevTotals = { sent: 0, received: 0, unknownSent: 0, unknownReceived: 0 };
  private readonly remoteLast = new Map<string, { sent: number; received: number }>();
  /** Processes folded into `other` because the interval's map was full. */
  foldedProcesses = 0;

  constructor(
    private readonly sink: IntervalSink,
    private readonly options: HistoryRecorderOptions,
  ) {
    this.intervalMs = options.intervalSeconds * 1000;
  }

  /** Add one tick; writes the previous interval first when this tick starts a new one. */
  tick(snapshot: Snapshot): void {
    // A tick at time T covers (T - intervalMs, T]: it belongs to the interval holding T - 1.
    const bucket = Math.floor((snapshot.time - 1) / this.intervalMs);
    if (this.current !== undefined && bucket !== this.current) this.flush();
    this.current = bucket;
    this.coveredMs += Math.min(snapshot.intervalMs, this.intervalMs);
    this.lastTickMs = snapshot.time;
    this.tracker.update(snapshot.processes, (entry, d) => {
      if (d.sentBytes + d.receivedBytes === 0) return;
      if (isAggregateEntry(entry)) {
        this.otherSent += d.sentBytes;
        this.otherReceived += d.receivedBytes;
        return;
      }
      let a = this.acc.get(entry.key);
      if (a === undefined) {
        if (this.acc.size >= MAX_PROCESSES_PER_INTERVAL) {
          this.foldedProcesses++;
          this.otherSent += d.sentBytes;
          this.otherReceived += d.receivedBytes;
          return;
        }
        a = { entry, sentBytes: 0, receivedBytes: 0 };
        this.acc.set(entry.key, a);
      }
      a.entry = entry;
      a.sentBytes += d.sentBytes;
      a.receivedBytes += d.receivedBytes;
    });
    this.totals = {
      sent: snapshot.totals.total.sentBytes,
      received: snapshot.totals.total.receivedBytes,
      unknownSent: snapshot.unknownTotals.total.sentBytes,
      unknownReceived: snapshot.unknownTotals.total.receivedBytes,
    };
  }

  /** Write the interval being collected (at shutdown). */
  flush(): void {
    if (this.current === undefined || this.coveredMs === 0) return;
    const batch = this.build(this.current);
    this.sink.write(batch, this.lastTickMs);
    this.acc.clear();
    this.otherSent = 0;
    this.otherReceived = 0;
    this.coveredMs = 0;
    this.prevTotals = this.totals;
  }

  private build(bucket: number): IntervalBatch {
    const maxRows = this.options.maxProcessRows ?? DEFAULT_MAX_PROCESS_ROWS;
    const all = [...this.acc.values()].sort(
      (a, b) => b.sentBytes + b.receivedBytes - (a.sentBytes + a.receivedBytes),
    );
    const processes: ProcessRow[] = [];
    let otherSent = this.otherSent;
    let otherReceived = this.otherReceived;
    const containers = new Map<
      string,
      { runtime: string | null; sent: number; received: number }
    >();
    for (const a of all) {
      const p = a.entry.process;
      const containerId = p.containerId ?? '';
      const c = containers.get(containerId) ?? {
        runtime: p.containerRuntime,
        sent: 0,
        received: 0,
      };
      c.sent += a.sentBytes;
      c.received += a.receivedBytes;
      containers.set(containerId, c);
      if (processes.length >= maxRows) {
        otherSent += a.sentBytes;
        otherReceived += a.receivedBytes;
        continue;
      }
      processes.push({
        key: p.key,
        pid: p.pid,
        startTime: p.startTime,
        comm: p.comm,
        user: p.user,
        uid: p.uid,
        containerId: p.containerId,
        containerRuntime: p.containerRuntime,
        exe: p.exe,
        cmdline: [...p.cmdline],
        sentBytes: a.sentBytes,
        receivedBytes: a.receivedBytes,
      });
    }
    const remotes = this.remoteDeltas();
    return {
      startSeconds: (bucket * this.intervalMs) / 1000,
      endMs: this.lastTickMs,
      coveredMs: Math.min(this.coveredMs, this.intervalMs),
      totalSent: Math.max(0, this.totals.sent - this.prevTotals.sent),
      totalReceived: Math.max(0, this.totals.received - this.prevTotals.received),
      unknownSent: Math.max(0, this.totals.unknownSent - this.prevTotals.unknownSent),
      unknownReceived: Math.max(0, this.totals.unknownReceived - this.prevTotals.unknownReceived),
      processes,
      otherProcessSent: otherSent,
      otherProcessReceived: otherReceived,
      containers: [...containers]
        .sort((a, b) => b[1].sent + b[1].received - (a[1].sent + a[1].received))
        .slice(0, MAX_CONTAINER_ROWS)
        .map(([containerId, c]) => ({
          containerId,
          containerRuntime: c.runtime,
          sentBytes: c.sent,
          receivedBytes: c.received,
        })),
      ...remotes,
    };
  }

  /** Per-remote bytes since the last interval, from the monitor's remote totals. */
  private remoteDeltas(): Pick<
    IntervalBatch,
    'remotes' | 'otherRemoteSent' | 'otherRemoteReceived'
  > {
    const maxRows = this.options.maxRemoteRows ?? DEFAULT_MAX_REMOTE_ROWS;
    const entries = this.options.rank({
      groupBy: 'remote',
      limit: this.options.maxRemotes,
      windowSeconds: 0,
    });
    const rows: { remoteAddress: string; sentBytes: number; receivedBytes: number }[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (e.kind !== 'remote') continue;
      const last = this.remoteLast.get(e.remoteAddress) ?? { sent: 0, received: 0 };
      const sent = Math.max(0, e.total.sentBytes - last.sent);
      const received = Math.max(0, e.total.receivedBytes - last.received);
      seen.add(e.remoteAddress);
      if (this.remoteLast.size < MAX_REMOTES_TRACKED || this.remoteLast.has(e.remoteAddress)) {
        this.remoteLast.set(e.remoteAddress, {
          sent: e.total.sentBytes,
          received: e.total.receivedBytes,
        });
      }
      if (sent + received > 0)
        rows.push({ remoteAddress: e.remoteAddress, sentBytes: sent, receivedBytes: received });
    }
    // Remotes the monitor evicted start from zero if they come back.
    for (const key of this.remoteLast.keys()) if (!seen.has(key)) this.remoteLast.delete(key);
    rows.sort((a, b) => b.sentBytes + b.receivedBytes - (a.sentBytes + a.receivedBytes));
    let otherSent = 0;
    let otherReceived = 0;
    for (const r of rows.slice(maxRows)) {
      otherSent += r.sentBytes;
      otherReceived += r.receivedBytes;
    }
    return {
      remotes: rows.slice(0, maxRows),
      otherRemoteSent: otherSent,
      otherRemoteReceived: otherReceived,
    };
  }
}
