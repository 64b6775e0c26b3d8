// createMonitor(): the public entry point. Validates options, applies limits, and wires a packet
// source (packet-source-setup.ts) through the pipeline (accounting-pipeline.ts: flow table,
// device copies, attributor, accountant) with the kernel feeds (kernel-feeds.ts); the monitor
// exposes snapshots, rankings and stats (monitor-stats.ts) and owns the lifecycle (timers,
// capture timeout, cgroup limits, stop).

import { EventEmitter } from 'node:events';
import { Accountant } from '../account/accountant.js';
import { Attributor } from '../attribute/attributor.js';
import { NodeProcFs } from '../attribute/procfs.js';
import type { ProcFs } from '../attribute/procfs.js';
import type { HostFiles } from '../attribute/host-files.js';
import { loadAddon } from '../capture/addon.js';
import { SockDiagTables, hasSockDiag } from '../attribute/sock-diag.js';
import { KernelSocketOwners, hasSocketOwners } from '../attribute/kernel-owners.js';
import type { SocketOwnerSource } from '../attribute/kernel-owners.js';
import type { SocketTableReader } from '../attribute/sock-diag.js';
import type { NativeAddon } from '../capture/addon.js';
import { LocalAddresses } from '../capture/local-addresses.js';
import type { SocketEventsHandle, SocketEventsOptions } from '../capture/socket-events.js';
import type { PacketSource } from '../capture/packet-source.js';
import { systemClock } from '../clock.js';
import type { Clock, TimerHandle } from '../clock.js';
import { StateError } from '../errors.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../decode/record.js';
import type { ConntrackReader, NatTranslations } from '../attribute/nat.js';
import { AccountingPipeline } from './accounting-pipeline.js';
import { drainSocketEvents, openNat, startSocketEvents, stopSocketEvents } from './kernel-feeds.js';
import { applyLimits } from './limits.js';
import type { AppliedLimits } from './limits.js';
import { assembleStats } from './monitor-stats.js';
import { resolveOptions } from './options.js';
import { openPacketSource } from './packet-source-setup.js';
import type {
  Logger,
  Monitor,
  MonitorEnd,
  MonitorOptions,
  MonitorStats,
  RankEntry,
  RankOptions,
  ResolvedMonitorOptions,
  Snapshot,
} from './types.js';

/** How often idle flows are swept. */
const SWEEP_INTERVAL_MS = 5_000;
/**
 * With socket events, a quiet host (no flow to look up, no event, no socket counter moved) is
 * scanned every this many sync intervals instead of every one: the scan that still catches
 * what the cheap probe cannot see (a port closed and bound again, a socket handed over).
 */
const QUIET_SCAN_FACTOR = 10;
/** Things a test (or an embedding program) may replace; all default to the real system. */
export interface MonitorDependencies {
  clock?: Clock;
  procFs?: ProcFs;
  /** State files of container runtimes and the kubelet (container names); a fixture tree in tests. */
  hostFiles?: HostFiles;
  addon?: NativeAddon;
  /** A ready packet source; replaces live capture and readFile. */
  source?: PacketSource;
  /** Local addresses of the host; default from the system, refreshed on a timer. */
  localAddresses?: { has(address: string): boolean };
  /** cgroup root for limits (tests use a fake tree). */
  cgroupRoot?: string;
  /**
   * Opens the kernel connect tracker (option socketEvents). Default: the real one, used only
   * when the monitor opens a live capture itself (not with `source` or `readFile`); when
   * given, it is used with any source.
   */
  openSocketEvents?: (options: SocketEventsOptions) => SocketEventsHandle;
  /**
   * Opens the conntrack reader (option conntrack). Default: the addon's ctnetlink reader, used
   * only when the monitor opens a live capture itself; when given, it is used with any source.
   */
  openConntrack?: () => ConntrackReader;
}

class PidflowMonitor extends EventEmitter implements Monitor {
  readonly options: Readonly<ResolvedMonitorOptions>;
  readonly devices: readonly string[];
  readonly done: Promise<MonitorEnd>;

  private state: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  private resolveDone!: (end: MonitorEnd) => void;
  private readonly timers: TimerHandle[] = [];
  private startedAt = 0;
  private lastTickAt = 0;

  constructor(
    options: ResolvedMonitorOptions,
    private readonly source: PacketSource,
    private readonly pipeline: AccountingPipeline,
    private readonly attributor: Attributor,
    private readonly accountant: Accountant,
    private readonly clock: Clock,
    private readonly limits: AppliedLimits | undefined,
    private readonly localAddresses: LocalAddresses | undefined,
    private readonly logger: Logger,
    private readonly socketEvents: SocketEventsHandle | undefined = undefined,
    private readonly socketTables: SocketTableReader | undefined = undefined,
    private readonly nat: NatTranslations | undefined = undefined,
    private readonly socketOwners: SocketOwnerSource | undefined = undefined,
  ) {
    super();
    this.options = options;
    this.devices = source.devices;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    // A tick listener that throws must not take the capture down: report it and go on.
    this.on('error', (error: unknown) => this.logger.error?.(`listener failed: ${String(error)}`));
    source.setBatchHandler((batch) => this.pipeline.ingestBatch(batch));
  }

