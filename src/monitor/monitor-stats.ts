// Stats assembly of the monitor: the counters of every stage (capture, flow table, device
// copies, NAT, attribution, socket events, accounting) folded into one MonitorStats.

import type { AccountantStats } from '../account/types.js';
import type { AttributorStats } from '../attribute/attributor.js';
import type { NatStats } from '../attribute/nat.js';
import type { CaptureStats } from '../capture/packet-source.js';
import type { SocketEventsHandle } from '../capture/socket-events.js';
import type { DeviceCopiesStats } from './device-copies.js';
import type { FlowTableStats } from './flow-table.js';
import type { MonitorStats } from './types.js';

/** Packets and bytes the monitor counted itself, on their way to the accountant. */
export interface PipelineTotals {
  seenPackets: number;
  seenBytes: number;
  attributedPackets: number;
  attributedBytes: number;
  unknownPackets: number;
  unknownBytes: number;
}

/** The counters of each stage, as their own stats() gave them. */
export interface StageStats {
  readonly capture: CaptureStats;
  readonly flows: FlowTableStats;
  readonly copies: DeviceCopiesStats;
  readonly totals: Readonly<PipelineTotals>;
  readonly attribution: AttributorStats;
  readonly accounting: AccountantStats;
  /** Present when the monitor undoes NAT through conntrack. */
  readonly nat?: NatStats | undefined;
  /** Present when kernel socket events run. */
  readonly socketEvents?: SocketEventsHandle | undefined;
}

/**
 * One MonitorStats from the stages' counters: packets seen = counted + other protocols + those
 * the capture queue dropped, so that `seen = attributed + unknown + pending + dropped` holds.
 * @example
 * const stats = assembleStats({ capture: source.stats(), flows: table.stats(), ... });
 */
export function assembleStats(stages: StageStats): MonitorStats {
  const { capture, attribution, accounting, copies, socketEvents } = stages;
  const flowStats = stages.flows;
  let queueDroppedPackets = 0;
  let kernelDroppedPackets = 0;
  let malformedPackets = 0;
  let nonIpPackets = 0;
  for (const d of capture.devices) {
    queueDroppedPackets += d.queueDroppedPackets;
    kernelDroppedPackets += d.kernelDroppedPackets;
    malformedPackets += d.malformedPackets;
    nonIpPackets += d.nonIpPackets;
  }
  const t = stages.totals;
  const r = attribution.retry;
  return {
    seen: {
      packets: t.seenPackets + flowStats.otherProtocolPackets + queueDroppedPackets,
      bytes: t.seenBytes + flowStats.otherProtocolBytes,
    },
    attributed: { packets: t.attributedPackets, bytes: t.attributedBytes },
    unknown: { packets: t.unknownPackets, bytes: t.unknownBytes },
    duplicate: {
      packets: copies.duplicatePackets,
      bytes: copies.duplicateBytes,
      flows: copies.flows,
      multiDeviceFlows: copies.multiDeviceFlows,
      evictedFlows: copies.evictedFlows,
    },
    ...(stages.nat === undefined ? {} : { nat: stages.nat }),
    pending: { packets: r.pendingPackets, bytes: r.pendingBytes },
    queueDropped: { packets: queueDroppedPackets, bytes: 0 },
    otherProtocol: {
      packets: flowStats.otherProtocolPackets,
      bytes: flowStats.otherProtocolBytes,
    },
    kernelDroppedPackets,
    malformedPackets,
    nonIpPackets,
    retry: {
      pendingFlows: r.pendingFlows,
      limitFlows: r.limitFlows,
      droppedFlows: r.droppedFlows,
      droppedPackets: r.droppedPackets,
      resolvedFlows: r.resolvedFlows,
      expiredFlows: r.expiredFlows,
      inferredFlows: r.inferredFlows,
      inferredPackets: r.inferredPackets,
    },
    scans: {
      ...attribution.scans,
      ownerSource: attribution.scans.ownersFromKernel ? 'kernel' : 'proc',
    },
    flows: {
      tracked: flowStats.flows,
      expired: flowStats.expiredFlows,
      overflowPackets: flowStats.overflowPackets,
      attributionCached: attribution.flows.cached,
      attributionEvicted: attribution.flows.evicted,
    },
    ...(socketEvents === undefined
      ? {}
      : {
          socketEvents: {
            received: attribution.events.received,
            dropped: socketEvents.stats().dropped,
            used: attribution.events.used,
            udp: socketEvents.udp === true,
            udpReceived: attribution.events.udpReceived,
            udpUsed: attribution.events.udpUsed,
            tcpIo: socketEvents.tcpIo === true,
            tcpIoReceived: attribution.events.tcpIoReceived,
            tcpIoUsed: attribution.events.tcpIoUsed,
          },
        }),
    containerNames: {
      cached: attribution.containerNames.cached,
      evicted: attribution.containerNames.evicted,
      unresolved: attribution.containerNames.unresolved,
      filesRead: attribution.containerNames.filesRead,
      malformedFiles: attribution.containerNames.malformedFiles,
      oversizedFiles: attribution.containerNames.oversizedFiles,
      deniedFiles: attribution.containerNames.deniedFiles,
    },
    evicted: { ...accounting.evicted, flows: attribution.flows.evicted },
    devices: capture.devices,
    pcap: capture.pcap,
  };
}
