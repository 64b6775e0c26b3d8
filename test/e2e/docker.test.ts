// Containers on a real Docker engine (Debian's docker.io, started by this file with its own
// state in a temp dir and addresses inside 198.18.0.0/15, stopped after: test/helpers/
// docker-engine.ts). Default bridge networking: a container uploading through MASQUERADE to a
// server in a namespace of the test, a published port, two containers on one bridge, and a
// --network host container. Ground truth: the workers' own byte counts. The real monitor must
// put at least 99% of the bytes on the right process whichever devices it captures, and count
// each packet once with every device captured.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { dockerSkipReason, startDockerEngine } from '../helpers/docker-engine.js';
import type { ContainerWorker, DockerEngine } from '../helpers/docker-engine.js';
import {
  assertOnRightProcess,
  describeSnapshot,
  payloadOf,
  tcpUdpSeenBytes,
  waitFor,
} from '../helpers/nat-scoring.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';
import type { TestNet } from '../helpers/netns.js';
import { startReferenceCapture, summarizePcapFile, wireTotals } from '../helpers/pcap-truth.js';
import { startTcpClient, startTcpServer } from '../helpers/traffic.js';
import type { Worker } from '../helpers/traffic.js';

const SKIP = !canCreateTestNets()
  ? '[needs-root] needs root: starts a Docker engine, creates namespaces and captures'
  : dockerSkipReason();
const TEST_TIMEOUT_MS = 45_000;
const TRAFFIC_BOUND_MS = 15_000;
/** Clients connect, then wait this long before writing: the monitor opens on their veth first. */
const HOLD_MS = 2500;
const SETTLE_LIMIT_MS = 10_000;
const PUBLISHED_PORT = 8080;
/** Containers stay (and so do their veths, where captures run) until released, at most this long. */
const LINGER_MS = 30_000;

let engine: DockerEngine | undefined;
let server: TestNet | undefined;

before(async () => {
  if (SKIP !== false) return;
  engine = await startDockerEngine();
  server = await createTestNet({ prefix: 'pfds' });
});

after(async () => {
  await server?.destroy();
  await engine?.stop();
});

async function openMonitor(devices: string[]): Promise<Monitor> {
  const monitor = await createMonitor({ devices, captureTimeoutMs: 60_000, syncIntervalMs: 1000 });
  monitor.start();
  return monitor;
}

/**
 * Wait until each monitor saw `packets` TCP/UDP packets, or (a device that sees only part of
 * the traffic) its count stopped growing for a second, then stop them.
 */
async function settle(monitors: readonly Monitor[], packets: number): Promise<void> {
  const seen = (m: Monitor): number => m.stats().seen.packets - m.stats().otherProtocol.packets;
  for (const m of monitors) {
    let last = -1;
    let lastChangeMs = Date.now();
    await waitFor(() => {
      const now = seen(m);
      if (now !== last) {
        last = now;
        lastChangeMs = Date.now();
      }
      return now >= packets || (now > 0 && Date.now() - lastChangeMs > 1000);
    }, SETTLE_LIMIT_MS);
    await m.stop();
  }
}

function containerIp(name: string): string {
  return engine!.docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', name]).trim();
}

