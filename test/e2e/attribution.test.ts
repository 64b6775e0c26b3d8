// End-to-end accuracy of the real monitor: child processes with known pids move known bytes
// across a veth into a namespace (or over loopback); per-process totals are compared with the
// bytes tcpdump saw on the same device, mapped to pids through the workers' socket reports.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { MonitorOptions, Snapshot } from '../../src/index.js';
import { startMonitorProcess } from '../../bench/lib/monitor-process.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';
import type { TestNet } from '../helpers/netns.js';
import { startReferenceCapture, summarizePcapFile, truthByProcess } from '../helpers/pcap-truth.js';
import type { ProcessTruth } from '../helpers/pcap-truth.js';
import {
  startTcpClient,
  startTcpServer,
  startUdpClient,
  startUdpServer,
} from '../helpers/traffic.js';
import type { Worker, WorkerReport } from '../helpers/traffic.js';

const SKIP = canCreateTestNets()
  ? false
  : '[needs-root] needs root: creates network namespaces and captures';
/** Per-test bound; traffic phases are bounded well below it. */
const TEST_TIMEOUT_MS = 90_000;
const TRAFFIC_BOUND_MS = 15_000;
/** Let capture open and the first /proc scan finish before traffic starts. */
const WARMUP_MS = 1000;
/** Let the last batch arrive and the retry buffer resolve after traffic ends. */
/** Longest wait for the monitor to have seen every packet tcpdump saw. */
const SETTLE_LIMIT_MS = 15_000;
const SYNC_INTERVAL_MS = 1000;
/**
 * Long-lived connections: connected this long before the first byte, so the periodic scan knows
 * the sockets (the churn test covers connections that live for milliseconds).
 */
const HOLD_MS = 2 * SYNC_INTERVAL_MS;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What a traffic phase hands back for scoring. */
interface Traffic {
  reports: WorkerReport[];
  workers: Worker[];
}

interface Measurement {
  snapshot: Snapshot;
  truth: Map<number, ProcessTruth>;
}

/**
 * Run the real monitor and tcpdump on `device`, run `traffic`, and return the monitor's final
 * snapshot with the per-process truth from the reference capture.
 */
async function measure(
  net: TestNet,
  device: string,
  options: MonitorOptions,
  traffic: () => Promise<Traffic>,
  captureFilter?: string,
): Promise<Measurement> {
  const dir = mkdtempSync(join(tmpdir(), 'pfe-'));
  const filterOption = captureFilter === undefined ? {} : { filter: captureFilter };
  const capture = await startReferenceCapture(
    net,
    undefined,
    device,
    join(dir, 'ref.pcap'),
    filterOption,
  );
  const monitor = await createMonitor({
    devices: [device],
    captureTimeoutMs: 60_000,
    syncIntervalMs: SYNC_INTERVAL_MS,
    ...options,
  });
  let workers: Worker[] = [];
  try {
    monitor.start();
    await sleep(WARMUP_MS);
    const result = await traffic();
    workers = result.workers;
    const ref = await capture.stop();
    assert.equal(ref.droppedByKernel, 0, 'the reference capture dropped packets: truth incomplete');
    const summary = summarizePcapFile(ref.path);
    const truth = truthByProcess(summary.flows.values(), result.reports).processes;
    // No fixed settle time: wait until the monitor has seen every TCP/UDP packet tcpdump saw,
    // then stop it (stop drains the capture and accounts what is still parked) and score
    // its final totals.
    let truthPackets = 0;
    for (const flow of summary.flows.values()) truthPackets += flow.packets;
    const tcpUdpSeen = (): number => {
      const st = monitor.stats();
      return st.seen.packets - st.otherProtocol.packets;
    };
    const deadline = Date.now() + SETTLE_LIMIT_MS;
    while (tcpUdpSeen() < truthPackets && Date.now() < deadline) await sleep(20);
    await monitor.stop();
    assert.equal(tcpUdpSeen(), truthPackets, 'TCP/UDP packets seen by the monitor vs tcpdump');
    const snapshot = monitor.snapshot();
    return { snapshot, truth };
  } finally {
    for (const w of workers) w.release();
    await monitor.stop();
    await capture.stop(0);
    rmSync(dir, { recursive: true, force: true });
  }
}

