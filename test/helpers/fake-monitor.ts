// A fake Monitor for CLI and TUI tests: implements the public Monitor interface, driven by
// test code with hand-made snapshots (tick(), setRank(), end()). Also builders for entries.

import type {
  ConnectionEntry,
  ContainerEntry,
  ContainerInfo,
  GroupBy,
  Monitor,
  MonitorEnd,
  MonitorOptions,
  MonitorStats,
  ProcessEntry,
  ProcessInfo,
  RankEntry,
  RankOptions,
  RemoteEntry,
  ResolvedMonitorOptions,
  Snapshot,
  TrafficCounters,
  TrafficEntry,
  UnknownEntry,
} from '../../src/monitor/types.js';

/** A ProcessInfo with plausible defaults. */
export function makeProcessInfo(
  pid: number,
  comm: string,
  extra: Partial<ProcessInfo> = {},
): ProcessInfo {
  return {
    key: `${pid}:1000`,
    pid,
    ppid: 1,
    comm,
    exe: `/usr/bin/${comm}`,
    cmdline: [`/usr/bin/${comm}`, '--serve'],
    uid: 0,
    user: 'root',
    startTime: 1000,
    cgroup: '0::/user.slice',
    containerId: null,
    containerRuntime: null,
    netns: 4026531840,
    ...extra,
  };
}

/** Counters with packets derived as one packet per 1000 bytes (rounded up). */
export function makeCounters(sentBytes: number, receivedBytes: number): TrafficCounters {
  return {
    sentBytes,
    receivedBytes,
    sentPackets: Math.ceil(sentBytes / 1000),
    receivedPackets: Math.ceil(receivedBytes / 1000),
    sentPayloadBytes: Math.max(0, sentBytes - 52 * Math.ceil(sentBytes / 1000)),
    receivedPayloadBytes: Math.max(0, receivedBytes - 52 * Math.ceil(receivedBytes / 1000)),
  };
}

/** Traffic fields of an entry. */
export interface TrafficSpec {
  key: string;
  /** Cumulative bytes. */
  sentBytes: number;
  receivedBytes: number;
  /** Window rates (default: the last history value). */
  sentBytesPerSecond?: number;
  receivedBytesPerSecond?: number;
  /** Per-second history, oldest first. */
  sentHistory?: number[];
  receivedHistory?: number[];
  windowSeconds?: number;
}

/** A TrafficEntry from a few numbers. */
export function makeTraffic(spec: TrafficSpec): TrafficEntry {
  const sentHistory = spec.sentHistory ?? [];
  const receivedHistory = spec.receivedHistory ?? [];
  const sentRate = spec.sentBytesPerSecond ?? sentHistory.at(-1) ?? 0;
  const receivedRate = spec.receivedBytesPerSecond ?? receivedHistory.at(-1) ?? 0;
  const w = spec.windowSeconds ?? 2;
  return {
    key: spec.key,
    total: makeCounters(spec.sentBytes, spec.receivedBytes),
    window: makeCounters(sentRate * w, receivedRate * w),
    rate: { sentBytesPerSecond: sentRate, receivedBytesPerSecond: receivedRate },
    ewma: { sentBytesPerSecond: sentRate, receivedBytesPerSecond: receivedRate },
    history: { sentBytes: sentHistory, receivedBytes: receivedHistory },
  };
}

/** A process entry: `info` plus traffic. */
export function makeProcessEntry(
  info: ProcessInfo,
  traffic: Omit<TrafficSpec, 'key'>,
  extra: { connectionCount?: number; exited?: boolean } = {},
): ProcessEntry {
  return {
    ...makeTraffic({ key: info.key, ...traffic }),
    kind: 'process',
    process: info,
    connectionCount: extra.connectionCount ?? 1,
    exited: extra.exited ?? false,
  };
}

/** A connection entry of `info`. */
export function makeConnectionEntry(
  info: ProcessInfo,
  endpoints: { protocol?: 'tcp' | 'udp'; local: [string, number]; remote: [string, number] },
  traffic: Omit<TrafficSpec, 'key'>,
): ConnectionEntry {
  const protocol = endpoints.protocol ?? 'tcp';
  const key = `${protocol} ${endpoints.local[0]}:${endpoints.local[1]} ${endpoints.remote[0]}:${endpoints.remote[1]} ${info.key}`;
  return {
    ...makeTraffic({ key, ...traffic }),
    kind: 'connection',
    protocol,
    localAddress: endpoints.local[0],
    localPort: endpoints.local[1],
    remoteAddress: endpoints.remote[0],
    remotePort: endpoints.remote[1],
    process: info,
  };
}

/** A remote host entry. */
export function makeRemoteEntry(
  address: string,
  processCount: number,
  traffic: Omit<TrafficSpec, 'key'>,
): RemoteEntry {
  return {
    ...makeTraffic({ key: address, ...traffic }),
    kind: 'remote',
    remoteAddress: address,
    processCount,
  };
}

