// The storage both kinds of kernel socket events share (recent-connects.ts, recent-udp-sends.ts):
// entries by key, forgotten after a TTL, at most `limit` of them, evictions and expiries counted.

/** Options of {@link RecentEvents}. */
export interface RecentEventsOptions {
  /** An entry is used at most this long after its event. @default 120000 */
  ttlMs?: number;
  /** Entries kept at most; the oldest go first. @default 65536 */
  limit?: number;
}

/** Counters of {@link RecentEvents.stats}. */
export interface RecentEventsStats {
  readonly size: number;
  readonly limit: number;
  /** Entries pushed out by the limit before their TTL. */
  readonly evicted: number;
  /** Entries forgotten after the TTL. */
  readonly expired: number;
}

/**
 * Bounded, TTL-limited entries by key. A Map in insertion order doubles as the eviction queue:
 * putting a key again moves it to the end.
 * @example
 * const recent = new RecentEvents<{ seenMs: number }>();
 * recent.put('6|198.18.0.1|40000', { seenMs: now }, now);
 * recent.get('6|198.18.0.1|40000', now);
 */
export class RecentEvents<T extends { readonly seenMs: number }> {
  readonly ttlMs: number;
  readonly limit: number;
  private readonly entries = new Map<string, T>();
  private evicted = 0;
  private expired = 0;

  constructor(options: RecentEventsOptions = {}) {
    this.ttlMs = options.ttlMs ?? 120_000;
    this.limit = options.limit ?? 65_536;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Keep `entry` under `key` (nothing is kept when the limit is 0). */
  put(key: string, entry: T, nowMs: number): void {
    if (this.limit === 0) return;
    this.entries.delete(key);
    this.sweep(nowMs);
    while (this.entries.size >= this.limit) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
      this.evicted++;
    }
    this.entries.set(key, entry);
  }

  /** The entry under `key`, however old. */
  peek(key: string): T | undefined {
    return this.entries.get(key);
  }

  /** The entry under `key` if its event is less than ttlMs old. */
  get(key: string, nowMs: number): T | undefined {
    const entry = this.entries.get(key);
    return entry === undefined || nowMs - entry.seenMs > this.ttlMs ? undefined : entry;
  }

  /** Remove every entry `drop` returns true for; returns how many went. */
  removeWhere(drop: (entry: T) => boolean): number {
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (!drop(entry)) continue;
      this.entries.delete(key);
      removed++;
    }
    return removed;
  }

  stats(): RecentEventsStats {
    return {
      size: this.entries.size,
      limit: this.limit,
      evicted: this.evicted,
      expired: this.expired,
    };
  }

  /** Drop expired entries from the front (oldest first); stops at the first live one. */
  private sweep(nowMs: number): void {
    for (const [key, entry] of this.entries) {
      if (nowMs - entry.seenMs <= this.ttlMs) return;
      this.entries.delete(key);
      this.expired++;
    }
  }
}
