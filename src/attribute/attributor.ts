// The attribution stage: the monitor hands it each flow of each batch; it answers at once from
// the socket index or a per-flow cache, or parks the flow until a rescan finds its socket.

import { systemClock } from '../clock.js';
import type { Clock, TimerHandle } from '../clock.js';
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/record.js';
import { StateError, UsageError } from '../errors.js';
import { PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_UDPLITE, isWildcardAddress } from './net-table.js';
import { NodeProcFs } from './procfs.js';
import { ContainerNames } from './containers/container-names.js';
import type { ContainerNamesStats } from './containers/container-names.js';
import { NodeHostFiles } from './host-files.js';
import type { HostFiles } from './host-files.js';
import { RecentConnects } from './recent-connects.js';
import type { ConnectEvent } from './recent-connects.js';
import { RecentUdpSends } from './recent-udp-sends.js';
import type { RecentUdpSend } from './recent-udp-sends.js';
import { placeholderProcess, processKey } from './process-info.js';
import type { ProcFs } from './procfs.js';
import { SocketIndex, SocketScanner } from './socket-scanner.js';
import type { ScanResult } from './socket-scanner.js';
import type { Attribution, FlowCounters, FlowTuple, Owner, ProcessInfo } from './types.js';

/** Where the attributor reports problems (a scan failing); silent by default. */
export interface AttributorLogger {
  warn?(message: string): void;
  debug?(message: string): void;
}

/** Options of {@link Attributor}. Durations in ms of the given Clock. */
export interface AttributorOptions {
  /** Called once per flow per batch with its attribution (synchronously from ingest, or after a scan). */
  onResolved(flow: FlowTuple, counters: FlowCounters, attribution: Attribution): void;
  /** Called after each successful scan with the keys of the processes alive then. */
  onScan?: ((alive: ReadonlySet<string>) => void) | undefined;
  /** Addresses of this host (the capture namespace). Decides `srcIsLocal`/`dstIsLocal`. */
  localAddresses: { has(address: string): boolean };
  /** @default new NodeProcFs('/') */
  procFs?: ProcFs | undefined;
  /** Container runtimes' and kubelet's state files, for container names. @default new NodeHostFiles('/') */
  hostFiles?: HostFiles | undefined;
  /** Containers whose names are remembered at most. @default 4096 */
  maxContainerNames?: number | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** Periodic rescan interval. @default 1000 */
  syncIntervalMs?: number | undefined;
  /** Wait this long after the first unknown flow before an on-demand rescan (gathers a burst). @default 30 */
  onDemandDebounceMs?: number | undefined;
  /** At least this long between the starts of two on-demand rescans (a port scan cannot make it spin); periodic scans are not delayed by it. @default 200 */
  minOnDemandGapMs?: number | undefined;
  /** Flows parked at most while waiting for their socket. @default 4096 */
  retryBufferFlows?: number | undefined;
  /** Scans a parked flow waits for before it is reported with what is known (unknown ends). @default 2 */
  retryScans?: number | undefined;
  /** Attributed flows remembered at most. @default 200000 */
  flowCacheLimit?: number | undefined;
  /**
   * Local endpoint + peer pairs remembered for inference (see {@link Attributor}): a flow whose
   * socket was never seen (it opened and closed between two scans) goes to the one process
   * that recently talked from the same local address to the same peer address and port.
   * 0 disables inference. @default 65536
   */
  peerCacheLimit?: number | undefined;
  /** How long a learned local address + peer pair can be used for inference. @default 60000 */
  peerTtlMs?: number | undefined;
  /** Forget a remembered flow after this long without packets. @default 120000 */
  flowIdleMs?: number | undefined;
  /** Forget a remembered TCP flow this long after its first FIN or RST. @default 5000 */
  closedFlowGraceMs?: number | undefined;
  /**
   * Largest share of wall time spent scanning: scans start at least medianScanMs / maxScanShare
   * apart, whatever syncIntervalMs and minOnDemandGapMs say. @default 0.1
   */
  maxScanShare?: number | undefined;
  /** Every Nth scan re-reads all fd directories instead of only searching new sockets. @default 10 */
  fullScanEvery?: number | undefined;
  /** Longest synchronous slice of a scan before it yields to the event loop. @default 5 */
  scanSliceMs?: number | undefined;
  /** Processes tracked at most. @default 65536 */
  maxProcesses?: number | undefined;
  /** Inode of the capture's network namespace; default: /proc/self/ns/net. */
  hostNetns?: number | undefined;
  /**
   * Recent kernel connect events remembered at most (see {@link Attributor.recordConnects});
   * the same limit again for UDP send events.
   * @default 65536
   */
  connectEventsLimit?: number | undefined;
  /** How long a connect (or UDP send) event can name the owner of its connection. @default 120000 */
  connectEventsTtlMs?: number | undefined;
  /** How a scan gives the event loop a turn. @default setImmediate */
  yieldToEventLoop?: (() => Promise<void>) | undefined;
  logger?: AttributorLogger | undefined;
}

