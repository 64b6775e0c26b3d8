// Attribution scan cost: 1,000 processes holding 10,000 sockets, as a fake /proc tree on tmpfs
// (real syscalls through NodeProcFs) and, as root, as real processes in a namespace of our own.
// Prints medians of full vs incremental scans and the lookup rate; as root, the cost table of
// issue 11 (idle agent, rebuild, event-loop block, churn, memory) for /proc/net text against
// sock_diag in the same run.
// Usage: npm run build && node dist/bench/attribution-scan.js [--tree-only | --real-only] [--no-memory]
//   [--only idle|scans|churn|memory]
//        node dist/bench/attribution-scan.js --memory-runs N   (root: the memory row alone, on the
//        1,000-process host, the monitor's default options only, N runs and their median)

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { Attributor } from '../src/attribute/attributor.js';
import { NodeProcFs } from '../src/attribute/procfs.js';
import type { ProcFs } from '../src/attribute/procfs.js';
import type { FlowCounters, FlowTuple } from '../src/attribute/types.js';
import { systemClock } from '../src/clock.js';
import { loadAddon } from '../src/capture/addon.js';
import { SockDiagTables } from '../src/attribute/sock-diag.js';
import type { SocketTableReader } from '../src/attribute/sock-diag.js';
import { KernelSocketOwners, hasSocketOwners } from '../src/attribute/kernel-owners.js';
import type { SocketOwnerSource } from '../src/attribute/kernel-owners.js';
import type { MonitorOptions } from '../src/index.js';
import { createTestNet } from '../test/helpers/netns.js';
import { startMonitorProcess } from './lib/monitor-process.js';
import { runScenario } from './lib/run-scenario.js';
import { MEMORY_SCENARIO, churnScenario } from './lib/scenarios.js';

const PROCESSES = 1000;
const SOCKETS_PER_PROCESS = 10;
const NAMESPACES = 10;
const SCANS = 15;
/** Steady-state scans measured: three rounds of the 10 refresh groups. */
const STEADY_SCANS = 30;
const LOOKUPS = 200_000;
const CHILD_LIFETIME_S = 1200;
/** Idle agent: warm-up, then CPU over this long. PIDFLOW_BENCH_IDLE_S overrides (0: skip). */
const IDLE_SECONDS = Number(process.env.PIDFLOW_BENCH_IDLE_S ?? 60);
const SKIP_IDLE = IDLE_SECONDS <= 0;
const IDLE_WARMUP_MS = 15_000;
const CHURN_PER_SECOND = 1000;
const CHURN_SECONDS = 10;
const SKIP_MEMORY = process.argv.includes('--no-memory');
/** `--memory-runs N`: the memory row alone (on the big host, default options), N times. */
const MEMORY_RUNS_ARG = argValue('--memory-runs');
const MEMORY_RUNS = Number(MEMORY_RUNS_ARG);
/** `--only idle|scans|churn|memory`: one group of rows (the big host is started for all but idle). */
const ONLY = ((): string | undefined => {
  const at = process.argv.indexOf('--only');
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || !['idle', 'scans', 'churn', 'memory'].includes(value)) {
    throw new Error('--only needs one of idle, scans, churn, memory');
  }
  return value;
})();
const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

function argValue(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at < 0 ? undefined : process.argv[at + 1];
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0').toUpperCase();
}

