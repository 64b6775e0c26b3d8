// Public types of the pidflow library API: what createMonitor() returns, what snapshots,
// rankings and stats look like. The CLI, TUI and agent use only these.

import type { ContainerInfo, ContainerRuntime, PodInfo, ProcessInfo } from '../attribute/types.js';

export type { ContainerInfo, ContainerRuntime, PodInfo, ProcessInfo };

/** Byte and packet counters in both directions, from this host's point of view. */
export interface TrafficCounters {
  /** IP-level bytes sent (IP header plus payload). */
  sentBytes: number;
  /** IP-level bytes received. */
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
  /** Transport payload bytes sent (no IP or TCP/UDP headers). */
  sentPayloadBytes: number;
  /** Transport payload bytes received. */
  receivedPayloadBytes: number;
}

/** Rates in bytes per second. */
export interface Rates {
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
}

/** Fields every ranked entry has. */
export interface TrafficEntry {
  /** Stable key of the entry within its kind. */
  readonly key: string;
  /** Counters since the entry was first seen. */
  readonly total: TrafficCounters;
  /** Counters over the requested window (the last `windowSeconds` whole seconds). */
  readonly window: TrafficCounters;
  /** Average rate over the window. */
  readonly rate: Rates;
  /** Exponentially weighted moving average of the per-second rate (time constant in docs/api.md). */
  readonly ewma: Rates;
  /** Bytes per second, oldest first, for the last `ringSeconds` seconds (the current second last). */
  readonly history: {
    readonly sentBytes: readonly number[];
    readonly receivedBytes: readonly number[];
  };
}

export interface ProcessEntry extends TrafficEntry {
  readonly kind: 'process';
  readonly process: ProcessInfo;
  /** Connections of this process currently tracked. */
  readonly connectionCount: number;
  /** True once the process has exited (its totals are kept for `exitedRetentionMs`). */
  readonly exited: boolean;
}

export interface ConnectionEntry extends TrafficEntry {
  readonly kind: 'connection';
  readonly protocol: 'tcp' | 'udp';
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The owning process. */
  readonly process: ProcessInfo;
}

export interface RemoteEntry extends TrafficEntry {
  readonly kind: 'remote';
  readonly remoteAddress: string;
  /** Number of processes that talked to this host. */
  readonly processCount: number;
}

export interface ContainerEntry extends TrafficEntry {
  readonly kind: 'container';
  /** Container id, or '' for processes that are in no container (the host). */
  readonly containerId: string;
  readonly containerRuntime: string | null;
  /** Names of the container (absent for the host entry). */
  readonly container?: ContainerInfo;
  readonly processCount: number;
}

/** Traffic no socket could be found for after its retries, grouped by protocol and local port. */
export interface UnknownEntry extends TrafficEntry {
  readonly kind: 'unknown';
  readonly protocol: string;
  /** Local port, or 0 when neither end is local or the protocol has no ports. */
  readonly localPort: number;
}

export type RankEntry = ProcessEntry | ConnectionEntry | RemoteEntry | ContainerEntry;

export type SortBy = 'total' | 'sent' | 'received';
export type GroupBy = 'process' | 'connection' | 'remote' | 'container';

/** Options of {@link Monitor.rank}. */
export interface RankOptions {
  /** At most this many entries. @default 10 */
  limit?: number;
  /** Rank by the bytes of the last N seconds (1..ringSeconds); 0 ranks by totals since start. @default ringSeconds */
  windowSeconds?: number;
  /** @default 'total' */
  sortBy?: SortBy;
  /** @default 'process' */
  groupBy?: GroupBy;
}

/** Packet accounting: attributed + unknown + pending + otherProtocol + queueDropped = seen. */
export interface PacketTotals {
  packets: number;
  bytes: number;
}

export interface DeviceStatsView {
  readonly device: string;
  readonly kernelReceivedPackets: number;
  readonly kernelDroppedPackets: number;
  readonly interfaceDroppedPackets: number;
  readonly capturedPackets: number;
  readonly deliveredPackets: number;
  readonly queueDroppedPackets: number;
  readonly nonIpPackets: number;
  readonly malformedPackets: number;
  readonly malformedByKind: Readonly<Record<string, number>>;
}

