// The benchmark's fixed workloads: each starts known processes in a test net (clients on the
// host, servers in the namespace), waits for their traffic to end and returns their reports.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestNet } from '../../test/helpers/netns.js';
import type { ProcessTruth } from '../../test/helpers/pcap-truth.js';
import {
  reportsFromPeerPids,
  startTcpClient,
  startTcpServer,
  startTrickleClients,
  startUdpClient,
  startUdpServer,
  waitForExit,
} from '../../test/helpers/traffic.js';
import type { WorkerReport } from '../../test/helpers/traffic.js';
import { readServerTruth, runServerClients, startServer } from '../../test/helpers/servers.js';
import type { ServerMode } from '../../test/helpers/servers.js';

/** What a scenario's traffic produced. */
export interface TrafficResult {
  /** Reports of every process that moved traffic (clients and servers). */
  reports: WorkerReport[];
  /** Pids of the processes in the host's namespace (the ones nethogs can see). */
  hostPids: number[];
  /** Let lingering workers exit. */
  release(): void;
  /** Truth to use when the reference capture dropped packets. */
  fallbackTruth?: Map<number, ProcessTruth>;
}

/** One workload. */
export interface Scenario {
  name: string;
  /** Needs IPv6 addresses. */
  v6: boolean;
  /** UDP only: the truth can also be computed exactly from the workers' datagram counts. */
  udpOnly: boolean;
  /** Skip nethogs (the memory scenario measures pidflow's RSS only). */
  pidflowOnly?: boolean;
  run(net: TestNet): Promise<TrafficResult>;
}

/** Workers stay alive this long at most after their traffic, so both monitors can read /proc. */
const LINGER_MS = 20_000;
const TRAFFIC_BOUND_MS = 15_000;

function serverNs(net: TestNet): string {
  if (net.b.ns === undefined) throw new Error('test net has no namespace for the servers');
  return net.b.ns;
}

async function tcpScenario(
  net: TestNet,
  address: string,
  clients: number,
  perClient: {
    connections: number;
    concurrency: number;
    ratePerSecond: number;
    sendBytes: number;
    holdMs?: number;
  },
  replyBytes: number,
): Promise<TrafficResult> {
  const server = await startTcpServer(net, serverNs(net), {
    address,
    port: 0,
    connections: clients * perClient.connections,
    replyBytes,
    durationMs: TRAFFIC_BOUND_MS,
    lingerMs: LINGER_MS,
  });
  const workers = Array.from({ length: clients }, () =>
    startTcpClient(net, undefined, {
      address,
      port: server.port,
      ...perClient,
      durationMs: TRAFFIC_BOUND_MS,
      lingerMs: LINGER_MS,
    }),
  );
  const reports = await Promise.all([...workers.map((w) => w.report), server.report]);
  return {
    reports,
    hostPids: workers.map((w) => w.pid),
    release: () => [...workers, server].forEach((w) => w.release()),
  };
}

const FLOOD_RATE_PPS = 150_000;
const FLOOD_PAYLOAD_BYTES = 64;
/** trafgen's source port: the connected receiver's peer. */
const FLOOD_SOURCE_PORT = 40000;
/** The receiver's socket exists this long before the flood, as in real life: both tools scan it. */
const FLOOD_PRE_WAIT_MS = 2000;
/**
 * trafgen gets this long beyond its nominal time (CPU contention on two shared cores slows it,
 * nethogs's load most of all), then it is stopped: the receiver outlives it by
 * FLOOD_RECEIVER_MARGIN_MS, so no packet arrives at a closed socket.
 */
const FLOOD_GRACE_MS = 3000;
const FLOOD_RECEIVER_MARGIN_MS = 1500;

/** One flood workload: how long, and whether the receiving socket is connected to the source. */
interface FloodSpec {
  /** connect() the receiver to trafgen's address and source port (nethogs can attribute it). */
  connected: boolean;
  packets: number;
}

