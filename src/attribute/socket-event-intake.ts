// Event intake of the attribution stage: kernel socket events (TCP connects, UDP sends, TCP
// reads and writes; BPF programs, src/capture/socket-events.ts) in, owners of local ends out.

import { PROTOCOL_UDP, PROTOCOL_UDPLITE, isWildcardAddress } from './net-table.js';
import { placeholderProcess, processKey } from './process-info.js';
import { RecentConnects, connectKey } from './recent-connects.js';
import type { ConnectEvent, RecentConnect } from './recent-connects.js';
import { RecentEvents } from './recent-events.js';
import { RecentUdpSends } from './recent-udp-sends.js';
import type { RecentUdpSend } from './recent-udp-sends.js';
import type { Owner, ProcessInfo } from './types.js';

/** Where the intake reads the process behind an event's pid (the socket scanner). */
export interface EventProcessSource {
  /** Info of `pid` as of the last scan, without reading /proc. */
  processByKnownPid(pid: number): ProcessInfo | undefined;
  /** The process now running as `pid` (read from /proc if needed); undefined when gone. */
  processByPid(pid: number): ProcessInfo | undefined;
}

/** UDP sockets of a socket table by local port (SocketIndex.udpPortOwners). */
export interface UdpPortOwners {
  udpPortOwners(protocol: number, port: number): readonly { address: string; pid: number }[];
}

/** Options of {@link SocketEventIntake}. */
export interface SocketEventIntakeOptions {
  processes: EventProcessSource;
  /** Events remembered at most, per kind. @default 65536 */
  limit?: number;
  /** How long an event can name the owner of its connection or local end, ms. @default 120000 */
  ttlMs?: number;
}

/** Counters of {@link SocketEventIntake.stats} (the `events` block of the attributor's stats). */
export interface SocketEventIntakeStats {
  readonly received: number;
  /** Lookups of a local end the socket tables did not know, answered from an event. */
  readonly used: number;
  /** Connect events remembered now, and at most. */
  readonly indexed: number;
  readonly limit: number;
  /** Connect events pushed out by the limit before their TTL. */
  readonly evicted: number;
  /** Processes gone before their event was resolved: reported from the event's pid and comm. */
  readonly exitedOwners: number;
  /** UDP send events among `received` (one per socket and local port, not per datagram). */
  readonly udpReceived: number;
  /** Lookups of a UDP local end answered from a send event (in `used` too). */
  readonly udpUsed: number;
  /** UDP send events remembered now (the limit is `limit` again). */
  readonly udpIndexed: number;
  /** UDP send events pushed out by the limit before their TTL. */
  readonly udpEvicted: number;
  /** UDP send events dropped because a later scan showed another process on their local end. */
  readonly udpContradicted: number;
  /** TCP read/write events among `received` (one per connection and process). */
  readonly tcpIoReceived: number;
  /** Lookups of a TCP local end answered from a read/write event (in `used` too). */
  readonly tcpIoUsed: number;
  /** TCP read/write events remembered now (the limit is `limit` again). */
  readonly tcpIoIndexed: number;
  /** TCP read/write events pushed out by the limit before their TTL. */
  readonly tcpIoEvicted: number;
  /** Connections that changed hands: read or written by another process than the one before. */
  readonly tcpIoHandovers: number;
}

/** Processes remembered for events; a churning client is one pid connecting often. */
const MAX_EVENT_PROCESSES = 4096;

/**
 * Remembers who connected which TCP connection and who sent from which UDP local end, and
 * answers lookups of local ends from them. Every table is bounded and counts what it drops.
 * @example
 * const intake = new SocketEventIntake({ processes: scanner });
 * intake.record(batch, clock.monotonicMs());
 * intake.connectOwner(6, '198.18.0.1', 40000, '198.18.0.2', 80, clock.monotonicMs());
 */
export class SocketEventIntake {
  private readonly processes: EventProcessSource;
  /** Processes read for events, by pid (a churning client connects many times). */
  private readonly eventProcesses = new Map<number, ProcessInfo>();
  private readonly connects: RecentConnects;
  private readonly udpSends: RecentUdpSends;
  /** Connection (local end + peer) -> the process that read or wrote it last. */
  private readonly tcpIo: RecentEvents<RecentConnect>;
  private received = 0;
  private tcpIoReceived = 0;
  private tcpIoUsed = 0;
  private tcpIoHandovers = 0;
  private used = 0;
  private exitedOwners = 0;
  private udpReceived = 0;
  private udpUsed = 0;

  constructor(options: SocketEventIntakeOptions) {
    this.processes = options.processes;
    const limits = { limit: options.limit ?? 65_536, ttlMs: options.ttlMs ?? 120_000 };
    this.connects = new RecentConnects(limits);
    this.udpSends = new RecentUdpSends(limits);
    this.tcpIo = new RecentEvents(limits);
  }

  /** Events received so far (every kind). */
  get receivedEvents(): number {
    return this.received;
  }

  /** TCP read/write events have arrived: the process serving a connection will be named. */
  get tracksTcpIo(): boolean {
    return this.tcpIoReceived > 0;
  }

  /**
   * Changes whenever a UDP local end may have changed owner: an attribution made from a UDP
   * send event is valid while it stays the same.
   */
  get udpGeneration(): number {
    return this.udpSends.generation;
  }

