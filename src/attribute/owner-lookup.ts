// Lookup of the attribution stage: both local ends of a flow in the current socket index (the
// last scan's SocketIndex) and in the kernel events (socket-event-intake.ts), with the rules for
// TCP servers (the process that serves a connection, shared listeners) and for ends that may
// live in a network namespace no scan has seen yet.

import { isHeldByRelative } from './fork-families.js';
import type { ForkFamilies } from './fork-families.js';
import { PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_UDPLITE } from './net-table.js';
import type { ProcFs } from './procfs.js';
import { SocketIndex } from './socket-index.js';
import type { Attribution, FlowTuple, Owner } from './types.js';

/** What a lookup answers for one flow. */
export interface Lookup {
  readonly attribution: Attribution;
  readonly isComplete: boolean;
  /**
   * One end came from a connect event and the other has no owner: the socket is newer than
   * the last scan, so the other end may sit in a namespace no scan has seen yet. Reported
   * now, but remembered only until the next scan.
   */
  readonly isProvisional?: boolean | undefined;
  /** An end came from a UDP send event. */
  readonly usedUdpEvent?: boolean | undefined;
  /** A TCP end has only a listener yet: the process that serves it has not read or written it. */
  readonly awaitsServer?: boolean | undefined;
  /**
   * Not final only because an end may live in a network namespace no scan has seen yet (no
   * end known at all, or one known from a kernel event only): one scan that starts after the
   * flow arrived settles it.
   */
  readonly awaitsScan?: boolean | undefined;
}

/** Owners of local ends from kernel events (SocketEventIntake). */
export interface EventOwners {
  ioOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
    nowMs: number,
  ): Owner | undefined;
  connectOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
    nowMs: number,
  ): Owner | undefined;
  udpOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    nowMs: number,
  ): Owner | undefined;
}

/** Options of {@link OwnerLookup}. */
export interface OwnerLookupOptions {
  /** For the fd tables of a listener owner's relatives (isHeldByRelative). */
  procFs: ProcFs;
  events: EventOwners;
  /** Virtual interfaces (VirtualLinks): a flow captured on one may have its far end in a namespace. */
  virtualLinks: { isVirtual(ifindex: number): boolean };
  monotonicMs(): number;
  /** Addresses of this host, for the empty index before the first scan. */
  localAddresses: { has(address: string): boolean };
}

/** Counters of {@link OwnerLookup.stats} (part of the `retry` block of the attributor's stats). */
export interface OwnerLookupStats {
  /** TCP ends given to the only process holding the listener on their port. */
  readonly listenerLookups: number;
  /** TCP ends left unknown because their listener is shared. */
  readonly sharedListenerLookups: number;
}

/**
 * Looks up both local ends of flows in the socket index of the last scan and in the kernel
 * events. {@link replaceIndex} swaps in each new scan's index.
 * @example
 * const owners = new OwnerLookup({ procFs, events, virtualLinks, monotonicMs, localAddresses });
 * owners.replaceIndex(scan.index, findForkFamilies(scan.alive, info));
 * owners.lookup(flow, false).attribution.sender;
 */
export class OwnerLookup {
  private readonly options: OwnerLookupOptions;
  private currentIndex: SocketIndex;
  private indexGeneration = 0;
  /** Processes forked from a process of the same program -> relatives (last scan). */
  private forkFamilies: ForkFamilies = new Map();
  /** Listener inode -> held by more than one process, found out since the last scan. */
  private readonly sharedListeners = new Map<number, boolean>();
  private listenerLookups = 0;
  private sharedListenerLookups = 0;

  constructor(options: OwnerLookupOptions) {
    this.options = options;
    this.currentIndex = SocketIndex.empty(options.localAddresses);
  }

  /** The socket index lookups use now. */
  get index(): SocketIndex {
    return this.currentIndex;
  }

  /** Number of indexes swapped in so far (0 before the first scan): remembered answers carry it. */
  get generation(): number {
    return this.indexGeneration;
  }

  /** Use a new scan's index and fork families from now on. */
  replaceIndex(index: SocketIndex, forkFamilies: ForkFamilies): void {
    this.currentIndex = index;
    this.forkFamilies = forkFamilies;
    this.sharedListeners.clear();
    this.indexGeneration++;
  }

  stats(): OwnerLookupStats {
    return {
      listenerLookups: this.listenerLookups,
      sharedListenerLookups: this.sharedListenerLookups,
    };
  }