/** A /proc tree on tmpfs: PROCESSES processes over NAMESPACES namespaces, 10 TCP sockets each. */
export function buildTree(root: string): void {
  const perNs = PROCESSES / NAMESPACES;
  const tables = new Map<number, string[]>();
  for (let i = 0; i < PROCESSES; i++) {
    const pid = 1000 + i;
    const ns = 4026532000 + Math.floor(i / perNs);
    const d = join(root, 'proc', String(pid));
    mkdirSync(join(d, 'fd'), { recursive: true });
    mkdirSync(join(d, 'ns'));
    mkdirSync(join(d, 'net'));
    writeFileSync(
      join(d, 'stat'),
      `${pid} (worker-${i}) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 ${5000 + pid} 1 1 1 1 1 0\n`,
    );
    writeFileSync(join(d, 'comm'), `worker-${i}\n`);
    writeFileSync(join(d, 'cmdline'), `worker\0--id\0${i}\0`);
    writeFileSync(join(d, 'status'), `Name:\tworker\nUid:\t0\t0\t0\t0\n`);
    writeFileSync(join(d, 'cgroup'), '0::/system.slice/bench.service\n');
    symlinkSync('/usr/bin/worker', join(d, 'exe'));
    symlinkSync(`net:[${ns}]`, join(d, 'ns', 'net'));
    for (let fd = 0; fd < 3; fd++) symlinkSync('/dev/null', join(d, 'fd', String(fd)));
    const lines = tables.get(ns) ?? [];
    for (let s = 0; s < SOCKETS_PER_PROCESS; s++) {
      const inode = 100_000 + i * SOCKETS_PER_PROCESS + s;
      symlinkSync(`socket:[${inode}]`, join(d, 'fd', String(3 + s)));
      const port = 10_000 + ((i % perNs) * SOCKETS_PER_PROCESS + s);
      lines.push(
        `${String(lines.length).padStart(4)}: 0100007F:${hex4(port)} 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1\n`,
      );
    }
    tables.set(ns, lines);
  }
  for (let n = 0; n < NAMESPACES; n++) {
    const pid = 1000 + n * perNs;
    const ns = 4026532000 + n;
    const net = join(root, 'proc', String(pid), 'net');
    writeFileSync(join(net, 'tcp'), HEADER + (tables.get(ns) ?? []).join(''));
    for (const f of ['tcp6', 'udp', 'udp6']) writeFileSync(join(net, f), HEADER);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1] ?? 0;
}

interface ScanFigures {
  firstMs: number;
  /** CPU of the first scan (every process read, every fd directory walked). */
  firstCpuMs: number;
  fullMedianMs: number;
  /** Incremental scans while every process is young (stat re-read each scan). */
  youngMedianMs: number;
  /** Incremental scans at one per second once processes settled (defaults: full every 300th). */
  steadyMedianMs: number;
  maxBlockMs: number;
  /** CPU of the longest stretch by CPU (not inflated by preemption). */
  maxBlockCpuMs: number;
  processes: number;
  sockets: number;
  namespaces: number;
  fdDirsRead: number;
  fullCpuMs: number;
  youngCpuMs: number;
  steadyCpuMs: number;
  steadyMeanCpuMs: number;
  /** The same with a full scan every 10th (the schedule before issue 11). */
  steadyFullEvery10MeanCpuMs: number;
}

const threadCpuMs = ((): (() => number) | undefined => {
  const addon = loadAddon();
  return addon.threadCpuMs === undefined ? undefined : () => addon.threadCpuMs!();
})();

async function measureScans(
  procFs: ProcFs,
  socketTables?: SocketTableReader,
  socketOwners?: SocketOwnerSource,
): Promise<ScanFigures> {
  // Scans run back to back here; the steady-state series moves the attributor's clock 1 s per
  // scan, as the periodic timer would, so that processes settle (see SETTLED_PROCESS_MS in
  // src/attribute/process-cache.ts).
  let offsetMs = 0;
  const clock = { ...systemClock, monotonicMs: () => performance.now() + offsetMs };
  const make = (fullScanEvery: number): Attributor =>
    new Attributor({
      procFs,
      clock,
      localAddresses: new Set(['127.0.0.1']),
      fullScanEvery,
      syncIntervalMs: 3_600_000,
      onResolved: () => undefined,
      socketTables,
      socketOwners,
      // The event loop thread's CPU: what blocks it (GC threads run beside it).
      ...(threadCpuMs === undefined ? {} : { cpuMs: threadCpuMs }),
    });
  let cpuMs = 0;
  const time = async (attributor: Attributor): Promise<number> => {
    const start = performance.now();
    const cpu = process.cpuUsage();
    await attributor.scanNow();
    const used = process.cpuUsage(cpu);
    cpuMs = (used.user + used.system) / 1000;
    return performance.now() - start;
  };
  const series = async (
    attributor: Attributor,
    stepMs: number,
    count = SCANS,
  ): Promise<{ wall: number[]; cpu: number[] }> => {
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < count; i++) {
      offsetMs += stepMs;
      wall.push(await time(attributor));
      cpu.push(cpuMs);
    }
    return { wall, cpu };
  };
  const full = make(1);
  const firstMs = await time(full); // start() does the same first scan
  const firstCpuMs = cpuMs;
  const fullSeries = await series(full, 0);
  const incremental = make(1_000_000);
  await time(incremental);
  const youngSeries = await series(incremental, 0);
  // Before issue 11, every 10th scan was full: the same series on that schedule.
  const before = make(10);
  await time(before);
  for (let i = 0; i < 12; i++) {
    offsetMs += 1000;
    await time(before);
  }
  const beforeSeries = await series(before, 1000, STEADY_SCANS);
  before.stop();
  // The defaults: a full scan only every 300th, settled processes checked in 10 groups.
  const steady = make(300);
  await time(steady);
  for (let i = 0; i < 12; i++) {
    offsetMs += 1000;
    await time(steady);
  }
  const steadySeries = await series(steady, 1000, STEADY_SCANS);
  const stats = steady.stats().scans;
  const maxBlockMs = Math.max(
    stats.maxBlockMs,
    full.stats().scans.maxBlockMs,
    incremental.stats().scans.maxBlockMs,
  );
  const maxBlockCpuMs = Math.max(
    stats.maxBlockCpuMs,
    full.stats().scans.maxBlockCpuMs,
    incremental.stats().scans.maxBlockCpuMs,
  );
  full.stop();
  incremental.stop();
  steady.stop();
  return {
    firstMs,
    firstCpuMs,
    fullMedianMs: median(fullSeries.wall),
    youngMedianMs: median(youngSeries.wall),
    steadyMedianMs: median(steadySeries.wall),
    maxBlockMs,
    maxBlockCpuMs,
    processes: stats.processes,
    sockets: stats.sockets,
    namespaces: stats.namespaces,
    fdDirsRead: stats.fdDirsRead,
    fullCpuMs: median(fullSeries.cpu),
    youngCpuMs: median(youngSeries.cpu),
    steadyCpuMs: median(steadySeries.cpu),
    steadyMeanCpuMs: steadySeries.cpu.reduce((a, b) => a + b, 0) / steadySeries.cpu.length,
    steadyFullEvery10MeanCpuMs:
      beforeSeries.cpu.reduce((a, b) => a + b, 0) / beforeSeries.cpu.length,
  };
}

