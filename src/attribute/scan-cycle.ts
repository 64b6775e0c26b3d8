// Scan cycle of the attribution stage: runs the socket scanner when the ScanScheduler says
// (scan-scheduler.ts), hands each scan's result to the caller, measures how long the event
// loop was blocked, and tells the scheduler when a quiet host needs no periodic scan.

import type { AttributorLogger, AttributorStats } from './attributor-options.js';
import type { Clock } from '../clock.js';
import { ScanScheduler } from './scan-scheduler.js';
import type { ScanResult } from './socket-scanner.js';

/** What the cycle needs of the socket scanner (SocketScanner). */
export interface CycleScanner {
  /** One scan; `mayReuseTables`: tables whose socket counters did not move may be kept. */
  scan(mayReuseTables: boolean): Promise<ScanResult>;
  /** The cheap probe (the /proc listing, each namespace's socket counters) saw no change. */
  isQuiet(): boolean;
}

/** Options of {@link ScanCycle}. Durations in ms of `clock`. */
export interface ScanCycleOptions {
  scanner: CycleScanner;
  clock: Clock;
  /** How the cycle gives the event loop a turn between the scan and the work after it. */
  yieldToEventLoop(): Promise<void>;
  /** CPU time of the process so far, ms. */
  cpuMs(): number;
  logger?: AttributorLogger | undefined;
  /** Periodic rescan interval. */
  syncIntervalMs: number;
  /** See ScanSchedulerOptions. */
  onDemandDebounceMs: number;
  minOnDemandGapMs: number;
  maxScanShare: number;
  /** Flows parked now: they need tables as they are now, and another scan. */
  parkedFlows(): number;
  /** Kernel socket events received so far. */
  receivedEvents(): number;
  /** After a successful scan (event loop blocked meanwhile): use its result. */
  onScanned(result: ScanResult, startMs: number): void;
  /** After every scan, successful or not, in the same stretch: retry parked flows (seq: its start number). */
  afterScan(seq: number): void;
}

/**
 * One scan at a time, scheduled by a ScanScheduler; each followed, after a turn of the event
 * loop, by `onScanned` and `afterScan` in one measured stretch.
 * @example
 * const cycle = new ScanCycle({ scanner, clock, onScanned: (r) => use(r.index), afterScan, ...rest });
 * await cycle.start();
 * cycle.noteLookup(); cycle.requestOnDemand();
 */
export class ScanCycle {
  private readonly options: ScanCycleOptions;
  private readonly clock: Clock;
  private readonly scheduler: ScanScheduler;
  private isStopped = false;
  private scanCount = 0;
  private failedScans = 0;
  private maxBlockMs = 0;
  private maxBlockCpuMs = 0;
  private lastScan: ScanResult | undefined;
  private unchangedScans = 0;
  /** 0: every periodic scan runs; else the longest gap between scans on a quiet host. */
  private quietScanIntervalMs = 0;
  /** Table lookups (flows not answered by the cache) since the last scan started. */
  private lookupsSinceScan = 0;
  /** Socket events received when the last scan started. */
  private eventsAtScan = 0;

  constructor(options: ScanCycleOptions) {
    this.options = options;
    this.clock = options.clock;
    this.scheduler = new ScanScheduler({
      clock: options.clock,
      runScan: (seq) => this.scanAndRetry(seq),
      hasPendingWork: () => options.parkedFlows() > 0,
      canSkipPeriodic: (sinceLastScanMs) => this.isQuiet(sinceLastScanMs),
      syncIntervalMs: options.syncIntervalMs,
      onDemandDebounceMs: options.onDemandDebounceMs,
      minOnDemandGapMs: options.minOnDemandGapMs,
      maxScanShare: options.maxScanShare,
    });
  }

  /** Number of the latest scan started (0 before the first). */
  get scanStartSeq(): number {
    return this.scheduler.scanStartSeq;
  }

  /** First scan, then one every syncIntervalMs (less often while scans are costly). */
  start(): Promise<void> {
    return this.scheduler.start();
  }

  /** Cancel the timers; a scan in flight is discarded. Idempotent. */
  stop(): void {
    this.isStopped = true;
    this.scheduler.stop();
  }