/** A container entry ('' is the host). */
export function makeContainerEntry(
  containerId: string,
  runtime: string | null,
  processCount: number,
  traffic: Omit<TrafficSpec, 'key'>,
  container?: ContainerInfo,
): ContainerEntry {
  return {
    ...makeTraffic({ key: containerId, ...traffic }),
    kind: 'container',
    containerId,
    containerRuntime: runtime,
    ...(container === undefined ? {} : { container }),
    processCount,
  };
}

/** An unknown-traffic entry. */
export function makeUnknownEntry(
  protocol: string,
  localPort: number,
  traffic: Omit<TrafficSpec, 'key'>,
): UnknownEntry {
  return {
    ...makeTraffic({ key: `${protocol}:${localPort}`, ...traffic }),
    kind: 'unknown',
    protocol,
    localPort,
  };
}

/** MonitorStats with every counter 0, overridable. */
export function makeStats(extra: Partial<MonitorStats> = {}): MonitorStats {
  const zero = { packets: 0, bytes: 0 };
  return {
    seen: zero,
    attributed: zero,
    unknown: zero,
    duplicate: { ...zero, flows: 0, multiDeviceFlows: 0, evictedFlows: 0 },
    pending: zero,
    queueDropped: zero,
    otherProtocol: zero,
    kernelDroppedPackets: 0,
    malformedPackets: 0,
    nonIpPackets: 0,
    retry: {
      pendingFlows: 0,
      limitFlows: 4096,
      droppedFlows: 0,
      droppedPackets: 0,
      resolvedFlows: 0,
      expiredFlows: 0,
      inferredFlows: 0,
      inferredPackets: 0,
    },
    scans: {
      count: 0,
      onDemand: 0,
      rateLimited: 0,
      lastDurationMs: 0,
      maxDurationMs: 0,
      medianDurationMs: 0,
      skippedQuiet: 0,
      maxBlockMs: 0,
      maxBlockCpuMs: 0,
      sockets: 0,
      processes: 0,
      namespaces: 0,
      ownerSource: 'kernel',
    },
    flows: {
      tracked: 0,
      expired: 0,
      overflowPackets: 0,
      attributionCached: 0,
      attributionEvicted: 0,
    },
    evicted: { processes: 0, connections: 0, remotes: 0, containers: 0, flows: 0, unknown: 0 },
    devices: [],
    pcap: undefined,
    ...extra,
  };
}

function sumTraffic(key: string, entries: readonly TrafficEntry[]): TrafficEntry {
  const add = (pick: (e: TrafficEntry) => TrafficCounters): TrafficCounters => {
    const out = makeCounters(0, 0);
    for (const e of entries) {
      const c = pick(e);
      out.sentBytes += c.sentBytes;
      out.receivedBytes += c.receivedBytes;
      out.sentPackets += c.sentPackets;
      out.receivedPackets += c.receivedPackets;
      out.sentPayloadBytes += c.sentPayloadBytes;
      out.receivedPayloadBytes += c.receivedPayloadBytes;
    }
    return out;
  };
  let sentRate = 0;
  let receivedRate = 0;
  const length = Math.max(0, ...entries.map((e) => e.history.sentBytes.length));
  const sentHistory = new Array<number>(length).fill(0);
  const receivedHistory = new Array<number>(length).fill(0);
  for (const e of entries) {
    sentRate += e.rate.sentBytesPerSecond;
    receivedRate += e.rate.receivedBytesPerSecond;
    const offset = length - e.history.sentBytes.length;
    e.history.sentBytes.forEach((v, i) => (sentHistory[offset + i]! += v));
    e.history.receivedBytes.forEach((v, i) => (receivedHistory[offset + i]! += v));
  }
  return {
    key,
    total: add((e) => e.total),
    window: add((e) => e.window),
    rate: { sentBytesPerSecond: sentRate, receivedBytesPerSecond: receivedRate },
    ewma: { sentBytesPerSecond: sentRate, receivedBytesPerSecond: receivedRate },
    history: { sentBytes: sentHistory, receivedBytes: receivedHistory },
  };
}

/** A snapshot whose totals are the sums of the given entries. */
export function makeSnapshot(spec: {
  time?: number;
  intervalMs?: number;
  elapsedMs?: number;
  remainingMs?: number | null;
  devices?: string[];
  windowSeconds?: number;
  processes: ProcessEntry[];
  unknown?: UnknownEntry[];
  stats?: MonitorStats;
}): Snapshot {
  const unknown = spec.unknown ?? [];
  const unknownTotals = sumTraffic('unknown', unknown);
  return {
    time: spec.time ?? 1_700_000_000_000,
    intervalMs: spec.intervalMs ?? 1000,
    elapsedMs: spec.elapsedMs ?? 1000,
    remainingMs: spec.remainingMs === undefined ? 299_000 : spec.remainingMs,
    devices: spec.devices ?? ['lo'],
    windowSeconds: spec.windowSeconds ?? 2,
    totals: sumTraffic('total', [...spec.processes, unknownTotals]),
    processes: [...spec.processes].sort(
      (a, b) =>
        b.window.sentBytes + b.window.receivedBytes - (a.window.sentBytes + a.window.receivedBytes),
    ),
    unknown,
    unknownTotals,
    stats: spec.stats ?? makeStats(),
  };
}

