// The pcap writer's metrics in /metrics: present only when a pcap file is written, with the
// values of the stats they come from (docs/metrics.md lists them).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MonotonicCounters } from './monotonic-counters.js';
import { ProcessSeriesTable } from './process-series.js';
import { renderMetrics } from './render-metrics.js';
import type { MonitorStats } from '../monitor/types.js';
import { makeSnapshot, makeStats } from '../../test/helpers/fake-monitor.js';

function render(pcap: MonitorStats['pcap'], monotonic = new MonotonicCounters()): string {
  return renderMetrics({
    snapshot: makeSnapshot({ processes: [], stats: makeStats({ pcap }) }),
    series: new ProcessSeriesTable(),
    monotonic,
    isUp: true,
    version: '9.9.9',
  });
}

function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

const PCAP = {
  path: '/var/tmp/p.pcap',
  writtenPackets: 2000,
  writtenBytes: 516_024,
  files: 8,
  removedFiles: 5,
  removeFailures: 1,
  error: undefined,
  removeError: 'cannot remove old pcap file /var/tmp/p.pcap.1: Is a directory',
};

test('/metrics exports the pcap writer counters, removed and failed removals included', () => {
  const text = render(PCAP);
  assert.equal(sample(text, 'pidflow_pcap_written_packets_total'), 2000);
  assert.equal(sample(text, 'pidflow_pcap_written_bytes_total'), 516_024);
  assert.equal(sample(text, 'pidflow_pcap_files'), 8);
  assert.equal(sample(text, 'pidflow_pcap_removed_files_total'), 5);
  assert.equal(sample(text, 'pidflow_pcap_remove_failures_total'), 1);
  assert.equal(sample(text, 'pidflow_pcap_error'), 0);
  assert.match(text, /# TYPE pidflow_pcap_removed_files_total counter\n/);
  assert.match(text, /# TYPE pidflow_pcap_remove_failures_total counter\n/);
});

test('/metrics has no pcap metrics when no pcap file is written', () => {
  assert.doesNotMatch(render(undefined), /pidflow_pcap_/);
});
