// NATed container benchmark: pidflow against nethogs on the same traffic. Two containers on a
// real Docker engine (test/helpers/docker-engine.ts; without one, namespaces behind MASQUERADE,
// and the output says so) upload through MASQUERADE to a server in a test namespace: two long
// connections and a stream of short ones (one conntrack lookup per new flow). Each tool captures
// the uplink only, then every device (bridge, container veths, uplink). Prints, per device set,
// the medians over the runs of: share of the containers' bytes on the right process, bytes
// credited against bytes moved (above 100%: counted twice), CPU seconds, and pidflow's conntrack
// lookups and their time. Truth: tcpdump on the uplink, where each packet passes once.
//
// npm run bench:nat [-- --runs 3]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startMonitorProcess } from './lib/monitor-process.js';
import { startNethogs } from './lib/nethogs.js';
import { dockerSkipReason, startDockerEngine } from '../test/helpers/docker-engine.js';
import type { DockerEngine } from '../test/helpers/docker-engine.js';
import { createNatNet } from '../test/helpers/nat-net.js';
import type { NatNet } from '../test/helpers/nat-net.js';
import { createTestNet } from '../test/helpers/netns.js';
import type { TestNet } from '../test/helpers/netns.js';
import { startReferenceCapture, summarizePcapFile } from '../test/helpers/pcap-truth.js';
import { startTcpClient, startTcpServer } from '../test/helpers/traffic.js';
import type { TcpClientSpec, WorkerReport } from '../test/helpers/traffic.js';

const TRAFFIC_BOUND_MS = 25_000;
/** Clients wait this long before sending: both tools open on their veths first. */
const HOLD_MS = 6000;
const LONG: Omit<TcpClientSpec, 'role' | 'address' | 'port'> = {
  connections: 2,
  concurrency: 2,
  ratePerSecond: 0,
  sendBytes: 8_000_000,
  durationMs: TRAFFIC_BOUND_MS,
  holdMs: HOLD_MS,
  lingerMs: 30_000,
};
const SHORT: Omit<TcpClientSpec, 'role' | 'address' | 'port'> = {
  connections: 300,
  concurrency: 4,
  ratePerSecond: 60,
  sendBytes: 20_000,
  durationMs: TRAFFIC_BOUND_MS,
  startDelayMs: HOLD_MS,
  lingerMs: 30_000,
};

interface ToolRun {
  rightShare: number;
  creditedShare: number;
  /** Everything the tool counted on the host (all processes and unknown) / distinct bytes. */
  hostShare: number;
  cpuSeconds: number;
}

interface Run {
  pidflow: ToolRun;
  nethogs: ToolRun;
  lookups: number;
  lookupMs: number;
  translatedFlows: number;
}