/** Counters of everything pidflow saw, dropped or could not attribute. */
export interface MonitorStats {
  /** IP packets delivered by capture plus those the queue dropped. */
  readonly seen: PacketTotals;
  /** Packets whose local socket's owner was found (a packet between two local processes counts once). */
  readonly attributed: PacketTotals;
  /** Packets accounted as unknown traffic after their retries. */
  readonly unknown: PacketTotals;
  /**
   * Copies of packets already counted on another captured device (a container's veth, the
   * bridge, the uplink; before and after NAT): not in `seen`, `attributed` nor `unknown`
   * (docs/accounting.md, "Each byte once per host"). Per-device counts stay in `devices`.
   */
  readonly duplicate: PacketTotals & {
    /** Untranslated flows tracked to merge their copies, and those seen on 2+ devices. */
    readonly flows: number;
    readonly multiDeviceFlows: number;
    readonly evictedFlows: number;
  };
  /** Connection tracking lookups that undo NAT (option `conntrack`); absent when off. */
  readonly nat?: {
    /** False in degraded mode (see `unavailableReason` and the warning). */
    readonly available: boolean;
    readonly unavailableReason: string;
    /** Requests to the kernel (one or two per new flow). */
    readonly lookups: number;
    readonly cacheHits: number;
    readonly cacheMisses: number;
    readonly cacheEvictions: number;
    readonly cached: number;
    readonly translatedFlows: number;
    readonly untrackedFlows: number;
    readonly failedLookups: number;
    /** Time spent in lookups, ms: the CPU cost of undoing NAT. */
    readonly lookupMs: number;
  };
  /** Packets waiting in the retry buffer right now. */
  readonly pending: PacketTotals;
  /** Packets dropped because JavaScript fell behind (queueLimit); their bytes are the wire bytes. */
  readonly queueDropped: PacketTotals;
  /** Packets of protocols not selected (ICMP...): seen, not accounted to processes. */
  readonly otherProtocol: PacketTotals;
  /** Packets the kernel dropped (never seen by pidflow). */
  readonly kernelDroppedPackets: number;
  readonly malformedPackets: number;
  readonly nonIpPackets: number;
  readonly retry: {
    readonly pendingFlows: number;
    readonly limitFlows: number;
    readonly droppedFlows: number;
    readonly droppedPackets: number;
    readonly resolvedFlows: number;
    readonly expiredFlows: number;
    /** Flows whose socket no scan saw, given to the one live process that talks to the same peer. */
    readonly inferredFlows: number;
    readonly inferredPackets: number;
  };
  readonly scans: {
    readonly count: number;
    readonly onDemand: number;
    readonly rateLimited: number;
    readonly lastDurationMs: number;
    readonly maxDurationMs: number;
    readonly medianDurationMs: number;
    /** Periodic scans skipped on a quiet host (socket events on, nothing to look up, no counter moved). */
    readonly skippedQuiet: number;
    /** Longest synchronous stretch of any scan, wall time (the event loop was blocked). */
    readonly maxBlockMs: number;
    /** CPU of the longest (by CPU) synchronous stretch of a scan: not inflated by preemption. */
    readonly maxBlockCpuMs: number;
    readonly sockets: number;
    readonly processes: number;
    readonly namespaces: number;
    /**
     * Where the last scan found socket owners: `kernel` (BPF iterator, option socketOwners) or
     * `proc` (walking /proc/<pid>/fd: the option is off or the iterator could not load; the
     * warning says why).
     */
    readonly ownerSource: 'kernel' | 'proc';
  };
  readonly flows: {
    /** Flows in the flow table now. */
    readonly tracked: number;
    /** Flows removed from the table after being idle or closed. */
    readonly expired: number;
    /** Packets of new flows that found the flow table full (accounted as unknown). */
    readonly overflowPackets: number;
    /** Flow -> owner attributions remembered by the attributor. */
    readonly attributionCached: number;
    readonly attributionEvicted: number;
  };
  /**
   * Kernel connect and UDP send events (option `socketEvents`); absent when off, not live, or when they
   * could not load (see the warning).
   */
  readonly socketEvents?: {
    /** Connect events received from the kernel. */
    readonly received: number;
    /** Events lost (kernel ring buffer or queue to JavaScript full). */
    readonly dropped: number;
    /** Lookups of a connection end no socket table knew, answered from a connect event. */
    readonly used: number;
    /** UDP sends are tracked too (false: the kernel refused those programs, see the warning). */
    readonly udp: boolean;
    /** UDP send events among `received`: one per socket and local port, not per datagram. */
    readonly udpReceived: number;
    /** Lookups of a UDP local end no socket table knew, answered from a send event (in `used` too). */
    readonly udpUsed: number;
    /** TCP reads and writes are tracked: each connection goes to the process that serves it. */
    readonly tcpIo: boolean;
    /** TCP read/write events among `received`: one per connection and process. */
    readonly tcpIoReceived: number;
    /** Lookups of a TCP end answered from a read/write event (in `used` too). */
    readonly tcpIoUsed: number;
  };
  /** Container names read from the runtimes' and kubelet's state files on this host (always set by createMonitor). */
  readonly containerNames?: {
    /** Containers whose names are cached now, and cache evictions. */
    readonly cached: number;
    readonly evicted: number;
    /** Cached containers no state file named (yet; looked up again every 5 s while seen). */
    readonly unresolved: number;
    readonly filesRead: number;
    /** State files that were not what their runtime writes, over their size cap, or refused. */
    readonly malformedFiles: number;
    readonly oversizedFiles: number;
    readonly deniedFiles: number;
  };
  readonly evicted: {
    readonly processes: number;
    readonly connections: number;
    readonly remotes: number;
    readonly containers: number;
    readonly flows: number;
    readonly unknown: number;
  };
  readonly devices: readonly DeviceStatsView[];
  readonly pcap:
    | {
        path: string;
        writtenPackets: number;
        writtenBytes: number;
        files: number;
        /** Old files deleted to keep at most `pcapFile.maxFiles` (already gone: not counted). */
        removedFiles: number;
        /** Old files that could not be deleted; writing goes on. */
        removeFailures: number;
        error: string | undefined;
        /** Why the last old file could not be deleted. */
        removeError: string | undefined;
      }
    | undefined;
}

