// Recent UDP senders reported by the kernel (raw tracepoint sock_send_length, see
// native/bpf/sock_events.bpf.c): UDP local end -> the process that sent from it. Lets the
// attributor name the owner of a UDP socket that was opened, used and closed between two /proc
// scans (a DNS client: socket, sendto, recvfrom, close, exit within milliseconds).
//
// Keyed by the local end only (protocol, address, port): an unconnected socket sends to many
// peers from one port, and the kernel reports a socket once per port and process, not per
// destination. A socket bound to no address is kept under the wildcard and matches any local
// address, as the kernel's own UDP lookup does.
import type { SocketEvent } from '../capture/socket-events.js';
import { isWildcardAddress } from './net-table.js';
import { RecentEvents } from './recent-events.js';
import type { RecentEventsOptions, RecentEventsStats } from './recent-events.js';
import type { Owner } from './types.js';

/** What is known about the owner of one UDP local end. */
export interface RecentUdpSend {
  readonly pid: number;
  readonly comm: string;
  readonly protocol: number;
  /** Local address as reported, or `*` when the socket was bound to no address. */
  readonly localAddress: string;
  readonly localPort: number;
  /** Monotonic ms when the event was recorded: the newest event of a local end wins. */
  readonly seenMs: number;
  /** The owner once the attributor has resolved it (kept so /proc is read once per event). */
  owner?: Owner | undefined;
}

/** Options of {@link RecentUdpSends}. */
export type RecentUdpSendsOptions = RecentEventsOptions;

/** Counters of {@link RecentUdpSends.stats}. */
export interface RecentUdpSendsStats extends RecentEventsStats {
  /** Entries dropped because a later socket table showed another owner on their local end. */
  readonly contradicted: number;
}

/** The address part of a key: `*` for a socket bound to no address. */
const WILDCARD = '*';

function udpKey(protocol: number, localAddress: string, localPort: number): string {
  return `${protocol}|${localAddress}|${localPort}`;
}

/**
 * Bounded, TTL-limited index of recent UDP senders by local end. A Map in insertion order
 * doubles as the eviction queue: a new event for the same local end replaces the old one and
 * moves to the end. {@link generation} changes whenever a local end may have changed owner, so
 * callers can tell when an answer they remembered must be looked up again.
 * @example
 * const sends = new RecentUdpSends();
 * sends.add(event, clock.monotonicMs());
 * sends.find(17, '198.18.0.1', 40000, clock.monotonicMs());
 */
export class RecentUdpSends {
  private readonly recent: RecentEvents<RecentUdpSend>;
  private contradicted = 0;
  private gen = 0;

  constructor(options: RecentUdpSendsOptions = {}) {
    this.recent = new RecentEvents(options);
  }

  /**
   * Changes whenever an entry is replaced by another process's or removed as contradicted:
   * an attribution made from an entry is valid while the generation is the same.
   */
  get generation(): number {
    return this.gen;
  }

  /** Remember a UDP send; returns its entry (not kept when the limit is 0). */
  add(event: SocketEvent, nowMs: number): RecentUdpSend {
    const localAddress = isWildcardAddress(event.localAddress) ? WILDCARD : event.localAddress;
    const entry: RecentUdpSend = {
      pid: event.pid,
      comm: event.comm,
      protocol: event.protocol,
      localAddress,
      localPort: event.localPort,
      seenMs: nowMs,
      owner: undefined,
    };
    if (this.recent.limit === 0) return entry;
    const key = udpKey(event.protocol, localAddress, event.localPort);
    const previous = this.recent.peek(key);
    // Port reuse: another process on this local end (or on the port, for a wildcard entry
    // that a bound lookup also sees) makes earlier answers stale.
    const wildcard =
      localAddress === WILDCARD
        ? undefined
        : this.recent.peek(udpKey(event.protocol, WILDCARD, event.localPort));
    if (
      (previous !== undefined && previous.pid !== event.pid) ||
      (wildcard !== undefined && wildcard.pid !== event.pid)
    ) {
      this.gen++;
    }
    this.recent.put(key, entry, nowMs);
    return entry;
  }

  /**
   * The newest live entry for a UDP local end: one bound to `localAddress` or one bound to no
   * address, whichever came later.
   */
  find(
    protocol: number,
    localAddress: string,
    localPort: number,
    nowMs: number,
  ): RecentUdpSend | undefined {
    if (this.recent.size === 0) return undefined;
    const bound = this.recent.get(udpKey(protocol, localAddress, localPort), nowMs);
    const wildcard = this.recent.get(udpKey(protocol, WILDCARD, localPort), nowMs);
    if (bound === undefined) return wildcard;
    if (wildcard === undefined) return bound;
    return wildcard.seenMs > bound.seenMs ? wildcard : bound;
  }

  /**
   * Drop every entry recorded before `beforeMs` that `otherOwner` says belongs to someone
   * else now (a socket table read after the event shows another process on its local end).
   * Returns how many were dropped.
   */
  dropContradicted(beforeMs: number, otherOwner: (entry: RecentUdpSend) => boolean): number {
    const dropped = this.recent.removeWhere(
      (entry) => entry.seenMs < beforeMs && otherOwner(entry),
    );
    if (dropped > 0) {
      this.contradicted += dropped;
      this.gen++;
    }
    return dropped;
  }

  stats(): RecentUdpSendsStats {
    return { ...this.recent.stats(), contradicted: this.contradicted };
  }
}
