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

const FLOOD_PACKETS = 450_000;
const FLOOD_RATE_PPS = 150_000;
const FLOOD_PAYLOAD_BYTES = 64;

/**
 * trafgen (netsniff-ng) in the namespace floods a UDP socket on the host with 64-byte payloads:
 * a Node sender cannot reach such rates on two shared cores. trafgen writes raw frames (no socket,
 * so no sender to attribute): the host's receiving process is the one both tools must find. When
 * the reference capture drops packets, the truth is the host veth's rx_packets counter, which
 * counts exactly the frames handed to the stack (and so to packet sockets).
 */
async function floodScenario(net: TestNet): Promise<TrafficResult> {
  const ns = serverNs(net);
  const receiver = await startUdpServer(net, undefined, {
    address: net.a.ipv4,
    ports: 1,
    replyBytes: 0,
    datagrams: 0,
    durationMs: 7000,
    lingerMs: LINGER_MS,
  });
  const port = receiver.ports[0] ?? 0;
  const mac = (dev: string, inNs: string | undefined): Promise<string> =>
    net.exec(inNs, 'cat', [`/sys/class/net/${dev}/address`]).then((t) => t.trim());
  const config = join(mkdtempSync(join(tmpdir(), 'pfb-')), 'flood.cfg');
  writeFileSync(
    config,
    `{ eth(da=${await mac(net.a.device, undefined)}, sa=${await mac(net.b.device, ns)}), ` +
      `ipv4(saddr=${net.b.ipv4}, daddr=${net.a.ipv4}, ttl=64), udp(sp=40000, dp=${port}), ` +
      `fill(0x61, ${FLOOD_PAYLOAD_BYTES}) }\n`,
  );
  // A server whose socket exists before the flood, as in real life: both tools get to scan it.
  await new Promise((r) => setTimeout(r, 2000));
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
      String(FLOOD_PACKETS),
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
  await waitForExit(trafgen, 15_000);
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
    name: '64-byte UDP flood (trafgen, 150k packets/s)',
    v6: false,
    udpOnly: false,
    run: floodScenario,
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
