// The bounded set of Prometheus series behind pidflow_process_* and pidflow_container_*:
// cumulative counters per (comm, container) built from per-process deltas, so they only grow.

import type { ContainerInfo, ProcessEntry } from '../monitor/types.js';
import { ProcessDeltaTracker, type CounterDelta } from './process-deltas.js';

/** Label value of the series that collects processes beyond the series limit. */
export const OTHER_LABEL = 'other';

/** One exported series and its cumulative counters. */
export interface SeriesCounters {
  readonly comm: string;
  readonly container: string;
  sentBytes: number;
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
  /** Process entries of the last update that feed this series. */
  liveEntries: number;
  /** Clock time of the last non-zero increment, ms. */
  lastChangeMs: number;
  /** Names of the container (container series only; the resolver fills it in place). */
  info?: ContainerInfo;
}

/** Options of {@link ProcessSeriesTable}. */
export interface ProcessSeriesOptions {
  /** Named series per table (process and container tables each), beyond which traffic goes to `other`. @default 500 */
  maxSeries?: number;
  /**
   * A named series with no process and no traffic for this long is removed (the series of exited
   * processes and containers disappear after this grace period), ms. @default 600000
   */
  idleEvictMs?: number;
}

/** Default number of named series per metric family. */
export const DEFAULT_MAX_SERIES = 500;
/** Ten minutes: longer than any sane scrape interval, so an evicted series has been scraped idle. */
const DEFAULT_IDLE_EVICT_MS = 600_000;

function newSeries(comm: string, container: string): SeriesCounters {
  return {
    comm,
    container,
    sentBytes: 0,
    receivedBytes: 0,
    sentPackets: 0,
    receivedPackets: 0,
    liveEntries: 0,
    lastChangeMs: 0,
  };
}

/** A bounded map of series with an `other` overflow series. */
class SeriesMap {
  readonly named = new Map<string, SeriesCounters>();
  readonly other: SeriesCounters;
  /** Process entries that were routed to `other` because the map was full. */
  foldedEntries = 0;
  /** Named series removed to make room. */
  evictedSeries = 0;
  /** Named series removed after the grace period. */
  expiredSeries = 0;

  constructor(
    private readonly maxSeries: number,
    private readonly idleEvictMs: number,
    otherComm: string,
    otherContainer: string,
  ) {
    this.other = newSeries(otherComm, otherContainer);
  }

  /** The series for `key`, creating it (or falling back to `other`) when new. */
  resolve(key: string, comm: string, container: string, nowMs: number): SeriesCounters {
    const found = this.named.get(key);
    if (found !== undefined) {
      // Counted as fed until the end-of-update recount, so it cannot be evicted meanwhile.
      found.liveEntries++;
      return found;
    }
    if (this.named.size >= this.maxSeries && !this.evictIdle(nowMs)) {
      this.foldedEntries++;
      return this.other;
    }
    const series = newSeries(comm, container);
    series.lastChangeMs = nowMs;
    series.liveEntries = 1;
    this.named.set(key, series);
    return series;
  }

  /** Remove every series that no live process feeds and that has been idle for the grace period. */
  expireIdle(nowMs: number): void {
    for (const [key, s] of this.named) {
      if (s.liveEntries === 0 && nowMs - s.lastChangeMs >= this.idleEvictMs) {
        this.named.delete(key);
        this.expiredSeries++;
      }
    }
  }

  /** Series exported now (named, plus `other` once it is used). */
  get exported(): number {
    const o = this.other;
    const hasOther =
      o.sentBytes + o.receivedBytes + o.sentPackets + o.receivedPackets > 0 ||
      this.foldedEntries > 0;
    return this.named.size + (hasOther ? 1 : 0);
  }

  /**
   * Remove the longest-idle series that no live process feeds. Its past values stay in the
   * scraper's storage; `other` does not take them over, so rates summed over series stay right.
   */
  private evictIdle(nowMs: number): boolean {
    let victim: string | undefined;
    let oldest = Infinity;
    for (const [key, s] of this.named) {
      if (
        s.liveEntries === 0 &&
        nowMs - s.lastChangeMs >= this.idleEvictMs &&
        s.lastChangeMs < oldest
      ) {
        oldest = s.lastChangeMs;
        victim = key;
      }
    }
    if (victim === undefined) return false;
    this.named.delete(victim);
    this.evictedSeries++;
    return true;
  }

