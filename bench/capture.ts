// Capture benchmark (run as root: `npm run bench:capture`). Over a veth pair between two
// namespaces it creates (names and a /29 of 198.18.0.0/16 locked per run by
// test/helpers/netns.ts, so a bench and a test run never collide), it measures packets/s delivered to
// JS, CPU seconds per million packets and drops for small packets (trafgen, 64-byte UDP
// payload) and MTU-size TCP (iperf3), against bare libpcap (tcpdump -w /dev/null -s 128) on the
// same traffic, plus an offline replay of a generated pcap file. Prints medians of RUNS runs.
//
// Fairness (docs/capture.md, "CPU cost"): both readers use the same snaplen (128) and kernel
// buffer (64 MiB); the reader runs pinned to READER_CPU and the traffic generators to
// TRAFFIC_CPU, so the kernel's receive work for the generated traffic (softirq, which this
// kernel charges to whatever task is running on that CPU) is not billed to the reader; and
// both readers' CPU is read the same way, by this process, from /proc/PID/task/*/schedstat
// (nanoseconds on CPU, all threads) over the same window: from "ready" to 500 ms after the
// traffic ends. Start-up (V8, module loading, pcap_activate) and stop() are outside it.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openCapture } from '../src/capture/open-capture.js';
import { openPcapFile } from '../src/capture/open-pcap-file.js';
import type { PacketSource } from '../src/capture/packet-source.js';
import { REC_OFF_TS_SEC, REC_OFF_TS_USEC, RECORD_SIZE } from '../src/decode/record.js';
import { createTestNet, type TestNet } from '../test/helpers/netns.js';

// Set by setupNetns() from the test net it allocates.
let NS_A = '';
let NS_B = '';
let VETH_A = '';
let VETH_B = '';
let ADDR_A = '';
let ADDR_B = '';
let net: TestNet | undefined;
// trafgen -P 1 pins itself to CPU 0, so the traffic goes there and the reader to CPU 1.
const PIN = (process.env.BENCH_PIN ?? '1') !== '0' && availableParallelism() >= 2;
const TRAFFIC_CPU = '0';
const READER_CPU = '1';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SMALL_PACKETS = Number(process.env.BENCH_SMALL_PACKETS ?? 2_000_000);
const TCP_SECONDS = Number(process.env.BENCH_TCP_SECONDS ?? 3);
const REPLAY_PACKETS = 500_000;
const STEP_TIMEOUT_MS = 60_000;

interface WorkerResult {
  delivered: number;
  kernelReceived: number;
  kernelDropped: number;
  queueDropped: number;
  activeSeconds: number;
}

interface Sample {
  /** Packets both veth ends transmitted during the run (the reader's device sees them all). */
  sent: number;
  packets: number;
  pps: number;
  cpuPerMpkt: number;
  kernelDropped: number;
  queueDropped: number;
}

