// Scan scheduling of the attribution stage: when to rescan the socket tables (a periodic
// timer, on-demand requests for unknown flows, debounced and rate-limited by time and by cost).
// What a scan does is the caller's `runScan`; this module only decides when, one at a time.

import type { Clock, TimerHandle } from '../clock.js';

/** Options of {@link ScanScheduler}. Durations in ms of `clock`. */
export interface ScanSchedulerOptions {
  clock: Clock;
  /** The scan itself; `seq` numbers scan starts from 1. Never rejects (failures are its own). */
  runScan(seq: number): Promise<void>;
  /** Asked after each scan: true asks for another on-demand scan (flows still parked). */
  hasPendingWork(): boolean;
  /** Periodic rescan interval. */
  syncIntervalMs: number;
  /** Wait this long after the first request before an on-demand scan (gathers a burst). */
  onDemandDebounceMs: number;
  /** At least this long between the starts of two on-demand scans. */
  minOnDemandGapMs: number;
  /** Largest share of wall time spent scanning (0.001 to 1). */
  maxScanShare: number;
  /**
   * Asked before each periodic scan with the time since the last scan started: true skips it
   * (nothing to find). Undefined: every periodic scan runs.
   */
  canSkipPeriodic?: ((sinceLastScanMs: number) => boolean) | undefined;
}

/** Counters of {@link ScanScheduler.stats}. */
export interface ScanSchedulerStats {
  readonly onDemand: number;
  /** On-demand requests delayed by minOnDemandGapMs or maxScanShare. */
  readonly rateLimited: number;
  /** Periodic scans skipped because scans are costly (maxScanShare). */
  readonly skippedPeriodic: number;
  /** Periodic scans skipped because canSkipPeriodic said nothing changed. */
  readonly skippedQuiet: number;
  readonly lastDurationMs: number;
  readonly maxDurationMs: number;
  /** Median over the last 64 scans. */
  readonly medianDurationMs: number;
}

const DURATION_SAMPLES = 64;

/**
 * Runs one scan at a time: a first one at start, then every syncIntervalMs, plus on-demand
 * scans (debounced, at least minOnDemandGapMs apart), all at least medianScanMs / maxScanShare
 * apart so that scanning a big host never takes more than maxScanShare of the time.
 * @example
 * const scheduler = new ScanScheduler({ clock, runScan, hasPendingWork, ...intervals });
 * await scheduler.start();
 * scheduler.requestOnDemand();
 */
export class ScanScheduler {
  private readonly options: ScanSchedulerOptions;
  private readonly clock: Clock;
  private isStarted = false;
  private isStopped = false;
  private periodicTimer: TimerHandle | undefined;
  private onDemandTimer: TimerHandle | undefined;
  private scanning: Promise<void> | undefined;
  private isRescanWanted = false;
  private startSeq = 0;
  private lastOnDemandStartMs = -Infinity;
  private lastScanStartMs = -Infinity;
  private onDemandScans = 0;
  private rateLimited = 0;
  private skippedPeriodic = 0;
  private skippedQuiet = 0;
  private lastDurationMs = 0;
  private maxDurationMs = 0;
  private readonly durations: number[] = [];

  constructor(options: ScanSchedulerOptions) {
    this.options = options;
    this.clock = options.clock;
  }

  /** Number of the latest scan started (0 before the first). */
  get scanStartSeq(): number {
    return this.startSeq;
  }

  /** First scan now, then one every syncIntervalMs (skipped while scans are too costly). */
  async start(): Promise<void> {
    if (this.isStopped || this.isStarted) return;
    this.isStarted = true;
    await this.run('periodic');
    if (this.isStopped) return;
    this.periodicTimer = this.clock.setInterval(() => {
      const sinceLastScanMs = this.clock.monotonicMs() - this.lastScanStartMs;
      if (sinceLastScanMs < this.costGapMs()) {
        this.skippedPeriodic++;
        return;
      }
      if (this.scanning === undefined && this.options.canSkipPeriodic?.(sinceLastScanMs) === true) {
        this.skippedQuiet++;
        return;
      }
      void this.run('periodic');
    }, this.options.syncIntervalMs);
  }

  /** Cancel the timers; a scan in flight finishes but none starts. Idempotent. */
  stop(): void {
    if (this.isStopped) return;
    this.isStopped = true;
    this.periodicTimer?.cancel();
    this.onDemandTimer?.cancel();
    this.periodicTimer = undefined;
    this.onDemandTimer = undefined;
  }

  /** Run a scan now (or join the one running). */
  scanNow(): Promise<void> {
    return this.run('periodic');
  }

  /** Resolves when no scan is running. */
  async whenIdle(): Promise<void> {
    while (this.scanning !== undefined) await this.scanning;
  }

  /** Ask for a scan soon: debounced, rate-limited; after the running one if one runs. */
  requestOnDemand(): void {
    if (this.isStopped || !this.isStarted || this.onDemandTimer !== undefined) return;
    if (this.scanning !== undefined) {
      this.isRescanWanted = true;
      return;
    }
    const now = this.clock.monotonicMs();
    let delayMs = this.options.onDemandDebounceMs;
    const gapLeftMs = Math.max(
      this.lastOnDemandStartMs + this.options.minOnDemandGapMs - now,
      this.lastScanStartMs + this.costGapMs() - now,
    );
    if (gapLeftMs > delayMs) {
      delayMs = gapLeftMs;
      this.rateLimited++;
    }
    this.onDemandTimer = this.clock.setTimeout(() => {
      this.onDemandTimer = undefined;
      void this.run('onDemand');
    }, delayMs);
  }

  /** Record how long one scan took (the costly part, for maxScanShare). */
  recordDuration(durationMs: number): void {
    this.lastDurationMs = durationMs;
    this.maxDurationMs = Math.max(this.maxDurationMs, durationMs);
    this.durations.push(durationMs);
    if (this.durations.length > DURATION_SAMPLES) this.durations.shift();
  }

  stats(): ScanSchedulerStats {
    return {
      onDemand: this.onDemandScans,
      rateLimited: this.rateLimited,
      skippedPeriodic: this.skippedPeriodic,
      skippedQuiet: this.skippedQuiet,
      lastDurationMs: this.lastDurationMs,
      maxDurationMs: this.maxDurationMs,
      medianDurationMs: this.medianDurationMs(),
    };
  }

  /** Least time between scan starts so that scanning takes at most maxScanShare of the time. */
  private costGapMs(): number {
    return this.medianDurationMs() / this.options.maxScanShare;
  }

  private medianDurationMs(): number {
    if (this.durations.length === 0) return 0;
    const sorted = [...this.durations].sort((a, b) => a - b);
    return sorted[(sorted.length - 1) >> 1] ?? 0;
  }

  private run(kind: 'periodic' | 'onDemand'): Promise<void> {
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
    const seq = ++this.startSeq;
    this.lastScanStartMs = this.clock.monotonicMs();
    const scanning = this.options.runScan(seq).finally(() => {
      this.scanning = undefined;
      if (this.isRescanWanted || this.options.hasPendingWork()) {
        this.isRescanWanted = false;
        this.requestOnDemand();
      }
    });
    this.scanning = scanning;
    return scanning;
  }
}
