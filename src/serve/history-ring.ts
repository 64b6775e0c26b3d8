// A bounded ring of per-tick summaries (total bytes and the top processes of each tick), so a
// dashboard can plot the last hour without the monitor keeping an hour per process.

import type { Snapshot } from '../monitor/types.js';
import { ProcessDeltaTracker } from './process-deltas.js';

/** One process in a history point. */
export interface HistoryProcess {
  readonly key: string;
  readonly pid: number;
  readonly comm: string;
  readonly container: string | null;
  /** Bytes of this tick. */
  readonly sentBytes: number;
  readonly receivedBytes: number;
}

/** Summary of one tick. */
export interface HistoryPoint {
  /** End of the tick, ms since the epoch. */
  readonly time: number;
  /** Length of the tick, ms. */
  readonly intervalMs: number;
  /** IP-level bytes of this tick, every process and unknown traffic included. */
  readonly sentBytes: number;
  readonly receivedBytes: number;
  /** Bytes of this tick not attributed to any process. */
  readonly unknownSentBytes: number;
  readonly unknownReceivedBytes: number;
  /** The processes that moved the most bytes in this tick, descending; idle ones left out. */
  readonly processes: readonly HistoryProcess[];
}

/** Options of {@link HistoryRing}. */
export interface HistoryRingOptions {
  /** Points kept at most (the oldest is overwritten). */
  capacity: number;
  /** Points older than this are not returned, ms. */
  maxAgeMs: number;
  /** Processes kept per point. */
  topProcesses: number;
}

/** Per-tick summaries in a fixed-size ring. */
export class HistoryRing {
  private readonly points: (HistoryPoint | undefined)[];
  private next = 0;
  private count = 0;
  private readonly tracker = new ProcessDeltaTracker();
  private lastTotals:
    { sent: number; received: number; unknownSent: number; unknownReceived: number } | undefined;

  constructor(private readonly options: HistoryRingOptions) {
    this.points = new Array<HistoryPoint | undefined>(options.capacity).fill(undefined);
  }

  /** Points held now. */
  get size(): number {
    return this.count;
  }

  /** Summarise one tick's snapshot and append it. */
  add(snapshot: Snapshot): void {
    const top: HistoryProcess[] = [];
    this.tracker.update(snapshot.processes, (entry, d) => {
      if (d.sentBytes + d.receivedBytes === 0) return;
      top.push({
        key: entry.key,
        pid: entry.process.pid,
        comm: entry.process.comm,
        container: entry.process.containerId,
        sentBytes: d.sentBytes,
        receivedBytes: d.receivedBytes,
      });
    });
    top.sort(
      (a, b) => b.sentBytes + b.receivedBytes - (a.sentBytes + a.receivedBytes) || a.pid - b.pid,
    );
    if (top.length > this.options.topProcesses) top.length = this.options.topProcesses;
    const totals = {
      sent: snapshot.totals.total.sentBytes,
      received: snapshot.totals.total.receivedBytes,
      unknownSent: snapshot.unknownTotals.total.sentBytes,
      unknownReceived: snapshot.unknownTotals.total.receivedBytes,
    };
    // The first tick after the server starts has no previous totals: it reports the totals so far.
    const prev = this.lastTotals ?? { sent: 0, received: 0, unknownSent: 0, unknownReceived: 0 };
    this.lastTotals = totals;
    this.push({
      time: snapshot.time,
      intervalMs: snapshot.intervalMs,
      sentBytes: Math.max(0, totals.sent - prev.sent),
      receivedBytes: Math.max(0, totals.received - prev.received),
      unknownSentBytes: Math.max(0, totals.unknownSent - prev.unknownSent),
      unknownReceivedBytes: Math.max(0, totals.unknownReceived - prev.unknownReceived),
      processes: top,
    });
  }

  /** Points of the last `seconds` before `nowMs` (and within maxAgeMs), oldest first. */
  since(nowMs: number, seconds: number): HistoryPoint[] {
    const from = nowMs - Math.min(seconds * 1000, this.options.maxAgeMs);
    const out: HistoryPoint[] = [];
    const capacity = this.options.capacity;
    for (let i = 0; i < this.count; i++) {
      const p = this.points[(this.next - this.count + i + capacity) % capacity];
      if (p !== undefined && p.time > from) out.push(p);
    }
    return out;
  }

  private push(point: HistoryPoint): void {
    this.points[this.next] = point;
    this.next = (this.next + 1) % this.options.capacity;
    if (this.count < this.options.capacity) this.count++;
  }
}