/** Everything a display needs for one interval. */
export interface Snapshot {
  /** Wall-clock time of the snapshot, ms since the epoch. */
  readonly time: number;
  /** Length of the interval this snapshot closes, ms. */
  readonly intervalMs: number;
  /** Time since start, ms. */
  readonly elapsedMs: number;
  /** Time until the capture timeout ends the monitor, ms; null when there is no timeout. */
  readonly remainingMs: number | null;
  /** Devices being captured. */
  readonly devices: readonly string[];
  /** Window (seconds) used for `window` and `rate` in the entries below. */
  readonly windowSeconds: number;
  /** Sum over all processes and unknown traffic. */
  readonly totals: TrafficEntry;
  /** Every tracked process, sorted by total window bytes, descending. */
  readonly processes: readonly ProcessEntry[];
  /** Unknown traffic by protocol and local port. */
  readonly unknown: readonly UnknownEntry[];
  /** Sum of the unknown entries. */
  readonly unknownTotals: TrafficEntry;
  readonly stats: MonitorStats;
}

/** Why a monitor ended. */
export interface MonitorEnd {
  readonly reason: 'stopped' | 'timeout' | 'end-of-file' | 'error';
  readonly error?: Error;
}

/** Logger hooks; defaults to silence (the library never prints). */
export interface Logger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

/** Resource limits applied to this process through a cgroup it creates. */
export interface LimitOptions {
  /** CPU limit in cores (0.5 = half a core). */
  cpuCores?: number;
  /** Memory limit in MiB. */
  memoryMB?: number;
}

