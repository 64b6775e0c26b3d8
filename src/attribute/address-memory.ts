// Memory of the addresses local to network namespaces, so that a namespace's addresses stay
// local for a while after the scans stop seeing it (its last process exited). Input: each
// scan's addresses per namespace.

/**
 * Addresses of a namespace stay local this long after the last scan that saw them. Namespaces
 * are found through their processes: when the last process of a test net or a pod exits (a
 * short client), the next scan no longer sees the namespace, and its connections still in
 * flight would turn "remote" at one end (attributed on the other end only, for good, when the
 * connect event of that end arrives after the scan). Bounded by RECENT_ADDRESSES_LIMIT.
 */
export const RECENT_ADDRESS_TTL_MS = 60_000;
export const RECENT_ADDRESSES_LIMIT = 65_536;

/** Addresses seen by recent scans, each with when it was last seen; bounded, oldest out first. */
export class AddressMemory {
  /** Address local to a namespace -> monotonic ms of the last scan that saw it (age order). */
  private readonly recentAddresses = new Map<string, number>();

  /**
   * @param ttlMs how long an address is remembered after the last scan that saw it
   * @param limit addresses remembered at most
   */
  constructor(
    private readonly ttlMs = RECENT_ADDRESS_TTL_MS,
    private readonly limit = RECENT_ADDRESSES_LIMIT,
  ) {}

  /** Addresses remembered now. */
  get size(): number {
    return this.recentAddresses.size;
  }

  /**
   * Note the addresses of this scan's namespaces as seen now and return those seen by earlier
   * scans within the TTL (forgetting older ones; the oldest go first past the limit).
   */
  remember(nsAddresses: ReadonlyMap<number, ReadonlySet<string>>, nowMs: number): string[] {
    for (const addresses of nsAddresses.values()) {
      for (const a of addresses) {
        this.recentAddresses.delete(a); // re-inserted last: the map stays in age order
        this.recentAddresses.set(a, nowMs);
      }
    }
    const recent: string[] = [];
    for (const [address, seenMs] of this.recentAddresses) {
      if (nowMs - seenMs > this.ttlMs || this.recentAddresses.size > this.limit) {
        this.recentAddresses.delete(address);
      } else if (seenMs !== nowMs) {
        recent.push(address);
      }
    }
    return recent;
  }
}