  /**
   * Both ends of the flow looked up as local sockets in the current index. `isFinal`: the flow
   * had its retries, so a TCP listener may stand in for a connection nothing else knows.
   */
  lookup(flow: FlowTuple, isFinal: boolean): Lookup {
    const index = this.currentIndex;
    const events = this.options.events;
    const p = flow.protocol;
    const hasPorts = p === PROTOCOL_TCP || p === PROTOCOL_UDP || p === PROTOCOL_UDPLITE;
    const now = this.options.monotonicMs();
    // Behind NAT the receiver's socket sees another tuple than the sender's (nat.ts).
    const rv = flow.receiverView ?? flow;
    let sender: Owner | undefined;
    let receiver: Owner | undefined;
    let usedEvent = false;
    let isProvisionalEnd = false;
    let awaitsServer = false;
    if (p === PROTOCOL_TCP) {
      const src = this.tcpEnd(
        flow.srcAddress,
        flow.srcPort,
        flow.dstAddress,
        flow.dstPort,
        now,
        isFinal,
      );
      const dst = this.tcpEnd(rv.dstAddress, rv.dstPort, rv.srcAddress, rv.srcPort, now, isFinal);
      sender = src.owner;
      receiver = dst.owner;
      usedEvent = src.isFromEvent || dst.isFromEvent;
      isProvisionalEnd = src.isFromListener || dst.isFromListener;
      awaitsServer = src.awaitsServer || dst.awaitsServer;
    } else if (hasPorts) {
      sender = index.findOwner(p, flow.srcAddress, flow.srcPort, flow.dstAddress, flow.dstPort);
      receiver = index.findOwner(p, rv.dstAddress, rv.dstPort, rv.srcAddress, rv.srcPort);
    }
    // A UDP local end no table knows: the kernel may have told us who sent from it. Only a
    // local address can be such an end: an event of a socket bound to no address would
    // otherwise claim forwarded traffic that merely uses the same port number.
    let usedUdpEvent = false;
    const isUdp = p === PROTOCOL_UDP || p === PROTOCOL_UDPLITE;
    if (sender === undefined && isUdp && index.isLocal(flow.srcAddress)) {
      sender = events.udpOwner(p, flow.srcAddress, flow.srcPort, now);
      usedUdpEvent = sender !== undefined;
    }
    if (receiver === undefined && isUdp && index.isLocal(rv.dstAddress)) {
      receiver = events.udpOwner(p, rv.dstAddress, rv.dstPort, now);
      usedUdpEvent ||= receiver !== undefined;
    }
    usedEvent ||= usedUdpEvent;
    const srcIsLocal = sender !== undefined || index.isLocal(flow.srcAddress);
    const dstIsLocal = receiver !== undefined || index.isLocal(rv.dstAddress);
    // Without ports there is no socket to find: waiting would not help.
    let isComplete =
      !hasPorts ||
      ((sender !== undefined || !srcIsLocal) && (receiver !== undefined || !dstIsLocal));
    // An end that is local to no namespace we know may be in one that appeared since the last
    // scan (a container, a namespace of routed clients): wait for one scan before calling it
    // remote, when nothing of the flow is known yet, or when its one known end came from a
    // kernel event (its socket is newer than the last scan, and so may be its peer's namespace),
    // or when the flow was captured on a virtual interface (veth, bridge) and one end is known.
    const known = sender ?? receiver;
    const isInOtherNamespace =
      known !== undefined &&
      index.hostNetns !== 0 &&
      known.process.netns !== 0 &&
      known.process.netns !== index.hostNetns;
    const hasOneOwner = known !== undefined && (sender === undefined || receiver === undefined);
    const awaitsScan =
      isComplete &&
      hasPorts &&
      !isFinal &&
      ((known === undefined && !srcIsLocal && !dstIsLocal) ||
        (hasOneOwner && usedEvent && isInOtherNamespace) ||
        // Captured on a veth or a bridge: the far side is often a namespace of this host.
        (hasOneOwner &&
          flow.device !== undefined &&
          this.indexGeneration > 0 &&
          this.options.virtualLinks.isVirtual(flow.device)));
    if (awaitsScan) isComplete = false;
    const isProvisional =
      isProvisionalEnd || (usedEvent && (sender === undefined || receiver === undefined));
    return {
      attribution: { sender, receiver, srcIsLocal, dstIsLocal },
      isComplete,
      isProvisional,
      usedUdpEvent,
      awaitsServer,
      awaitsScan,
    };
  }

  /**
   * Owner of one local end of a TCP connection, in this order: the process that read or wrote
   * the connection last (kernel event: the worker that accepted it, the child that serves it,
   * the receiver of a passed socket); the owner of the connection's own socket in the tables;
   * the process that connected it (kernel event). A listener on the port stands in only once
   * the flow had its retries (`isFinal`), and only when no other process may hold it: a
   * listener shared by a pre-fork group, an inetd-style parent and its children, or an
   * SO_REUSEPORT group gives no owner (reported unknown) rather than the wrong one.
   */
  private tcpEnd(
    address: string,
    port: number,
    peerAddress: string,
    peerPort: number,
    now: number,
    isFinal: boolean,
  ): {
    owner: Owner | undefined;
    isFromEvent: boolean;
    isFromListener: boolean;
    awaitsServer: boolean;
  } {
    const none = {
      owner: undefined,
      isFromEvent: false,
      isFromListener: false,
      awaitsServer: false,
    };
    const events = this.options.events;
    const io = events.ioOwner(PROTOCOL_TCP, address, port, peerAddress, peerPort, now);
    if (io !== undefined) return { ...none, owner: io, isFromEvent: true };
    const level = this.currentIndex.findOwnerLevel(
      PROTOCOL_TCP,
      address,
      port,
      peerAddress,
      peerPort,
    );
    if (level.isExact) return { ...none, owner: level.owner };
    const connect = events.connectOwner(PROTOCOL_TCP, address, port, peerAddress, peerPort, now);
    if (connect !== undefined) return { ...none, owner: connect, isFromEvent: true };
    if (!level.found) return none;
    if (!isFinal) return { ...none, awaitsServer: true };
    if (level.owner === undefined) return none;
    if (level.isShared || this.isSharedListener(level.owner)) {
      this.sharedListenerLookups++;
      return none;
    }
    this.listenerLookups++;
    return { ...none, owner: level.owner, isFromListener: true };
  }

  /** True when a relative of the listener's owner holds the listener too (cached per scan). */
  private isSharedListener(owner: Owner): boolean {
    if (!this.forkFamilies.has(owner.process.pid)) return false;
    let isShared = this.sharedListeners.get(owner.socketInode);
    if (isShared === undefined) {
      isShared = isHeldByRelative(
        this.options.procFs,
        this.forkFamilies,
        owner.process.pid,
        owner.socketInode,
      );
      this.sharedListeners.set(owner.socketInode, isShared);
    }
    return isShared;
  }
}
