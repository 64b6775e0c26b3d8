// Builds the /metrics text from a snapshot (its stats included) and the server's series table.
// Every metric is listed in docs/metrics.md; keep the two in step.

import type { ContainerInfo, MonitorStats, Snapshot } from '../monitor/types.js';
import type { MonotonicCounters } from './monotonic-counters.js';
import type { ProcessSeriesTable, SeriesCounters } from './process-series.js';
import { PrometheusWriter, type Labels, type MetricType } from './prometheus-text.js';

/** What one scrape renders. */
export interface MetricsInput {
  readonly snapshot: Snapshot;
  readonly series: ProcessSeriesTable;
  /** Offsets that keep counters read from stats monotonic. */
  readonly monotonic: MonotonicCounters;
  /** False once the monitor has ended. */
  readonly isUp: boolean;
  readonly version: string;
}

const SERIES_FIELDS = [
  ['sent_bytes_total', 'sentBytes', 'IP-level bytes sent'],
  ['received_bytes_total', 'receivedBytes', 'IP-level bytes received'],
  ['sent_packets_total', 'sentPackets', 'packets sent'],
  ['received_packets_total', 'receivedPackets', 'packets received'],
] as const;

const EVICTED_TABLES = [
  'connections',
  'containers',
  'flows',
  'processes',
  'remotes',
  'unknown',
] as const;

/** Render the exposition text of one scrape. */
export function renderMetrics(input: MetricsInput): string {
  const { snapshot, series, monotonic } = input;
  const stats = snapshot.stats;
  const w = new PrometheusWriter();
  // Counters read from the monitor go through the offsets: a source that drops never makes
  // the exported value drop.
  const counter = (name: string, help: string, value: number): void => {
    w.single(name, 'counter', help, monotonic.value(name, value));
  };
  const labelled = (
    name: string,
    type: MetricType,
    help: string,
    samples: readonly { labels: Labels; value: number }[],
  ): void => {
    w.family(name, type, help);
    for (const s of samples) {
      const key = `${name}${s.labels.map(([k, v]) => `\0${k}\0${v}`).join('')}`;
      w.sample(name, type === 'counter' ? monotonic.value(key, s.value) : s.value, s.labels);
    }
  };

  w.single(
    'pidflow_up',
    'gauge',
    '1 while the monitor runs, 0 once it has ended.',
    input.isUp ? 1 : 0,
  );
  w.family('pidflow_build_info', 'gauge', 'Always 1; the version label says which pidflow runs.');
  w.sample('pidflow_build_info', 1, [['version', input.version]]);

  const processSeries = series.processSeries();
  for (const [suffix, field, what] of SERIES_FIELDS) {
    const name = `pidflow_process_${suffix}`;
    w.family(
      name,
      'counter',
      `${capitalise(what)} by processes, summed by comm and container (beyond the series limit: comm="other").`,
    );
    for (const s of processSeries) w.sample(name, s[field], processLabels(s));
  }
  const containerSeries = series.containerSeries();
  for (const [suffix, field, what] of SERIES_FIELDS) {
    if (field === 'sentPackets' || field === 'receivedPackets') continue;
    const name = `pidflow_container_${suffix}`;
    w.family(
      name,
      'counter',
      `${capitalise(what)} by processes of each container (container="" is the host).`,
    );
    for (const s of containerSeries) w.sample(name, s[field], [['container', s.container]]);
  }
  w.family(
    'pidflow_container_info',
    'gauge',
    'Always 1 per container series: its names from the host (join on container). Values are data from the container owners, cut to 253 characters (images 512).',
  );
  for (const s of containerSeries) {
    if (s.info !== undefined) w.sample('pidflow_container_info', 1, containerInfoLabels(s.info));
  }
  const counts = series.seriesCounts();
  w.family(
    'pidflow_series',
    'gauge',
    'Series exported now per family table (process: the pidflow_process_* label sets; container: pidflow_container_*), other included.',
  );
  w.sample('pidflow_series', counts.process, [['table', 'process']]);
  w.sample('pidflow_series', counts.container, [['table', 'container']]);
  w.single(
    'pidflow_series_limit',
    'gauge',
    'Named series per family table at most; beyond it, traffic goes to "other".',
    counts.limit,
  );
  w.single(
    'pidflow_series_expired_total',
    'counter',
    'Series removed after their processes or containers were gone for the grace period.',
    counts.expired,
  );
  w.single(
    'pidflow_process_series_folded_total',
    'counter',
    'Process entries counted under comm="other" because the series limit was reached.',
    series.foldedEntries,
  );

  const unknown = snapshot.unknownTotals.total;
  counter(
    'pidflow_unknown_sent_bytes_total',
    'IP-level bytes sent by sockets no process could be found for.',
    unknown.sentBytes,
  );
  counter(
    'pidflow_unknown_received_bytes_total',
    'IP-level bytes received by sockets no process could be found for.',
    unknown.receivedBytes,
  );
  counter(
    'pidflow_unknown_sent_packets_total',
    'Packets sent by sockets no process could be found for.',
    unknown.sentPackets,
  );
  counter(
    'pidflow_unknown_received_packets_total',
    'Packets received by sockets no process could be found for.',
    unknown.receivedPackets,
  );
  w.single(
    'pidflow_tracked_processes',
    'gauge',
    'Process entries tracked by the monitor now (exited ones included).',
    snapshot.processes.length,
  );

  renderStats(stats, counter, labelled, w);
  return w.text();
}

