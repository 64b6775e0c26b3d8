// Plain JSON shapes of the API responses, built field by field from the public Monitor types so
// the HTTP schema (docs/serve.md) stays stable whatever the monitor's objects carry.

import type {
  ContainerInfo,
  MonitorStats,
  ProcessInfo,
  RankEntry,
  Snapshot,
  TrafficCounters,
  TrafficEntry,
  UnknownEntry,
} from '../monitor/types.js';

/** Version of the JSON schema; bump only on incompatible changes. */
export const API_VERSION = 1;

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

function counters(c: TrafficCounters): JsonObject {
  return {
    sentBytes: c.sentBytes,
    receivedBytes: c.receivedBytes,
    sentPackets: c.sentPackets,
    receivedPackets: c.receivedPackets,
    sentPayloadBytes: c.sentPayloadBytes,
    receivedPayloadBytes: c.receivedPayloadBytes,
  };
}

/** The traffic fields every entry has. */
export function trafficView(e: TrafficEntry): JsonObject {
  return {
    key: e.key,
    total: counters(e.total),
    window: counters(e.window),
    rate: {
      sentBytesPerSecond: e.rate.sentBytesPerSecond,
      receivedBytesPerSecond: e.rate.receivedBytesPerSecond,
    },
    ewma: {
      sentBytesPerSecond: e.ewma.sentBytesPerSecond,
      receivedBytesPerSecond: e.ewma.receivedBytesPerSecond,
    },
    history: { sentBytes: [...e.history.sentBytes], receivedBytes: [...e.history.receivedBytes] },
  };
}

/** Every field of a ProcessInfo. */
export function processInfoView(p: ProcessInfo): JsonObject {
  return {
    key: p.key,
    pid: p.pid,
    ppid: p.ppid,
    comm: p.comm,
    exe: p.exe,
    cmdline: [...p.cmdline],
    uid: p.uid,
    user: p.user,
    startTime: p.startTime,
    cgroup: p.cgroup,
    containerId: p.containerId,
    containerRuntime: p.containerRuntime,
    container: containerView(p.container),
    netns: p.netns,
  };
}

/** The short form of a process inside a connection entry. */
function processRef(p: ProcessInfo): JsonObject {
  return {
    key: p.key,
    pid: p.pid,
    comm: p.comm,
    containerId: p.containerId,
    container: containerView(p.container),
  };
}

/** A container's names as JSON (exact values: JSON escaping is the only treatment), or null. */
function containerView(c: ContainerInfo | undefined): JsonObject | null {
  if (c === undefined) return null;
  return {
    id: c.id,
    runtime: c.runtime,
    name: c.name,
    image: c.image,
    composeProject: c.composeProject,
    composeService: c.composeService,
    pod: c.pod === null ? null : { ...c.pod },
  };
}

/** One ranked entry of any kind. */
export function rankEntryView(e: RankEntry): JsonObject {
  const base = { kind: e.kind, ...trafficView(e) };
  switch (e.kind) {
    case 'process':
      return {
        ...base,
        process: processInfoView(e.process),
        connectionCount: e.connectionCount,
        exited: e.exited,
      };
    case 'connection':
      return {
        ...base,
        protocol: e.protocol,
        localAddress: e.localAddress,
        localPort: e.localPort,
        remoteAddress: e.remoteAddress,
        remotePort: e.remotePort,
        process: processRef(e.process),
      };
    case 'remote':
      return { ...base, remoteAddress: e.remoteAddress, processCount: e.processCount };
    case 'container':
      return {
        ...base,
        containerId: e.containerId,
        containerRuntime: e.containerRuntime,
        container: containerView(e.container),
        processCount: e.processCount,
      };
  }
}

function unknownView(e: UnknownEntry): JsonObject {
  return { kind: 'unknown', ...trafficView(e), protocol: e.protocol, localPort: e.localPort };
}

/** MonitorStats as JSON (a deep copy). */
export function statsView(s: MonitorStats): JsonObject {
  return JSON.parse(JSON.stringify(s)) as JsonObject;
}

/** A whole snapshot. */
export function snapshotView(s: Snapshot): JsonObject {
  return {
    time: s.time,
    intervalMs: s.intervalMs,
    elapsedMs: s.elapsedMs,
    remainingMs: s.remainingMs,
    devices: [...s.devices],
    windowSeconds: s.windowSeconds,
    totals: trafficView(s.totals),
    processes: s.processes.map((p) => rankEntryView(p)),
    unknown: s.unknown.map(unknownView),
    unknownTotals: trafficView(s.unknownTotals),
    stats: statsView(s.stats),
  };
}