// ---- worker: runs inside NS_B, captures on VETH_B until SIGTERM, prints one JSON line ----
async function worker(device: string): Promise<void> {
  const source: PacketSource = openCapture({ devices: [device], bufferBytes: 64 << 20 });
  let delivered = 0;
  let firstUs = 0;
  let lastUs = 0;
  source.setBatchHandler(({ view, count }) => {
    if (count === 0) return;
    delivered += count;
    const last = (count - 1) * RECORD_SIZE;
    const t0 = view.getUint32(REC_OFF_TS_SEC, true) * 1e6 + view.getUint32(REC_OFF_TS_USEC, true);
    const t1 =
      view.getUint32(last + REC_OFF_TS_SEC, true) * 1e6 +
      view.getUint32(last + REC_OFF_TS_USEC, true);
    if (firstUs === 0) firstUs = t0;
    lastUs = t1;
  });
  source.start();
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
  await source.stop();
  const d = source.stats().devices[0];
  const result: WorkerResult = {
    delivered,
    kernelReceived: d?.kernelReceivedPackets ?? 0,
    kernelDropped: d?.kernelDroppedPackets ?? 0,
    queueDropped: d?.queueDroppedPackets ?? 0,
    activeSeconds: Math.max(1e-6, (lastUs - firstUs) / 1e6),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---- helpers ----
function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, {
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function cleanup(): Promise<void> {
  await net?.destroy();
  net = undefined;
}

async function setupNetns(): Promise<void> {
  net = await createTestNet({ prefix: 'pfb', mode: 'pair' });
  NS_A = net.a.ns ?? '';
  NS_B = net.b.ns ?? '';
  VETH_A = net.a.device;
  VETH_B = net.b.device;
  ADDR_A = net.a.ipv4;
  ADDR_B = net.b.ipv4;
  // gso_max_segs 1: the TCP stream leaves as MTU-size packets, as on a real NIC's wire.
  for (const [ns, dev] of [
    [NS_A, VETH_A],
    [NS_B, VETH_B],
  ] as const) {
    sh('ip', ['-n', ns, 'link', 'set', 'dev', dev, 'gso_max_segs', '1']);
  }
}

/**
 * Packets both veth ends have transmitted so far: the reader on VETH_B sees what A sends and
 * what B answers (TCP ACKs, ARP), so this is the truth of what it should see.
 */
function sentPackets(): number {
  let total = 0;
  for (const [ns, dev] of [
    [NS_A, VETH_A],
    [NS_B, VETH_B],
  ] as const) {
    const out = JSON.parse(sh('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', dev])) as {
      stats64?: { tx?: { packets?: number } };
    }[];
    const n = out[0]?.stats64?.tx?.packets;
    if (n === undefined) throw new Error(`no tx counter on ${dev}`);
    total += n;
  }
  return total;
}

function mac(ns: string, dev: string): string {
  const m = /link\/ether ([0-9a-f:]+)/.exec(sh('ip', ['-n', ns, 'link', 'show', 'dev', dev]));
  if (m?.[1] === undefined) throw new Error(`no MAC address on ${dev}`);
  return m[1];
}

/** CPU seconds of every thread of pid so far (schedstat: ns on CPU, not 10 ms ticks). */
function cpuSeconds(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between readdir and read: its time is gone with it
    }
  }
  return ns / 1e9;
}

/** argv prefix that runs a command pinned to cpu (nothing when pinning is off). */
function pinned(cpu: string): string[] {
  return PIN ? ['taskset', '-c', cpu] : [];
}

function waitForLine(child: ChildProcess, match: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(
      () => reject(new Error(`timeout waiting for ${String(match)}`)),
      STEP_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => match.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      const line = buf.split('\n').find((l) => match.test(l));
      if (line !== undefined) resolve(line);
      else reject(new Error(`process exited without ${String(match)}: ${buf.slice(-500)}`));
    });
  });
}

type Traffic = () => void;

function trafgenTraffic(cfgPath: string): Traffic {
  return () => {
    sh('ip', [
      'netns',
      'exec',
      NS_A,
      ...pinned(TRAFFIC_CPU),
      'trafgen',
      '--dev',
      VETH_A,
      '--conf',
      cfgPath,
      '-n',
      String(SMALL_PACKETS),
      '-P',
      '1',
      '-C',
    ]);
  };
}

function iperfTraffic(): Traffic {
  return () => {
    const server = spawn(
      'ip',
      ['netns', 'exec', NS_B, ...pinned(TRAFFIC_CPU), 'iperf3', '-s', '-1', '-B', ADDR_B],
      { stdio: 'ignore' },
    );
    try {
      spawnSync('sleep', ['0.3']);
      sh('ip', [
        'netns',
        'exec',
        NS_A,
        ...pinned(TRAFFIC_CPU),
        'iperf3',
        '-c',
        ADDR_B,
        '-t',
        String(TCP_SECONDS),
        '-M',
        '1448',
      ]);
    } finally {
      if (server.exitCode === null) server.kill('SIGTERM');
    }
  };
}