function print(label: string, f: ScanFigures): void {
  console.log(
    `${label}: ${f.processes} processes, ${f.sockets} sockets, ${f.namespaces} namespaces\n` +
      `  wall median: first scan ${f.firstMs.toFixed(1)} ms, full ${f.fullMedianMs.toFixed(1)} ms, ` +
      `incremental (young processes) ${f.youngMedianMs.toFixed(1)} ms, ` +
      `steady state ${f.steadyMedianMs.toFixed(1)} ms\n` +
      `  CPU per scan median: full ${f.fullCpuMs.toFixed(1)} ms, young ${f.youngCpuMs.toFixed(1)} ms, ` +
      `steady ${f.steadyCpuMs.toFixed(1)} ms (mean over 30 scans: ` +
      `${f.steadyMeanCpuMs.toFixed(1)} ms); steady/full CPU ratio ${(f.steadyCpuMs / f.fullCpuMs).toFixed(2)}\n` +
      `  longest event-loop block ${f.maxBlockMs.toFixed(1)} ms (wall, includes preemption), ` +
      `${f.maxBlockCpuMs.toFixed(1)} ms (CPU); ` +
      `fd directories read by the last steady scan: ${f.fdDirsRead}`,
  );
}

async function measureLookups(procFs: ProcFs): Promise<void> {
  let resolved = 0;
  const attributor = new Attributor({
    procFs,
    localAddresses: new Set(['127.0.0.1']),
    syncIntervalMs: 3_600_000,
    flowCacheLimit: 0,
    onResolved: () => resolved++,
  });
  await attributor.scanNow();
  const counters: FlowCounters = {
    packets: 1,
    bytes: 100,
    payloadBytes: 60,
    wireBytes: 114,
    firstMs: 0,
    lastMs: 0,
    tcpFlags: 0x10,
  };
  const flows: FlowTuple[] = [];
  for (let i = 0; i < 1000; i++) {
    const port = 10_000 + i;
    flows.push({
      key: `6|127.0.0.1|${port}|127.0.0.1|8080`,
      ipVersion: 4,
      protocol: 6,
      srcAddress: '127.0.0.1',
      srcPort: port,
      dstAddress: '127.0.0.1',
      dstPort: 8080,
    });
  }
  let start = performance.now();
  for (let i = 0; i < LOOKUPS; i++) attributor.ingest(flows[i % flows.length]!, counters);
  const uncachedNs = ((performance.now() - start) * 1e6) / LOOKUPS;
  attributor.flush();
  attributor.stop();
  const cached = new Attributor({
    procFs,
    localAddresses: new Set(['127.0.0.1']),
    syncIntervalMs: 3_600_000,
    onResolved: () => resolved++,
  });
  await cached.scanNow();
  start = performance.now();
  for (let i = 0; i < LOOKUPS; i++) cached.ingest(flows[i % flows.length]!, counters);
  const cachedNs = ((performance.now() - start) * 1e6) / LOOKUPS;
  cached.flush();
  cached.stop();
  console.log(
    `ingest: ${uncachedNs.toFixed(0)} ns per flow looked up, ${cachedNs.toFixed(0)} ns per flow from the cache (${resolved} resolved)`,
  );
}

