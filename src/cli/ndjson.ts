// NDJSON output (--json): one object per interval built from a Snapshot. Interval bytes are
// the exact difference of each process's cumulative totals between two ticks, so a script
// that sums them gets the cumulative totals back. Schema: docs/ndjson.md (keep it stable).

import type { ContainerInfo, ProcessEntry, Snapshot, TrafficCounters } from '../monitor/types.js';
import { matchesProcessFilter, type ProcessFilter } from '../present/process-filter.js';

/** Version of the NDJSON schema; bump only on incompatible changes. */
export const NDJSON_VERSION = 1;

/** One process in an NDJSON line. */
export interface NdjsonProcess {
  pid: number;
  /** `pid:starttime`, unique even when a pid is reused. */
  key: string;
  name: string;
  exe: string;
  cmdline: string[];
  user: string;
  uid: number;
  container: string | null;
  /** Names of the container (runtime, name, image, compose, Kubernetes pod); null on the host. */
  containerInfo: ContainerInfo | null;
  exited: boolean;
  /** Cumulative IP-level bytes since the process was first seen. */
  sentBytes: number;
  receivedBytes: number;
  /** Bytes of this interval: cumulative now minus cumulative at the previous line. */
  intervalSentBytes: number;
  intervalReceivedBytes: number;
  /** Interval bytes divided by the interval length. */
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
  sentPackets: number;
  receivedPackets: number;
  /** Connections of the process currently tracked. */
  connections: number;
}

/** Unknown traffic (no owning socket found) in an NDJSON line. */
export interface NdjsonUnknown {
  sentBytes: number;
  receivedBytes: number;
  intervalSentBytes: number;
  intervalReceivedBytes: number;
  sentBytesPerSecond: number;
  receivedBytesPerSecond: number;
  sentPackets: number;
  receivedPackets: number;
  ports: { protocol: string; localPort: number; sentBytes: number; receivedBytes: number }[];
}

/** One NDJSON line. */
export interface NdjsonRecord {
  version: number;
  time: string;
  intervalMs: number;
  elapsedMs: number;
  remainingMs: number | null;
  devices: string[];
  processes: NdjsonProcess[];
  unknown: NdjsonUnknown;
  stats: {
    seenPackets: number;
    seenBytes: number;
    attributedPackets: number;
    unknownPackets: number;
    pendingPackets: number;
    queueDroppedPackets: number;
    kernelDroppedPackets: number;
    malformedPackets: number;
    nonIpPackets: number;
    retryDroppedFlows: number;
    /** Copies of packets already counted on another captured device (not in seen). */
    duplicatePackets: number;
    duplicateBytes: number;
  };
}

interface Cumulative {
  sentBytes: number;
  receivedBytes: number;
}

/**
 * Remembers each key's cumulative totals at the previous tick and returns the difference.
 * A key not seen at the previous tick starts from 0; a total that went down (the monitor
 * evicted and re-created the entry) counts from 0 again. Bounded by the keys of one tick.
 */
export class IntervalTracker {
  private previous = new Map<string, Cumulative>();
  private current = new Map<string, Cumulative>();

  /** Interval bytes of `key` whose cumulative totals are now `total`. */
  delta(key: string, total: Cumulative): Cumulative {
    const before = this.previous.get(key);
    this.current.set(key, { sentBytes: total.sentBytes, receivedBytes: total.receivedBytes });
    const diff = (now: number, then: number | undefined): number =>
      then === undefined || now < then ? now : now - then;
    return {
      sentBytes: diff(total.sentBytes, before?.sentBytes),
      receivedBytes: diff(total.receivedBytes, before?.receivedBytes),
    };
  }

