// Keeps exported counters monotonic when their source goes down (an entry evicted from a bounded
// table, a device reopened): each key carries an offset that absorbs every decrease.

/** Per-key counter values made monotonic with a high-water offset. */
export class MonotonicCounters {
  private readonly state = new Map<string, { last: number; offset: number }>();

  constructor(private readonly maxKeys = 10_000) {}

  /**
   * The exported value of `key` for a raw reading: the raw value plus the sum of every drop seen
   * so far, so it never decreases. Keys beyond `maxKeys` are passed through unchanged.
   */
  value(key: string, raw: number): number {
    let s = this.state.get(key);
    if (s === undefined) {
      if (this.state.size >= this.maxKeys) return raw;
      s = { last: raw, offset: 0 };
      this.state.set(key, s);
    }
    if (raw < s.last) s.offset += s.last - raw;
    s.last = raw;
    return raw + s.offset;
  }
}