// Real processes: a python parent forks PROCESSES children in a namespace of our own, each
// holding SOCKETS_PER_PROCESS sockets on loopback (TCP listening and established, UDP bound);
// every child exits by itself after CHILD_LIFETIME_S (SIGALRM) even if this script dies.
const FORKER = `
import os, socket, signal, sys, json
n, k, life = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        socks = []
        l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(8); socks.append(l)
        while len(socks) + 2 <= k - 3:
            c = socket.create_connection(l.getsockname()); a, _ = l.accept(); socks += [c, a]
        while len(socks) < k:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0)); socks.append(s)
        signal.alarm(life)
        signal.pause()
        os._exit(0)
    pids.append(pid)
print(json.dumps(pids), flush=True)
signal.alarm(life)
signal.pause()
`;

/** A namespace with PROCESSES processes holding SOCKETS_PER_PROCESS sockets each. */
async function startBigHost(): Promise<{ stop: () => void }> {
  const ns = `pfab${process.pid % 100000}`;
  execFileSync('ip', ['netns', 'add', ns]);
  const pids: number[] = [];
  let parentPid: number | undefined;
  let isClean = false;
  const stop = (): void => {
    if (isClean) return;
    isClean = true;
    for (const pid of [...pids, ...(parentPid === undefined ? [] : [parentPid])]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    execFileSync('ip', ['netns', 'del', ns]);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  const onSignal = (): void => {
    stop();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const parent = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        'python3',
        '-c',
        FORKER,
        String(PROCESSES),
        String(SOCKETS_PER_PROCESS),
        String(CHILD_LIFETIME_S),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    parentPid = parent.pid;
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('forker did not start in 120 s')), 120_000);
      createInterface({ input: parent.stdout! }).once('line', (l) => {
        clearTimeout(timer);
        resolve(l);
      });
    });
    pids.push(...(JSON.parse(line) as number[]));
    return { stop };
  } catch (error) {
    stop();
    throw error;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU share of one core used by an idle monitor (no traffic) over IDLE_SECONDS, after warm-up. */
async function measureIdle(options: MonitorOptions): Promise<number> {
  const net = await createTestNet({ prefix: 'pfb' });
  try {
    const monitor = await startMonitorProcess(net, {
      devices: [net.a.device],
      captureTimeoutMs: 0,
      ...options,
    });
    try {
      await sleep(IDLE_WARMUP_MS);
      const before = monitor.usage()?.cpuSeconds ?? Number.NaN;
      const start = performance.now();
      await sleep(IDLE_SECONDS * 1000);
      const used = (monitor.usage()?.cpuSeconds ?? Number.NaN) - before;
      return used / ((performance.now() - start) / 1000);
    } finally {
      await monitor.stop();
    }
  } finally {
    await net.destroy();
  }
}

interface TableRow {
  label: string;
  /** Today's old path: /proc/net text and /proc/<pid>/fd walks. */
  proc: string;
  /** sock_diag tables, fd walks. */
  netlink: string;
  /** The defaults: sock_diag tables and socket owners from the kernel's BPF iterator. */
  kernel: string;
  target: string;
}

const percent = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : 'n/a');

/** The three code paths, in this order, as monitor options. */
const PATHS: readonly MonitorOptions[] = [
  { sockDiag: false, socketOwners: false },
  { sockDiag: true, socketOwners: false },
  { sockDiag: true, socketOwners: true },
];

