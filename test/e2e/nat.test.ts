// NAT and routed namespaces on the real kernel (root): a "container" namespace behind
// MASQUERADE with a DNAT'd published port, and a "server" namespace, both routed through the
// root namespace (test/helpers/nat-net.ts). The real monitor captures the uplink only, the
// container's veth only, and both at once; each process must get what it says it moved
// (the workers' own byte counts), whichever device copy is seen, and with both devices the host
// totals must count every packet once (tcpdump on the uplink is the truth).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { createNatNet, hasIptables } from '../helpers/nat-net.js';
import type { NatNet } from '../helpers/nat-net.js';
import {
  assertOnRightProcess,
  describeSnapshot,
  payloadOf,
  tcpUdpSeenBytes,
  waitFor,
} from '../helpers/nat-scoring.js';
import { canCreateTestNets } from '../helpers/netns.js';
import { startReferenceCapture, summarizePcapFile, wireTotals } from '../helpers/pcap-truth.js';
import { skipReason } from '../helpers/skip-reasons.js';
import { startTcpClient, startTcpServer } from '../helpers/traffic.js';
import type { Worker } from '../helpers/traffic.js';

const SKIP = !canCreateTestNets()
  ? '[needs-root] needs root: creates network namespaces, iptables rules and captures'
  : !hasIptables()
    ? skipReason('no-iptables', 'iptables is not installed (scripts/setup-test.sh installs it)')
    : false;
const TEST_TIMEOUT_MS = 60_000;
const TRAFFIC_BOUND_MS = 15_000;
const WARMUP_MS = 1000;
const SETTLE_LIMIT_MS = 10_000;
const PUBLISHED_PORT = 8080;
const ROUTED_RUNS = 5;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function openMonitor(devices: string[]): Promise<Monitor> {
  const monitor = await createMonitor({
    devices,
    captureTimeoutMs: 60_000,
    syncIntervalMs: 1000,
  });
  monitor.start();
  return monitor;
}