function renderStats(
  stats: MonitorStats,
  counter: (name: string, help: string, value: number) => void,
  labelled: (
    name: string,
    type: MetricType,
    help: string,
    samples: readonly { labels: Labels; value: number }[],
  ) => void,
  w: PrometheusWriter,
): void {
  counter(
    'pidflow_seen_packets_total',
    'IP packets delivered by capture plus those the queue dropped.',
    stats.seen.packets,
  );
  counter('pidflow_seen_bytes_total', 'IP-level bytes of the packets seen.', stats.seen.bytes);
  counter(
    'pidflow_attributed_packets_total',
    'Packets whose local socket owner was found.',
    stats.attributed.packets,
  );
  counter(
    'pidflow_attributed_bytes_total',
    'IP-level bytes of the attributed packets.',
    stats.attributed.bytes,
  );
  counter(
    'pidflow_unknown_packets_total',
    'Packets accounted as unknown after their retries.',
    stats.unknown.packets,
  );
  counter(
    'pidflow_unknown_bytes_total',
    'IP-level bytes of the unknown packets.',
    stats.unknown.bytes,
  );
  counter(
    'pidflow_duplicate_packets_total',
    'Copies of packets already counted on another captured device (not in seen).',
    stats.duplicate.packets,
  );
  counter(
    'pidflow_duplicate_bytes_total',
    'IP-level bytes of the packet copies already counted on another device.',
    stats.duplicate.bytes,
  );
  if (stats.nat !== undefined) {
    w.single(
      'pidflow_conntrack_available',
      'gauge',
      '1 while conntrack can be read to undo NAT, 0 in degraded mode.',
      stats.nat.available ? 1 : 0,
    );
    counter(
      'pidflow_conntrack_lookups_total',
      'Conntrack requests sent to the kernel (one or two per new flow).',
      stats.nat.lookups,
    );
    counter(
      'pidflow_conntrack_cache_misses_total',
      'Flows whose NAT translation was not cached.',
      stats.nat.cacheMisses,
    );
    counter(
      'pidflow_conntrack_cache_evictions_total',
      'Cached NAT translations pushed out because the cache was full.',
      stats.nat.cacheEvictions,
    );
    counter(
      'pidflow_conntrack_translated_flows_total',
      'Flows found translated by NAT.',
      stats.nat.translatedFlows,
    );
  }
  w.single(
    'pidflow_pending_packets',
    'gauge',
    'Packets waiting in the retry buffer for their socket.',
    stats.pending.packets,
  );
  counter(
    'pidflow_other_protocol_packets_total',
    'Packets of protocols not selected (ICMP...), seen but not accounted to processes.',
    stats.otherProtocol.packets,
  );
  counter(
    'pidflow_queue_dropped_packets_total',
    'Packets dropped because JavaScript fell behind the capture threads (queueLimit).',
    stats.queueDropped.packets,
  );

  const devices = [...stats.devices].sort((a, b) =>
    a.device < b.device ? -1 : a.device > b.device ? 1 : 0,
  );
  const perDevice = (
    name: string,
    help: string,
    pick: (d: MonitorStats['devices'][number]) => number,
  ): void =>
    labelled(
      name,
      'counter',
      help,
      devices.map((d) => ({ labels: [['device', d.device]], value: pick(d) })),
    );
  perDevice(
    'pidflow_kernel_dropped_packets_total',
    'Packets the kernel dropped before pidflow saw them (pcap_stats ps_drop).',
    (d) => d.kernelDroppedPackets,
  );
  perDevice(
    'pidflow_interface_dropped_packets_total',
    'Packets the interface dropped (pcap_stats ps_ifdrop).',
    (d) => d.interfaceDroppedPackets,
  );
  perDevice(
    'pidflow_captured_packets_total',
    'Packets captured on the device.',
    (d) => d.capturedPackets,
  );
  perDevice(
    'pidflow_non_ip_packets_total',
    'Captured packets that were not IPv4 or IPv6.',
    (d) => d.nonIpPackets,
  );
  const malformed: { labels: Labels; value: number }[] = [];
  for (const d of devices) {
    for (const kind of Object.keys(d.malformedByKind).sort()) {
      malformed.push({
        labels: [
          ['device', d.device],
          ['kind', kind],
        ],
        value: d.malformedByKind[kind] ?? 0,
      });
    }
  }
  labelled(
    'pidflow_malformed_packets_total',
    'counter',
    'Packets with malformed headers, counted and skipped, by kind.',
    malformed,
  );

  const r = stats.retry;
  w.single(
    'pidflow_retry_pending_flows',
    'gauge',
    'Flows waiting in the retry buffer for their socket to appear in /proc.',
    r.pendingFlows,
  );
  w.single(
    'pidflow_retry_limit_flows',
    'gauge',
    'Capacity of the retry buffer (retryBufferFlows).',
    r.limitFlows,
  );
  counter(
    'pidflow_retry_dropped_flows_total',
    'Flows dropped because the retry buffer was full.',
    r.droppedFlows,
  );
  counter(
    'pidflow_retry_dropped_packets_total',
    'Packets of flows dropped because the retry buffer was full.',
    r.droppedPackets,
  );
  counter(
    'pidflow_retry_inferred_flows_total',
    'Flows whose socket no scan saw, attributed to the one live process talking to the same peer.',
    r.inferredFlows,
  );
  counter('pidflow_retry_inferred_packets_total', 'Packets of inferred flows.', r.inferredPackets);
  counter(
    'pidflow_retry_resolved_flows_total',
    'Flows whose socket was found on a retry.',
    r.resolvedFlows,
  );
  counter(
    'pidflow_retry_expired_flows_total',
    'Flows given up on after their retries (accounted as unknown).',
    r.expiredFlows,
  );

  const s = stats.scans;
  counter('pidflow_scans_total', 'Scans of the /proc socket tables.', s.count);
  counter(
    'pidflow_scans_on_demand_total',
    'Scans started early because unknown flows appeared.',
    s.onDemand,
  );
  counter(
    'pidflow_scans_rate_limited_total',
    'On-demand scans skipped by the rate limit.',
    s.rateLimited,
  );
  w.single(
    'pidflow_scan_duration_seconds',
    'gauge',
    'Duration of the last /proc scan.',
    s.lastDurationMs / 1000,
  );
  w.single(
    'pidflow_scan_duration_max_seconds',
    'gauge',
    'Longest /proc scan so far.',
    s.maxDurationMs / 1000,
  );
  w.single(
    'pidflow_scan_duration_median_seconds',
    'gauge',
    'Median duration of the recent /proc scans.',
    s.medianDurationMs / 1000,
  );
  counter(
    'pidflow_scans_skipped_quiet_total',
    'Periodic scans skipped because nothing changed (socket events on, no socket counter moved).',
    s.skippedQuiet,
  );
  w.single(
    'pidflow_scan_block_max_seconds',
    'gauge',
    'Longest stretch a scan held the event loop, wall time.',
    s.maxBlockMs / 1000,
  );
  w.single(
    'pidflow_scan_block_cpu_max_seconds',
    'gauge',
    'CPU of the longest stretch a scan held the event loop.',
    s.maxBlockCpuMs / 1000,
  );
  w.single(
    'pidflow_scan_owners_from_kernel',
    'gauge',
    '1 when the last scan had socket owners from the kernel (BPF iterator), 0 when it walked /proc/<pid>/fd.',
    s.ownerSource === 'kernel' ? 1 : 0,
  );
  w.single('pidflow_scan_sockets', 'gauge', 'Sockets found by the last scan.', s.sockets);
  w.single('pidflow_scan_processes', 'gauge', 'Processes found by the last scan.', s.processes);
  w.single(
    'pidflow_scan_namespaces',
    'gauge',
    'Network namespaces found by the last scan.',
    s.namespaces,
  );

  const f = stats.flows;
  w.single('pidflow_flows', 'gauge', 'Flows in the flow table now.', f.tracked);
  counter(
    'pidflow_flows_expired_total',
    'Flows removed from the flow table after being idle or closed.',
    f.expired,
  );
  counter(
    'pidflow_flow_overflow_packets_total',
    'Packets of new flows that found the flow table full (accounted as unknown).',
    f.overflowPackets,
  );
  w.single(
    'pidflow_attribution_cached_flows',
    'gauge',
    'Flow to owner attributions remembered.',
    f.attributionCached,
  );

  labelled(
    'pidflow_evicted_total',
    'counter',
    'Entries evicted from a bounded table, by table.',
    // evicted.flows is the attributor's flow cache (the same count as flows.attributionEvicted).
    EVICTED_TABLES.map((table) => ({
      labels: [['table', table]] as Labels,
      value: stats.evicted[table],
    })),
  );

  const names = stats.containerNames;
  if (names !== undefined) {
    w.single(
      'pidflow_container_names_cached',
      'gauge',
      'Containers whose names are cached (at most 4096).',
      names.cached,
    );
    w.single(
      'pidflow_container_names_unresolved',
      'gauge',
      'Cached containers no state file on this host named (yet).',
      names.unresolved,
    );
    counter(
      'pidflow_container_names_evicted_total',
      'Containers dropped from the name cache to stay within its bound.',
      names.evicted,
    );
    labelled(
      'pidflow_container_state_files_rejected_total',
      'counter',
      'Container runtime state files not used for names, by reason (malformed, oversized, denied).',
      (
        [
          ['malformed', names.malformedFiles],
          ['oversized', names.oversizedFiles],
          ['denied', names.deniedFiles],
        ] as const
      ).map(([reason, value]) => ({ labels: [['reason', reason]] as Labels, value })),
    );
  }

  if (stats.pcap !== undefined) {
    counter(
      'pidflow_pcap_written_packets_total',
      'Packets written to the pcap file.',
      stats.pcap.writtenPackets,
    );
    counter(
      'pidflow_pcap_written_bytes_total',
      'Bytes written to the pcap file(s).',
      stats.pcap.writtenBytes,
    );
    w.single(
      'pidflow_pcap_files',
      'gauge',
      'pcap files written (rotation included).',
      stats.pcap.files,
    );
    counter(
      'pidflow_pcap_removed_files_total',
      'Old pcap files deleted to keep at most --pcap-files of them.',
      stats.pcap.removedFiles,
    );
    counter(
      'pidflow_pcap_remove_failures_total',
      'Old pcap files that could not be deleted (writing goes on).',
      stats.pcap.removeFailures,
    );
    w.single(
      'pidflow_pcap_error',
      'gauge',
      '1 when writing the pcap file failed.',
      stats.pcap.error === undefined ? 0 : 1,
    );
  }
}

function processLabels(s: SeriesCounters): Labels {
  return [
    ['comm', s.comm],
    ['container', s.container],
  ];
}

function containerInfoLabels(info: ContainerInfo): Labels {
  return [
    ['container', info.id],
    ['runtime', info.runtime],
    ['container_name', info.name],
    ['image', info.image],
    ['compose_project', info.composeProject],
    ['compose_service', info.composeService],
    ['namespace', info.pod?.namespace ?? ''],
    ['pod', info.pod?.name ?? ''],
    ['pod_uid', info.pod?.uid ?? ''],
    ['pod_container', info.pod?.container ?? ''],
  ];
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