async function runOurs(traffic: Traffic): Promise<Sample> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS_B,
      ...pinned(READER_CPU),
      process.execPath,
      ...process.execArgv,
      self,
      '--worker',
      VETH_B,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    await waitForLine(child, /^ready$/);
    const cpu0 = cpuSeconds(child.pid ?? 0);
    const sent0 = sentPackets();
    const start = process.hrtime.bigint();
    traffic();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await new Promise((r) => setTimeout(r, 500));
    const cpu = cpuSeconds(child.pid ?? 0) - cpu0;
    const line = waitForLine(child, /^\{/);
    child.kill('SIGTERM');
    const r = JSON.parse(await line) as WorkerResult;
    return {
      sent: sentPackets() - sent0,
      packets: r.delivered,
      // Over the generator's run time, like tcpdump's row (records' own timestamps agree).
      pps: r.delivered / Math.max(seconds, r.activeSeconds),
      cpuPerMpkt: cpu / (r.kernelReceived / 1e6),
      kernelDropped: r.kernelDropped,
      queueDropped: r.queueDropped,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

async function runTcpdump(traffic: Traffic): Promise<Sample> {
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      NS_B,
      ...pinned(READER_CPU),
      'tcpdump',
      '-i',
      VETH_B,
      '-w',
      '/dev/null',
      '-s',
      '128',
      '-B',
      '65536',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    await waitForLine(child, /listening on/);
    const cpu0 = cpuSeconds(child.pid ?? 0);
    const sent0 = sentPackets();
    const start = process.hrtime.bigint();
    traffic();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    await new Promise((r) => setTimeout(r, 500));
    const cpu = cpuSeconds(child.pid ?? 0) - cpu0;
    const summary = waitForLine(child, /dropped by kernel/);
    const captured = waitForLine(child, /packets captured/);
    child.kill('SIGINT');
    const packets = Number(/^(\d+)/.exec(await captured)?.[1] ?? 0);
    const dropped = Number(/^(\d+)/.exec(await summary)?.[1] ?? 0);
    return {
      sent: sentPackets() - sent0,
      packets,
      pps: packets / seconds,
      cpuPerMpkt: cpu / ((packets + dropped) / 1e6),
      kernelDropped: dropped,
      queueDropped: 0,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function writeReplayFile(path: string): void {
  // Ethernet + IPv4 + UDP + 64-byte payload, 16-byte pcap record header each.
  const frame = Buffer.alloc(14 + 20 + 8 + 64);
  frame.writeUInt16BE(0x0800, 12);
  frame.writeUInt8(0x45, 14);
  frame.writeUInt16BE(20 + 8 + 64, 16);
  frame.writeUInt8(64, 22);
  frame.writeUInt8(17, 23);
  Buffer.from([198, 18, 0, 1, 198, 18, 0, 2]).copy(frame, 26);
  frame.writeUInt16BE(8 + 64, 38);
  const rec = 16 + frame.length;
  const out = Buffer.alloc(24 + REPLAY_PACKETS * rec);
  out.writeUInt32LE(0xa1b2c3d4, 0);
  out.writeUInt16LE(2, 4);
  out.writeUInt16LE(4, 6);
  out.writeUInt32LE(65535, 16);
  out.writeUInt32LE(1, 20);
  for (let i = 0; i < REPLAY_PACKETS; i++) {
    const o = 24 + i * rec;
    out.writeUInt32LE(1_700_000_000 + Math.floor(i / 1e6), o);
    out.writeUInt32LE(i % 1_000_000, o + 4);
    out.writeUInt32LE(frame.length, o + 8);
    out.writeUInt32LE(frame.length, o + 12);
    frame.writeUInt16BE(1024 + (i % 50000), 34); // source port varies: many flows
    frame.copy(out, o + 16);
  }
  writeFileSync(path, out);
}

async function replayOnce(path: string): Promise<number> {
  const source = openPcapFile(path);
  let n = 0;
  source.setBatchHandler(({ count }) => (n += count));
  const start = process.hrtime.bigint();
  source.start();
  await source.done;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await source.stop();
  if (n !== REPLAY_PACKETS) throw new Error(`replay delivered ${n} of ${REPLAY_PACKETS}`);
  return n / seconds;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

function medianSample(samples: Sample[]): Sample & { deliveredShare: number; unaccounted: number } {
  return {
    sent: median(samples.map((s) => s.sent)),
    // Per run: what reached the reader over what the sender transmitted, and what is neither
    // delivered nor counted as dropped (a silent loss, which must stay near the few ARP/ND
    // frames the veth also sends).
    deliveredShare: median(samples.map((s) => (s.sent > 0 ? s.packets / s.sent : 0))),
    unaccounted: median(samples.map((s) => s.sent - s.packets - s.kernelDropped - s.queueDropped)),
    packets: median(samples.map((s) => s.packets)),
    pps: median(samples.map((s) => s.pps)),
    cpuPerMpkt: median(samples.map((s) => s.cpuPerMpkt)),
    kernelDropped: median(samples.map((s) => s.kernelDropped)),
    queueDropped: median(samples.map((s) => s.queueDropped)),
  };
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench:capture needs root (network namespaces, capture): run it as root');
    process.exitCode = 1;
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pfc-bench-'));
  const rows: string[][] = [];
  try {
    await setupNetns();
    const cfg = join(dir, 'small.cfg');
    writeFileSync(
      cfg,
      `{\n  eth(da=${mac(NS_B, VETH_B)}, sa=${mac(NS_A, VETH_A)}),\n  ipv4(saddr=${ADDR_A}, daddr=${ADDR_B}, ttl=64),\n  udp(sp=40000, dp=9),\n  fill(0x41, 64)\n}\n`,
    );
    for (const [name, traffic] of [
      ['64-byte UDP (trafgen)', trafgenTraffic(cfg)],
      ['MTU TCP (iperf3)', iperfTraffic()],
    ] as const) {
      const ours: Sample[] = [];
      const floor: Sample[] = [];
      for (let i = 0; i < RUNS; i++) {
        ours.push(await runOurs(traffic));
        floor.push(await runTcpdump(traffic));
      }
      const o = medianSample(ours);
      const f = medianSample(floor);
      rows.push([
        name,
        'pidflow addon -> JS',
        fmt(o.sent),
        fmt(o.packets),
        `${(o.deliveredShare * 100).toFixed(2)}%`,
        fmt(o.unaccounted),
        fmt(o.pps),
        fmt(o.cpuPerMpkt, 3),
        fmt(o.kernelDropped),
        fmt(o.queueDropped),
        (o.cpuPerMpkt / f.cpuPerMpkt).toFixed(2),
      ]);
      rows.push([
        name,
        'tcpdump -w /dev/null -s 128',
        fmt(f.sent),
        fmt(f.packets),
        `${(f.deliveredShare * 100).toFixed(2)}%`,
        fmt(f.unaccounted),
        fmt(f.pps),
        fmt(f.cpuPerMpkt, 3),
        fmt(f.kernelDropped),
        '-',
        '1.00',
      ]);
    }
    const file = join(dir, 'replay.pcap');
    writeReplayFile(file);
    const rates: number[] = [];
    for (let i = 0; i < RUNS; i++) rates.push(await replayOnce(file));
    rows.push([
      'offline replay',
      'decode + deliver',
      fmt(REPLAY_PACKETS),
      fmt(REPLAY_PACKETS),
      '100.00%',
      '0',
      fmt(median(rates)),
      '-',
      '-',
      '0',
      '-',
    ]);
  } finally {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
  const header = [
    'traffic',
    'reader',
    'sent (veth tx, both ends)',
    'delivered (median)',
    'delivered / sent',
    'unaccounted',
    'packets/s',
    'CPU s / Mpkt',
    'kernel drops',
    'queue drops',
    'CPU vs tcpdump',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string =>
    `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  console.log(
    `capture benchmark: medians of ${RUNS} runs, ${SMALL_PACKETS} small packets, ${TCP_SECONDS}s TCP, ` +
      (PIN ? `reader on CPU ${READER_CPU}, traffic on CPU ${TRAFFIC_CPU}` : 'not pinned'),
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

if (process.argv[2] === '--worker') {
  await worker(process.argv[3] ?? VETH_B);
} else {
  await main();
}
