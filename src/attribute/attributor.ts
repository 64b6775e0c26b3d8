// The attribution stage: the monitor hands it each flow of each batch; it answers at once from
// the socket index or a per-flow cache, or parks the flow until a rescan finds its socket.
// Its parts, each testable alone: scan-scheduler.ts (when to scan), socket-scanner.ts (the
// socket index), socket-event-intake.ts (kernel events), peer-inference.ts, flow-cache.ts.

import type { AttributorLogger, AttributorOptions, AttributorStats } from './attributor-options.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/record.js';
import { StateError, UsageError } from '../errors.js';
import { FlowCache } from './flow-cache.js';
import { flowKey } from './flow-key.js';
import { findForkFamilies, isHeldByRelative } from './fork-families.js';
import type { ForkFamilies } from './fork-families.js';
import { PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_UDPLITE } from './net-table.js';
import { PeerInference } from './peer-inference.js';
import { ContainerNames } from './containers/container-names.js';
import { NodeHostFiles } from './host-files.js';
import { NodeProcFs } from './procfs.js';
import type { ConnectEvent } from './recent-connects.js';
import type { ProcFs } from './procfs.js';
import { ScanScheduler } from './scan-scheduler.js';
import { SocketEventIntake } from './socket-event-intake.js';
import { VirtualLinks } from './virtual-links.js';
import { SocketIndex } from './socket-index.js';
import { SocketScanner } from './socket-scanner.js';
import type { ScanResult } from './socket-scanner.js';
import type { Attribution, FlowCounters, FlowTuple, Owner, ProcessInfo } from './types.js';

export type { AttributorLogger, AttributorOptions, AttributorStats } from './attributor-options.js';

interface ParkedFlow {
  readonly flow: FlowTuple;
  readonly counters: FlowCounters;
  /** Scan start number when parked: only scans that start later count against retryScans. */
  readonly parkedAtSeq: number;
  waitedScans: number;
}

interface Lookup {
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

const CLOSING_FLAGS = TCP_FIN | TCP_RST;
/**
 * Scans a flow waits at most for the process that serves its connection, while TCP read/write
 * events run: a busy pre-fork worker may leave a connection in the accept queue for seconds.
 */
const SERVER_WAIT_SCANS = 20;

const processCpuMs = (): number => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};
const defaultYield = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) {
    throw new UsageError(`attributor option ${name} must be a number >= ${min}, got ${String(v)}`);
  }
  return v;
}

/**
 * Maps flows to the processes that own their local sockets, across every network namespace.
 *
 * Synchronous for the caller: {@link ingest} either calls `onResolved` before it returns, or
 * parks the flow; parked flows are resolved (also through `onResolved`) right after a later
 * scan, or reported with unknown ends after `retryScans` scans. Every flow passed to ingest
 * reaches `onResolved` exactly once per ingest call, except that calls for a flow already
 * parked merge their counters into it.
 * @example
 * const attributor = new Attributor({ localAddresses, onResolved: (flow, c, a) => account(flow, c, a) });
 * await attributor.start();
 * attributor.ingest(flow, counters);
 */
export class Attributor {
  private readonly procFs: ProcFs;
  private readonly containerNames: ContainerNames;
  private readonly clock: Clock;
  private readonly yieldToEventLoop: () => Promise<void>;
  private readonly cpuMs: () => number;
  private readonly onResolved: AttributorOptions['onResolved'];
  private readonly onScan: AttributorOptions['onScan'];
  private readonly logger: AttributorLogger | undefined;
  private readonly retryBufferFlows: number;
  private readonly retryScans: number;
  private readonly localAddresses: { has(address: string): boolean };
  private readonly scanner: SocketScanner;
  private readonly scheduler: ScanScheduler;
  private readonly events: SocketEventIntake;
  private readonly peers: PeerInference;
  private readonly cache: FlowCache;
  private readonly virtualLinks: VirtualLinks;

