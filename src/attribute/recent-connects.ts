// Recent TCP connects reported by the kernel (src/capture/socket-events.ts): connection ->
// the process that called connect(). Lets the attributor name the owner of a client socket
// that opened and closed between two /proc scans (connection churn).
import type { SocketEvent } from '../capture/socket-events.js';
import type { Owner } from './types.js';

/** One connect as the capture stage decodes it. */
export type ConnectEvent = SocketEvent;

/** What is known about the owner of one connection. */
export interface RecentConnect {
  readonly pid: number;
  readonly comm: string;
  /** Monotonic ms when the event was recorded. */
  readonly seenMs: number;
  /** The owner once the attributor has resolved it (kept so /proc is read once per event). */
  owner?: Owner | undefined;
}

/** Options of {@link RecentConnects}. */
export interface RecentConnectsOptions {
  /** An entry is used at most this long after its connect. @default 120000 */
  ttlMs?: number;
  /** Entries kept at most; the oldest go first. @default 65536 */
  limit?: number;
}

/** Counters of {@link RecentConnects.stats}. */
export interface RecentConnectsStats {
  readonly size: number;
  readonly limit: number;
  /** Entries pushed out by the limit before their TTL. */
  readonly evicted: number;
  /** Entries forgotten after the TTL. */
  readonly expired: number;
}

/** Text key of one connection seen from its local end. */
export function connectKey(
  protocol: number,
  localAddress: string,
  localPort: number,
  remoteAddress: string,
  remotePort: number,
): string {
  return `${protocol}|${localAddress}|${localPort}|${remoteAddress}|${remotePort}`;
}

/**
 * Bounded, TTL-limited index of recent connects. A Map in insertion order doubles as the
 * eviction queue: re-adding a key moves it to the end.
 * @example
 * const connects = new RecentConnects();
 * connects.add(event, clock.monotonicMs());
 * connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, clock.monotonicMs());
 */
export class RecentConnects {
  private readonly entries = new Map<string, RecentConnect>();
  private readonly ttlMs: number;
  private readonly limit: number;
  private evicted = 0;
  private expired = 0;

  constructor(options: RecentConnectsOptions = {}) {
    this.ttlMs = options.ttlMs ?? 120_000;
    this.limit = options.limit ?? 65_536;
  }

  /** Remember a connect; returns its entry (not kept when the limit is 0). */
  add(event: ConnectEvent, nowMs: number): RecentConnect {
    const entry: RecentConnect = {
      pid: event.pid,
      comm: event.comm,
      seenMs: nowMs,
      owner: undefined,
    };
    if (this.limit === 0) return entry;
    const key = connectKey(
      event.protocol,
      event.localAddress,
      event.localPort,
      event.remoteAddress,
      event.remotePort,
    );
    // A reused 4-tuple is a new connection: its entry moves to the end of the queue.
    this.entries.delete(key);
    this.sweep(nowMs);
    while (this.entries.size >= this.limit) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
      this.evicted++;
    }
    this.entries.set(key, entry);
    return entry;
  }

  /** The connect of this connection if it happened less than ttlMs ago. */
  find(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
    nowMs: number,
  ): RecentConnect | undefined {
    if (this.entries.size === 0) return undefined;
    const entry = this.entries.get(
      connectKey(protocol, localAddress, localPort, remoteAddress, remotePort),
    );
    if (entry === undefined || nowMs - entry.seenMs > this.ttlMs) return undefined;
    return entry;
  }

  stats(): RecentConnectsStats {
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