  start(): void {
    if (this.state === 'running') return;
    if (this.state !== 'created') {
      throw new StateError(
        'this monitor was stopped and cannot start again: create a new one with createMonitor()',
      );
    }
    this.state = 'running';
    this.startedAt = this.clock.now();
    this.lastTickAt = this.startedAt;
    this.timers.push(this.clock.setInterval(() => this.tick(), this.options.tickIntervalMs));
    this.timers.push(this.clock.setInterval(() => this.pipeline.sweep(), SWEEP_INTERVAL_MS));
    if (this.options.captureTimeoutMs > 0) {
      this.timers.push(
        this.clock.setTimeout(
          () => void this.end({ reason: 'timeout' }),
          this.options.captureTimeoutMs,
        ),
      );
    }
    this.source.start();
    void this.source.done.then((end) => {
      if (end.reason === 'end-of-file') void this.end({ reason: 'end-of-file' });
      else if (end.reason === 'error')
        void this.end({ reason: 'error', ...(end.error ? { error: end.error } : {}) });
    });
  }

  async stop(): Promise<void> {
    await this.end({ reason: 'stopped' });
  }

  override on(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  override on(event: 'warning', listener: (message: string) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this;
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  override off(event: 'tick', listener: (snapshot: Snapshot) => void): this;
  override off(event: 'warning', listener: (message: string) => void): this;
  override off(event: string | symbol, listener: (...args: never[]) => void): this;
  override off(event: string | symbol, listener: (...args: never[]) => void): this {
    return super.off(event, listener as (...args: unknown[]) => void);
  }

  rank(options: RankOptions = {}): RankEntry[] {
    return this.accountant.rank(options);
  }

  snapshot(windowSeconds: number = this.options.ringSeconds): Snapshot {
    const now = this.clock.now();
    const parts = this.accountant.snapshotParts(windowSeconds);
    const elapsedMs = this.startedAt === 0 ? 0 : now - this.startedAt;
    return {
      time: now,
      intervalMs: now - this.lastTickAt,
      elapsedMs,
      remainingMs:
        this.options.captureTimeoutMs > 0
          ? Math.max(0, this.options.captureTimeoutMs - elapsedMs)
          : null,
      devices: this.devices,
      windowSeconds,
      ...parts,
      stats: this.stats(),
    };
  }

  stats(): MonitorStats {
    return assembleStats({
      capture: this.source.stats(),
      attribution: this.attributor.stats(),
      accounting: this.accountant.stats(),
      flows: this.pipeline.flowStats(),
      copies: this.pipeline.copyStats(),
      totals: this.pipeline.totals,
      nat: this.nat?.stats(),
      socketEvents: this.socketEvents,
    });
  }

  private tick(): void {
    if (this.state !== 'running') return;
    const snapshot = this.snapshot();
    this.lastTickAt = snapshot.time;
    this.emit('tick', snapshot);
  }

  private async end(end: MonitorEnd): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') {
      await this.done;
      return;
    }
    this.state = 'stopping';
    for (const t of this.timers) t.cancel();
    this.timers.length = 0;
    try {
      await this.source.stop();
    } catch (error) {
      this.logger.warn?.(`stopping capture failed: ${String(error)}`);
    }
    // Whatever is still parked is accounted now (as unknown where still unknown): totals add up.
    // Socket events first: the connect event of a connection whose packets were drained above
    // may still be on its way (the last event batch crosses through the event loop).
    stopSocketEvents(this.socketEvents, this.logger);
    await drainSocketEvents(this.socketEvents, this.logger);
    this.attributor.flush();
    this.attributor.stop();
    this.socketTables?.close();
    this.socketOwners?.close();
    this.nat?.close();
    this.localAddresses?.stop();
    if (this.limits !== undefined) {
      try {
        await this.limits.remove();
      } catch (error) {
        this.logger.warn?.(`removing the cgroup failed: ${String(error)}`);
      }
    }
    this.state = 'stopped';
    this.resolveDone(end);
  }
}

/**
 * Creates a monitor. Options are validated first (a UsageError names the option at fault);
 * then limits are applied and capture opens (CaptureError, PermissionError). Call start().
 *
 * @example
 * const monitor = await createMonitor({ devices: ['eth0'], captureTimeoutMs: 60_000 });
 * monitor.on('tick', (s) => console.log(s.processes[0]?.process.comm));
 * monitor.start();
 */