/** Options of createMonitor(); every option is validated before anything opens. */
export interface MonitorOptions {
  /**
   * Devices to capture. Default: every interface that is up and has an address, without
   * loopback unless `includeLoopback`. `['any']` captures all through Linux cooked capture.
   */
  devices?: readonly string[];
  /** Include loopback devices in the default device choice. @default false */
  includeLoopback?: boolean;
  /**
   * Track TCP connects in the kernel (a BPF program, needs root or CAP_BPF + CAP_PERFMON and a
   * kernel with BTF) so that connections living for milliseconds, between two /proc scans,
   * are attributed. Only for live capture; when it cannot load, a warning and pidflow goes on
   * without it. @default true
   */
  socketEvents?: boolean;
  /**
   * With socketEvents, also track which process sends from which UDP port (a second BPF
   * program, on every send of every socket), so short-lived UDP senders such as DNS clients
   * are attributed. It costs the sending processes about 0.7 µs per UDP send (measured,
   * docs/attribution.md); false keeps TCP connects only. @default true
   */
  udpSendEvents?: boolean;
  /**
   * Read socket tables through sock_diag netlink (binary, per namespace) instead of parsing
   * /proc/net text; a namespace where netlink is refused falls back to /proc on its own.
   * false: /proc/net text everywhere (the older, costlier path). @default true
   */
  sockDiag?: boolean;
  /**
   * Read which process holds each socket from the kernel through a BPF iterator (one read
   * instead of walking every /proc/<pid>/fd: about 12x less CPU on a host with 1,000
   * processes, and it sees every process). Needs CAP_BPF and CAP_PERFMON (root) and a kernel
   * with task_file iterators and BTF (5.8+); without them, or when false, fd directories are
   * walked as before. @default true
   */
  socketOwners?: boolean;
  /**
   * Undo NAT through the kernel's connection tracking (ctnetlink): packets translated by
   * SNAT/MASQUERADE or DNAT (containers, published ports) go to the process of the untranslated
   * socket. Needs CAP_NET_ADMIN; without it (or without nf_conntrack) a warning, and NATed
   * traffic may show as unknown. Live capture only. false: no conntrack lookups. @default true
   */
  conntrack?: boolean;
  /** Replay this pcap file instead of capturing live (attribution against the current /proc). */
  readFile?: string;
  /** BPF filter expression (pcap-filter(7)), combined with the protocol filter. */
  filter?: string;
  /** Protocols to account. @default ['tcp', 'udp'] */
  protocols?: readonly ('tcp' | 'udp')[];
  /** Socket table rescan interval, ms. @default 1000 */
  syncIntervalMs?: number;
  /** Interval of 'tick' events and snapshots, ms. @default 1000 */
  tickIntervalMs?: number;
  /** Records in flight between the capture threads and JavaScript before new ones are dropped. @default 1000000 */
  queueLimit?: number;
  /** Seconds of per-second history kept per entry (1..3600). @default 15 */
  ringSeconds?: number;
  /** End the capture after this many ms; 0 disables the timeout. @default 300000 */
  captureTimeoutMs?: number;
  /** Bytes captured per packet. @default 128 */
  snaplen?: number;
  /** Kernel capture buffer per device, bytes. @default 8 MiB */
  bufferBytes?: number;
  /**
   * Write captured packets to this pcap file. `rotateBytes` > 0 starts `path.1`, `path.2`, ...
   * when a file would exceed it; `maxFiles` > 0 (needs `rotateBytes`) keeps only that many
   * newest files, deleting the oldest (like tcpdump -C/-W). @default no rotation, keep all
   */
  pcapFile?: string | { path: string; snaplen?: number; rotateBytes?: number; maxFiles?: number };
  /** Keep exited processes this long before folding them into the `exited` entry, ms. @default 60000 */
  exitedRetentionMs?: number;
  /** Bounds of the tables (entries); evictions are counted in stats().evicted. */
  maxProcesses?: number;
  maxConnections?: number;
  maxRemotes?: number;
  /** Flows waiting for their socket at most (retry buffer). @default 4096 */
  retryBufferFlows?: number;
  limits?: LimitOptions;
  logger?: Logger;
}

/** A running (or stopped) monitor. */
export interface Monitor {
  /** Start capturing and accounting. Throws StateError after stop(). */
  start(): void;
  /** Stop capture, flush files, remove the cgroup. A second call is harmless. */
  stop(): Promise<void>;
  /** Resolves when the monitor ends (stop, capture timeout, end of file, fatal error). Never rejects. */
  readonly done: Promise<MonitorEnd>;
  /** Devices being captured. */
  readonly devices: readonly string[];
  /** The resolved options in force (defaults filled in). */
  readonly options: Readonly<ResolvedMonitorOptions>;
  on(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  off(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  off(event: 'warning', listener: (message: string) => void): this;
  /** Entries ranked by bytes, go-netflow's GetProcessRank generalised. */
  rank(options?: RankOptions): RankEntry[];
  /** The current state, as passed to 'tick'. */
  snapshot(windowSeconds?: number): Snapshot;
  stats(): MonitorStats;
}

export interface ResolvedMonitorOptions {
  devices: readonly string[];
  includeLoopback: boolean;
  /** Always set by resolveOptions; absent (older callers) means true. */
  socketEvents?: boolean;
  /** Always set by resolveOptions; absent (older callers) means true. */
  udpSendEvents?: boolean;
  /** Always set by resolveOptions; absent (older callers) means true. */
  sockDiag?: boolean;
  /** Always set by resolveOptions; absent (older callers) means true. */
  socketOwners?: boolean;
  /** Always set by resolveOptions; absent (older callers) means true. */
  conntrack?: boolean;
  readFile: string | undefined;
  filter: string | undefined;
  protocols: readonly ('tcp' | 'udp')[];
  syncIntervalMs: number;
  tickIntervalMs: number;
  queueLimit: number;
  ringSeconds: number;
  captureTimeoutMs: number;
  snaplen: number;
  bufferBytes: number;
  pcapFile: { path: string; snaplen: number; rotateBytes: number; maxFiles: number } | undefined;
  exitedRetentionMs: number;
  maxProcesses: number;
  maxConnections: number;
  maxRemotes: number;
  retryBufferFlows: number;
  limits: LimitOptions | undefined;
}
