// Recent TCP connects reported by the kernel (src/capture/socket-events.ts): connection ->
// the process that called connect(). Lets the attributor name the owner of a client socket
// that opened and closed between two /proc scans (connection churn).
import type { SocketEvent } from '../capture/socket-events.js';
import { RecentEvents } from './recent-events.js';
import type { RecentEventsOptions, RecentEventsStats } from './recent-events.js';
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
export type RecentConnectsOptions = RecentEventsOptions;

/** Counters of {@link RecentConnects.stats}. */
export type RecentConnectsStats = RecentEventsStats;

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
  private readonly recent: RecentEvents<RecentConnect>;

  constructor(options: RecentConnectsOptions = {}) {
    this.recent = new RecentEvents(options);
  }

  /** Remember a connect; returns its entry (not kept when the limit is 0). */
  add(event: ConnectEvent, nowMs: number): RecentConnect {
    const entry: RecentConnect = {
      pid: event.pid,
      comm: event.comm,
      seenMs: nowMs,
      owner: undefined,
    };
    // A reused 4-tuple is a new connection: its entry moves to the end of the queue.
    this.recent.put(
      connectKey(
        event.protocol,
        event.localAddress,
        event.localPort,
        event.remoteAddress,
        event.remotePort,
      ),
      entry,
      nowMs,
    );
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
    if (this.recent.size === 0) return undefined;
    return this.recent.get(
      connectKey(protocol, localAddress, localPort, remoteAddress, remotePort),
      nowMs,
    );
  }

  stats(): RecentConnectsStats {
    return this.recent.stats();
  }
}
