// Options and counters of the Attributor (attributor.ts), apart so that its parts and callers
// can import the types without the class.

import type { Clock } from '../clock.js';
import type { ContainerNamesStats } from './containers/container-names.js';
import type { HostFiles } from './host-files.js';
import type { ProcFs } from './procfs.js';
import type { SocketTableReader } from './sock-diag.js';
import type { SocketOwnerSource } from './kernel-owners.js';
import type { RetryBufferStats } from './retry-buffer.js';
import type { SocketEventIntakeStats } from './socket-event-intake.js';
import type { Attribution, FlowCounters, FlowTuple } from './types.js';

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
  /**
   * Every Nth scan re-reads every stat and fd directory, a consistency check of the incremental
   * scans; what it corrects is counted in `scans.ownerCorrections`. @default 300
   */
  fullScanEvery?: number | undefined;
  /**
   * Settled processes are checked in this many rotating groups, one group per scan: their stat
   * is re-read (a renamed process, a reused pid) and their fd count compared with their last fd
   * walk (a socket handed over). @default 10
   */
  refreshGroups?: number | undefined;
  /** Longest synchronous slice of a scan before it yields to the event loop. @default 2 */
  scanSliceMs?: number | undefined;
  /** Processes tracked at most. @default 65536 */
  maxProcesses?: number | undefined;
  /** Inode of the capture's network namespace; default: /proc/self/ns/net. */
  hostNetns?: number | undefined;
  /**
   * Binary socket tables (sock_diag netlink, see SockDiagTables); the caller owns and closes
   * it. Default: none, every namespace's tables are parsed from /proc/net text.
   */
  socketTables?: SocketTableReader | undefined;
  /**
   * Socket owners from the kernel (KernelSocketOwners, a BPF iterator); the caller owns and
   * closes it. Default: none, owners are found by walking /proc/<pid>/fd.
   */
  socketOwners?: SocketOwnerSource | undefined;
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
  /**
   * CPU time so far, ms, to measure scan stretches: the event loop thread's where the caller can
   * read it (the monitor passes the addon's threadCpuMs). @default process.cpuUsage() (every
   * thread: GC threads make stretches look longer)
   */
  cpuMs?: (() => number) | undefined;
  logger?: AttributorLogger | undefined;
}

/** Counters of {@link Attributor.stats}. */
export interface AttributorStats {
  /** The retry buffer's counters (retry-buffer.ts), peer inference's and the listener rules'. */
  readonly retry: RetryBufferStats & {
    /** Flows whose socket was never seen, given to the one process that recently talked to the same peer. */
    readonly inferredFlows: number;
    readonly inferredPackets: number;
    /** TCP ends given to the only process holding the listener on their port (no event, no socket of their own). */
    readonly listenerLookups: number;
    /** TCP ends left unknown because their listener is shared (pre-fork group, SO_REUSEPORT group, parent and children). */
    readonly sharedListenerLookups: number;
  };
  readonly scans: {
    readonly count: number;
    readonly onDemand: number;
    /** On-demand requests delayed by minOnDemandGapMs or maxScanShare. */
    readonly rateLimited: number;
    /** Periodic scans skipped because scans are costly (maxScanShare). */
    readonly skippedPeriodic: number;
    /**
     * Periodic scans skipped on a quiet host (see {@link Attributor.enableQuietScans}): no
     * traffic to look up, no socket event, and the cheap probe saw no socket change.
     */
    readonly skippedQuiet: number;
    readonly failed: number;
    /** Exceptions thrown by onResolved/onScan when called after a scan (logged, not rethrown). */
    readonly callbackErrors: number;
    readonly lastDurationMs: number;
    readonly maxDurationMs: number;
    /** Median over the last 64 scans. */
    readonly medianDurationMs: number;
    /** Longest synchronous stretch of any scan (event loop blocked). */
    readonly maxBlockMs: number;
    /**
     * CPU used by the process in its longest (by CPU) synchronous stretch of a scan, ms: unlike
     * maxBlockMs, not inflated by preemption on a loaded host.
     */
    readonly maxBlockCpuMs: number;
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
    /** Namespaces of the last scan whose tables came through sock_diag (the rest: /proc/net). */
    readonly netlinkNamespaces: number;
    /**
     * Sockets whose owner a full scan (consistency check) found elsewhere than the incremental
     * scans had it, since start: handoffs not yet seen, or misses.
     */
    readonly ownerCorrections: number;
    /** Scans that found nothing changed and kept the index. */
    readonly unchanged: number;
    /** The last scan had socket owners from the kernel (BPF iterator), not fd walks. */
    readonly ownersFromKernel: boolean;
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
  /** Kernel socket events given to recordConnects() (src/capture/socket-events.ts). */
  readonly events: SocketEventIntakeStats;
}