/**
 * trafgen (netsniff-ng) in the namespace floods a UDP socket on the host with 64-byte payloads:
 * a Node sender cannot reach such rates on two shared cores. trafgen writes raw frames (no socket,
 * so no sender to attribute): the host's receiving process is the one both tools must find. When
 * the reference capture drops packets, the truth is the host veth's rx_packets counter, which
 * counts exactly the frames handed to the stack (and so to packet sockets).
 *
 * nethogs attributes only sockets with a remote endpoint in /proc/net/udp: with an unconnected
 * receiver it attributes nothing and so skips nearly all of its per-packet work; with a
 * connected one it does the work (the case docs/benchmarks.md and the toolchain notes measured).
 */
async function floodScenario(net: TestNet, flood: FloodSpec): Promise<TrafficResult> {
  const ns = serverNs(net);
  const floodMs = Math.ceil((flood.packets / FLOOD_RATE_PPS) * 1000);
  const receiver = await startUdpServer(net, undefined, {
    address: net.a.ipv4,
    ports: 1,
    replyBytes: 0,
    datagrams: 0,
    durationMs: FLOOD_PRE_WAIT_MS + floodMs + FLOOD_GRACE_MS + FLOOD_RECEIVER_MARGIN_MS,
    lingerMs: LINGER_MS,
    ...(flood.connected ? { connectTo: { address: net.b.ipv4, port: FLOOD_SOURCE_PORT } } : {}),
  });
  const port = receiver.ports[0] ?? 0;
  const mac = (dev: string, inNs: string | undefined): Promise<string> =>
    net.exec(inNs, 'cat', [`/sys/class/net/${dev}/address`]).then((t) => t.trim());
  const config = join(mkdtempSync(join(tmpdir(), 'pfb-')), 'flood.cfg');
  writeFileSync(
    config,
    `{ eth(da=${await mac(net.a.device, undefined)}, sa=${await mac(net.b.device, ns)}), ` +
      `ipv4(saddr=${net.b.ipv4}, daddr=${net.a.ipv4}, ttl=64), ` +
      `udp(sp=${FLOOD_SOURCE_PORT}, dp=${port}), ` +
      `fill(0x61, ${FLOOD_PAYLOAD_BYTES}) }\n`,
  );
  await new Promise((r) => setTimeout(r, FLOOD_PRE_WAIT_MS));
  const rxFile = `/sys/class/net/${net.a.device}/statistics/rx_packets`;
  const rxBefore = Number(readFileSync(rxFile, 'utf8'));
  // -P 1: one sender process; --no-sock-mem/--notouch-irq: leave the system's socket memory and IRQ affinity alone.
  const trafgen = net.spawnIn(
    ns,
    'trafgen',
    [
      '-o',
      net.b.device,
      '-i',
      config,
      '-n',
      String(flood.packets),
      '-b',
      `${FLOOD_RATE_PPS}pps`,
      '-P',
      '1',
      '--no-sock-mem',
      '--notouch-irq',
      '-C',
    ],
    { stdio: ['ignore', 'ignore', 'ignore'] },
  );
  await waitForExit(trafgen, floodMs + FLOOD_GRACE_MS);
  if (trafgen.exitCode === null && trafgen.signalCode === null) {
    trafgen.kill('SIGINT');
    await waitForExit(trafgen, 1000);
  }
  const rxPackets = Number(readFileSync(rxFile, 'utf8')) - rxBefore;
  rmSync(dirname(config), { recursive: true, force: true });
  const report = await receiver.report;
  const ipBytes = FLOOD_PAYLOAD_BYTES + 8 + 20;
  const truth = new Map([
    [
      receiver.pid,
      {
        pid: receiver.pid,
        sentBytes: 0,
        receivedBytes: rxPackets * ipBytes,
        sentPackets: 0,
        receivedPackets: rxPackets,
        sentWireBytes: 0,
        receivedWireBytes: rxPackets * (ipBytes + 14),
        sentPayloadBytes: 0,
        receivedPayloadBytes: rxPackets * FLOOD_PAYLOAD_BYTES,
        sentStreamBytes: 0,
        receivedStreamBytes: rxPackets * FLOOD_PAYLOAD_BYTES,
      },
    ],
  ]);
  return {
    reports: [report],
    hostPids: [receiver.pid],
    fallbackTruth: truth,
    release: () => receiver.release(),
  };
}