test(
  'MASQUERADE out and DNAT in at once: each process gets its bytes on the uplink, the veth, and both (counted once)',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    let nat: NatNet | undefined;
    const monitors: Monitor[] = [];
    const workers: Worker[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'pfe-nat-'));
    try {
      nat = await createNatNet({ publish: { from: PUBLISHED_PORT, to: PUBLISHED_PORT } });
      const { container: c, server: s } = nat;
      const reference = await startReferenceCapture(
        s,
        undefined,
        s.a.device,
        join(dir, 'uplink.pcap'),
        { filter: 'tcp or udp' },
      );
      const uplink = await openMonitor([s.a.device]);
      const bridge = await openMonitor([c.a.device]);
      const every = await openMonitor([c.a.device, s.a.device]);
      monitors.push(uplink, bridge, every);
      await sleep(WARMUP_MS);

      const outServer = await startTcpServer(s, s.b.ns, {
        address: s.b.ipv4,
        port: 0,
        connections: 2,
        replyBytes: 1_000_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      const inServer = await startTcpServer(c, c.b.ns, {
        address: c.b.ipv4,
        port: PUBLISHED_PORT,
        connections: 2,
        replyBytes: 700_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      const outClient = startTcpClient(c, c.b.ns, {
        address: s.b.ipv4,
        port: outServer.port,
        connections: 2,
        concurrency: 2,
        ratePerSecond: 0,
        sendBytes: 3_000_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      const inClient = startTcpClient(s, s.b.ns, {
        address: s.a.ipv4,
        port: PUBLISHED_PORT,
        connections: 2,
        concurrency: 2,
        ratePerSecond: 0,
        sendBytes: 2_000_000,
        durationMs: TRAFFIC_BOUND_MS,
      });
      workers.push(outServer, inServer, outClient, inClient);
      const truths = [
        payloadOf('client in the container (MASQUERADE)', await outClient.report),
        payloadOf('server in the server namespace', await outServer.report),
        payloadOf('server in the container (published port)', await inServer.report),
        payloadOf('client in the server namespace', await inClient.report),
      ];
      for (const t of truths) assert.ok(t.sentPayloadBytes > 0, `${t.label} sent nothing`);

      const ref = await reference.stop();
      assert.equal(ref.droppedByKernel, 0, 'the reference capture dropped packets');
      const { packets: wirePackets, ipBytes: wireIpBytes } = wireTotals(
        summarizePcapFile(ref.path),
      );
      const seenPackets = (m: Monitor): number =>
        m.stats().seen.packets - m.stats().otherProtocol.packets;
      for (const m of monitors) {
        await waitFor(() => seenPackets(m) >= wirePackets, SETTLE_LIMIT_MS);
        await m.stop();
      }
      const cases = [
        ['uplink only', uplink],
        ['container veth only', bridge],
        ['every device', every],
      ] as const;
      for (const [what, m] of cases) assertOnRightProcess(what, m.snapshot(), truths);

      // Every packet crossed both devices: counted once, whichever copy came first.
      const everyBytes = tcpUdpSeenBytes(every);
      const snapshot = every.snapshot();
      assert.ok(
        Math.abs(everyBytes - wireIpBytes) <= wireIpBytes * 0.001,
        `host totals with every device: ${everyBytes} IP bytes, ${wireIpBytes} distinct on the wire\n` +
          describeSnapshot(snapshot),
      );
      const st = every.stats();
      assert.ok(st.duplicate.bytes > 0.9 * wireIpBytes, 'the second copy of each packet was seen');
      assert.ok(st.nat?.available === true, `conntrack readable: ${st.nat?.unavailableReason}`);
      assert.ok((st.nat?.translatedFlows ?? 0) > 0, 'NATed flows found in conntrack');
      // Totals reconcile: attributed + unknown + still pending = distinct packets seen.
      assert.equal(
        st.attributed.packets + st.unknown.packets + st.pending.packets,
        st.seen.packets - st.otherProtocol.packets - st.queueDropped.packets,
      );
    } finally {
      for (const w of workers) w.release();
      for (const m of monitors) await m.stop();
      await nat?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  `a routed namespace (no NAT) gets its bytes in each of ${ROUTED_RUNS} runs, never nothing`,
  { skip: SKIP, timeout: TEST_TIMEOUT_MS * 2 },
  async () => {
    for (let run = 1; run <= ROUTED_RUNS; run++) {
      let nat: NatNet | undefined;
      let monitor: Monitor | undefined;
      const workers: Worker[] = [];
      try {
        nat = await createNatNet({ masquerade: false });
        const { container: c, server: s } = nat;
        // The server's end: the root side of the server's veth, as in the issue.
        monitor = await openMonitor([s.a.device]);
        await sleep(WARMUP_MS);
        const server = await startTcpServer(s, s.b.ns, {
          address: s.b.ipv4,
          port: 0,
          connections: 3,
          replyBytes: 200_000,
          durationMs: TRAFFIC_BOUND_MS,
        });
        const client = startTcpClient(c, c.b.ns, {
          address: s.b.ipv4,
          port: server.port,
          connections: 3,
          concurrency: 3,
          ratePerSecond: 0,
          sendBytes: 1_000_000,
          durationMs: TRAFFIC_BOUND_MS,
        });
        workers.push(server, client);
        const truths = [
          payloadOf('client in the routed namespace', await client.report),
          payloadOf('server', await server.report),
        ];
        const wanted = truths.reduce((n, t) => n + t.sentPayloadBytes, 0);
        const m = monitor;
        await waitFor(() => {
          const snap = m.snapshot();
          let got = 0;
          for (const p of snap.processes) got += p.total.sentPayloadBytes;
          return got >= wanted;
        }, SETTLE_LIMIT_MS);
        await monitor.stop();
        assertOnRightProcess(`routed run ${run}`, monitor.snapshot(), truths);
      } finally {
        for (const w of workers) w.release();
        await monitor?.stop();
        await nat?.destroy();
      }
    }
  },
);