  private index: SocketIndex;
  /** Processes forked from a process of the same program -> relatives (last scan). */
  private forkFamilies: ForkFamilies = new Map();
  /** Listener inode -> held by more than one process, found out since the last scan. */
  private readonly sharedListeners = new Map<number, boolean>();
  private listenerLookups = 0;
  private sharedListenerLookups = 0;
  private isStopped = false;
  private scanGen = 0;

  private readonly retry = new Map<string, ParkedFlow>();
  private pendingPackets = 0;
  private pendingBytes = 0;
  private droppedFlows = 0;
  private droppedPackets = 0;
  private resolvedFlows = 0;
  private expiredFlows = 0;
  private scanCount = 0;
  /** 0: every periodic scan runs; else the longest gap between scans on a quiet host. */
  private quietScanIntervalMs = 0;
  /** Table lookups (flows not answered by the cache) since the last scan started. */
  private lookupsSinceScan = 0;
  /** Socket events received when the last scan started. */
  private eventsAtScan = 0;
  private callbackErrors = 0;
  private failedScans = 0;
  private maxBlockMs = 0;
  private maxBlockCpuMs = 0;
  private lastScan: ScanResult | undefined;
  private unchangedScans = 0;

  constructor(options: AttributorOptions) {
    this.procFs = options.procFs ?? new NodeProcFs();
    this.clock = options.clock ?? systemClock;
    this.yieldToEventLoop = options.yieldToEventLoop ?? defaultYield;
    this.cpuMs = options.cpuMs ?? processCpuMs;
    this.onResolved = options.onResolved;
    this.onScan = options.onScan;
    this.logger = options.logger;
    this.localAddresses = options.localAddresses;
    const syncIntervalMs = positive('syncIntervalMs', options.syncIntervalMs, 1000);
    const onDemandDebounceMs = positive('onDemandDebounceMs', options.onDemandDebounceMs, 30, 0);
    const minOnDemandGapMs = positive('minOnDemandGapMs', options.minOnDemandGapMs, 200, 0);
    this.retryBufferFlows = positive('retryBufferFlows', options.retryBufferFlows, 4096, 0);
    this.retryScans = positive('retryScans', options.retryScans, 2);
    const flowCacheLimit = positive('flowCacheLimit', options.flowCacheLimit, 200_000, 0);
    const flowIdleMs = positive('flowIdleMs', options.flowIdleMs, 120_000);
    const closedFlowGraceMs = positive('closedFlowGraceMs', options.closedFlowGraceMs, 5000, 0);
    const peerCacheLimit = positive('peerCacheLimit', options.peerCacheLimit, 65_536, 0);
    const peerTtlMs = positive('peerTtlMs', options.peerTtlMs, 60_000, 0);
    const ephemeralPorts = readEphemeralPorts(this.procFs);
    const maxScanShare = positive('maxScanShare', options.maxScanShare, 0.1, 0.001);
    if (maxScanShare > 1) {
      throw new UsageError(`attributor option maxScanShare must be <= 1, got ${maxScanShare}`);
    }
    this.index = SocketIndex.empty(this.localAddresses);
    this.virtualLinks = new VirtualLinks(this.procFs, () => this.clock.monotonicMs());
    const eventsLimit = positive('connectEventsLimit', options.connectEventsLimit, 65_536, 0);
    const eventsTtlMs = positive('connectEventsTtlMs', options.connectEventsTtlMs, 120_000);
    this.containerNames = new ContainerNames({
      files: options.hostFiles ?? new NodeHostFiles(),
      monotonicMs: () => this.clock.monotonicMs(),
      maxContainers: positive('maxContainerNames', options.maxContainerNames, 4096),
    });
    this.scanner = new SocketScanner({
      procFs: this.procFs,
      containerNames: this.containerNames,
      localAddresses: this.localAddresses,
      monotonicMs: () => this.clock.monotonicMs(),
      yieldToEventLoop: this.yieldToEventLoop,
      cpuMs: this.cpuMs,
      sliceMs: positive('scanSliceMs', options.scanSliceMs, 5),
      fullScanEvery: positive('fullScanEvery', options.fullScanEvery, 300),
      refreshGroups: positive('refreshGroups', options.refreshGroups, 10),
      maxProcesses: positive('maxProcesses', options.maxProcesses, 65536),
      hostNetns: options.hostNetns,
      socketTables: options.socketTables,
    });
    this.events = new SocketEventIntake({
      processes: this.scanner,
      limit: eventsLimit,
      ttlMs: eventsTtlMs,
    });
    this.peers = new PeerInference({
      limit: peerCacheLimit,
      ttlMs: peerTtlMs,
      ephemeralPorts,
      isAlive: (key) => this.scanner.processByKey(key) !== undefined,
    });
    this.cache = new FlowCache({
      limit: flowCacheLimit,
      idleMs: flowIdleMs,
      closedGraceMs: closedFlowGraceMs,
    });
    this.scheduler = new ScanScheduler({
      clock: this.clock,
      runScan: (seq) => this.scanAndRetry(seq),
      hasPendingWork: () => this.retry.size > 0,
      canSkipPeriodic: (sinceLastScanMs) => this.isQuiet(sinceLastScanMs),
      syncIntervalMs,
      onDemandDebounceMs,
      minOnDemandGapMs,
      maxScanShare,
    });
  }