  /** Named series sorted by label values, then `other` when it ever received anything. */
  list(): SeriesCounters[] {
    const out = [...this.named.values()].sort(
      (a, b) => cmp(a.comm, b.comm) || cmp(a.container, b.container),
    );
    const o = this.other;
    if (
      o.sentBytes + o.receivedBytes + o.sentPackets + o.receivedPackets > 0 ||
      this.foldedEntries > 0
    )
      out.push(o);
    return out;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function add(series: SeriesCounters, d: CounterDelta, nowMs: number): void {
  series.sentBytes += d.sentBytes;
  series.receivedBytes += d.receivedBytes;
  series.sentPackets += d.sentPackets;
  series.receivedPackets += d.receivedPackets;
  if (d.sentBytes + d.receivedBytes + d.sentPackets + d.receivedPackets > 0)
    series.lastChangeMs = nowMs;
}

/**
 * Per-(comm, container) and per-container counters fed from successive snapshots.
 *
 * Every counter is a sum of non-negative per-process increments ({@link ProcessDeltaTracker}),
 * so it never decreases, also when processes exit and are folded into the `exited` entry.
 * Processes with the same comm and container share a series; pid is not a label.
 */
export class ProcessSeriesTable {
  private readonly tracker = new ProcessDeltaTracker();
  private readonly processes: SeriesMap;
  private readonly containers: SeriesMap;
  /** Series of each process entry of the last update (by entry key). */
  private readonly routes = new Map<
    string,
    { process: SeriesCounters; container: SeriesCounters; generation: number }
  >();
  private generation = 0;
  private readonly maxSeries: number;

  constructor(options: ProcessSeriesOptions = {}) {
    const maxSeries = options.maxSeries ?? DEFAULT_MAX_SERIES;
    this.maxSeries = maxSeries;
    const idle = options.idleEvictMs ?? DEFAULT_IDLE_EVICT_MS;
    this.processes = new SeriesMap(maxSeries, idle, OTHER_LABEL, OTHER_LABEL);
    this.containers = new SeriesMap(maxSeries, idle, OTHER_LABEL, OTHER_LABEL);
  }

  /** Fold the totals of `entries` (a snapshot's processes) into the series. */
  update(entries: readonly ProcessEntry[], nowMs: number): void {
    const generation = ++this.generation;
    this.tracker.update(entries, (entry, delta) => {
      let route = this.routes.get(entry.key);
      if (route === undefined) {
        const comm = entry.process.comm;
        const container = entry.process.containerId ?? '';
        route = {
          process: this.processes.resolve(`${comm}\0${container}`, comm, container, nowMs),
          container: this.containers.resolve(container, '', container, nowMs),
          generation: 0,
        };
        this.routes.set(entry.key, route);
        const info = entry.process.container;
        if (info !== undefined && route.container.container === container) {
          route.container.info ??= info;
        }
      }
      route.generation = generation;
      add(route.process, delta, nowMs);
      add(route.container, delta, nowMs);
    });
    for (const s of this.processes.named.values()) s.liveEntries = 0;
    for (const s of this.containers.named.values()) s.liveEntries = 0;
    for (const [key, route] of this.routes) {
      if (route.generation !== generation) {
        this.routes.delete(key);
        continue;
      }
      route.process.liveEntries++;
      route.container.liveEntries++;
    }
    this.processes.expireIdle(nowMs);
    this.containers.expireIdle(nowMs);
  }

  /** Series exported per family table now: never more than `limit` + 1 (`other`). */
  seriesCounts(): { process: number; container: number; limit: number; expired: number } {
    return {
      process: this.processes.exported,
      container: this.containers.exported,
      limit: this.maxSeries,
      expired: this.processes.expiredSeries + this.containers.expiredSeries,
    };
  }

  /** Process series (by comm and container), sorted, `other` last. */
  processSeries(): SeriesCounters[] {
    return this.processes.list();
  }

  /** Container series ('' = the host), sorted, `other` last. */
  containerSeries(): SeriesCounters[] {
    return this.containers.list();
  }

  /** Process entries routed to `other` because the series limit was reached. */
  get foldedEntries(): number {
    return this.processes.foldedEntries;
  }

  /** Named series evicted after being idle, to make room for new ones. */
  get evictedSeries(): number {
    return this.processes.evictedSeries + this.containers.evictedSeries;
  }
}