function totalsOf(snapshot: Snapshot, pid: number): { sentBytes: number; receivedBytes: number } {
  const entry = snapshot.processes.find((p) => p.process.pid === pid);
  return entry === undefined
    ? { sentBytes: 0, receivedBytes: 0 }
    : { sentBytes: entry.total.sentBytes, receivedBytes: entry.total.receivedBytes };
}

/** Each process's sent and received IP bytes within `tolerance` (relative) of the truth. */
function assertPerProcessWithin(m: Measurement, pids: readonly number[], tolerance: number): void {
  for (const pid of pids) {
    const t = m.truth.get(pid);
    assert.ok(t !== undefined, `no truth for pid ${pid}`);
    assert.ok(t.sentBytes + t.receivedBytes > 0, `pid ${pid} moved no traffic`);
    const got = totalsOf(m.snapshot, pid);
    for (const dir of ['sentBytes', 'receivedBytes'] as const) {
      const diff = Math.abs(got[dir] - t[dir]);
      assert.ok(
        diff <= t[dir] * tolerance,
        `pid ${pid} ${dir}: monitor ${got[dir]}, truth ${t[dir]} (off by ${diff})\n${describe(m)}`,
      );
    }
  }
}

/** The monitor's view next to the truth, for failure messages. */
function describe(m: Measurement): string {
  const lines = m.snapshot.processes.map(
    (p) =>
      `  monitor pid ${p.process.pid} ${p.process.comm}: sent ${p.total.sentBytes} received ${p.total.receivedBytes}`,
  );
  for (const t of m.truth.values()) {
    lines.push(`  truth pid ${t.pid}: sent ${t.sentBytes} received ${t.receivedBytes}`);
  }
  const u = m.snapshot.unknownTotals.total;
  const st = m.snapshot.stats;
  lines.push(
    `  unknown: sent ${u.sentBytes} received ${u.receivedBytes}; seen ${st.seen.packets} attributed ${st.attributed.packets} unknown ${st.unknown.packets} pending ${st.pending.packets}`,
  );
  return lines.join('\n');
}

/** Share of the true bytes of `pids` that the monitor put on the right process. */
function rightShare(m: Measurement, pids: readonly number[]): number {
  let right = 0;
  let total = 0;
  for (const pid of pids) {
    const t = m.truth.get(pid);
    if (t === undefined) continue;
    const got = totalsOf(m.snapshot, pid);
    right += Math.min(got.sentBytes, t.sentBytes) + Math.min(got.receivedBytes, t.receivedBytes);
    total += t.sentBytes + t.receivedBytes;
  }
  return total === 0 ? 0 : right / total;
}

function namespaceOf(net: TestNet): string {
  assert.ok(net.b.ns !== undefined);
  return net.b.ns;
}

test(
  'attributes TCP/IPv4, TCP/IPv6 and UDP bytes of known processes within 1%',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const net = await createTestNet({ prefix: 'pfe', v6: true });
    try {
      const ns = namespaceOf(net);
      const pids: number[] = [];
      const m = await measure(net, net.a.device, {}, async () => {
        const workers: Worker[] = [];
        const addresses = [net.b.ipv4, net.b.ipv6 ?? ''];
        for (const address of addresses) {
          const server = await startTcpServer(net, ns, {
            address,
            port: 0,
            connections: 2,
            replyBytes: 150_000,
            durationMs: TRAFFIC_BOUND_MS,
            lingerMs: 30_000,
          });
          const client = startTcpClient(net, undefined, {
            address,
            port: server.port,
            connections: 2,
            concurrency: 2,
            ratePerSecond: 0,
            sendBytes: 2_000_000,
            holdMs: HOLD_MS,
            durationMs: TRAFFIC_BOUND_MS,
            lingerMs: 30_000,
          });
          workers.push(server, client);
        }
        const udpServer = await startUdpServer(net, ns, {
          address: net.b.ipv4,
          ports: 1,
          replyBytes: 200,
          datagrams: 1000,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: 30_000,
        });
        workers.push(udpServer);
        for (const connected of [true, false]) {
          workers.push(
            startUdpClient(net, undefined, {
              address: net.b.ipv4,
              bindAddress: net.a.ipv4,
              ports: udpServer.ports,
              connected,
              sockets: 1,
              datagrams: 500,
              payloadBytes: 1200,
              ratePerSecond: 1000,
              durationMs: TRAFFIC_BOUND_MS,
              lingerMs: 30_000,
            }),
          );
        }
        const reports = await Promise.all(workers.map((w) => w.report));
        pids.push(...workers.map((w) => w.pid));
        return { reports, workers };
      });
      assert.equal(pids.length, 7);
      assertPerProcessWithin(m, pids, 0.01);
    } finally {
      await net.destroy();
    }
  },
);