/** Counters of {@link Attributor.stats}. */
export interface AttributorStats {
  readonly retry: {
    readonly pendingFlows: number;
    readonly pendingPackets: number;
    readonly pendingBytes: number;
    readonly limitFlows: number;
    /** Flows that found the retry buffer full: reported at once with what was known. */
    readonly droppedFlows: number;
    readonly droppedPackets: number;
    /** Parked flows whose socket a later scan found. */
    readonly resolvedFlows: number;
    /** Parked flows reported with unknown ends after their scans. */
    readonly expiredFlows: number;
    /** Flows whose socket was never seen, given to the one process that recently talked to the same peer. */
    readonly inferredFlows: number;
    readonly inferredPackets: number;
  };
  readonly scans: {
    readonly count: number;
    readonly onDemand: number;
    /** On-demand requests delayed by minOnDemandGapMs or maxScanShare. */
    readonly rateLimited: number;
    /** Periodic scans skipped because scans are costly (maxScanShare). */
    readonly skippedPeriodic: number;
    readonly failed: number;
    /** Exceptions thrown by onResolved/onScan when called after a scan (logged, not rethrown). */
    readonly callbackErrors: number;
    readonly lastDurationMs: number;
    readonly maxDurationMs: number;
    /** Median over the last 64 scans. */
    readonly medianDurationMs: number;
    /** Longest synchronous stretch of any scan (event loop blocked). */
    readonly maxBlockMs: number;
    readonly sockets: number;
    readonly processes: number;
    readonly namespaces: number;
    /** Processes skipped in the last scan (exited mid-scan or refused access). */
    readonly skippedProcesses: number;
    readonly deniedProcesses: number;
    /** Processes not tracked in the last scan because maxProcesses was reached. */
    readonly droppedProcesses: number;
    /** fd directories read by the last scan. */
    readonly fdDirsRead: number;
    readonly malformedLines: number;
  };
  /** Container names (src/attribute/containers/container-names.ts). */
  readonly containerNames: ContainerNamesStats;
  readonly flows: {
    readonly cached: number;
    readonly limit: number;
    /** Remembered flows pushed out by flowCacheLimit. */
    readonly evicted: number;
    /** Remembered flows forgotten after flowIdleMs or closedFlowGraceMs. */
    readonly expired: number;
  };
  /** Kernel connect events (src/capture/socket-events.ts) given to recordConnects(). */
  readonly events: {
    readonly received: number;
    /** Lookups of a local end the socket tables did not know, answered from a connect event. */
    readonly used: number;
    /** Events remembered now, and at most. */
    readonly indexed: number;
    readonly limit: number;
    /** Events pushed out by connectEventsLimit before their TTL. */
    readonly evicted: number;
    /** Processes gone before their connect was used: reported from the event's pid and comm. */
    readonly exitedOwners: number;
    /** UDP send events among `received` (one per socket and local port, not per datagram). */
    readonly udpReceived: number;
    /** Lookups of a UDP local end the socket tables did not know, answered from a send event (in `used` too). */
    readonly udpUsed: number;
    /** UDP send events remembered now (the limit is `limit` again). */
    readonly udpIndexed: number;
    /** UDP send events pushed out by the limit before their TTL. */
    readonly udpEvicted: number;
    /** UDP send events dropped because a later scan showed another process on their local end. */
    readonly udpContradicted: number;
  };
}

interface ParkedFlow {
  readonly flow: FlowTuple;
  readonly counters: FlowCounters;
  /** scanStartSeq when parked: only scans that start later count against retryScans. */
  readonly parkedAtSeq: number;
  waitedScans: number;
}

/**
 * A remembered flow. It is its own Attribution (one object per flow, not two): handed to
 * onResolved as is, and updated in place when a later scan completes it.
 */
interface CachedFlow {
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
   * An end came from a UDP send event: the RecentUdpSends generation then, else -1. When the
   * generation moves on (port reuse by another process), the flow is looked up again.
   */
  udpGen: number;
}

interface PeerOwner {
  owner: Owner;
  lastMs: number;
  /** Two processes talked from this local address to this peer: no inference. */
  isAmbiguous: boolean;
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
}