/** Every code path in the same run; prints the table at the end. */
async function measureHostCosts(): Promise<void> {
  const rows: TableRow[] = [];
  const all = async (
    label: string,
    target: string,
    measure: (options: MonitorOptions) => Promise<string>,
  ): Promise<void> => {
    const [proc, netlink, kernel] = [
      await measure(PATHS[0]!),
      await measure(PATHS[1]!),
      await measure(PATHS[2]!),
    ];
    rows.push({ label, proc: proc!, netlink: netlink!, kernel: kernel!, target });
    console.log(
      `${label}: /proc ${proc}, sock_diag ${netlink}, sock_diag + kernel owners ${kernel}`,
    );
  };
  const procCount = (): number => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  const only = ONLY;

  if (!SKIP_IDLE && (only === undefined || only === 'idle')) {
    await all(`idle agent, this host (${procCount()} processes)`, '<= 0.3%', async (o) =>
      percent(await measureIdle(o)),
    );
  }
  const big = await startBigHost();
  try {
    if (only === undefined || only === 'scans') {
      const procFs = new NodeProcFs('/');
      const addon = loadAddon();
      const viaProc = await measureScans(procFs);
      print('real /proc + 1000 processes in a namespace, /proc/net text, fd walks', viaProc);
      const tables = new SockDiagTables(addon);
      let viaNetlink: ScanFigures;
      let viaKernel: ScanFigures | undefined;
      try {
        viaNetlink = await measureScans(procFs, tables);
        print('real /proc + 1000 processes in a namespace, sock_diag, fd walks', viaNetlink);
        if (hasSocketOwners(addon)) {
          const owners = new KernelSocketOwners(addon);
          try {
            viaKernel = await measureScans(procFs, tables, owners);
            if (owners.stats().reads === 0) {
              console.log(`kernel owners unavailable: ${owners.stats().lastError}`);
              viaKernel = undefined;
            }
          } finally {
            owners.close();
          }
          if (viaKernel !== undefined) {
            print(
              'real /proc + 1000 processes in a namespace, sock_diag, kernel owners',
              viaKernel,
            );
          }
        }
      } finally {
        tables.close();
      }
      const host = `${viaNetlink.processes} processes / ${viaNetlink.sockets} sockets`;
      const ms = (
        f: ScanFigures | undefined,
        pick: (f: ScanFigures) => number,
        digits = 0,
      ): string => (f === undefined ? 'n/a' : `${pick(f).toFixed(digits)} ms`);
      const row = (
        label: string,
        pick: (f: ScanFigures) => number,
        target: string,
        digits = 0,
      ): void => {
        rows.push({
          label,
          proc: ms(viaProc, pick, digits),
          netlink: ms(viaNetlink, pick, digits),
          kernel: ms(viaKernel, pick, digits),
          target,
        });
      };
      row(`first scan (every process new: read its info, CPU), ${host}`, (f) => f.firstCpuMs, '');
      row(
        'full rebuild of the socket index (every stat, table and owner again, CPU median)',
        (f) => f.fullCpuMs,
        '<= 50 ms',
      );
      row(
        'steady-state scan, old schedule: full every 10th (CPU, mean over 30 scans)',
        (f) => f.steadyFullEvery10MeanCpuMs,
        '',
        1,
      );
      row(
        'steady-state scan, new defaults (CPU, mean over 30 one-second scans)',
        (f) => f.steadyMeanCpuMs,
        '',
        1,
      );
      row(
        'longest event-loop block during scans (wall, includes preemption)',
        (f) => f.maxBlockMs,
        '<= 5 ms',
        1,
      );
      row(
        'longest event-loop block during scans (event-loop thread CPU of the stretch)',
        (f) => f.maxBlockCpuMs,
        '<= 5 ms',
        1,
      );
    }
    const host = `${procCount()} processes`;
    if (!SKIP_IDLE && (only === undefined || only === 'idle')) {
      await all(`idle agent, ${host} (10,000 sockets in a namespace)`, '<= 1%', async (o) =>
        percent(await measureIdle(o)),
      );
    }
    if (only === undefined || only === 'churn') {
      await all(
        `churn of ${CHURN_PER_SECOND} TCP connections/s for ${CHURN_SECONDS} s on that host: right process, agent CPU`,
        '>= 99%',
        async (o) => {
          const r = await runScenario(churnScenario(CHURN_PER_SECOND, CHURN_SECONDS), o);
          return `${(r.pidflow.rightShare * 100).toFixed(2)}%, ${r.pidflow.cpuSeconds.toFixed(2)} CPU s (${r.truthPackets} packets in ${(r.trafficMs / 1000).toFixed(1)} s)`;
        },
      );
    }
    if (!SKIP_MEMORY && (only === undefined || only === 'memory')) {
      await all('peak RSS with 100,000 flows (on that host)', '<= 100 MB', async (o) => {
        const r = await runScenario(MEMORY_SCENARIO, o);
        return `${(r.pidflow.peakRssBytes / (1 << 20)).toFixed(0)} MB`;
      });
    }
  } finally {
    big.stop();
  }
  console.log(
    `\n| case | /proc/net text, fd walks (sockDiag: false, socketOwners: false) | sock_diag, fd walks (socketOwners: false) | sock_diag + kernel owners (defaults) | target |\n|---|---|---|---|---|\n` +
      rows
        .map((r) => `| ${r.label} | ${r.proc} | ${r.netlink} | ${r.kernel} | ${r.target} |`)
        .join('\n'),
  );
}