test(
  'attributes a process inside its own network namespace from the host side of the veth',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const net = await createTestNet({ prefix: 'pfe' });
    try {
      const ns = namespaceOf(net);
      let serverPid = 0;
      const m = await measure(net, net.a.device, {}, async () => {
        const server = await startTcpServer(net, ns, {
          address: net.b.ipv4,
          port: 0,
          connections: 1,
          replyBytes: 500_000,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: 30_000,
        });
        const client = startTcpClient(net, undefined, {
          address: net.b.ipv4,
          port: server.port,
          connections: 1,
          concurrency: 1,
          ratePerSecond: 0,
          sendBytes: 100_000,
          holdMs: HOLD_MS,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: 30_000,
        });
        serverPid = server.pid;
        return {
          reports: await Promise.all([server.report, client.report]),
          workers: [server, client],
        };
      });
      assertPerProcessWithin(m, [serverPid], 0.01);
      const entry = m.snapshot.processes.find((p) => p.process.pid === serverPid);
      assert.equal(entry?.process.netns, statSync(`/run/netns/${ns}`).ino);
      assert.notEqual(entry?.process.netns, statSync('/proc/self/ns/net').ino);
    } finally {
      await net.destroy();
    }
  },
);

test(
  'puts at least 95% of the bytes of churning connections (>= 100 connections/s) on the right process',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const net = await createTestNet({ prefix: 'pfe' });
    try {
      const ns = namespaceOf(net);
      const pids: number[] = [];
      let connections = 0;
      let rate = 0;
      const m = await measure(net, net.a.device, {}, async () => {
        const server = await startTcpServer(net, ns, {
          address: net.b.ipv4,
          port: 0,
          connections: 450,
          replyBytes: 2048,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: 30_000,
        });
        // The server has been up for a scan, as a real one has: this case is about churning
        // connections. (A server that starts during the churn, in a namespace no scan has seen
        // yet, gets its first few hundred ms of connections only from the client's side:
        // docs/attribution.md, "Socket events".)
        await sleep(1500);
        // 150 connections/s for 3 s, each 4 KiB up and 2 KiB down, closed in a few ms.
        const client = startTcpClient(net, undefined, {
          address: net.b.ipv4,
          port: server.port,
          connections: 450,
          concurrency: 32,
          ratePerSecond: 150,
          sendBytes: 4096,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: 30_000,
        });
        const reports = await Promise.all([client.report, server.report]);
        connections = reports[0]?.sockets.length ?? 0;
        // The rate is the workload's, not a result: reported, never asserted (a busy host
        // may churn slower; timing belongs in bench/).
        const elapsedMs = reports[0]?.elapsedMs ?? Infinity;
        rate = connections / (elapsedMs / 1000);
        pids.push(client.pid, server.pid);
        return { reports, workers: [client, server] };
      });
      assert.equal(connections, 450);
      t.diagnostic(`churn: ${connections} connections at ${rate.toFixed(0)}/s`);
      for (const pid of pids) {
        const share = rightShare(m, [pid]);
        assert.ok(
          share >= 0.95,
          `pid ${pid}: ${(share * 100).toFixed(1)}% on the right process\n${describe(m)}`,
        );
      }
    } finally {
      await net.destroy();
    }
  },
);