/** `connectionsPerSecond` short TCP connections (4 KiB up, 2 KiB back) for `seconds`, pidflow only. */
export function churnScenario(connectionsPerSecond: number, seconds: number): Scenario {
  return {
    name: `churn (${connectionsPerSecond} TCP connections/s)`,
    v6: false,
    udpOnly: false,
    pidflowOnly: true,
    run: (net) =>
      tcpScenario(
        net,
        net.b.ipv4,
        2,
        {
          connections: (connectionsPerSecond * seconds) / 2,
          concurrency: 128,
          ratePerSecond: connectionsPerSecond / 2,
          sendBytes: 4096,
        },
        2048,
      ),
  };
}

/**
 * A real server shape (test/helpers/servers.py) on the host, where nethogs can see it, loaded
 * from the namespace with 50 short connections/s (2 KB up, 20 KB down, a few ms each) for 6 s
 * and 4 long ones (2 s each). The truth maps each captured connection to the process that
 * served it, from the serving processes' own reports.
 */
async function serverScenario(net: TestNet, mode: ServerMode): Promise<TrafficResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pfb-srv-'));
  const results = join(dir, 'served.txt');
  const server = await startServer(net, undefined, mode, net.a.ipv4, results, 4);
  try {
    const clients = await runServerClients(net, serverNs(net), net.a.ipv4, server.port, {
      shortPerSecond: 50,
      seconds: 6,
      longConnections: 4,
    });
    if (clients.failed > 0) throw new Error(`${clients.failed} ${mode} connections failed`);
  } catch (error) {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const reports: WorkerReport[] = [...readServerTruth(results).values()].map((t) => ({
    type: 'report',
    pid: t.pid,
    role: 'tcp-server',
    elapsedMs: 0,
    sockets: t.connectionReports.map((c) => ({
      protocol: 'tcp',
      localAddress: c.localAddress,
      localPort: c.localPort,
      remoteAddress: c.remoteAddress,
      remotePort: c.remotePort,
      sentPayloadBytes: c.sentBytes,
      receivedPayloadBytes: c.receivedBytes,
      sentDatagrams: 0,
      receivedDatagrams: 0,
    })),
  }));
  return {
    reports,
    hostPids: reports.map((r) => r.pid),
    release: () => {
      void server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The scenarios of `npm run bench`, in order. */
export const SCENARIOS: Scenario[] = [
  {
    name: 'long flows (4 TCP at line rate)',
    v6: false,
    udpOnly: false,
    run: (net) =>
      tcpScenario(
        net,
        net.b.ipv4,
        4,
        { connections: 1, concurrency: 1, ratePerSecond: 0, sendBytes: 300 << 20 },
        1 << 20,
      ),
  },
  {
    name: 'churn (200 TCP connections/s)',
    v6: false,
    udpOnly: false,
    run: (net) =>
      tcpScenario(
        net,
        net.b.ipv4,
        1,
        { connections: 600, concurrency: 64, ratePerSecond: 200, sendBytes: 4096 },
        2048,
      ),
  },
  {
    name: 'UDP (connected + unconnected)',
    v6: false,
    udpOnly: true,
    run: async (net: TestNet): Promise<TrafficResult> => {
      const server = await startUdpServer(net, serverNs(net), {
        address: net.b.ipv4,
        ports: 1,
        replyBytes: 100,
        datagrams: 0,
        durationMs: 4000,
        lingerMs: LINGER_MS,
      });
      const clients = [true, false].map((connected) =>
        startUdpClient(net, undefined, {
          address: net.b.ipv4,
          bindAddress: net.a.ipv4,
          ports: server.ports,
          connected,
          sockets: 1,
          datagrams: 3000,
          payloadBytes: 1000,
          ratePerSecond: 1000,
          burst: 16,
          durationMs: TRAFFIC_BOUND_MS,
          lingerMs: LINGER_MS,
        }),
      );
      const reports = await Promise.all([...clients.map((c) => c.report), server.report]);
      return {
        reports,
        hostPids: clients.map((c) => c.pid),
        release: () => [...clients, server].forEach((w) => w.release()),
      };
    },
  },
  {
    name: 'IPv6 TCP',
    v6: true,
    udpOnly: false,
    run: (net) =>
      tcpScenario(
        net,
        net.b.ipv6 ?? '',
        2,
        // Both connections open 1.5 s before the transfer: this case is about IPv6, not churn.
        { connections: 2, concurrency: 2, ratePerSecond: 0, sendBytes: 50 << 20, holdMs: 1500 },
        1 << 20,
      ),
  },
  {
    name: '200 processes, one connection each',
    v6: false,
    udpOnly: false,
    run: async (net: TestNet): Promise<TrafficResult> => {
      const count = 200;
      const server = await startTcpServer(net, serverNs(net), {
        address: net.b.ipv4,
        port: 0,
        connections: count,
        replyBytes: 0,
        pidLine: true,
        durationMs: TRAFFIC_BOUND_MS,
        lingerMs: LINGER_MS,
      });
      const clients = startTrickleClients(net, undefined, {
        count,
        address: net.b.ipv4,
        port: server.port,
        chunkBytes: 1000,
        chunks: 10,
        intervalMs: 300,
        lingerSeconds: LINGER_MS / 1000,
      });
      const serverReport = await server.report;
      const reports = [...reportsFromPeerPids(serverReport), serverReport];
      return {
        reports,
        hostPids: clients.map((c) => c.pid),
        release: () => {
          server.release();
          for (const c of clients) c.stdin?.end();
          void Promise.all(clients.map((c) => waitForExit(c, 2000)));
        },
      };
    },
  },
  {
    // The toolchain notes' nethogs baseline: a flood nethogs can attribute.
    name: '64-byte UDP flood, 12 s, to a connected socket (trafgen, 150k packets/s)',
    v6: false,
    udpOnly: false,
    run: (net) => floodScenario(net, { connected: true, packets: 12 * FLOOD_RATE_PPS }),
  },
  {
    // nethogs never attributes an unconnected socket, so it skips most per-packet work here.
    name: '64-byte UDP flood, 3 s, to an unconnected socket (trafgen, 150k packets/s; nethogs cannot attribute it)',
    v6: false,
    udpOnly: false,
    run: (net) => floodScenario(net, { connected: false, packets: 3 * FLOOD_RATE_PPS }),
  },
  {
    name: 'pre-fork server (master + 4 workers on one listener; 50 short connections/s + 4 long)',
    v6: false,
    udpOnly: false,
    run: (net) => serverScenario(net, 'prefork'),
  },
  {
    name: 'fork-per-connection server (a child serves each connection; 50 short/s + 4 long)',
    v6: false,
    udpOnly: false,
    run: (net) => serverScenario(net, 'forkper'),
  },
];

/** 100,000 distinct UDP flows: 500 sockets x 200 server ports, one datagram each. */
export const MEMORY_SCENARIO: Scenario = {
  name: 'memory: 100,000 UDP flows',
  v6: false,
  udpOnly: true,
  run: async (net: TestNet): Promise<TrafficResult> => {
    const server = await startUdpServer(net, serverNs(net), {
      address: net.b.ipv4,
      ports: 200,
      replyBytes: 0,
      datagrams: 100_000,
      durationMs: 11_000,
      lingerMs: LINGER_MS,
    });
    const client = startUdpClient(net, undefined, {
      address: net.b.ipv4,
      bindAddress: net.a.ipv4,
      ports: server.ports,
      connected: false,
      sockets: 500,
      datagrams: 100_000,
      payloadBytes: 32,
      ratePerSecond: 40_000,
      burst: 500,
      holdMs: 2000,
      durationMs: 8000,
      lingerMs: LINGER_MS,
    });
    const reports = await Promise.all([client.report, server.report]);
    return {
      reports,
      hostPids: [client.pid],
      release: () => [client, server].forEach((w) => w.release()),
    };
  },
};