  /** First full scan, then a rescan every syncIntervalMs. Throws StateError after stop(). */
  async start(): Promise<void> {
    if (this.isStopped)
      throw new StateError('attributor.start() after stop(): create a new Attributor');
    // On a host where a scan costs a lot, the scheduler scans less often than syncIntervalMs
    // rather than spend more than maxScanShare of the time scanning.
    await this.scheduler.start();
  }

  /**
   * Skip periodic scans while the host is quiet, scanning at least every `maxGapMs`: the
   * monitor calls this once socket events run (their events wake the scans up again; without
   * them every periodic scan runs). Quiet means, since the last scan started: no flow needed a
   * table lookup, no flow is parked, no socket event arrived, and the scanner's probe (the
   * `/proc` listing and each namespace's socket counters) saw no change. 0 turns it off.
   */
  enableQuietScans(maxGapMs: number): void {
    this.quietScanIntervalMs = positive('quietScanIntervalMs', maxGapMs, 0, 0);
  }

  private isQuiet(sinceLastScanMs: number): boolean {
    return (
      this.quietScanIntervalMs > 0 &&
      sinceLastScanMs < this.quietScanIntervalMs &&
      this.lookupsSinceScan === 0 &&
      this.retry.size === 0 &&
      this.events.receivedEvents === this.eventsAtScan &&
      this.scanner.isQuiet()
    );
  }