test(
  'attributes loopback traffic to both ends: the sender sent it and the receiver received it',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    // The net only tracks and cleans up the workers here; the traffic stays on lo.
    const net = await createTestNet({ prefix: 'pfe' });
    try {
      let clientPid = 0;
      let serverPid = 0;
      let clientReport: WorkerReport | undefined;
      let serverReport: WorkerReport | undefined;
      const server = await startTcpServer(net, undefined, {
        address: '127.0.0.1',
        port: 0,
        connections: 2,
        replyBytes: 100_000,
        durationMs: TRAFFIC_BOUND_MS,
        lingerMs: 30_000,
      });
      const m = await measure(
        net,
        'lo',
        { includeLoopback: true, filter: `tcp port ${server.port}` },
        async () => {
          const client = startTcpClient(net, undefined, {
            address: '127.0.0.1',
            port: server.port,
            connections: 2,
            concurrency: 1,
            ratePerSecond: 0,
            sendBytes: 300_000,
            holdMs: HOLD_MS,
            durationMs: TRAFFIC_BOUND_MS,
            lingerMs: 30_000,
          });
          clientPid = client.pid;
          serverPid = server.pid;
          [clientReport, serverReport] = await Promise.all([client.report, server.report]);
          return { reports: [clientReport, serverReport], workers: [client, server] };
        },
        `tcp port ${server.port}`,
      );
      const client = m.truth.get(clientPid);
      const serverTruth = m.truth.get(serverPid);
      // Two independent truths agree first: the payload the workers counted themselves
      // (bytes written and read) is the payload tcpdump saw, per process and direction.
      const payload = (
        r: WorkerReport | undefined,
        k: 'sentPayloadBytes' | 'receivedPayloadBytes',
      ): number => (r?.sockets ?? []).reduce((sum, x) => sum + x[k], 0);
      assert.equal(payload(clientReport, 'sentPayloadBytes'), 600_000);
      assert.equal(payload(serverReport, 'sentPayloadBytes'), 200_000);
      // Distinct payload by TCP sequence numbers: a segment retransmitted on a loaded host
      // (seen: 47,616 bytes of 600,000 under stress-ng) is on the wire twice but written once.
      assert.equal(client?.sentStreamBytes, payload(clientReport, 'sentPayloadBytes'));
      assert.equal(client?.receivedStreamBytes, payload(clientReport, 'receivedPayloadBytes'));
      assert.equal(serverTruth?.sentStreamBytes, payload(serverReport, 'sentPayloadBytes'));
      assert.equal(serverTruth?.receivedStreamBytes, payload(serverReport, 'receivedPayloadBytes'));
      assertPerProcessWithin(m, [clientPid, serverPid], 0.01);
    } finally {
      await net.destroy();
    }
  },
);

function cgroupDir(controller: 'cpu' | 'memory', pid: number): string {
  return `/sys/fs/cgroup/${controller}/pidflow-${pid}`;
}

test(
  'applies cgroup limits to the monitor process while it runs and removes them on stop',
  {
    skip:
      SKIP ||
      (existsSync('/sys/fs/cgroup/cpu/cgroup.procs')
        ? false
        : '[no-cgroup-v1-cpu-memory] no cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu'),
    timeout: TEST_TIMEOUT_MS,
  },
  async () => {
    // The monitor runs in a child process so this test runner never enters a cgroup.
    const net = await createTestNet({ prefix: 'pfe' });
    let pid = 0;
    try {
      const monitor = await startMonitorProcess(net, {
        devices: [net.a.device],
        captureTimeoutMs: 30_000,
        limits: { cpuCores: 0.5, memoryMB: 256 },
      });
      pid = monitor.pid;
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      assert.match(cgroups, new RegExp(`:cpu[,:].*/pidflow-${pid}$`, 'm'));
      assert.match(cgroups, new RegExp(`:memory:/pidflow-${pid}$`, 'm'));
      const read = (path: string): number => Number(readFileSync(path, 'utf8').trim());
      const quota = read(join(cgroupDir('cpu', pid), 'cpu.cfs_quota_us'));
      const period = read(join(cgroupDir('cpu', pid), 'cpu.cfs_period_us'));
      assert.equal(quota / period, 0.5);
      assert.equal(
        read(join(cgroupDir('memory', pid), 'memory.limit_in_bytes')),
        256 * 1024 * 1024,
      );
      const procs = readFileSync(join(cgroupDir('cpu', pid), 'cgroup.procs'), 'utf8');
      assert.ok(procs.split('\n').includes(String(pid)));
      await monitor.stop();
      assert.equal(existsSync(cgroupDir('cpu', pid)), false, 'cpu cgroup left behind');
      assert.equal(existsSync(cgroupDir('memory', pid)), false, 'memory cgroup left behind');
    } finally {
      await net.destroy();
      // A monitor that was killed cannot remove its own cgroups: remove ours (empty by now).
      for (const controller of ['cpu', 'memory'] as const) {
        if (pid > 0 && existsSync(cgroupDir(controller, pid))) {
          try {
            rmdirSync(cgroupDir(controller, pid));
          } catch {
            // Reported by the assertions above.
          }
        }
      }
    }
  },
);
