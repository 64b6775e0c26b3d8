// The attribution stage: the monitor hands it each flow of each batch; it answers at once from
// the socket index or a per-flow cache, or parks the flow until a rescan finds its socket.
// This class is the facade and the rules between its parts, each testable alone:
// scan-cycle.ts with scan-scheduler.ts (when to scan, running a scan), socket-scanner.ts (the
// socket index), owner-lookup.ts (both ends of a flow), retry-buffer.ts (parked flows),
// socket-event-intake.ts (kernel events), peer-inference.ts, flow-cache.ts.

import type { AttributorLogger, AttributorOptions, AttributorStats } from './attributor-options.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../clock.js';
import { TCP_FIN, TCP_RST, TCP_SYN } from '../decode/record.js';
import { StateError, UsageError } from '../errors.js';
import { FlowCache } from './flow-cache.js';
import { flowKey } from './flow-key.js';
import { findForkFamilies } from './fork-families.js';
import { PROTOCOL_TCP } from './net-table.js';
import { OwnerLookup } from './owner-lookup.js';
import type { Lookup } from './owner-lookup.js';
import { PeerInference } from './peer-inference.js';
import { ContainerNames } from './containers/container-names.js';
import { NodeHostFiles } from './host-files.js';
import { NodeProcFs } from './procfs.js';
import type { ConnectEvent } from './recent-connects.js';
import type { ProcFs } from './procfs.js';
import { RetryBuffer } from './retry-buffer.js';
import type { ParkedFlow, RetryResolver } from './retry-buffer.js';
import { ScanCycle } from './scan-cycle.js';
import { SocketEventIntake } from './socket-event-intake.js';
import { VirtualLinks } from './virtual-links.js';
import { SocketScanner } from './socket-scanner.js';
import type { ScanResult } from './socket-scanner.js';
import type { Attribution, FlowCounters, FlowTuple, ProcessInfo } from './types.js';

