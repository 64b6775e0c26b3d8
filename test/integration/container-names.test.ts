// Container names from the host's state files through the real monitor to every output: the
// library's snapshot and ranking, NDJSON, the HTTP API and /metrics. Fake packets and a fake
// /proc (a docker compose container, a --network host container and a hostNetwork pod in the
// host's network namespace); the runtime state is the recorded fixture trees.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { IntervalTracker, buildNdjsonRecord } from '../../src/cli/ndjson.js';
import { FakeClock } from '../../src/clock.js';
import { createMonitor } from '../../src/monitor/create-monitor.js';
import { startServer } from '../../src/serve/server.js';
import { FakePacketSource } from '../helpers/fake-packet-source.js';
import { unionHostFiles } from '../helpers/container-state.js';
import { FakeProcFs, containerFixture, ipv4TableLine } from '../helpers/fake-procfs.js';
import type { PacketDescription } from '../helpers/record-builder.js';

const ids = JSON.parse(readFileSync(containerFixture('ids.json'), 'utf8')) as Record<
  string,
  string
>;
const WEB = ids['dockerWeb']!;
const NETDEBUG = ids['dockerHost']!;
const PROXY = ids['kubeProxy']!;
const ESTABLISHED = 1;
const HOST_NETNS = 4026531840;

function fakeNode(): FakeProcFs {
  const fs = new FakeProcFs();
  fs.addProcess({ pid: 1, comm: 'systemd', netns: HOST_NETNS });
  // nginx in a compose container (its own namespace in real life; here only the cgroup matters).
  fs.addProcess({
    pid: 100,
    comm: 'nginx',
    netns: HOST_NETNS,
    sockets: [5001],
    cgroup: `0::/system.slice/docker-${WEB}.scope\n`,
  });
  // python3 in a --network host container, kube-proxy in a hostNetwork pod: host namespace.
  fs.addProcess({
    pid: 200,
    comm: 'python3',
    netns: HOST_NETNS,
    sockets: [6001],
    cgroup: `12:pids:/docker/${NETDEBUG}\n0::/docker/${NETDEBUG}\n`,
  });
  fs.addProcess({
    pid: 300,
    comm: 'kube-proxy',
    netns: HOST_NETNS,
    sockets: [7001],
    cgroup: `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod81e09ae0_12ec_4ec5_94b8_51cda7906370.slice/cri-containerd-${PROXY}.scope\n`,
  });
  fs.setNetFiles(1, {
    tcp:
      ipv4TableLine(0, '10.0.0.1:40000', '198.18.0.9:443', ESTABLISHED, 5001) +
      ipv4TableLine(1, '10.0.0.1:8081', '198.18.0.10:50000', ESTABLISHED, 6001) +
      ipv4TableLine(2, '10.0.0.1:41000', '198.18.0.11:6443', ESTABLISHED, 7001),
  });
  return fs;
}

function packets(
  n: number,
  p: Omit<PacketDescription, 'ipLen'>,
  ipLen: number,
): PacketDescription[] {
  return Array.from({ length: n }, () => ({ ...p, ipLen }));
}

test('container names reach the snapshot, rankings, NDJSON, the HTTP API and /metrics', async () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 4, 9, 30));
  const source = new FakePacketSource(['eth0']);
  const monitor = await createMonitor(
    { captureTimeoutMs: 60_000, socketEvents: false },
    {
      clock,
      source,
      procFs: fakeNode(),
      hostFiles: unionHostFiles(['docker', 'containerd']),
      localAddresses: { has: (a: string) => a === '10.0.0.1' },
    },
  );
  const server = await startServer(monitor, { host: '127.0.0.1', port: 0, clock, version: 'test' });
  try {
    monitor.start();
    source.push(packets(3, { src: '10.0.0.1', sport: 40000, dst: '198.18.0.9', dport: 443 }, 500));
    source.push(
      packets(2, { src: '198.18.0.10', sport: 50000, dst: '10.0.0.1', dport: 8081 }, 300),
    );
    source.push(
      packets(1, { src: '10.0.0.1', sport: 41000, dst: '198.18.0.11', dport: 6443 }, 100),
    );
    clock.advance(1000);

    // Library: every process carries its container's names, bytes on the right process.
    const snapshot = monitor.snapshot();
    const byPid = new Map(snapshot.processes.map((p) => [p.process.pid, p]));
    const web = byPid.get(100);
    assert.equal(web?.total.sentBytes, 1500);
    assert.deepEqual(
      [
        web?.process.container?.name,
        web?.process.container?.composeProject,
        web?.process.container?.composeService,
      ],
      ['shop-web-1', 'shop', 'web'],
    );
    const netdebug = byPid.get(200);
    assert.equal(netdebug?.total.receivedBytes, 600);
    assert.equal(netdebug?.process.netns, HOST_NETNS);
    assert.equal(netdebug?.process.container?.name, 'netdebug');
    const proxy = byPid.get(300);
    assert.equal(proxy?.total.sentBytes, 100);
    assert.equal(proxy?.process.containerRuntime, 'containerd');
    assert.deepEqual(proxy?.process.container?.pod, {
      namespace: 'kube-system',
      name: 'kube-proxy-6xsx9',
      uid: '81e09ae0-12ec-4ec5-94b8-51cda7906370',
      container: 'kube-proxy',
    });
    const containers = monitor.rank({ groupBy: 'container', windowSeconds: 0, limit: 10 });
    const names = containers.map((c) =>
      c.kind === 'container' ? c.container?.name || c.container?.pod?.name : '',
    );
    assert.deepEqual(new Set(names), new Set(['shop-web-1', 'netdebug', 'kube-proxy-6xsx9']));
    assert.equal(monitor.stats().containerNames?.cached, 3);

    // NDJSON.
    const record = buildNdjsonRecord(snapshot, new IntervalTracker(), { pids: [], names: [] });
    const line = JSON.parse(JSON.stringify(record)) as {
      processes: {
        pid: number;
        containerInfo: { name: string; image: string; pod: { name: string } | null } | null;
      }[];
    };
    const ndWeb = line.processes.find((p) => p.pid === 100);
    assert.deepEqual(
      [ndWeb?.containerInfo?.name, ndWeb?.containerInfo?.image],
      ['shop-web-1', 'nginx:1.27'],
    );
    assert.equal(
      line.processes.find((p) => p.pid === 300)?.containerInfo?.pod?.name,
      'kube-proxy-6xsx9',
    );

    // HTTP API.
    const api = (await (await fetch(`${server.url}/api/v1/containers?window=0`)).json()) as {
      entries: { containerId: string; container: { name: string; image: string } | null }[];
    };
    const apiWeb = api.entries.find((e) => e.containerId === WEB);
    assert.deepEqual(
      [apiWeb?.container?.name, apiWeb?.container?.image],
      ['shop-web-1', 'nginx:1.27'],
    );

    // /metrics: one info series per container, names as labels.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const info = metrics.split('\n').filter((l) => l.startsWith('pidflow_container_info{'));
    assert.equal(info.length, 3, info.join('\n'));
    assert.ok(
      info.some(
        (l) =>
          l.includes(`container="${WEB}"`) &&
          l.includes('container_name="shop-web-1"') &&
          l.includes('compose_service="web"'),
      ),
      info.join('\n'),
    );
    assert.ok(
      info.some(
        (l) =>
          l.includes('namespace="kube-system"') &&
          l.includes('pod="kube-proxy-6xsx9"') &&
          l.includes('runtime="containerd"'),
      ),
      info.join('\n'),
    );
  } finally {
    await server.close();
    await monitor.stop();
  }
});
