// One measured run of a scenario: pidflow (in a child process) and nethogs side by side on the
// host end of a fresh veth, with tcpdump as the reference capture, then the scores.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestNet } from '../../test/helpers/netns.js';
import {
  startReferenceCapture,
  summarizePcapFile,
  truthByProcess,
} from '../../test/helpers/pcap-truth.js';
import type { ProcessTruth } from '../../test/helpers/pcap-truth.js';
import type { WorkerReport } from '../../test/helpers/traffic.js';
import { startMonitorProcess } from './monitor-process.js';
import { startNethogs } from './nethogs.js';
import type { NethogsProcess } from './nethogs.js';
import type { MemoryBreakdown } from './monitor-protocol.js';
import type { Scenario } from './scenarios.js';
import type { MonitorOptions } from '../../src/index.js';

/** Scores of one tool in one run. */
export interface ToolScore {
  /** Share of the host processes' true bytes that the tool put on the right process, 0..1. */
  rightShare: number;
  /** Mean over host processes of |measured - true| / true (sent and received together), 0..1. */
  meanAbsError: number;
  /** Bytes the tool reported as unknown / all bytes it reported, 0..1. */
  unknownShare: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** Result of one run. */
export interface RunResult {
  pidflow: ToolScore;
  /** pidflow's right share over every process, the namespace's servers included. */
  pidflowAllRightShare: number;
  nethogs: ToolScore | undefined;
  /** Where the truth came from and how complete it is. */
  truthSource: 'pcap' | 'worker counts' | 'interface counters';
  referenceDropped: number;
  pidflowKernelDropped: number;
  pidflowQueueDropped: number;
  /** Packets the host processes sent and received, per the truth. */
  truthPackets: number;
  /** How long the traffic phase took, ms. */
  trafficMs: number;
  /** pidflow's process.memoryUsage() when the totals were read (after the traffic), bytes. */
  pidflowMemory: MemoryBreakdown;
  /** The same before the traffic (after the warm-up). */
  pidflowMemoryBefore: MemoryBreakdown;
  /** Flows pidflow parked and resolved after a scan, and those its full retry buffer turned away. */
  pidflowRetry: { resolvedFlows: number; droppedFlows: number };
}

const WARMUP_MS = 1500;
/** nethogs refreshes every second and pidflow rescans every second: let both catch up. */
const SETTLE_MS = 2500;
const IPV4_HEADER_BYTES = 20;
const IPV6_HEADER_BYTES = 40;
const UDP_HEADER_BYTES = 8;
const ETHERNET_HEADER_BYTES = 14;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function emptyTruth(pid: number): ProcessTruth {
  return {
    pid,
    sentBytes: 0,
    receivedBytes: 0,
    sentPackets: 0,
    receivedPackets: 0,
    sentWireBytes: 0,
    receivedWireBytes: 0,
    sentPayloadBytes: 0,
    receivedPayloadBytes: 0,
    sentStreamBytes: 0,
    receivedStreamBytes: 0,
  };
}

/** Exact UDP truth from the workers' own datagram counts (no fragmentation at these sizes). */
export function truthFromUdpReports(reports: readonly WorkerReport[]): Map<number, ProcessTruth> {
  const out = new Map<number, ProcessTruth>();
  for (const r of reports) {
    const t = emptyTruth(r.pid);
    for (const s of r.sockets) {
      const header =
        (s.localAddress.includes(':') ? IPV6_HEADER_BYTES : IPV4_HEADER_BYTES) + UDP_HEADER_BYTES;
      t.sentPackets += s.sentDatagrams;
      t.receivedPackets += s.receivedDatagrams;
      t.sentPayloadBytes += s.sentPayloadBytes;
      t.receivedPayloadBytes += s.receivedPayloadBytes;
      t.sentStreamBytes += s.sentPayloadBytes;
      t.receivedStreamBytes += s.receivedPayloadBytes;
      t.sentBytes += s.sentPayloadBytes + s.sentDatagrams * header;
      t.receivedBytes += s.receivedPayloadBytes + s.receivedDatagrams * header;
      t.sentWireBytes += s.sentPayloadBytes + s.sentDatagrams * (header + ETHERNET_HEADER_BYTES);
      t.receivedWireBytes +=
        s.receivedPayloadBytes + s.receivedDatagrams * (header + ETHERNET_HEADER_BYTES);
    }
    out.set(r.pid, t);
  }
  return out;
}

interface Measured {
  sentBytes: number;
  receivedBytes: number;
}

/** Right share and mean absolute error of `measured` against `truth` over `pids`. */
export function score(
  pids: readonly number[],
  truth: ReadonlyMap<number, { sent: number; received: number }>,
  measured: ReadonlyMap<number, Measured>,
): { rightShare: number; meanAbsError: number } {
  let right = 0;
  let total = 0;
  let errorSum = 0;
  let counted = 0;
  for (const pid of pids) {
    const t = truth.get(pid);
    if (t === undefined || t.sent + t.received === 0) continue;
    const m = measured.get(pid) ?? { sentBytes: 0, receivedBytes: 0 };
    right += Math.min(m.sentBytes, t.sent) + Math.min(m.receivedBytes, t.received);
    total += t.sent + t.received;
    errorSum +=
      (Math.abs(m.sentBytes - t.sent) + Math.abs(m.receivedBytes - t.received)) /
      (t.sent + t.received);
    counted++;
  }
  return {
    rightShare: total === 0 ? 0 : right / total,
    meanAbsError: counted === 0 ? 0 : errorSum / counted,
  };
}

/** Run `scenario` once and score both tools; `monitorOptions` are added to pidflow's. */
export async function runScenario(
  scenario: Scenario,
  monitorOptions: MonitorOptions = {},
): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pfb-'));
  const net = await createTestNet({ prefix: 'pfb', v6: scenario.v6 });
  let release = (): void => undefined;
  try {
    const device = net.a.device;
    const reference = await startReferenceCapture(net, undefined, device, join(dir, 'ref.pcap'), {
      snaplen: 96,
    });
    const monitor = await startMonitorProcess(net, {
      devices: [device],
      captureTimeoutMs: 0,
      ...monitorOptions,
    });
    let nethogs: NethogsProcess | undefined;
    if (scenario.pidflowOnly !== true) nethogs = await startNethogs(net, device);
    await sleep(WARMUP_MS);
    const before = await monitor.snapshot();
    const trafficStart = Date.now();
    const traffic = await scenario.run(net);
    const trafficMs = Date.now() - trafficStart;
    release = traffic.release;
    await sleep(SETTLE_MS);
    const snapshot = await monitor.snapshot();
    const pidflowUsage = monitor.usage();
    const nethogsUsage = nethogs?.usage();
    release();
    await Promise.all([monitor.stop(), nethogs?.stop()]);
    const ref = await reference.stop(500);

    let truth: Map<number, ProcessTruth>;
    let truthSource: RunResult['truthSource'] = 'pcap';
    if (scenario.udpOnly) {
      truth = truthFromUdpReports(traffic.reports);
      truthSource = 'worker counts';
    } else if (ref.droppedByKernel > 0 && traffic.fallbackTruth !== undefined) {
      truth = traffic.fallbackTruth;
      truthSource = 'interface counters';
    } else {
      truth = truthByProcess(summarizePcapFile(ref.path).flows.values(), traffic.reports).processes;
    }
    const ipTruth = new Map(
      [...truth].map(([pid, t]) => [pid, { sent: t.sentBytes, received: t.receivedBytes }]),
    );
    const wireTruth = new Map(
      [...truth].map(([pid, t]) => [pid, { sent: t.sentWireBytes, received: t.receivedWireBytes }]),
    );
    const pidflowMeasured = new Map(snapshot.processes.map((p) => [p.pid, p]));
    const allPids = traffic.reports.map((r) => r.pid);
    const pidflowHost = score(traffic.hostPids, ipTruth, pidflowMeasured);
    const pidflowAll = score(allPids, ipTruth, pidflowMeasured);
    let nethogsScore: ToolScore | undefined;
    if (nethogs !== undefined) {
      const measured = nethogs.byPid();
      const s = score(traffic.hostPids, wireTruth, measured);
      const attributed = [...measured.values()].reduce(
        (a, m) => a + m.sentBytes + m.receivedBytes,
        0,
      );
      const unknown = nethogs.unknownBytes();
      nethogsScore = {
        ...s,
        unknownShare: attributed + unknown === 0 ? 0 : unknown / (attributed + unknown),
        cpuSeconds: nethogsUsage?.cpuSeconds ?? Number.NaN,
        peakRssBytes: nethogsUsage?.peakRssBytes ?? Number.NaN,
      };
    }
    return {
      pidflow: {
        ...pidflowHost,
        unknownShare: snapshot.totalBytes === 0 ? 0 : snapshot.unknownBytes / snapshot.totalBytes,
        cpuSeconds: pidflowUsage?.cpuSeconds ?? Number.NaN,
        peakRssBytes: pidflowUsage?.peakRssBytes ?? Number.NaN,
      },
      pidflowAllRightShare: pidflowAll.rightShare,
      nethogs: nethogsScore,
      truthSource,
      referenceDropped: ref.droppedByKernel,
      pidflowKernelDropped: snapshot.kernelDroppedPackets,
      pidflowQueueDropped: snapshot.queueDroppedPackets,
      truthPackets: traffic.hostPids.reduce((sum, pid) => {
        const t = truth.get(pid);
        return sum + (t === undefined ? 0 : t.sentPackets + t.receivedPackets);
      }, 0),
      trafficMs,
      pidflowMemory: snapshot.memory,
      pidflowMemoryBefore: before.memory,
      pidflowRetry: {
        resolvedFlows: snapshot.retryResolvedFlows,
        droppedFlows: snapshot.retryDroppedFlows,
      },
    };
  } finally {
    release();
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
