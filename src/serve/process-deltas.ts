// Turns the cumulative per-process totals of successive snapshots into per-process deltas that
// never double count: bytes of a process that leaves the snapshot (folded into the `exited`
// aggregate, or evicted) are not counted a second time when the aggregate grows by them.

import type { ProcessEntry } from '../monitor/types.js';

/** Counter increments of one entry since the previous update. All >= 0. */
export interface CounterDelta {
  sentBytes: number;
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
}

interface Slot {
  sentBytes: number;
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
  generation: number;
  isAggregate: boolean;
}

const PROCESS_KEY = /^\d+:\d+$/;

/**
 * True for entries that stand for many processes (the accountant's `exited` and `evicted`
 * aggregates): their key is not `pid:startTime`, or their pid is not a real pid.
 */
export function isAggregateEntry(entry: ProcessEntry): boolean {
  return entry.process.pid <= 0 || !PROCESS_KEY.test(entry.key);
}

/**
 * Remembers the last totals of every process entry and reports what each one added since.
 *
 * A process entry that disappears has been folded into an aggregate (or evicted into one); the
 * aggregate then grows by that process's totals. Its last-seen totals were already reported for
 * the process itself, so they are subtracted from the aggregates' growth in the same update
 * (the remainder, clamped at 0, is traffic we never saw under a process: reported for the
 * aggregate). A decrease of a live entry is reported as 0 (high-water), never as negative.
 * Memory: one slot per entry of the last snapshot (bounded by the monitor's maxProcesses).
 */
export class ProcessDeltaTracker {
  private readonly last = new Map<string, Slot>();
  private generation = 0;
  private readonly delta: CounterDelta = {
    sentBytes: 0,
    receivedBytes: 0,
    sentPackets: 0,
    receivedPackets: 0,
  };

  /** Entries currently remembered. */
  get size(): number {
    return this.last.size;
  }

  /**
   * Compare `entries` with the previous update and call `visit` once per entry with its delta
   * (the delta object is reused between calls: copy what you keep). Aggregates are visited last.
   */
  update(
    entries: readonly ProcessEntry[],
    visit: (entry: ProcessEntry, delta: CounterDelta) => void,
  ): void {
    const generation = ++this.generation;
    const aggregates: { entry: ProcessEntry; delta: CounterDelta }[] = [];
    for (const entry of entries) {
      const t = entry.total;
      let slot = this.last.get(entry.key);
      if (slot === undefined) {
        slot = {
          sentBytes: 0,
          receivedBytes: 0,
          sentPackets: 0,
          receivedPackets: 0,
          generation,
          isAggregate: isAggregateEntry(entry),
        };
        this.last.set(entry.key, slot);
      }
      slot.generation = generation;
      const d = slot.isAggregate
        ? { sentBytes: 0, receivedBytes: 0, sentPackets: 0, receivedPackets: 0 }
        : this.delta;
      d.sentBytes = Math.max(0, t.sentBytes - slot.sentBytes);
      d.receivedBytes = Math.max(0, t.receivedBytes - slot.receivedBytes);
      d.sentPackets = Math.max(0, t.sentPackets - slot.sentPackets);
      d.receivedPackets = Math.max(0, t.receivedPackets - slot.receivedPackets);
      // High-water: a live entry that went down (should not happen) resumes from its new value.
      slot.sentBytes = t.sentBytes;
      slot.receivedBytes = t.receivedBytes;
      slot.sentPackets = t.sentPackets;
      slot.receivedPackets = t.receivedPackets;
      if (slot.isAggregate) aggregates.push({ entry, delta: d });
      else visit(entry, d);
    }
    // Processes gone from this snapshot: their last totals are what the aggregates took over.
    const folded = { sentBytes: 0, receivedBytes: 0, sentPackets: 0, receivedPackets: 0 };
    for (const [key, slot] of this.last) {
      if (slot.generation === generation) continue;
      if (!slot.isAggregate) {
        folded.sentBytes += slot.sentBytes;
        folded.receivedBytes += slot.receivedBytes;
        folded.sentPackets += slot.sentPackets;
        folded.receivedPackets += slot.receivedPackets;
      }
      this.last.delete(key);
    }
    for (const { entry, delta } of aggregates) {
      for (const field of [
        'sentBytes',
        'receivedBytes',
        'sentPackets',
        'receivedPackets',
      ] as const) {
        const taken = Math.min(delta[field], folded[field]);
        delta[field] -= taken;
        folded[field] -= taken;
      }
      visit(entry, delta);
    }
  }
}