export type { AttributorLogger, AttributorOptions, AttributorStats } from './attributor-options.js';

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
  private readonly onResolved: AttributorOptions['onResolved'];
  private readonly onScan: AttributorOptions['onScan'];
  private readonly logger: AttributorLogger | undefined;
  private readonly localAddresses: { has(address: string): boolean };
  private readonly scanner: SocketScanner;
  private readonly cycle: ScanCycle;
  private readonly events: SocketEventIntake;
  private readonly peers: PeerInference;
  private readonly cache: FlowCache;
  private readonly owners: OwnerLookup;
  private readonly retry: RetryBuffer;
  /** Settles parked flows after a scan or an event: learn, remember, report. */
  private readonly settler: RetryResolver<Lookup>;
  /** Settles parked flows at stop: report only. */
  private readonly flusher: RetryResolver<Lookup>;
  private isStopped = false;
  private callbackErrors = 0;

  constructor(options: AttributorOptions) {
    this.procFs = options.procFs ?? new NodeProcFs();
    this.clock = options.clock ?? systemClock;
    const cpuMs = options.cpuMs ?? processCpuMs;
    const yieldToEventLoop = options.yieldToEventLoop ?? defaultYield;
    this.onResolved = options.onResolved;
    this.onScan = options.onScan;
    this.logger = options.logger;
    this.localAddresses = options.localAddresses;
    const syncIntervalMs = positive('syncIntervalMs', options.syncIntervalMs, 1000);
    const onDemandDebounceMs = positive('onDemandDebounceMs', options.onDemandDebounceMs, 30, 0);
    const minOnDemandGapMs = positive('minOnDemandGapMs', options.minOnDemandGapMs, 200, 0);
    this.retry = new RetryBuffer({
      limitFlows: positive('retryBufferFlows', options.retryBufferFlows, 4096, 0),
      retryScans: positive('retryScans', options.retryScans, 2),
      serverWaitScans: SERVER_WAIT_SCANS,
    });
    const lookup = (flow: FlowTuple, isFinal: boolean): Lookup => this.owners.lookup(flow, isFinal);
    this.settler = { lookup, settle: (parked, result) => this.settle(parked, result) };
    this.flusher = {
      lookup,
      settle: (parked, result) =>
        this.onResolved(
          parked.flow,
          parked.counters,
          result.isComplete
            ? result.attribution
            : this.infer(parked.flow, parked.counters, result.attribution),
        ),
    };
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
      yieldToEventLoop,
      cpuMs,
      sliceMs: positive('scanSliceMs', options.scanSliceMs, 2),
      fullScanEvery: positive('fullScanEvery', options.fullScanEvery, 300),
      refreshGroups: positive('refreshGroups', options.refreshGroups, 10),
      maxProcesses: positive('maxProcesses', options.maxProcesses, 65536),
      hostNetns: options.hostNetns,
      socketTables: options.socketTables,
      socketOwners: options.socketOwners,
    });
    this.events = new SocketEventIntake({
      processes: this.scanner,
      limit: eventsLimit,
      ttlMs: eventsTtlMs,
    });
    this.owners = new OwnerLookup({
      procFs: this.procFs,
      events: this.events,
      virtualLinks: new VirtualLinks(this.procFs, () => this.clock.monotonicMs()),
      monotonicMs: () => this.clock.monotonicMs(),
      localAddresses: this.localAddresses,
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
    this.cycle = new ScanCycle({
      scanner: this.scanner,
      clock: this.clock,
      yieldToEventLoop,
      cpuMs,
      logger: this.logger,
      syncIntervalMs,
      onDemandDebounceMs,
      minOnDemandGapMs,
      maxScanShare,
      parkedFlows: () => this.retry.size,
      receivedEvents: () => this.events.receivedEvents,
      onScanned: (result, startMs) => this.useScan(result, startMs),
      afterScan: (seq) => {
        // A failed scan still counts against retryScans, so parked flows cannot wait forever.
        this.retry.retryAfterScan(seq, this.settler, this.events.tracksTcpIo);
        this.cache.sweep(this.clock.monotonicMs());
      },
    });
  }

  /** First full scan, then a rescan every syncIntervalMs. Throws StateError after stop(). */
  async start(): Promise<void> {
    if (this.isStopped)
      throw new StateError('attributor.start() after stop(): create a new Attributor');
    // On a host where a scan costs a lot, the scheduler scans less often than syncIntervalMs
    // rather than spend more than maxScanShare of the time scanning.
    await this.cycle.start();
  }

  /**
   * Skip periodic scans while the host is quiet, scanning at least every `maxGapMs`: the
   * monitor calls this once socket events run (their events wake the scans up again; without
   * them every periodic scan runs). Quiet means, since the last scan started: no flow needed a
   * table lookup, no flow is parked, no socket event arrived, and the scanner's probe (the
   * `/proc` listing and each namespace's socket counters) saw no change. 0 turns it off.
   */
  enableQuietScans(maxGapMs: number): void {
    this.cycle.enableQuietScans(positive('quietScanIntervalMs', maxGapMs, 0, 0));
  }

  /**
   * Attribute one flow's counters of one batch. Resolves now (calls onResolved before
   * returning) when the flow is remembered or every local end's socket owner is known; else
   * parks it (merging with the same flow.key already parked) and asks for a rescan. The
   * counters object is copied when parked, so the caller may reuse it.
   */
  ingest(flow: FlowTuple, counters: FlowCounters): void {
    if (this.retry.merge(flow.key, counters)) return;
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
        (!cached.isComplete && cached.scanGen !== this.owners.generation) ||
        (cached.udpGen >= 0 && cached.udpGen !== this.events.udpGeneration)
      ) {
        // A flow that already had its retries, or whose UDP owner came from an event since
        // replaced (port reuse): look again in the newer tables, never park again.
        this.cycle.noteLookup();
        const result = this.owners.lookup(flow, true);
        const found = result.isComplete
          ? result.attribution
          : this.infer(flow, counters, result.attribution);
        cached.sender = found.sender;
        cached.receiver = found.receiver;
        cached.srcIsLocal = found.srcIsLocal;
        cached.dstIsLocal = found.dstIsLocal;
        cached.isComplete = result.isComplete && result.isProvisional !== true;
        cached.scanGen = this.owners.generation;
        cached.udpGen = result.usedUdpEvent === true ? this.events.udpGeneration : -1;
      }
      this.onResolved(flow, counters, cached);
      return;
    }
    this.cycle.noteLookup();
    let result = this.owners.lookup(flow, this.isStopped);
    if (result.isComplete || this.isStopped) {
      if (result.isComplete) {
        this.remember(flow.key, result, now, isClosing);
        this.peers.learn(flow, result.attribution, now);
        if (result.isProvisional === true) this.cycle.requestOnDemand();
      }
      this.onResolved(flow, counters, result.attribution);
      return;
    }
    if (!this.retry.park(flow, counters, this.cycle.scanStartSeq)) {
      // The buffer is full: report now with what is known rather than lose it. Totals still add
      // up, and the caller sees the loss of precision in droppedFlows/droppedPackets.
      result = this.owners.lookup(flow, true);
      this.onResolved(flow, counters, this.infer(flow, counters, result.attribution));
      return;
    }
    this.cycle.requestOnDemand();
  }

  /** Resolve every parked flow now (as unknown where still unknown). Call at stop. */
  flush(): void {
    this.retry.flush(this.flusher);
  }

  /** Stop the timers and flush parked flows; a scan in flight is discarded. Idempotent. */
  stop(): void {
    if (this.isStopped) return;
    this.isStopped = true;
    this.cycle.stop();
    this.flush();
  }

  /** Run a scan now (or join the one running) and retry parked flows after it. */
  scanNow(): Promise<void> {
    return this.cycle.scanNow();
  }

  /** Resolves when no scan is running (tests with a FakeClock await this after advance()). */
  whenIdle(): Promise<void> {
    return this.cycle.whenIdle();
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
    return {
      retry: {
        ...this.retry.stats(),
        ...this.peers.stats(),
        ...this.owners.stats(),
      },
      scans: this.cycle.stats(this.callbackErrors),
      containerNames: this.containerNames.stats(),
      flows: this.cache.stats(),
      events: this.events.stats(),
    };
  }

  private infer(flow: FlowTuple, counters: FlowCounters, attribution: Attribution): Attribution {
    return this.peers.infer(
      flow,
      counters,
      attribution,
      this.owners.index,
      this.clock.monotonicMs(),
    );
  }

  private remember(key: string, result: Lookup, now: number, isClosing: boolean): void {
    const { sender, receiver, srcIsLocal, dstIsLocal } = result.attribution;
    this.cache.set(key, {
      sender,
      receiver,
      srcIsLocal,
      dstIsLocal,
      isComplete: result.isComplete && result.isProvisional !== true,
      scanGen: this.owners.generation,
      lastSeenMs: now,
      closedAtMs: isClosing ? now : -1,
      udpGen: result.usedUdpEvent === true ? this.events.udpGeneration : -1,
    });
  }

  /** A scan's result in use: its index for lookups, and what depends on the processes it saw. */
  private useScan(result: ScanResult, startMs: number): void {
    this.owners.replaceIndex(
      result.index,
      findForkFamilies(result.alive, (key) => this.scanner.processByKey(key)),
    );
    this.events.dropContradictedUdpSends(result.index, startMs);
    this.callSafely(() => this.onScan?.(result.alive));
    this.containerNames.retryUnresolved();
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
        this.retry.retryNow(key, this.settler);
      }
    }
  }

  /** Report a parked flow with `result` and remember it. */
  private settle(parked: ParkedFlow, result: Lookup): void {
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
      parked.flow.key,
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