/** Where the containers run: a real engine, or namespaces behind MASQUERADE. */
interface Setup {
  kind: string;
  server: TestNet;
  /** Start both clients; resolves with their host pids and reports. */
  startClients(
    address: string,
    port: number,
  ): { pids: Promise<number[]>; reports: Promise<WorkerReport[]> };
  /** Devices to capture: uplink only, then every device. */
  deviceSets(): Promise<[string, string[]][]>;
  stopClients(): void;
  destroy(): Promise<void>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function dockerSetup(engine: DockerEngine, server: TestNet, run: number): Promise<Setup> {
  const names = [`pfb-long-${run}`, `pfb-short-${run}`];
  const workers: ReturnType<DockerEngine['runWorker']>[] = [];
  return {
    kind: 'Docker engine (docker.io), default bridge, MASQUERADE',
    server,
    startClients(address, port) {
      workers.push(engine.runWorker(names[0]!, { role: 'tcp-client', address, port, ...LONG }));
      workers.push(engine.runWorker(names[1]!, { role: 'tcp-client', address, port, ...SHORT }));
      return {
        pids: Promise.all(workers.map((w) => w.pid)),
        reports: Promise.all(workers.map((w) => w.report)),
      };
    },
    deviceSets: async () => [
      ['uplink only', [server.a.device]],
      ['every device', ['docker0', ...names.map((n) => engine.hostVeth(n)), server.a.device]],
    ],
    stopClients: () => {
      for (const w of workers) w.release();
      workers.length = 0;
    },
    destroy: async () => undefined,
  };
}

async function namespaceSetup(): Promise<Setup> {
  const nat: NatNet = await createNatNet();
  const c = nat.container;
  const clients: ReturnType<typeof startTcpClient>[] = [];
  return {
    kind: 'no Docker engine here: a network namespace behind MASQUERADE (iptables), routed via the root namespace',
    server: nat.server,
    startClients(address, port) {
      clients.push(startTcpClient(c, c.b.ns, { address, port, ...LONG }));
      clients.push(startTcpClient(c, c.b.ns, { address, port, ...SHORT }));
      return {
        pids: Promise.resolve(clients.map((w) => w.pid)),
        reports: Promise.all(clients.map((w) => w.report)),
      };
    },
    deviceSets: async () => [
      ['uplink only', [nat.server.a.device]],
      ['every device', [c.a.device, nat.server.a.device]],
    ],
    stopClients: () => {
      for (const w of clients) w.release();
      clients.length = 0;
    },
    destroy: () => nat.destroy(),
  };
}

async function measure(setup: Setup, deviceSet: 0 | 1): Promise<Run> {
  const s = setup.server;
  const dir = mkdtempSync(join(tmpdir(), 'pfb-nat-'));
  try {
    const server = await startTcpServer(s, s.b.ns, {
      address: s.b.ipv4,
      port: 0,
      connections: LONG.connections + SHORT.connections,
      replyBytes: 10_000,
      durationMs: TRAFFIC_BOUND_MS,
    });
    const clients = setup.startClients(s.b.ipv4, server.port);
    const clientPids = await clients.pids;
    // Container veths exist only once the containers run.
    const allDevices = (await setup.deviceSets())[deviceSet]![1];
    const reference = await startReferenceCapture(s, undefined, s.a.device, join(dir, 'up.pcap'), {
      filter: 'tcp',
    });
    const monitor = await startMonitorProcess(s, { devices: allDevices, syncIntervalMs: 1000 });
    const nethogs = await startNethogs(s, allDevices);
    await clients.reports;
    await server.report;
    await sleep(2500); // both tools refresh about once a second
    const snap = await monitor.snapshot();
    const pidflowCpu = monitor.usage()?.cpuSeconds ?? 0;
    const nethogsCpu = nethogs.usage()?.cpuSeconds ?? 0;
    const nethogsByPid = nethogs.byPid();
    let nethogsTotal = nethogs.unknownBytes();
    for (const t of nethogsByPid.values()) nethogsTotal += t.sentBytes + t.receivedBytes;
    await Promise.all([monitor.stop(), nethogs.stop()]);
    const ref = await reference.stop();
    setup.stopClients();
    const summary = summarizePcapFile(ref.path);
    let truthIp = 0;
    let truthWire = 0;
    for (const f of summary.flows.values()) {
      truthIp += f.ipBytes;
      truthWire += f.wireBytes;
    }
    let pidflowCredited = 0;
    let nethogsCredited = 0;
    for (const pid of clientPids) {
      const p = snap.processes.find((x) => x.pid === pid);
      pidflowCredited += (p?.sentBytes ?? 0) + (p?.receivedBytes ?? 0);
      const n = nethogsByPid.get(pid);
      nethogsCredited += (n?.sentBytes ?? 0) + (n?.receivedBytes ?? 0);
    }
    return {
      pidflow: {
        rightShare: Math.min(1, pidflowCredited / truthIp),
        creditedShare: pidflowCredited / truthIp,
        hostShare: snap.seenBytes / truthIp,
        cpuSeconds: pidflowCpu,
      },
      nethogs: {
        rightShare: Math.min(1, nethogsCredited / truthWire),
        creditedShare: nethogsCredited / truthWire,
        hostShare: nethogsTotal / truthWire,
        cpuSeconds: nethogsCpu,
      },
      lookups: snap.natLookups,
      lookupMs: snap.natLookupMs,
      translatedFlows: snap.natTranslatedFlows,
    };
  } finally {
    setup.stopClients();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
  const runs = Math.max(1, Math.min(9, Number(values.runs) || 3));
  const skip = dockerSkipReason();
  const engine = skip === false ? await startDockerEngine() : undefined;
  const server = engine === undefined ? undefined : await createTestNet({ prefix: 'pfbs' });
  const results = new Map<string, Run[]>();
  let kind = '';
  try {
    for (let run = 0; run < runs; run++) {
      for (const setIndex of [0, 1] as const) {
        const setup =
          engine !== undefined && server !== undefined
            ? await dockerSetup(engine, server, run * 2 + setIndex)
            : await namespaceSetup();
        kind = setup.kind;
        try {
          const name = setIndex === 0 ? 'uplink only' : 'every device';
          const result = await measure(setup, setIndex === 0 ? 0 : 1);
          results.set(name, [...(results.get(name) ?? []), result]);
          process.stderr.write(`run ${run + 1}/${runs} ${name}: ${JSON.stringify(result)}\n`);
        } finally {
          await setup.destroy();
        }
      }
    }
  } finally {
    await server?.destroy();
    await engine?.stop();
  }
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  console.log(`# NATed containers: pidflow vs nethogs (${kind}; ${runs} runs, medians)`);
  if (skip !== false) console.log(`# (${skip})`);
  console.log(
    "| capture | tool | containers' bytes on their process | credited / moved | host total / distinct | CPU s | conntrack lookups | lookup time |",
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [name, list] of results) {
    for (const tool of ['pidflow', 'nethogs'] as const) {
      const lookups = tool === 'pidflow' ? String(median(list.map((r) => r.lookups))) : '';
      const lookupMs =
        tool === 'pidflow' ? `${median(list.map((r) => r.lookupMs)).toFixed(1)} ms` : '';
      console.log(
        `| ${name} | ${tool} | ${pct(median(list.map((r) => r[tool].rightShare)))} | ` +
          `${pct(median(list.map((r) => r[tool].creditedShare)))} | ` +
          `${pct(median(list.map((r) => r[tool].hostShare)))} | ` +
          `${median(list.map((r) => r[tool].cpuSeconds)).toFixed(2)} | ${lookups} | ${lookupMs} |`,
      );
    }
  }
}

await main();