  /**
   * Remember a batch of events. The process is resolved now: events arrive within tens of ms
   * of the connect, while the process almost always still runs; by the first packet lookup a
   * churning client may have exited already. For UDP the newest event of a local end wins.
   */
  record(events: readonly ConnectEvent[], nowMs: number): void {
    this.received += events.length;
    for (const event of events) {
      const owner = { process: this.eventProcess(event), socketInode: 0 };
      if (event.kind === 'tcpIo') {
        this.tcpIoReceived++;
        const key = connectKey(
          event.protocol,
          event.localAddress,
          event.localPort,
          event.remoteAddress,
          event.remotePort,
        );
        const previous = this.tcpIo.peek(key);
        if (previous !== undefined && previous.owner?.process.key !== owner.process.key) {
          this.tcpIoHandovers++;
        }
        this.tcpIo.put(key, { pid: event.pid, comm: event.comm, seenMs: nowMs, owner }, nowMs);
      } else if (event.protocol === PROTOCOL_UDP || event.protocol === PROTOCOL_UDPLITE) {
        this.udpReceived++;
        this.udpSends.add(event, nowMs).owner = owner;
      } else {
        this.connects.add(event, nowMs).owner = owner;
      }
    }
  }

  /** Owner of a connection from its connect event, if remembered (counted as used). */
  connectOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
    nowMs: number,
  ): Owner | undefined {
    const entry = this.connects.find(
      protocol,
      localAddress,
      localPort,
      remoteAddress,
      remotePort,
      nowMs,
    );
    if (entry?.owner === undefined) return undefined;
    this.used++;
    return entry.owner;
  }

  /**
   * The process that read or wrote this TCP connection last (the worker that accepted it, the
   * child that serves it, the receiver of a passed socket), if reported less than ttlMs ago.
   */
  ioOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
    nowMs: number,
  ): Owner | undefined {
    if (this.tcpIo.size === 0) return undefined;
    const entry = this.tcpIo.get(
      connectKey(protocol, localAddress, localPort, remoteAddress, remotePort),
      nowMs,
    );
    if (entry?.owner === undefined) return undefined;
    this.used++;
    this.tcpIoUsed++;
    return entry.owner;
  }

  /**
   * Owner of a UDP local end from the newest send event bound to this address or to none, if
   * remembered. Ask only when no socket table knows the end.
   */
  udpOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    nowMs: number,
  ): Owner | undefined {
    const entry = this.udpSends.find(protocol, localAddress, localPort, nowMs);
    if (entry?.owner === undefined) return undefined;
    this.used++;
    this.udpUsed++;
    return entry.owner;
  }

  /**
   * After a scan that started at `scanStartMs`: forget UDP send events older than it whose
   * local end the new tables give to other processes only (the event's socket is gone and
   * another took the port), so the old event cannot name the owner of the new socket's
   * traffic once that socket is gone too.
   */
  dropContradictedUdpSends(tables: UdpPortOwners, scanStartMs: number): void {
    if (this.udpSends.stats().size === 0) return;
    this.udpSends.dropContradicted(scanStartMs, (entry: RecentUdpSend) => {
      let other = false;
      for (const socket of tables.udpPortOwners(entry.protocol, entry.localPort)) {
        const overlaps =
          entry.localAddress === '*' ||
          isWildcardAddress(socket.address) ||
          socket.address === entry.localAddress;
        if (!overlaps) continue;
        if (socket.pid === entry.pid) return false;
        other = true;
      }
      return other;
    });
  }

  stats(): SocketEventIntakeStats {
    const connects = this.connects.stats();
    const udpSends = this.udpSends.stats();
    const tcpIo = this.tcpIo.stats();
    return {
      received: this.received,
      used: this.used,
      indexed: connects.size,
      limit: connects.limit,
      evicted: connects.evicted,
      exitedOwners: this.exitedOwners,
      udpReceived: this.udpReceived,
      udpUsed: this.udpUsed,
      udpIndexed: udpSends.size,
      udpEvicted: udpSends.evicted,
      udpContradicted: udpSends.contradicted,
      tcpIoReceived: this.tcpIoReceived,
      tcpIoUsed: this.tcpIoUsed,
      tcpIoIndexed: tcpIo.size,
      tcpIoEvicted: tcpIo.evicted,
      tcpIoHandovers: this.tcpIoHandovers,
    };
  }

  /**
   * The process of an event: the scanner's cached info if the pid is tracked, else the one
   * read earlier for another event of the same pid (re-read when the comm differs: a reused
   * pid), else read from /proc now. A start time in the event must match (a pid reused since
   * is another process). When the process is already gone, a minimal ProcessInfo from the
   * event's pid, start time (0 when unknown) and comm stands for it.
   */
  private eventProcess(event: ConnectEvent): ProcessInfo {
    const startTime = event.startTime ?? 0;
    const matches = (info: ProcessInfo): boolean => startTime === 0 || info.startTime === startTime;
    const tracked = this.processes.processByKnownPid(event.pid);
    if (tracked !== undefined && matches(tracked)) return tracked;
    const known = this.eventProcesses.get(event.pid);
    if (known !== undefined && known.comm === event.comm && matches(known)) return known;
    const read = this.processes.processByPid(event.pid);
    if (read === undefined || !matches(read)) {
      this.exitedOwners++;
      return placeholderProcess(processKey(event.pid, startTime), event.pid, event.comm);
    }
    if (this.eventProcesses.size >= MAX_EVENT_PROCESSES) {
      const oldest = this.eventProcesses.keys().next();
      if (!oldest.done) this.eventProcesses.delete(oldest.value);
    }
    this.eventProcesses.delete(event.pid);
    this.eventProcesses.set(event.pid, read);
    return read;
  }
}
