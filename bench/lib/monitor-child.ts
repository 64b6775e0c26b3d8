// Runs createMonitor() in a child process of its own, so its CPU time and peak RSS can be read
// from /proc/<pid> and its cgroup limits never touch the parent. Driven by monitor-process.ts:
// argv[2] holds the MonitorOptions as JSON; stdin takes `snapshot` and `stop` lines.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { writeHeapSnapshot } from 'node:v8';
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { createMonitor } from '../../src/index.js';
import type { Monitor, MonitorOptions } from '../../src/index.js';
import type { ChildMessage, MemoryBreakdown, ProcessTotals } from './monitor-protocol.js';

/** Hard bound on the child's life whatever the parent does. */
const MAX_LIFE_MS = 300_000;

function emit(message: ChildMessage): void {
  process.stdout.write(JSON.stringify(message) + '\n');
}

function memoryBreakdown(): MemoryBreakdown {
  const m = process.memoryUsage();
  return {
    rss: m.rss,
    heapTotal: m.heapTotal,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
}

function snapshotMessage(monitor: Monitor): ChildMessage {
  const snapshot = monitor.snapshot();
  const processes: ProcessTotals[] = snapshot.processes.map((p) => ({
    pid: p.process.pid,
    comm: p.process.comm,
    netns: p.process.netns,
    sentBytes: p.total.sentBytes,
    receivedBytes: p.total.receivedBytes,
    sentPackets: p.total.sentPackets,
    receivedPackets: p.total.receivedPackets,
  }));
  const stats = monitor.stats();
  return {
    type: 'snapshot',
    processes,
    totalBytes: snapshot.totals.total.sentBytes + snapshot.totals.total.receivedBytes,
    unknownBytes:
      snapshot.unknownTotals.total.sentBytes + snapshot.unknownTotals.total.receivedBytes,
    kernelDroppedPackets: stats.kernelDroppedPackets,
    queueDroppedPackets: stats.queueDropped.packets,
    seenPackets: stats.seen.packets,
    seenBytes: stats.seen.bytes,
    duplicateBytes: stats.duplicate.bytes,
    natLookups: stats.nat?.lookups ?? 0,
    natLookupMs: stats.nat?.lookupMs ?? 0,
    natTranslatedFlows: stats.nat?.translatedFlows ?? 0,
    retryResolvedFlows: stats.retry.resolvedFlows,
    retryDroppedFlows: stats.retry.droppedFlows,
    memory: memoryBreakdown(),
  };
}

/**
 * PIDFLOW_BENCH_MEMLOG=1: where the resident memory is at each snapshot request: node's own
 * counters, the /proc status lines, and every mapping with more than 2 MB resident.
 */
function memoryReport(): string {
  // Resident kB per mapped file ([anon] and [heap] per mapping, files summed over their mappings).
  const byName = new Map<string, number>();
  const big: string[] = [];
  let name = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-/.test(line)) name = line.split(/\s+/).slice(5).join(' ') || '[anon]';
    const rss = /^Rss:\s+(\d+)/.exec(line);
    if (rss === null) continue;
    if (name.startsWith('[')) {
      if (Number(rss[1]) > 2048) big.push(`${rss[1]} kB ${name}`);
    } else byName.set(name, (byName.get(name) ?? 0) + Number(rss[1]));
  }
  for (const [file, kb] of byName) if (kb > 1024) big.push(`${kb} kB ${file}`);
  const status = readFileSync('/proc/self/status', 'utf8').match(/^(VmHWM|RssAnon|RssFile).*$/gm);
  return (
    `memory ${JSON.stringify(process.memoryUsage())} ${(status ?? []).join(' ')}\n` +
    `at the highest RSS sampled (every 100 ms): ${JSON.stringify(peakSample)}\n` +
    `mappings ${big.join(', ')}\n`
  );
}

/** PIDFLOW_BENCH_MEMLOG=1: process.memoryUsage() at the highest RSS seen, sampled every 100 ms. */
let peakSample: NodeJS.MemoryUsage | undefined;

function samplePeak(): void {
  const m = process.memoryUsage();
  if (peakSample === undefined || m.rss > peakSample.rss) peakSample = m;
}

/**
 * PIDFLOW_BENCH_HEAPPROF=<dir>: V8's sampling heap profiler from the start, written to <dir> at
 * each snapshot request. It keeps the objects the major GC collected too (not those the minor GC
 * collected): what was promoted to the old generation and died there, next to what is live.
 */
let heapProfiler: Session | undefined;

function startHeapProfile(): void {
  heapProfiler = new Session();
  heapProfiler.connect();
  heapProfiler.post('HeapProfiler.startSampling', {
    samplingInterval: 16_384,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: false,
  } as object);
}

function writeHeapProfile(dir: string): void {
  heapProfiler?.post('HeapProfiler.getSamplingProfile', (error, result) => {
    if (error === null) {
      writeFileSync(
        `${dir}/monitor-${process.pid}-${Date.now()}.heapprofile`,
        JSON.stringify(result.profile),
      );
    }
  });
}

async function main(): Promise<void> {
  if (process.env['PIDFLOW_BENCH_MEMLOG'] === '1') setInterval(samplePeak, 100).unref();
  const heapProfileDir = process.env['PIDFLOW_BENCH_HEAPPROF'];
  if (heapProfileDir !== undefined && heapProfileDir !== '') startHeapProfile();
  const options = JSON.parse(process.argv[2] ?? '{}') as MonitorOptions;
  const life = setTimeout(() => process.exit(3), MAX_LIFE_MS);
  life.unref();
  const monitor = await createMonitor(options);
  const warnings: string[] = [];
  monitor.on('warning', (message) => warnings.push(message));
  monitor.start();
  emit({ type: 'ready', pid: process.pid, devices: [...monitor.devices] });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await monitor.stop();
    emit({ type: 'stopped', warnings });
    process.exit(0);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (line === 'snapshot') {
      // PIDFLOW_BENCH_HEAPSNAPSHOT=<dir>: a V8 heap snapshot at each snapshot request, to see
      // where the monitor's memory goes (docs/benchmarks.md).
      const dir = process.env['PIDFLOW_BENCH_HEAPSNAPSHOT'];
      if (dir !== undefined && dir !== '')
        writeHeapSnapshot(`${dir}/monitor-${process.pid}-${Date.now()}.heapsnapshot`);
      if (heapProfileDir !== undefined && heapProfileDir !== '') writeHeapProfile(heapProfileDir);
      emit(snapshotMessage(monitor));
      if (process.env['PIDFLOW_BENCH_MEMLOG'] === '1') process.stderr.write(memoryReport());
    } else if (line === 'stop') void stop();
  });
  lines.on('close', () => void stop());
  const end = await monitor.done;
  if (!stopping) emit({ type: 'ended', reason: end.reason, error: end.error?.message ?? '' });
}

main().catch((error: unknown) => {
  emit({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exit(2);
});
