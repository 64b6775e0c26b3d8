// Remembered flows of the attribution stage: flow key -> its attribution, so that later
// batches of a flow are answered without a lookup. Bounded; idle and closed flows are forgotten.

import type { Owner } from './types.js';

/**
 * A remembered flow. It is its own Attribution (one object per flow, not two): handed to
 * onResolved as is, and updated in place when a later scan completes it.
 */
export interface CachedFlow {
  sender: Owner | undefined;
  receiver: Owner | undefined;
  srcIsLocal: boolean;
  dstIsLocal: boolean;
  /** Every local end has its owner: valid for the flow's life. Otherwise valid until the next scan. */
  isComplete: boolean;
  scanGen: number;
  lastSeenMs: number;
  /** Monotonic ms of the first FIN/RST, or -1. */
  closedAtMs: number;
  /**
   * An end came from a UDP send event: the event intake's UDP generation then, else -1. When
   * the generation moves on (port reuse by another process), the flow is looked up again.
   */
  udpGen: number;
}

/** Options of {@link FlowCache}. */
export interface FlowCacheOptions {
  /** Flows remembered at most; 0 remembers none. */
  limit: number;
  /** Forget a flow after this long without packets, ms. */
  idleMs: number;
  /** Forget a TCP flow this long after its first FIN or RST, ms. */
  closedGraceMs: number;
}

const SWEEP_INTERVAL_MS = 1000;
/** Flows looked at per sweep call: about 1 ms. */
const SWEEP_BATCH_FLOWS = 20_000;

/**
 * Bounded map of remembered flows; the oldest inserted goes first when full (a still-active
 * flow pushed out is simply looked up again).
 * @example
 * const cache = new FlowCache({ limit: 200000, idleMs: 120000, closedGraceMs: 5000 });
 * cache.set(flow.key, entry);
 * cache.sweep(now);
 */
export class FlowCache {
  private readonly options: FlowCacheOptions;
  private readonly flows = new Map<string, CachedFlow>();
  private lastSweepMs = -Infinity;
  /** The pass in progress, if any. */
  private sweeping: IterableIterator<[string, CachedFlow]> | undefined;
  private evicted = 0;
  private forgotten = 0;

  constructor(options: FlowCacheOptions) {
    this.options = options;
  }

  get size(): number {
    return this.flows.size;
  }

  get(key: string): CachedFlow | undefined {
    return this.flows.get(key);
  }

  /** Forget one flow now (counted as expired). */
  forget(key: string): void {
    if (this.flows.delete(key)) this.forgotten++;
  }

  /** Remember `entry` under `key`, pushing out the oldest flow when full. */
  set(key: string, entry: CachedFlow): void {
    if (this.options.limit === 0) return;
    if (this.flows.size >= this.options.limit) {
      const oldest = this.flows.keys().next();
      if (!oldest.done) {
        this.flows.delete(oldest.value);
        this.evicted++;
      }
    }
    this.flows.set(key, entry);
  }

  /**
   * Forget idle and closed flows: one pass at most once a second, SWEEP_BATCH_FLOWS flows per
   * call (a pass over a full cache in one go blocked the event loop ~10 ms).
   */
  sweep(now: number): void {
    if (this.sweeping === undefined) {
      if (now - this.lastSweepMs < SWEEP_INTERVAL_MS) return;
      this.lastSweepMs = now;
      this.sweeping = this.flows.entries();
    }
    // A Map iterator stays valid across deletions and sees entries added meanwhile.
    for (let i = 0; i < SWEEP_BATCH_FLOWS; i++) {
      const next = this.sweeping.next();
      if (next.done === true) {
        this.sweeping = undefined;
        return;
      }
      const [key, entry] = next.value;
      const isIdle = now - entry.lastSeenMs > this.options.idleMs;
      const isClosed = entry.closedAtMs >= 0 && now - entry.closedAtMs > this.options.closedGraceMs;
      if (isIdle || isClosed) {
        this.flows.delete(key);
        this.forgotten++;
      }
    }
  }

  stats(): { readonly cached: number; readonly limit: number; evicted: number; expired: number } {
    return {
      cached: this.flows.size,
      limit: this.options.limit,
      evicted: this.evicted,
      expired: this.forgotten,
    };
  }
}