const RESOLVED_DEFAULTS: ResolvedMonitorOptions = {
  devices: ['lo'],
  includeLoopback: false,
  readFile: undefined,
  filter: undefined,
  protocols: ['tcp', 'udp'],
  syncIntervalMs: 1000,
  tickIntervalMs: 1000,
  queueLimit: 1_000_000,
  ringSeconds: 15,
  captureTimeoutMs: 300_000,
  snaplen: 128,
  bufferBytes: 8 << 20,
  pcapFile: undefined,
  exitedRetentionMs: 60_000,
  maxProcesses: 10_000,
  maxConnections: 100_000,
  maxRemotes: 10_000,
  retryBufferFlows: 4096,
  limits: undefined,
};

/** A Monitor whose data and lifecycle the test controls. */
export class FakeMonitor implements Monitor {
  readonly devices: readonly string[];
  readonly options: Readonly<ResolvedMonitorOptions>;
  readonly done: Promise<MonitorEnd>;
  /** Number of start() / stop() calls. */
  startCalls = 0;
  stopCalls = 0;
  /** Window sizes passed to snapshot(), for assertions. */
  readonly snapshotWindows: (number | undefined)[] = [];
  private current: Snapshot;
  private ranks: Partial<Record<GroupBy, RankEntry[]>> = {};
  private tickListeners = new Set<(s: Snapshot) => void>();
  private warningListeners = new Set<(m: string) => void>();
  private resolveDone!: (end: MonitorEnd) => void;
  private ended = false;

  constructor(readonly givenOptions: MonitorOptions = {}) {
    this.devices = givenOptions.devices?.length ? [...givenOptions.devices] : ['lo'];
    this.options = {
      ...RESOLVED_DEFAULTS,
      devices: this.devices,
      ...(givenOptions.tickIntervalMs !== undefined
        ? { tickIntervalMs: givenOptions.tickIntervalMs }
        : {}),
      ...(givenOptions.ringSeconds !== undefined ? { ringSeconds: givenOptions.ringSeconds } : {}),
      ...(givenOptions.captureTimeoutMs !== undefined
        ? { captureTimeoutMs: givenOptions.captureTimeoutMs }
        : {}),
    };
    this.current = makeSnapshot({
      processes: [],
      devices: [...this.devices],
      elapsedMs: 0,
      intervalMs: 0,
    });
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    this.startCalls++;
  }

  async stop(): Promise<void> {
    this.stopCalls++;
    this.end('stopped');
  }

  on(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  on(event: 'warning', listener: (message: string) => void): this;
  on(event: 'tick' | 'warning', listener: ((s: Snapshot) => void) | ((m: string) => void)): this {
    if (event === 'tick') this.tickListeners.add(listener as (s: Snapshot) => void);
    else this.warningListeners.add(listener as (m: string) => void);
    return this;
  }

  off(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  off(event: 'warning', listener: (message: string) => void): this;
  off(event: 'tick' | 'warning', listener: ((s: Snapshot) => void) | ((m: string) => void)): this {
    if (event === 'tick') this.tickListeners.delete(listener as (s: Snapshot) => void);
    else this.warningListeners.delete(listener as (m: string) => void);
    return this;
  }

  rank(options: RankOptions = {}): RankEntry[] {
    const groupBy = options.groupBy ?? 'process';
    const entries =
      groupBy === 'process' ? [...this.current.processes] : (this.ranks[groupBy] ?? []);
    return entries.slice(0, options.limit ?? 10);
  }

  snapshot(windowSeconds?: number): Snapshot {
    this.snapshotWindows.push(windowSeconds);
    return this.current;
  }

  stats(): MonitorStats {
    return this.current.stats;
  }

  /** Set the data for rank({groupBy}). */
  setRank(groupBy: Exclude<GroupBy, 'process'>, entries: RankEntry[]): void {
    this.ranks[groupBy] = entries;
  }

  /** Make `snapshot` current and emit it as a tick. */
  tick(snapshot: Snapshot): void {
    this.current = snapshot;
    for (const l of [...this.tickListeners]) l(snapshot);
  }

  warn(message: string): void {
    for (const l of [...this.warningListeners]) l(message);
  }

  /** End the monitor (resolves done once). */
  end(reason: MonitorEnd['reason'], error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveDone(error ? { reason, error } : { reason });
  }

  get listenerCount(): number {
    return this.tickListeners.size + this.warningListeners.size;
  }
}