  /** Run a scan now (or join the one running). */
  scanNow(): Promise<void> {
    return this.scheduler.scanNow();
  }

  /** Resolves when no scan is running. */
  whenIdle(): Promise<void> {
    return this.scheduler.whenIdle();
  }

  /** Ask for a scan soon (debounced, rate-limited). */
  requestOnDemand(): void {
    this.scheduler.requestOnDemand();
  }

  /** A flow needed a table lookup: the host is not quiet, and the next scan reads fresh tables. */
  noteLookup(): void {
    this.lookupsSinceScan++;
  }

  /**
   * Skip periodic scans while the host is quiet, scanning at least every `maxGapMs` (0: every
   * periodic scan runs). Quiet means, since the last scan started: no flow needed a table
   * lookup, no flow is parked, no socket event arrived, and the scanner's probe saw no change.
   */
  enableQuietScans(maxGapMs: number): void {
    this.quietScanIntervalMs = maxGapMs;
  }

  /** The `scans` block of the attributor's stats; `callbackErrors` are counted by the caller. */
  stats(callbackErrors: number): AttributorStats['scans'] {
    const last = this.lastScan;
    const schedule = this.scheduler.stats();
    return {
      count: this.scanCount,
      onDemand: schedule.onDemand,
      rateLimited: schedule.rateLimited,
      skippedPeriodic: schedule.skippedPeriodic,
      skippedQuiet: schedule.skippedQuiet,
      failed: this.failedScans,
      callbackErrors,
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
      ownersFromKernel: last?.ownersFromKernel ?? false,
    };
  }

  private isQuiet(sinceLastScanMs: number): boolean {
    return (
      this.quietScanIntervalMs > 0 &&
      sinceLastScanMs < this.quietScanIntervalMs &&
      this.lookupsSinceScan === 0 &&
      this.options.parkedFlows() === 0 &&
      this.options.receivedEvents() === this.eventsAtScan &&
      this.options.scanner.isQuiet()
    );
  }

  private async scanAndRetry(seq: number): Promise<void> {
    if (this.isStopped) return;
    const startMs = this.clock.monotonicMs();
    // Flows waiting for a socket, or looked up since the last scan, need the tables as they are
    // now; a scan of a quiet host may keep tables whose socket counters did not move.
    const mayReuseTables = this.options.parkedFlows() === 0 && this.lookupsSinceScan === 0;
    this.lookupsSinceScan = 0;
    this.eventsAtScan = this.options.receivedEvents();
    let result: ScanResult | undefined;
    try {
      result = await this.options.scanner.scan(mayReuseTables);
    } catch (error) {
      this.failedScans++;
      this.options.logger?.warn?.(
        `socket scan of /proc failed (${error instanceof Error ? error.message : String(error)}): ` +
          'attribution keeps the previous tables; check that /proc is mounted and readable',
      );
    }
    if (this.isStopped) return;
    this.scanCount++;
    this.scheduler.recordDuration(this.clock.monotonicMs() - startMs);
    // What follows runs in one stretch (retries, fork families, the cache sweep): give the
    // event loop a turn first, so the scan's last slice and this one do not add up.
    await this.options.yieldToEventLoop();
    if (this.isStopped) return;
    const afterMs = this.clock.monotonicMs();
    const afterCpuMs = this.options.cpuMs();
    if (result !== undefined) {
      this.lastScan = result;
      if (result.isUnchanged) this.unchangedScans++;
      this.maxBlockMs = Math.max(this.maxBlockMs, result.maxBlockMs);
      this.maxBlockCpuMs = Math.max(this.maxBlockCpuMs, result.maxBlockCpuMs);
      this.options.onScanned(result, startMs);
    }
    // A failed scan still counts against retryScans, so parked flows cannot wait forever.
    this.options.afterScan(seq);
    this.maxBlockMs = Math.max(this.maxBlockMs, this.clock.monotonicMs() - afterMs);
    this.maxBlockCpuMs = Math.max(this.maxBlockCpuMs, this.options.cpuMs() - afterCpuMs);
  }
}