const DURATION_SAMPLES = 64;
/** Processes remembered for connect events; a churning client is one pid connecting often. */
const MAX_EVENT_PROCESSES = 4096;
const SWEEP_INTERVAL_MS = 1000;
const CLOSING_FLAGS = TCP_FIN | TCP_RST;

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
  private readonly onResolved: AttributorOptions['onResolved'];
  private readonly onScan: AttributorOptions['onScan'];
  private readonly logger: AttributorLogger | undefined;
  private readonly syncIntervalMs: number;
  private readonly onDemandDebounceMs: number;
  private readonly minOnDemandGapMs: number;
  private readonly retryBufferFlows: number;
  private readonly retryScans: number;
  private readonly flowCacheLimit: number;
  private readonly flowIdleMs: number;
  private readonly closedFlowGraceMs: number;
  private readonly localAddresses: { has(address: string): boolean };
  private readonly scanner: SocketScanner;

  private index: SocketIndex;
  private isStarted = false;
  private isStopped = false;
  private periodicTimer: TimerHandle | undefined;
  private onDemandTimer: TimerHandle | undefined;
  private scanning: Promise<void> | undefined;
  private isRescanWanted = false;
  private scanStartSeq = 0;
  private scanGen = 0;
  private lastOnDemandStartMs = -Infinity;
  private lastScanStartMs = -Infinity;
  private lastSweepMs = -Infinity;
  private readonly maxScanShare: number;

  private readonly retry = new Map<string, ParkedFlow>();
  private readonly cache = new Map<string, CachedFlow>();
  private readonly peers = new Map<string, PeerOwner>();
  private readonly peerCacheLimit: number;
  private readonly peerTtlMs: number;
  /** Local port range the kernel picks client ports from (ip_local_port_range). */
  private readonly ephemeralPorts: readonly [number, number];
  private inferredFlows = 0;

  private inferredPackets = 0;
  /** Processes read for connect events, by pid (a churning client connects many times). */
  private readonly eventProcesses = new Map<number, ProcessInfo>();
  private readonly connects: RecentConnects;
  private connectEventsReceived = 0;
  private connectEventsUsed = 0;
  private connectExitedOwners = 0;
  private readonly udpSends: RecentUdpSends;
  private udpEventsReceived = 0;
  private udpEventsUsed = 0;

  private pendingPackets = 0;
  private pendingBytes = 0;
  private droppedFlows = 0;
  private droppedPackets = 0;
  private resolvedFlows = 0;
  private expiredFlows = 0;
  private evictedFlows = 0;
  private forgottenFlows = 0;
  private scanCount = 0;
  private onDemandScans = 0;
  private rateLimited = 0;
  private skippedPeriodic = 0;
  private callbackErrors = 0;
  private failedScans = 0;
  private lastDurationMs = 0;
  private maxDurationMs = 0;
  private maxBlockMs = 0;
  private readonly durations: number[] = [];
  private lastScan: ScanResult | undefined;

  constructor(options: AttributorOptions) {
    this.procFs = options.procFs ?? new NodeProcFs();
    this.clock = options.clock ?? systemClock;
    this.onResolved = options.onResolved;
    this.onScan = options.onScan;
    this.logger = options.logger;
    this.localAddresses = options.localAddresses;
    this.syncIntervalMs = positive('syncIntervalMs', options.syncIntervalMs, 1000);
    this.onDemandDebounceMs = positive('onDemandDebounceMs', options.onDemandDebounceMs, 30, 0);
    this.minOnDemandGapMs = positive('minOnDemandGapMs', options.minOnDemandGapMs, 200, 0);
    this.retryBufferFlows = positive('retryBufferFlows', options.retryBufferFlows, 4096, 0);
    this.retryScans = positive('retryScans', options.retryScans, 2);
    this.flowCacheLimit = positive('flowCacheLimit', options.flowCacheLimit, 200_000, 0);
    this.flowIdleMs = positive('flowIdleMs', options.flowIdleMs, 120_000);
    this.closedFlowGraceMs = positive('closedFlowGraceMs', options.closedFlowGraceMs, 5000, 0);
    this.peerCacheLimit = positive('peerCacheLimit', options.peerCacheLimit, 65_536, 0);
    this.peerTtlMs = positive('peerTtlMs', options.peerTtlMs, 60_000, 0);
    this.ephemeralPorts = readEphemeralPorts(this.procFs);
    this.maxScanShare = positive('maxScanShare', options.maxScanShare, 0.1, 0.001);
    if (this.maxScanShare > 1) {
      throw new UsageError(`attributor option maxScanShare must be <= 1, got ${this.maxScanShare}`);
    }
    this.index = SocketIndex.empty(this.localAddresses);
    this.connects = new RecentConnects({
      limit: positive('connectEventsLimit', options.connectEventsLimit, 65_536, 0),
      ttlMs: positive('connectEventsTtlMs', options.connectEventsTtlMs, 120_000),
    });
    this.udpSends = new RecentUdpSends({
      limit: positive('connectEventsLimit', options.connectEventsLimit, 65_536, 0),
      ttlMs: positive('connectEventsTtlMs', options.connectEventsTtlMs, 120_000),
    });
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
      yieldToEventLoop: options.yieldToEventLoop ?? defaultYield,
      sliceMs: positive('scanSliceMs', options.scanSliceMs, 5),
      fullScanEvery: positive('fullScanEvery', options.fullScanEvery, 10),
      maxProcesses: positive('maxProcesses', options.maxProcesses, 65536),
      hostNetns: options.hostNetns,
    });
  }

  /** First full scan, then a rescan every syncIntervalMs. Throws StateError after stop(). */
  async start(): Promise<void> {
    if (this.isStopped)
      throw new StateError('attributor.start() after stop(): create a new Attributor');
    if (this.isStarted) return;
    this.isStarted = true;
    await this.runScan('periodic');
    if (this.isStopped) return;
    this.periodicTimer = this.clock.setInterval(() => {
      // On a host where a scan costs a lot, scan less often than syncIntervalMs rather than
      // spend more than maxScanShare of the time scanning.
      if (this.clock.monotonicMs() - this.lastScanStartMs < this.costGapMs()) {
        this.skippedPeriodic++;
        return;
      }
      void this.runScan('periodic');
    }, this.syncIntervalMs);
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
      this.cache.delete(flow.key);
      this.forgottenFlows++;
      cached = undefined;
    }
    if (cached !== undefined) {
      cached.lastSeenMs = now;
      if (isClosing && cached.closedAtMs < 0) cached.closedAtMs = now;
      if (
        (!cached.isComplete && cached.scanGen !== this.scanGen) ||
        (cached.udpGen >= 0 && cached.udpGen !== this.udpSends.generation)
      ) {
        // A flow that already had its retries, or whose UDP owner came from an event since
        // replaced (port reuse): look again in the newer tables, never park again.
        const result = this.lookup(flow);
        const found = result.isComplete
          ? result.attribution
          : this.infer(flow, counters, result.attribution);
        cached.sender = found.sender;
        cached.receiver = found.receiver;
        cached.srcIsLocal = found.srcIsLocal;
        cached.dstIsLocal = found.dstIsLocal;
        cached.isComplete = result.isComplete && result.isProvisional !== true;
        cached.scanGen = this.scanGen;
        cached.udpGen = result.usedUdpEvent === true ? this.udpSends.generation : -1;
      }
      this.onResolved(flow, counters, cached);
      return;
    }
    const result = this.lookup(flow);
    if (result.isComplete || this.isStopped) {
      if (result.isComplete) {
        this.remember(flow.key, result, now, isClosing);
        this.learnPeers(flow, result.attribution, now);
        if (result.isProvisional === true) this.requestOnDemandScan();
      }
      this.onResolved(flow, counters, result.attribution);
      return;
    }
    if (this.retry.size >= this.retryBufferFlows) {
      // Report now with what is known rather than lose it: totals still add up, and the
      // caller sees the loss of precision in droppedFlows/droppedPackets.
      this.droppedFlows++;
      this.droppedPackets += counters.packets;
      this.onResolved(flow, counters, this.infer(flow, counters, result.attribution));
      return;
    }
    this.retry.set(flow.key, {
      flow,
      counters: { ...counters },
      parkedAtSeq: this.scanStartSeq,
      waitedScans: 0,
    });
    this.pendingPackets += counters.packets;
    this.pendingBytes += counters.bytes;
    this.requestOnDemandScan();
  }

  /** Resolve every parked flow now (as unknown where still unknown). Call at stop. */
  flush(): void {
    for (const [key, parked] of this.retry) {
      this.retry.delete(key);
      this.pendingPackets -= parked.counters.packets;
      this.pendingBytes -= parked.counters.bytes;
      const result = this.lookup(parked.flow);
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
    this.periodicTimer?.cancel();
    this.onDemandTimer?.cancel();
    this.periodicTimer = undefined;
    this.onDemandTimer = undefined;
    this.flush();
  }

  /** Run a scan now (or join the one running) and retry parked flows after it. */
  scanNow(): Promise<void> {
    return this.runScan('periodic');
  }

  /** Resolves when no scan is running (tests with a FakeClock await this after advance()). */
  async whenIdle(): Promise<void> {
    while (this.scanning !== undefined) await this.scanning;
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
    const now = this.clock.monotonicMs();
    this.connectEventsReceived += events.length;
    for (const event of events) {
      // Resolve the process now: events arrive within tens of ms of the connect, while the
      // process almost always still runs; by the first packet lookup a churning client may
      // have exited already.
      const owner = { process: this.eventProcess(event), socketInode: 0 };
      if (event.protocol === PROTOCOL_UDP || event.protocol === PROTOCOL_UDPLITE) {
        this.udpEventsReceived++;
        this.udpSends.add(event, now).owner = owner;
      } else {
        this.connects.add(event, now).owner = owner;
      }
    }
  }

  /** Info of a live process by key (`${pid}:${startTime}`), as of the last scan. */
  processInfo(key: string): ProcessInfo | undefined {
    return this.scanner.processByKey(key);
  }

  stats(): AttributorStats {
    const median = this.medianDurationMs();
    const last = this.lastScan;
    const connects = this.connects.stats();
    const udpSends = this.udpSends.stats();
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
        inferredFlows: this.inferredFlows,
        inferredPackets: this.inferredPackets,
      },
      scans: {
        count: this.scanCount,
        onDemand: this.onDemandScans,
        rateLimited: this.rateLimited,
        skippedPeriodic: this.skippedPeriodic,
        failed: this.failedScans,
        callbackErrors: this.callbackErrors,
        lastDurationMs: this.lastDurationMs,
        maxDurationMs: this.maxDurationMs,
        medianDurationMs: median,
        maxBlockMs: this.maxBlockMs,
        sockets: last?.sockets ?? 0,
        processes: last?.processes ?? 0,
        namespaces: last?.namespaces ?? 0,
        skippedProcesses: last?.skippedProcesses ?? 0,
        deniedProcesses: last?.deniedProcesses ?? 0,
        droppedProcesses: last?.droppedProcesses ?? 0,
        fdDirsRead: last?.fdDirsRead ?? 0,
        malformedLines: last?.malformedLines ?? 0,
      },
      containerNames: this.containerNames.stats(),
      flows: {
        cached: this.cache.size,
        limit: this.flowCacheLimit,
        evicted: this.evictedFlows,
        expired: this.forgottenFlows,
      },
      events: {
        received: this.connectEventsReceived,
        used: this.connectEventsUsed,
        indexed: connects.size,
        limit: connects.limit,
        evicted: connects.evicted,
        exitedOwners: this.connectExitedOwners,
        udpReceived: this.udpEventsReceived,
        udpUsed: this.udpEventsUsed,
        udpIndexed: udpSends.size,
        udpEvicted: udpSends.evicted,
        udpContradicted: udpSends.contradicted,
      },
    };
  }

  /** Both ends of the flow looked up as local sockets in the current index. */
  private lookup(flow: FlowTuple): Lookup {
    const index = this.index;
    const p = flow.protocol;
    const hasPorts = p === PROTOCOL_TCP || p === PROTOCOL_UDP || p === PROTOCOL_UDPLITE;
    let sender = hasPorts
      ? index.findOwner(p, flow.srcAddress, flow.srcPort, flow.dstAddress, flow.dstPort)
      : undefined;
    let receiver = hasPorts
      ? index.findOwner(p, flow.dstAddress, flow.dstPort, flow.srcAddress, flow.srcPort)
      : undefined;
    // A local end no table knows: the kernel may have told us who connected it.
    let usedEvent = false;
    if (sender === undefined && p === PROTOCOL_TCP) {
      sender = this.connectOwner(p, flow.srcAddress, flow.srcPort, flow.dstAddress, flow.dstPort);
      usedEvent = sender !== undefined;
    }
    if (receiver === undefined && p === PROTOCOL_TCP) {
      receiver = this.connectOwner(p, flow.dstAddress, flow.dstPort, flow.srcAddress, flow.srcPort);
      usedEvent ||= receiver !== undefined;
    }
    // A UDP local end no table knows: the kernel may have told us who sent from it. Only a
    // local address can be such an end: an event of a socket bound to no address would
    // otherwise claim forwarded traffic that merely uses the same port number.
    let usedUdpEvent = false;
    const isUdp = p === PROTOCOL_UDP || p === PROTOCOL_UDPLITE;
    if (sender === undefined && isUdp && index.isLocal(flow.srcAddress)) {
      sender = this.udpOwner(p, flow.srcAddress, flow.srcPort);
      usedUdpEvent = sender !== undefined;
    }
    if (receiver === undefined && isUdp && index.isLocal(flow.dstAddress)) {
      receiver = this.udpOwner(p, flow.dstAddress, flow.dstPort);
      usedUdpEvent ||= receiver !== undefined;
    }
    usedEvent ||= usedUdpEvent;
    const srcIsLocal = sender !== undefined || index.isLocal(flow.srcAddress);
    const dstIsLocal = receiver !== undefined || index.isLocal(flow.dstAddress);
    // Without ports there is no socket to find: waiting would not help.
    const isComplete =
      !hasPorts ||
      ((sender !== undefined || !srcIsLocal) && (receiver !== undefined || !dstIsLocal));
    const isProvisional = usedEvent && (sender === undefined || receiver === undefined);
    return {
      attribution: { sender, receiver, srcIsLocal, dstIsLocal },
      isComplete,
      isProvisional,
      usedUdpEvent,
    };
  }

  /**
   * The process of a connect event, resolved when the event arrives: the scanner's cached
   * info if the pid is tracked, else the one read earlier for another event of the same pid
   * (re-read when the comm differs: a reused pid), else read from /proc now. When the process
   * is already gone, a minimal ProcessInfo from the event's pid and comm with startTime 0 (key
   * `${pid}:0`) stands for it.
   */
  private eventProcess(event: ConnectEvent): ProcessInfo {
    const tracked = this.scanner.processByKnownPid(event.pid);
    if (tracked !== undefined) return tracked;
    const known = this.eventProcesses.get(event.pid);
    if (known !== undefined && known.comm === event.comm) return known;
    const read = this.scanner.processByPid(event.pid);
    if (read === undefined) {
      this.connectExitedOwners++;
      return placeholderProcess(processKey(event.pid, 0), event.pid, event.comm);
    }
    if (this.eventProcesses.size >= MAX_EVENT_PROCESSES) {
      const oldest = this.eventProcesses.keys().next();
      if (!oldest.done) this.eventProcesses.delete(oldest.value);
    }
    this.eventProcesses.delete(event.pid);
    this.eventProcesses.set(event.pid, read);
    return read;
  }

  /** Owner of a connection from its connect event (resolved by recordConnects), if remembered. */
  private connectOwner(
    protocol: number,
    localAddress: string,
    localPort: number,
    remoteAddress: string,
    remotePort: number,
  ): Owner | undefined {
    const entry = this.connects.find(
      protocol,
      localAddress,
      localPort,
      remoteAddress,
      remotePort,
      this.clock.monotonicMs(),
    );
    if (entry?.owner === undefined) return undefined;
    this.connectEventsUsed++;
    return entry.owner;
  }

  /**
   * Owner of a UDP local end from the newest send event (resolved by recordConnects) bound to
   * this address or to none, if remembered. Only asked when no socket table knows the end.
   */
  private udpOwner(protocol: number, localAddress: string, localPort: number): Owner | undefined {
    const entry = this.udpSends.find(protocol, localAddress, localPort, this.clock.monotonicMs());
    if (entry?.owner === undefined) return undefined;
    this.connectEventsUsed++;
    this.udpEventsUsed++;
    return entry.owner;
  }

  /**
   * After a scan that started at `scanStartMs`: forget UDP send events older than it whose
   * local end the new tables give to other processes only (the event's socket is gone and
   * another took the port), so the old event cannot name the owner of the new socket's
   * traffic once that socket is gone too.
   */
  private dropContradictedUdpSends(scanStartMs: number): void {
    if (this.udpSends.stats().size === 0) return;
    const index = this.index;
    this.udpSends.dropContradicted(scanStartMs, (entry: RecentUdpSend) => {
      let other = false;
      for (const socket of index.udpPortOwners(entry.protocol, entry.localPort)) {
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

  private remember(key: string, result: Lookup, now: number, isClosing: boolean): void {
    if (this.flowCacheLimit === 0) return;
    if (this.cache.size >= this.flowCacheLimit) {
      // Oldest inserted first: a still-active flow that is pushed out is simply looked up again.
      const oldest = this.cache.keys().next();
      if (!oldest.done) {
        this.cache.delete(oldest.value);
        this.evictedFlows++;
      }
    }
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
      udpGen: result.usedUdpEvent === true ? this.udpSends.generation : -1,
    });
  }

  /**
   * Remembers which process talked from a local address to a peer (address and port), once
   * per flow when it is first attributed, for {@link infer}.
   */
  private learnPeers(flow: FlowTuple, attribution: Attribution, now: number): void {
    if (this.peerCacheLimit === 0) return;
    const p = flow.protocol;
    // Only client-side ends (ephemeral local port) can ever be inferred: learning server-side
    // pairs (one per client port) would only fill the table.
    if (attribution.sender !== undefined && this.isEphemeral(flow.srcPort)) {
      this.learnPeer(
        `${p}|${flow.srcAddress}|${flow.dstAddress}|${flow.dstPort}`,
        attribution.sender,
        now,
      );
    }
    if (attribution.receiver !== undefined && this.isEphemeral(flow.dstPort)) {
      this.learnPeer(
        `${p}|${flow.dstAddress}|${flow.srcAddress}|${flow.srcPort}`,
        attribution.receiver,
        now,
      );
    }
  }

  private learnPeer(key: string, owner: Owner, now: number): void {
    const known = this.peers.get(key);
    if (known !== undefined) {
      if (known.owner.process.key !== owner.process.key) {
        // Seen from two processes: an answer by inference could be wrong, so give none
        // until this pair has been quiet for peerTtlMs.
        known.isAmbiguous = known.isAmbiguous || now - known.lastMs <= this.peerTtlMs;
        if (now - known.lastMs > this.peerTtlMs) known.owner = owner;
      }
      known.lastMs = now;
      return;
    }
    if (this.peers.size >= this.peerCacheLimit) {
      const oldest = this.peers.keys().next();
      if (!oldest.done) this.peers.delete(oldest.value);
    }
    this.peers.set(key, { owner, lastMs: now, isAmbiguous: false });
  }

  /**
   * Fills the local ends a scan never saw (sockets that opened and closed between two scans,
   * as in connection churn) with the one process that recently talked from the same local
   * address to the same peer address and port. Used only after the flow's retries.
   */
  private infer(flow: FlowTuple, counters: FlowCounters, attribution: Attribution): Attribution {
    if (this.peerCacheLimit === 0) return attribution;
    const p = flow.protocol;
    if (p !== PROTOCOL_TCP && p !== PROTOCOL_UDP && p !== PROTOCOL_UDPLITE) return attribution;
    const now = this.clock.monotonicMs();
    let { sender, receiver } = attribution;
    // Only an end whose socket is gone altogether (none in the tables, not even a listener)
    // and whose port is ephemeral: the client side of a short connection. A known socket
    // whose owner could not be read (EACCES) is never guessed.
    if (
      sender === undefined &&
      attribution.srcIsLocal &&
      this.isEphemeral(flow.srcPort) &&
      !this.index.hasSocket(p, flow.srcAddress, flow.srcPort, flow.dstAddress, flow.dstPort)
    ) {
      sender = this.peerOwner(`${p}|${flow.srcAddress}|${flow.dstAddress}|${flow.dstPort}`, now);
    }
    if (
      receiver === undefined &&
      attribution.dstIsLocal &&
      this.isEphemeral(flow.dstPort) &&
      !this.index.hasSocket(p, flow.dstAddress, flow.dstPort, flow.srcAddress, flow.srcPort)
    ) {
      receiver = this.peerOwner(`${p}|${flow.dstAddress}|${flow.srcAddress}|${flow.srcPort}`, now);
    }
    if (sender === attribution.sender && receiver === attribution.receiver) return attribution;
    this.inferredFlows++;
    this.inferredPackets += counters.packets;
    return { ...attribution, sender, receiver };
  }

  private isEphemeral(port: number): boolean {
    return port >= this.ephemeralPorts[0] && port <= this.ephemeralPorts[1];
  }

  private peerOwner(key: string, now: number): Owner | undefined {
    const known = this.peers.get(key);
    if (known === undefined || known.isAmbiguous || now - known.lastMs > this.peerTtlMs) {
      return undefined;
    }
    // Only a process still alive at the last scan: an exited one never inherits new traffic.
    if (this.scanner.processByKey(known.owner.process.key) === undefined) return undefined;
    return known.owner;
  }

  /** Least time between scan starts so that scanning takes at most maxScanShare of the time. */
  private costGapMs(): number {
    return this.medianDurationMs() / this.maxScanShare;
  }

  private medianDurationMs(): number {
    if (this.durations.length === 0) return 0;
    const sorted = [...this.durations].sort((a, b) => a - b);
    return sorted[(sorted.length - 1) >> 1] ?? 0;
  }

  private requestOnDemandScan(): void {
    if (this.isStopped || !this.isStarted || this.onDemandTimer !== undefined) return;
    if (this.scanning !== undefined) {
      this.isRescanWanted = true;
      return;
    }
    const now = this.clock.monotonicMs();
    let delayMs = this.onDemandDebounceMs;
    const gapLeftMs = Math.max(
      this.lastOnDemandStartMs + this.minOnDemandGapMs - now,
      this.lastScanStartMs + this.costGapMs() - now,
    );
    if (gapLeftMs > delayMs) {
      delayMs = gapLeftMs;
      this.rateLimited++;
    }
    this.onDemandTimer = this.clock.setTimeout(() => {
      this.onDemandTimer = undefined;
      void this.runScan('onDemand');
    }, delayMs);
  }

  private runScan(kind: 'periodic' | 'onDemand'): Promise<void> {
    if (this.isStopped) return Promise.resolve();
    if (this.scanning !== undefined) {
      if (kind === 'onDemand') this.isRescanWanted = true;
      return this.scanning;
    }
    this.onDemandTimer?.cancel();
    this.onDemandTimer = undefined;
    if (kind === 'onDemand') {
      this.onDemandScans++;
      this.lastOnDemandStartMs = this.clock.monotonicMs();
    }
    const seq = ++this.scanStartSeq;
    this.lastScanStartMs = this.clock.monotonicMs();
    const scanning = this.scanAndRetry(seq).finally(() => {
      this.scanning = undefined;
      if (this.isRescanWanted || this.retry.size > 0) {
        this.isRescanWanted = false;
        this.requestOnDemandScan();
      }
    });
    this.scanning = scanning;
    return scanning;
  }

  private async scanAndRetry(seq: number): Promise<void> {
    const startMs = this.clock.monotonicMs();
    let result: ScanResult | undefined;
    try {
      result = await this.scanner.scan();
    } catch (error) {
      this.failedScans++;
      this.logger?.warn?.(
        `socket scan of /proc failed (${error instanceof Error ? error.message : String(error)}): ` +
          'attribution keeps the previous tables; check that /proc is mounted and readable',
      );
    }
    if (this.isStopped) return;
    const durationMs = this.clock.monotonicMs() - startMs;
    this.scanCount++;
    this.lastDurationMs = durationMs;
    this.maxDurationMs = Math.max(this.maxDurationMs, durationMs);
    this.durations.push(durationMs);
    if (this.durations.length > DURATION_SAMPLES) this.durations.shift();
    if (result !== undefined) {
      this.lastScan = result;
      this.maxBlockMs = Math.max(this.maxBlockMs, result.maxBlockMs);
      this.index = result.index;
      this.scanGen++;
      this.dropContradictedUdpSends(startMs);
      this.callSafely(() => this.onScan?.(result.alive));
      this.containerNames.retryUnresolved();
    }
    // A failed scan still counts against retryScans, so parked flows cannot wait forever.
    this.retryParked(seq);
    this.forgetOldFlows();
  }

  private retryParked(seq: number): void {
    for (const [key, parked] of this.retry) {
      const result = this.lookup(parked.flow);
      if (!result.isComplete) {
        if (seq <= parked.parkedAtSeq) continue; // this scan began before the flow arrived
        parked.waitedScans++;
        if (parked.waitedScans < this.retryScans) continue;
        this.expiredFlows++;
      } else {
        this.resolvedFlows++;
      }
      this.retry.delete(key);
      this.pendingPackets -= parked.counters.packets;
      this.pendingBytes -= parked.counters.bytes;
      const isClosing =
        parked.flow.protocol === PROTOCOL_TCP && (parked.counters.tcpFlags & CLOSING_FLAGS) !== 0;
      // Expired flows are remembered too (until the next scan) so their later batches are not
      // parked again; complete ones for the flow's life.
      const now = this.clock.monotonicMs();
      // Learn only from sockets really found, never from an inferred answer.
      this.learnPeers(parked.flow, result.attribution, now);
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

  private forgetOldFlows(): void {
    const now = this.clock.monotonicMs();
    // On-demand scans can come every few hundred ms; a sweep of a full cache costs ~10 ms.
    if (now - this.lastSweepMs < SWEEP_INTERVAL_MS) return;
    this.lastSweepMs = now;
    for (const [key, entry] of this.cache) {
      const isIdle = now - entry.lastSeenMs > this.flowIdleMs;
      const isClosed = entry.closedAtMs >= 0 && now - entry.closedAtMs > this.closedFlowGraceMs;
      if (isIdle || isClosed) {
        this.cache.delete(key);
        this.forgottenFlows++;
      }
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