  /**
   * Attribute one flow's counters of one batch. Resolves now (calls onResolved before
   * returning) when the flow is remembered or every local end's socket owner is known; else
   * parks it (merging with the same flow.key already parked) and asks for a rescan. The
   * counters object is copied when parked, so the caller may reuse it.
   */
  ingest(flow: FlowTuple, counters: FlowCounters): void {
    const parked = this.retry.get(flow.key);
    if (parked !== undefined) {
      mergeCounters(parked.counters, counters);
      this.pendingPackets += counters.packets;
      this.pendingBytes += counters.bytes;
      return;
    }
    // Whole ms: small integers are stored in the remembered flow itself, fractions would each
    // need a heap number (100,000 flows: 1.6 MB).
    const now = Math.floor(this.clock.monotonicMs());
    const isClosing = flow.protocol === PROTOCOL_TCP && (counters.tcpFlags & CLOSING_FLAGS) !== 0;
    let cached = this.cache.get(flow.key);
    if (
      cached !== undefined &&
      cached.closedAtMs >= 0 &&
      flow.protocol === PROTOCOL_TCP &&
      (counters.tcpFlags & TCP_SYN) !== 0
    ) {
      // A new connection on a closed flow's 4-tuple (port reuse): its owner may differ.
      this.cache.forget(flow.key);
      cached = undefined;
    }
    if (cached !== undefined) {
      cached.lastSeenMs = now;
      if (isClosing && cached.closedAtMs < 0) cached.closedAtMs = now;
      if (
        (!cached.isComplete && cached.scanGen !== this.scanGen) ||
        (cached.udpGen >= 0 && cached.udpGen !== this.events.udpGeneration)
      ) {
        // A flow that already had its retries, or whose UDP owner came from an event since
        // replaced (port reuse): look again in the newer tables, never park again.
        this.lookupsSinceScan++;
        const result = this.lookup(flow, true);
        const found = result.isComplete
          ? result.attribution
          : this.infer(flow, counters, result.attribution);
        cached.sender = found.sender;
        cached.receiver = found.receiver;
        cached.srcIsLocal = found.srcIsLocal;
        cached.dstIsLocal = found.dstIsLocal;
        cached.isComplete = result.isComplete && result.isProvisional !== true;
        cached.scanGen = this.scanGen;
        cached.udpGen = result.usedUdpEvent === true ? this.events.udpGeneration : -1;
      }
      this.onResolved(flow, counters, cached);
      return;
    }
    this.lookupsSinceScan++;
    let result = this.lookup(flow, this.isStopped);
    if (result.isComplete || this.isStopped) {
      if (result.isComplete) {
        this.remember(flow.key, result, now, isClosing);
        this.peers.learn(flow, result.attribution, now);
        if (result.isProvisional === true) this.scheduler.requestOnDemand();
      }
      this.onResolved(flow, counters, result.attribution);
      return;
    }
    if (this.retry.size >= this.retryBufferFlows) {
      // Report now with what is known rather than lose it: totals still add up, and the
      // caller sees the loss of precision in droppedFlows/droppedPackets.
      result = this.lookup(flow, true);
      this.droppedFlows++;
      this.droppedPackets += counters.packets;
      this.onResolved(flow, counters, this.infer(flow, counters, result.attribution));
      return;
    }
    this.retry.set(flow.key, {
      flow,
      counters: { ...counters },
      parkedAtSeq: this.scheduler.scanStartSeq,
      waitedScans: 0,
    });
    this.pendingPackets += counters.packets;
    this.pendingBytes += counters.bytes;
    this.scheduler.requestOnDemand();
  }

  /** Resolve every parked flow now (as unknown where still unknown). Call at stop. */
  flush(): void {
    for (const [key, parked] of this.retry) {
      this.retry.delete(key);
      this.pendingPackets -= parked.counters.packets;
      this.pendingBytes -= parked.counters.bytes;
      const result = this.lookup(parked.flow, true);
      if (result.isComplete) this.resolvedFlows++;
      else this.expiredFlows++;
      this.onResolved(
        parked.flow,
        parked.counters,
        result.isComplete
          ? result.attribution
          : this.infer(parked.flow, parked.counters, result.attribution),
      );
    }
  }

  /** Stop the timers and flush parked flows; a scan in flight is discarded. Idempotent. */
  stop(): void {
    if (this.isStopped) return;
    this.isStopped = true;
    this.scheduler.stop();
    this.flush();
  }

  /** Run a scan now (or join the one running) and retry parked flows after it. */
  scanNow(): Promise<void> {
    return this.scheduler.scanNow();
  }