const mb = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MB`;

/**
 * The memory row alone: the 100,000-flow scenario with the monitor's default options on the
 * 1,000-process host, `MEMORY_RUNS` times, each run's peak RSS and CPU, and the median. The
 * breakdown is process.memoryUsage() when the totals were read (after the traffic).
 */
async function measureMemoryOnly(): Promise<void> {
  if (!Number.isInteger(MEMORY_RUNS) || MEMORY_RUNS < 1)
    throw new Error(`--memory-runs needs a whole number >= 1, got ${String(MEMORY_RUNS_ARG)}`);
  const big = await startBigHost();
  const peaks: number[] = [];
  const cpus: number[] = [];
  try {
    for (let i = 0; i < MEMORY_RUNS; i++) {
      const load = loadavg()[0] ?? 0;
      const r = await runScenario({ ...MEMORY_SCENARIO, pidflowOnly: true });
      const m = r.pidflowMemory;
      const b = r.pidflowMemoryBefore;
      peaks.push(r.pidflow.peakRssBytes);
      cpus.push(r.pidflow.cpuSeconds);
      console.log(
        `run ${i + 1}: peak RSS ${mb(r.pidflow.peakRssBytes)}, CPU ${r.pidflow.cpuSeconds.toFixed(2)} s, ` +
          `right process ${(r.pidflow.rightShare * 100).toFixed(2)}%, namespace side included ` +
          `${(r.pidflowAllRightShare * 100).toFixed(2)}% (load ${load.toFixed(1)}); after the ` +
          `traffic: RSS ${mb(m.rss)}, V8 heap ${mb(m.heapUsed)} used of ${mb(m.heapTotal)}, ` +
          `external ${mb(m.external)} (array buffers ${mb(m.arrayBuffers)}); before it: RSS ${mb(b.rss)}, ` +
          `V8 heap ${mb(b.heapUsed)} used of ${mb(b.heapTotal)}, external ${mb(b.external)}; ` +
          `flows parked and resolved ${r.pidflowRetry.resolvedFlows}, turned away by the full ` +
          `retry buffer ${r.pidflowRetry.droppedFlows}`,
      );
    }
  } finally {
    big.stop();
  }
  console.log(
    `\n| case | default options, median of ${MEMORY_RUNS} | runs | CPU s (median) | target |\n|---|---|---|---|---|\n` +
      `| peak RSS with 100,000 flows (on that host) | ${(median(peaks) / (1 << 20)).toFixed(0)} MB | ` +
      `${peaks.map((p) => (p / (1 << 20)).toFixed(0)).join(', ')} | ${median(cpus).toFixed(2)} | <= 100 MB |`,
  );
}

async function main(): Promise<void> {
  console.log(
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${availableParallelism()} cores (the machine may be shared: CPU seconds of ` +
      'the measured process are meaningful, wall times less so)',
  );
  if (MEMORY_RUNS_ARG !== undefined) {
    if (process.getuid?.() !== 0)
      throw new Error('--memory-runs needs root (it creates a namespace)');
    await measureMemoryOnly();
    return;
  }
  if (process.argv.includes('--real-only')) {
    if (process.getuid?.() !== 0)
      throw new Error('--real-only needs root (it creates a namespace)');
    await measureHostCosts();
    return;
  }
  const root = mkdtempSync(join(process.env.PIDFLOW_BENCH_TMP ?? tmpdir(), 'pidflow-proc-'));
  try {
    buildTree(root);
    const tree = new NodeProcFs(root);
    print('fake /proc tree (tmpfs)', await measureScans(tree));
    await measureLookups(tree);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  if (process.argv.includes('--tree-only')) return;
  print('this machine /proc', await measureScans(new NodeProcFs('/')));
  if (process.getuid?.() === 0) await measureHostCosts();
  else console.log('real processes: skipped (needs root to create a namespace)');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