test(
  'MASQUERADE upload and a published port: right process on the uplink, the bridge and every device, each packet once',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const e = engine!;
    const s = server!;
    const monitors: Monitor[] = [];
    const workers: (Worker | ContainerWorker)[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'pfe-docker-nat-'));
    try {
      const outServer = await startTcpServer(s, s.b.ns, {
        address: s.b.ipv4,
        port: 0,
        connections: 2,
        replyBytes: 1_000_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      workers.push(outServer);
      const pub = e.runWorker(
        'pfd-pub',
        {
          role: 'tcp-server',
          address: 'eth0',
          port: 80,
          connections: 2,
          replyBytes: 700_000,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: LINGER_MS,
        },
        ['-p', `${s.a.ipv4}:${PUBLISHED_PORT}:80`],
      );
      workers.push(pub);
      await pub.ready;
      const up = e.runWorker('pfd-up', {
        role: 'tcp-client',
        address: s.b.ipv4,
        port: outServer.port,
        connections: 2,
        concurrency: 2,
        ratePerSecond: 0,
        sendBytes: 3_000_000,
        durationMs: TRAFFIC_BOUND_MS,
        holdMs: HOLD_MS,
        lingerMs: LINGER_MS,
      });
      workers.push(up);
      await up.pid;
      const reference = await startReferenceCapture(
        s,
        undefined,
        s.a.device,
        join(dir, 'uplink.pcap'),
        { filter: 'tcp or udp' },
      );
      const uplink = await openMonitor([s.a.device]);
      const bridge = await openMonitor(['docker0']);
      const every = await openMonitor([
        'docker0',
        e.hostVeth('pfd-up'),
        e.hostVeth('pfd-pub'),
        s.a.device,
      ]);
      monitors.push(uplink, bridge, every);
      const inClient = startTcpClient(s, s.b.ns, {
        address: s.a.ipv4,
        port: PUBLISHED_PORT,
        connections: 2,
        concurrency: 2,
        ratePerSecond: 0,
        sendBytes: 2_000_000,
        durationMs: TRAFFIC_BOUND_MS,
        holdMs: 500,
      });
      workers.push(inClient);
      const truths = [
        payloadOf('container uploading through MASQUERADE', await up.report),
        payloadOf('server in the test namespace', await outServer.report),
        payloadOf('container behind the published port', await pub.report),
        payloadOf('client of the published port', await inClient.report),
      ];
      for (const t of truths) assert.ok(t.sentPayloadBytes > 0, `${t.label} sent nothing`);
      const ref = await reference.stop();
      assert.equal(ref.droppedByKernel, 0, 'the reference capture dropped packets');
      const { packets: wirePackets, ipBytes: wireIpBytes } = wireTotals(
        summarizePcapFile(ref.path),
      );
      await settle(monitors, wirePackets);
      assertOnRightProcess('uplink only', uplink.snapshot(), truths);
      assertOnRightProcess('docker0 only', bridge.snapshot(), truths);
      assertOnRightProcess('every device', every.snapshot(), truths);
      const everyBytes = tcpUdpSeenBytes(every);
      assert.ok(
        Math.abs(everyBytes - wireIpBytes) <= wireIpBytes * 0.001,
        `host totals with every device: ${everyBytes} IP bytes, ${wireIpBytes} distinct on the wire\n` +
          describeSnapshot(every.snapshot()),
      );
      const st = every.stats();
      assert.equal(
        st.attributed.packets + st.unknown.packets + st.pending.packets,
        st.seen.packets - st.otherProtocol.packets - st.queueDropped.packets,
        'per-process + unknown = distinct packets',
      );
    } finally {
      for (const w of workers) w.release();
      for (const m of monitors) await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'two containers on one bridge: each gets its own bytes, counted once over both veths',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const e = engine!;
    const monitors: Monitor[] = [];
    const workers: ContainerWorker[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'pfe-docker-c2c-'));
    try {
      const srv = e.runWorker('pfd-c2s', {
        role: 'tcp-server',
        address: 'eth0',
        port: 80,
        connections: 2,
        replyBytes: 500_000,
        durationMs: TRAFFIC_BOUND_MS,
        lingerMs: LINGER_MS,
      });
      workers.push(srv);
      await srv.ready;
      const cli = e.runWorker('pfd-c2c', {
        role: 'tcp-client',
        address: containerIp('pfd-c2s'),
        port: 80,
        connections: 2,
        concurrency: 2,
        ratePerSecond: 0,
        sendBytes: 2_000_000,
        durationMs: TRAFFIC_BOUND_MS,
        holdMs: HOLD_MS,
        lingerMs: LINGER_MS,
      });
      workers.push(cli);
      await cli.pid;
      const serverVeth = e.hostVeth('pfd-c2s');
      const reference = await startReferenceCapture(
        server!,
        undefined,
        serverVeth,
        join(dir, 'veth.pcap'),
        { filter: 'tcp or udp' },
      );
      const every = await openMonitor(['docker0', serverVeth, e.hostVeth('pfd-c2c')]);
      monitors.push(every);
      const truths = [
        payloadOf('client container', await cli.report),
        payloadOf('server container', await srv.report),
      ];
      const ref = await reference.stop();
      const { packets: wirePackets, ipBytes: wireIpBytes } = wireTotals(
        summarizePcapFile(ref.path),
      );
      await settle(monitors, wirePackets);
      assertOnRightProcess('container to container', every.snapshot(), truths);
      const everyBytes = tcpUdpSeenBytes(every);
      assert.ok(
        Math.abs(everyBytes - wireIpBytes) <= wireIpBytes * 0.001,
        `host totals: ${everyBytes} IP bytes, ${wireIpBytes} distinct\n${describeSnapshot(every.snapshot())}`,
      );
    } finally {
      for (const w of workers) w.release();
      for (const m of monitors) await m.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  'a --network host container gets its bytes and carries its container name',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const e = engine!;
    const s = server!;
    const workers: (Worker | ContainerWorker)[] = [];
    let monitor: Monitor | undefined;
    try {
      monitor = await openMonitor([s.a.device]);
      const srv = await startTcpServer(s, s.b.ns, {
        address: s.b.ipv4,
        port: 0,
        connections: 2,
        replyBytes: 300_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      workers.push(srv);
      const cli = e.runWorker(
        'pfd-hostnet',
        {
          role: 'tcp-client',
          address: s.b.ipv4,
          port: srv.port,
          connections: 2,
          concurrency: 2,
          ratePerSecond: 0,
          sendBytes: 1_500_000,
          durationMs: TRAFFIC_BOUND_MS,
          holdMs: 1500,
        },
        ['--network', 'host'],
      );
      workers.push(cli);
      const truths = [
        payloadOf('host-network container', await cli.report),
        payloadOf('server', await srv.report),
      ];
      const clientPid = truths[0]!.pid;
      const m = monitor;
      const serverPid = truths[1]!.pid;
      // The name comes from the engine's state files, read when the process is first seen (and
      // retried while unknown): wait for it with the bytes.
      await waitFor(() => {
        const processes = m.snapshot().processes;
        const entry = processes.find((p) => p.process.pid === clientPid);
        const server = processes.find((p) => p.process.pid === serverPid);
        return (
          (entry?.total.sentPayloadBytes ?? 0) >= truths[0]!.sentPayloadBytes &&
          (server?.total.receivedPayloadBytes ?? 0) >= truths[1]!.receivedPayloadBytes &&
          entry?.process.container?.name === 'pfd-hostnet'
        );
      }, SETTLE_LIMIT_MS);
      await monitor.stop();
      const snapshot = monitor.snapshot();
      assertOnRightProcess('--network host', snapshot, truths);
      const entry = snapshot.processes.find((p) => p.process.pid === clientPid);
      assert.equal(
        entry?.process.container?.name,
        'pfd-hostnet',
        `container of pid ${clientPid}: ${JSON.stringify(entry?.process.container ?? null)} ` +
          `(cgroup ${entry?.process.cgroup ?? '?'})\n${describeSnapshot(snapshot)}`,
      );
      assert.equal(entry?.process.container?.runtime, 'docker');
    } finally {
      for (const w of workers) w.release();
      await monitor?.stop();
    }
  },
);