  /** Resolves when no scan is running (tests with a FakeClock await this after advance()). */
  whenIdle(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  /**
   * Remember who connected which TCP connection and who sent from which UDP local end, as the
   * kernel reported it (BPF programs, src/capture/socket-events.ts). A flow whose local end is
   * in no socket table (a client socket that opened and closed between two scans) is then
   * attributed to that process at its first lookup, before any retry and before peer
   * inference. For UDP the newest event of a local end wins (port reuse), and a scan that
   * shows another process on it drops older events.
   */
  recordConnects(events: readonly ConnectEvent[]): void {
    this.events.record(events, this.clock.monotonicMs());
    this.settleByEvents(events);
  }

  /** Info of a live process by key (`${pid}:${startTime}`), as of the last scan. */
  processInfo(key: string): ProcessInfo | undefined {
    return this.scanner.processByKey(key);
  }

  stats(): AttributorStats {
    const last = this.lastScan;
    const schedule = this.scheduler.stats();
    return {
      retry: {
        pendingFlows: this.retry.size,
        pendingPackets: this.pendingPackets,
        pendingBytes: this.pendingBytes,
        limitFlows: this.retryBufferFlows,
        droppedFlows: this.droppedFlows,
        droppedPackets: this.droppedPackets,
        resolvedFlows: this.resolvedFlows,
        expiredFlows: this.expiredFlows,
        ...this.peers.stats(),
        listenerLookups: this.listenerLookups,
        sharedListenerLookups: this.sharedListenerLookups,
      },
      scans: {
        count: this.scanCount,
        onDemand: schedule.onDemand,
        rateLimited: schedule.rateLimited,
        skippedPeriodic: schedule.skippedPeriodic,
        skippedQuiet: schedule.skippedQuiet,
        failed: this.failedScans,
        callbackErrors: this.callbackErrors,
        lastDurationMs: schedule.lastDurationMs,
        maxDurationMs: schedule.maxDurationMs,
        medianDurationMs: schedule.medianDurationMs,
        maxBlockMs: this.maxBlockMs,
        maxBlockCpuMs: this.maxBlockCpuMs,
        sockets: last?.sockets ?? 0,
        processes: last?.processes ?? 0,
        namespaces: last?.namespaces ?? 0,
        skippedProcesses: last?.skippedProcesses ?? 0,
        deniedProcesses: last?.deniedProcesses ?? 0,
        droppedProcesses: last?.droppedProcesses ?? 0,
        fdDirsRead: last?.fdDirsRead ?? 0,
        malformedLines: last?.malformedLines ?? 0,
        netlinkNamespaces: last?.netlinkNamespaces ?? 0,
        ownerCorrections: last?.ownerCorrections ?? 0,
        unchanged: this.unchangedScans,
      },
      containerNames: this.containerNames.stats(),
      flows: this.cache.stats(),
      events: this.events.stats(),
    };
  }

  /**
   * Both ends of the flow looked up as local sockets in the current index. `isFinal`: the flow
   * had its retries, so a TCP listener may stand in for a connection nothing else knows.
   */
  private lookup(flow: FlowTuple, isFinal: boolean): Lookup {
    const index = this.index;
    const p = flow.protocol;
    const hasPorts = p === PROTOCOL_TCP || p === PROTOCOL_UDP || p === PROTOCOL_UDPLITE;
    const now = this.clock.monotonicMs();
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
      sender = this.events.udpOwner(p, flow.srcAddress, flow.srcPort, now);
      usedUdpEvent = sender !== undefined;
    }
    if (receiver === undefined && isUdp && index.isLocal(rv.dstAddress)) {
      receiver = this.events.udpOwner(p, rv.dstAddress, rv.dstPort, now);
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
          this.scanGen > 0 &&
          this.virtualLinks.isVirtual(flow.device)));
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
    const io = this.events.ioOwner(PROTOCOL_TCP, address, port, peerAddress, peerPort, now);
    if (io !== undefined) return { ...none, owner: io, isFromEvent: true };
    const level = this.index.findOwnerLevel(PROTOCOL_TCP, address, port, peerAddress, peerPort);
    if (level.isExact) return { ...none, owner: level.owner };
    const connect = this.events.connectOwner(
      PROTOCOL_TCP,
      address,
      port,
      peerAddress,
      peerPort,
      now,
    );
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
        this.procFs,
        this.forkFamilies,
        owner.process.pid,
        owner.socketInode,
      );
      this.sharedListeners.set(owner.socketInode, isShared);
    }
    return isShared;
  }

  private infer(flow: FlowTuple, counters: FlowCounters, attribution: Attribution): Attribution {
    return this.peers.infer(flow, counters, attribution, this.index, this.clock.monotonicMs());
  }

  private remember(key: string, result: Lookup, now: number, isClosing: boolean): void {
    const { sender, receiver, srcIsLocal, dstIsLocal } = result.attribution;
    this.cache.set(key, {
      sender,
      receiver,
      srcIsLocal,
      dstIsLocal,
      isComplete: result.isComplete && result.isProvisional !== true,
      scanGen: this.scanGen,
      lastSeenMs: now,
      closedAtMs: isClosing ? now : -1,
      udpGen: result.usedUdpEvent === true ? this.events.udpGeneration : -1,
    });
  }

  private async scanAndRetry(seq: number): Promise<void> {
    if (this.isStopped) return;
    const startMs = this.clock.monotonicMs();
    // Flows waiting for a socket, or looked up since the last scan, need the tables as they are
    // now; a scan of a quiet host may keep tables whose socket counters did not move.
    const mayReuseTables = this.retry.size === 0 && this.lookupsSinceScan === 0;
    this.lookupsSinceScan = 0;
    this.eventsAtScan = this.events.receivedEvents;
    let result: ScanResult | undefined;
    try {
      result = await this.scanner.scan(mayReuseTables);
    } catch (error) {
      this.failedScans++;
      this.logger?.warn?.(
        `socket scan of /proc failed (${error instanceof Error ? error.message : String(error)}): ` +
          'attribution keeps the previous tables; check that /proc is mounted and readable',
      );
    }
    if (this.isStopped) return;
    this.scanCount++;
    this.scheduler.recordDuration(this.clock.monotonicMs() - startMs);
    // What follows runs in one stretch (retries, fork families, the cache sweep): give the
    // event loop a turn first, so the scan's last slice and this one do not add up.
    await this.yieldToEventLoop();
    if (this.isStopped) return;
    const afterMs = this.clock.monotonicMs();
    const afterCpuMs = this.cpuMs();
    if (result !== undefined) {
      this.lastScan = result;
      if (result.isUnchanged) this.unchangedScans++;
      this.maxBlockMs = Math.max(this.maxBlockMs, result.maxBlockMs);
      this.maxBlockCpuMs = Math.max(this.maxBlockCpuMs, result.maxBlockCpuMs);
      this.index = result.index;
      this.forkFamilies = findForkFamilies(result.alive, (key) => this.scanner.processByKey(key));
      this.sharedListeners.clear();
      this.scanGen++;
      this.events.dropContradictedUdpSends(this.index, startMs);
      this.callSafely(() => this.onScan?.(result.alive));
      this.containerNames.retryUnresolved();
    }
    // A failed scan still counts against retryScans, so parked flows cannot wait forever.
    this.retryParked(seq);
    this.cache.sweep(this.clock.monotonicMs());
    this.maxBlockMs = Math.max(this.maxBlockMs, this.clock.monotonicMs() - afterMs);
    this.maxBlockCpuMs = Math.max(this.maxBlockCpuMs, this.cpuMs() - afterCpuMs);
  }

  private retryParked(seq: number): void {
    for (const [key, parked] of this.retry) {
      let result = this.lookup(parked.flow, false);
      if (!result.isComplete) {
        if (seq <= parked.parkedAtSeq) continue; // this scan began before the flow arrived
        parked.waitedScans++;
        // A flow that only waited for a scan newer than itself has had it.
        if (parked.waitedScans < this.retryScans && result.awaitsScan !== true) continue;
        if (
          result.awaitsServer === true &&
          this.events.tracksTcpIo &&
          parked.waitedScans < SERVER_WAIT_SCANS
        ) {
          continue;
        }
        // Its last chance: a listener may stand in for the connection now.
        result = this.lookup(parked.flow, true);
        if (result.isComplete) this.resolvedFlows++;
        else this.expiredFlows++;
      } else {
        this.resolvedFlows++;
      }
      this.settle(key, parked, result);
    }
  }

  /**
   * Parked flows of connections a TCP connect or read/write event just named an owner for:
   * resolved now instead of at the next scan; remembered flows of them are looked up again at
   * their next batch (the connection changed hands: a child took over from the parent that
   * accepted it; or the connect event of an end that had no owner arrived late).
   */
  private settleByEvents(events: readonly ConnectEvent[]): void {
    for (const event of events) {
      if (event.protocol !== PROTOCOL_TCP || event.kind === 'udpSend') continue;
      const keys = [
        flowKey(
          event.protocol,
          event.localAddress,
          event.localPort,
          event.remoteAddress,
          event.remotePort,
        ),
        flowKey(
          event.protocol,
          event.remoteAddress,
          event.remotePort,
          event.localAddress,
          event.localPort,
        ),
      ];
      for (const key of keys) {
        const cached = this.cache.get(key);
        if (cached !== undefined) {
          cached.isComplete = false;
          cached.scanGen = -1;
        }
        const parked = this.retry.get(key);
        if (parked === undefined) continue;
        const result = this.lookup(parked.flow, false);
        if (!result.isComplete) continue;
        this.resolvedFlows++;
        this.settle(key, parked, result);
      }
    }
  }

  /** Report a parked flow with `result` and remember it. */
  private settle(key: string, parked: ParkedFlow, result: Lookup): void {
    this.retry.delete(key);
    this.pendingPackets -= parked.counters.packets;
    this.pendingBytes -= parked.counters.bytes;
    const isClosing =
      parked.flow.protocol === PROTOCOL_TCP && (parked.counters.tcpFlags & CLOSING_FLAGS) !== 0;
    // Expired flows are remembered too (until the next scan) so their later batches are not
    // parked again; complete ones for the flow's life.
    const now = this.clock.monotonicMs();
    // Learn only from sockets really found, never from an inferred answer.
    this.peers.learn(parked.flow, result.attribution, now);
    const attribution = result.isComplete
      ? result.attribution
      : this.infer(parked.flow, parked.counters, result.attribution);
    this.remember(
      key,
      {
        attribution,
        isComplete: result.isComplete,
        isProvisional: result.isProvisional,
        usedUdpEvent: result.usedUdpEvent,
      },
      now,
      isClosing,
    );
    this.callSafely(() => this.onResolved(parked.flow, parked.counters, attribution));
  }

  /**
   * Run a callback from a scan (timer context): an exception there has no caller to reach and
   * would become an unhandled rejection, so it is logged and counted instead.
   */
  private callSafely(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.callbackErrors++;
      this.logger?.warn?.(
        `attributor callback threw after a scan (${error instanceof Error ? error.message : String(error)}): ` +
          'the flow was dropped from the retry buffer; fix the onResolved/onScan handler',
      );
    }
  }
}

/** The kernel's ephemeral port range (ip-sysctl.rst: ip_local_port_range), or Linux's default. */
function readEphemeralPorts(procFs: ProcFs): readonly [number, number] {
  try {
    const [low, high] = procFs
      .readText('/proc/sys/net/ipv4/ip_local_port_range')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low && high <= 65535) {
      return [low, high];
    }
  } catch {
    // Not readable (a fake or restricted /proc): use the default below.
  }
  return [32768, 60999];
}

function mergeCounters(into: FlowCounters, from: FlowCounters): void {
  into.packets += from.packets;
  into.bytes += from.bytes;
  into.payloadBytes += from.payloadBytes;
  into.wireBytes += from.wireBytes;
  into.firstMs = Math.min(into.firstMs, from.firstMs);
  into.lastMs = Math.max(into.lastMs, from.lastMs);
  into.tcpFlags |= from.tcpFlags;
}