  /** Close the tick: keys not seen in this tick are forgotten. */
  commit(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}

function perSecond(bytes: number, intervalMs: number): number {
  return intervalMs > 0 ? Math.round((bytes * 1000) / intervalMs) : 0;
}

function processRecord(
  entry: ProcessEntry,
  interval: Cumulative,
  intervalMs: number,
): NdjsonProcess {
  const p = entry.process;
  return {
    pid: p.pid,
    key: entry.key,
    name: p.comm,
    exe: p.exe,
    cmdline: [...p.cmdline],
    user: p.user,
    uid: p.uid,
    container: p.containerId,
    containerInfo: p.container ?? null,
    exited: entry.exited,
    sentBytes: entry.total.sentBytes,
    receivedBytes: entry.total.receivedBytes,
    intervalSentBytes: interval.sentBytes,
    intervalReceivedBytes: interval.receivedBytes,
    sentBytesPerSecond: perSecond(interval.sentBytes, intervalMs),
    receivedBytesPerSecond: perSecond(interval.receivedBytes, intervalMs),
    sentPackets: entry.total.sentPackets,
    receivedPackets: entry.total.receivedPackets,
    connections: entry.connectionCount,
  };
}

const UNKNOWN_KEY = '\0unknown';

/**
 * Builds the NDJSON object of one tick. Processes are listed by interval bytes, then
 * cumulative bytes, descending. `tracker` carries the previous tick's totals.
 */
export function buildNdjsonRecord(
  snapshot: Snapshot,
  tracker: IntervalTracker,
  filter: ProcessFilter,
): NdjsonRecord {
  const intervalMs = snapshot.intervalMs;
  const processes: NdjsonProcess[] = [];
  for (const entry of snapshot.processes) {
    // Every key goes through the tracker, filtered or not, so a filter never breaks the sums.
    const interval = tracker.delta(entry.key, entry.total);
    if (matchesProcessFilter(entry.process, filter)) {
      processes.push(processRecord(entry, interval, intervalMs));
    }
  }
  processes.sort(
    (a, b) =>
      b.intervalSentBytes +
        b.intervalReceivedBytes -
        (a.intervalSentBytes + a.intervalReceivedBytes) ||
      b.sentBytes + b.receivedBytes - (a.sentBytes + a.receivedBytes) ||
      a.pid - b.pid,
  );
  const unknownTotal: TrafficCounters = snapshot.unknownTotals.total;
  const unknownInterval = tracker.delta(UNKNOWN_KEY, unknownTotal);
  tracker.commit();
  const stats = snapshot.stats;
  return {
    version: NDJSON_VERSION,
    time: new Date(snapshot.time).toISOString(),
    intervalMs,
    elapsedMs: snapshot.elapsedMs,
    remainingMs: snapshot.remainingMs,
    devices: [...snapshot.devices],
    processes,
    unknown: {
      sentBytes: unknownTotal.sentBytes,
      receivedBytes: unknownTotal.receivedBytes,
      intervalSentBytes: unknownInterval.sentBytes,
      intervalReceivedBytes: unknownInterval.receivedBytes,
      sentBytesPerSecond: perSecond(unknownInterval.sentBytes, intervalMs),
      receivedBytesPerSecond: perSecond(unknownInterval.receivedBytes, intervalMs),
      sentPackets: unknownTotal.sentPackets,
      receivedPackets: unknownTotal.receivedPackets,
      ports: snapshot.unknown.map((u) => ({
        protocol: u.protocol,
        localPort: u.localPort,
        sentBytes: u.total.sentBytes,
        receivedBytes: u.total.receivedBytes,
      })),
    },
    stats: {
      seenPackets: stats.seen.packets,
      seenBytes: stats.seen.bytes,
      attributedPackets: stats.attributed.packets,
      unknownPackets: stats.unknown.packets,
      pendingPackets: stats.pending.packets,
      queueDroppedPackets: stats.queueDropped.packets,
      kernelDroppedPackets: stats.kernelDroppedPackets,
      malformedPackets: stats.malformedPackets,
      nonIpPackets: stats.nonIpPackets,
      retryDroppedFlows: stats.retry.droppedFlows,
      duplicatePackets: stats.duplicate.packets,
      duplicateBytes: stats.duplicate.bytes,
    },
  };
}