export async function createMonitor(
  options?: MonitorOptions,
  deps: MonitorDependencies = {},
): Promise<Monitor> {
  const resolved = resolveOptions(options);
  const logger: Logger = options?.logger ?? {};
  const clock = deps.clock ?? systemClock;
  const addon = deps.source === undefined ? (deps.addon ?? loadAddon()) : deps.addon;

  let limits: AppliedLimits | undefined;
  if (resolved.limits !== undefined) {
    limits = await applyLimits(
      resolved.limits,
      deps.cgroupRoot === undefined ? {} : { cgroupRoot: deps.cgroupRoot },
    );
  }
  let socketEvents: SocketEventsHandle | undefined;
  let socketTables: SockDiagTables | undefined;
  let socketOwners: KernelSocketOwners | undefined;
  let nat: NatTranslations | undefined;
  try {
    const isOwnLiveCapture = deps.source === undefined && resolved.readFile === undefined;
    const source = openPacketSource(resolved, deps.source, addon, logger);
    const final = { ...resolved, devices: source.devices };

    let ownAddresses: LocalAddresses | undefined;
    let localAddresses = deps.localAddresses;
    if (localAddresses === undefined) {
      ownAddresses = new LocalAddresses({ clock });
      localAddresses = ownAddresses;
    }
    const accountant = new Accountant({
      clock,
      ringSeconds: resolved.ringSeconds,
      exitedRetentionMs: resolved.exitedRetentionMs,
      maxProcesses: resolved.maxProcesses,
      maxConnections: resolved.maxConnections,
      maxRemotes: resolved.maxRemotes,
    });
    // The attributor calls back into the pipeline, which needs the attributor: tie the knot.
    const sink: { pipeline?: AccountingPipeline } = {};
    // sock_diag reads the real kernel: only with the real /proc (a fake tree has fake sockets).
    if (resolved.sockDiag !== false && deps.procFs === undefined && hasSockDiag(addon)) {
      socketTables = new SockDiagTables(addon);
    }
    // So does the socket-owners iterator (it lists the real kernel's fd tables).
    if (resolved.socketOwners !== false && deps.procFs === undefined && hasSocketOwners(addon)) {
      socketOwners = new KernelSocketOwners(addon, {
        onUnavailable: (reason) =>
          logger.warn?.(
            `socket owners: the kernel iterator is unavailable (${reason}); walking ` +
              '/proc/<pid>/fd instead, which costs more CPU on hosts with many processes',
          ),
      });
    }
    const attributor = new Attributor({
      procFs: deps.procFs ?? new NodeProcFs('/'),
      hostFiles: deps.hostFiles,
      socketTables,
      socketOwners,
      // Scan stretches in the event loop thread's own CPU (not GC threads'), where the addon has it.
      ...(addon?.threadCpuMs !== undefined && addon.threadCpuMs() >= 0
        ? { cpuMs: () => addon.threadCpuMs!() }
        : {}),
      clock,
      localAddresses,
      syncIntervalMs: resolved.syncIntervalMs,
      retryBufferFlows: resolved.retryBufferFlows,
      onResolved: (flow, counters, attribution) =>
        sink.pipeline!.onResolved(flow, counters, attribution),
      onScan: (alive) => accountant.markAlive(alive),
      logger,
    });
    // Snapshots show what the last scan read (a command line rewritten at run time).
    accountant.useProcessInfoSource((key) => attributor.processInfo(key));
    if (
      resolved.socketEvents !== false &&
      (isOwnLiveCapture || deps.openSocketEvents !== undefined)
    ) {
      socketEvents = startSocketEvents(
        attributor,
        deps.openSocketEvents,
        addon,
        logger,
        resolved.udpSendEvents,
      );
      // Events name the owners of new connections and wake the scans on a quiet host: scan it
      // only when something may have changed, and at least every QUIET_SCAN_FACTOR intervals.
      if (socketEvents !== undefined) {
        attributor.enableQuietScans(QUIET_SCAN_FACTOR * resolved.syncIntervalMs);
      }
    }
    if (resolved.conntrack !== false && (isOwnLiveCapture || deps.openConntrack !== undefined)) {
      nat = openNat(deps.openConntrack, addon, logger, clock);
    }
    const pipeline = new AccountingPipeline({
      clock,
      protocols: resolved.protocols.map((p) => (p === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP)),
      devices: source.devices,
      nat,
      attributor,
      accountant,
    });
    sink.pipeline = pipeline;
    const monitor = new PidflowMonitor(
      final,
      source,
      pipeline,
      attributor,
      accountant,
      clock,
      limits,
      ownAddresses,
      logger,
      socketEvents,
      socketTables,
      nat,
      socketOwners,
    );
    await attributor.start();
    return monitor;
  } catch (error) {
    socketEvents?.stop();
    socketTables?.close();
    socketOwners?.close();
    nat?.close();
    await limits?.remove().catch(() => undefined);
    throw error;
  }
}
