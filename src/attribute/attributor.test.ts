// The attributor against fake /proc trees (on disk and in memory) and a fake clock: lookup
// order, namespaces, the retry buffer, the flow cache and on-demand scan rate limits.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../clock.js';
import { FakeProcFs, ipv4TableLine as line, procFixture } from '../../test/helpers/fake-procfs.js';
import { Attributor } from './attributor.js';
import type { AttributorOptions } from './attributor.js';
import { TcpState } from './net-table.js';
import { NodeProcFs } from './procfs.js';
import type { ProcFs } from './procfs.js';
import type { Attribution, FlowCounters, FlowTuple } from './types.js';

const HOST_NS = 4026531840;
const OTHER_NS = 4026532999;
const TCP = 6;
const UDP = 17;
const FIN = 0x01;
const ACK = 0x10;
const SYN = 0x02;

function flow(protocol: number, src: string, dst: string): FlowTuple {
  const [srcAddress = '', srcPort = '0'] = src.split(/:(?=\d+$)/);
  const [dstAddress = '', dstPort = '0'] = dst.split(/:(?=\d+$)/);
  return {
    key: `${protocol}|${src}|${dst}`,
    ipVersion: srcAddress.includes(':') ? 6 : 4,
    protocol,
    srcAddress,
    srcPort: Number(srcPort),
    dstAddress,
    dstPort: Number(dstPort),
  };
}

function counters(packets = 1, bytes = 100, tcpFlags = ACK): FlowCounters {
  return {
    packets,
    bytes,
    payloadBytes: bytes - 40,
    wireBytes: bytes + 14,
    firstMs: 1,
    lastMs: 2,
    tcpFlags,
  };
}

interface Resolved {
  flow: FlowTuple;
  counters: FlowCounters;
  attribution: Attribution;
}

function setup(
  procFs: ProcFs,
  local: string[],
  options: Partial<AttributorOptions> = {},
): { attributor: Attributor; clock: FakeClock; resolved: Resolved[] } {
  const clock = new FakeClock();
  const resolved: Resolved[] = [];
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(local),
    onResolved: (f, c, attribution) => resolved.push({ flow: f, counters: { ...c }, attribution }),
    ...options,
  });
  return { attributor, clock, resolved };
}

/** Advance the fake clock step by step, letting each scan that fires finish. */
async function advance(clock: FakeClock, attributor: Attributor, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(Math.min(10, ms - t));
    await attributor.whenIdle();
  }
}

function only(resolved: Resolved[]): Attribution {
  assert.equal(resolved.length, 1, 'exactly one resolution');
  return resolved[0]!.attribution;
}

test('attributes flows across the host and two container namespaces of a fake /proc tree', async () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const { attributor, resolved } = setup(procFs, ['127.0.0.1', '198.18.0.1', 'fd42:6e66::1']);
  await attributor.start();
  try {
    const ask = (f: FlowTuple): Attribution => {
      resolved.length = 0;
      attributor.ingest(f, counters());
      // A flow with a local end nobody owns waits for rescans; flush() answers it now.
      if (resolved.length === 0) attributor.flush();
      return only(resolved);
    };
    // Host nginx <-> docker container app over a veth: both ends are ours.
    let a = ask(flow(TCP, '198.18.0.2:40000', '198.18.0.1:80'));
    assert.equal(a.sender?.process.pid, 200);
    assert.equal(a.sender?.process.netns, 4026532500);
    assert.equal(a.sender?.process.containerRuntime, 'docker');
    assert.equal(a.sender?.socketInode, 2002);
    assert.equal(a.receiver?.process.pid, 100);
    assert.equal(a.receiver?.process.user, 'www-data');
    assert.equal(a.receiver?.socketInode, 1002);
    a = ask(flow(TCP, '198.18.0.1:80', '198.18.0.2:40000'));
    assert.equal(a.sender?.process.pid, 100);
    assert.equal(a.receiver?.process.pid, 200);
    // A remote SYN reaches the wildcard listener.
    a = ask(flow(TCP, '198.18.0.9:5555', '198.18.0.1:80'));
    assert.equal(a.sender, undefined);
    assert.equal(a.srcIsLocal, false);
    assert.equal(a.receiver?.socketInode, 1001);
    // A remote host's packet from its port 80 is not "sent" by our port-80 listener.
    a = ask(flow(TCP, '198.18.0.9:80', '198.18.0.1:33333'));
    assert.equal(a.sender, undefined);
    // Port 8080 listens in both the host and the docker namespace: the address decides.
    a = ask(flow(TCP, '198.18.0.9:41000', '198.18.0.2:8080'));
    assert.equal(a.receiver?.process.pid, 200);
    assert.equal(a.receiver?.socketInode, 2001);
    a = ask(flow(TCP, '198.18.0.9:41000', '198.18.0.1:8080'));
    assert.equal(a.receiver?.process.pid, 100);
    assert.equal(a.receiver?.socketInode, 1006);
    // IPv4-mapped tcp6 socket matches the IPv4 packet exactly.
    a = ask(flow(TCP, '198.18.0.9:50000', '198.18.0.1:22'));
    assert.equal(a.receiver?.socketInode, 1004);
    assert.equal(a.receiver?.process.comm, 'sshd');
    // Unconnected UDP, both directions.
    a = ask(flow(UDP, '198.18.0.9:40000', '198.18.0.1:53'));
    assert.equal(a.receiver?.process.comm, 'dnsmasq');
    a = ask(flow(UDP, '198.18.0.1:53', '198.18.0.9:40000'));
    assert.equal(a.sender?.process.comm, 'dnsmasq');
    assert.equal(a.receiver, undefined);
    // The pod namespace, read through a process (300) that holds no socket itself.
    a = ask(flow(UDP, '198.18.0.9:1234', '198.18.0.3:5353'));
    assert.equal(a.receiver?.process.pid, 301);
    assert.equal(a.receiver?.process.containerRuntime, 'kubepods');
    const stats = attributor.stats();
    assert.equal(stats.scans.namespaces, 3);
    assert.equal(stats.scans.processes, 10);
    assert.equal(stats.scans.skippedProcesses, 0);
  } finally {
    attributor.stop();
  }
});

test('a TIME_WAIT socket (inode 0) has no owner: the flow ends up unknown', async () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const { attributor, clock, resolved } = setup(procFs, ['127.0.0.1', '198.18.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '127.0.0.1:40001', '127.0.0.1:5000'), counters(3, 300));
  assert.equal(resolved.length, 0, 'parked while waiting for a rescan');
  await advance(clock, attributor, 1000);
  const a = only(resolved);
  assert.equal(a.sender, undefined);
  assert.equal(a.receiver, undefined);
  assert.equal(a.srcIsLocal, true);
  assert.equal(a.dstIsLocal, true);
  assert.equal(resolved[0]!.counters.packets, 3);
  assert.equal(attributor.stats().retry.expiredFlows, 1);
  attributor.stop();
});

/** Host namespace read through pid 1, with the given tcp and udp lines. */
function hostFs(tcp: string, udp = ''): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp,
    udp,
    fib_trie: '     |-- 198.18.0.1\n        /32 host LOCAL\n',
  });
  return procFs;
}

test('an exact 5-tuple match beats the wildcard listener', async () => {
  const procFs = hostFs(
    line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 700) +
      line(1, '198.18.0.1:80', '198.18.0.9:5000', TcpState.established, 701),
  );
  procFs.addProcess({ pid: 10, comm: 'master', sockets: [700] });
  procFs.addProcess({ pid: 11, comm: 'worker', sockets: [700, 701] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.9:5001', '198.18.0.1:80'), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.comm, 'worker');
  assert.equal(resolved[0]?.attribution.receiver?.socketInode, 701);
  // A connection no table knows waits for its retries before the listener stands in for it.
  assert.equal(resolved.length, 1);
  await advance(clock, attributor, 1000);
  assert.equal(resolved[1]?.attribution.receiver?.socketInode, 700);
  attributor.stop();
});

test('loopback traffic is sent by one process and received by the other', async () => {
  const procFs = hostFs(
    line(0, '127.0.0.1:6379', '0.0.0.0:0', TcpState.listen, 800) +
      line(1, '127.0.0.1:6379', '127.0.0.1:40000', TcpState.established, 801) +
      line(2, '127.0.0.1:40000', '127.0.0.1:6379', TcpState.established, 802),
  );
  procFs.addProcess({ pid: 20, comm: 'server', sockets: [800, 801] });
  procFs.addProcess({ pid: 21, comm: 'client', sockets: [802] });
  const { attributor, resolved } = setup(procFs, ['127.0.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '127.0.0.1:40000', '127.0.0.1:6379'), counters());
  attributor.ingest(flow(TCP, '127.0.0.1:6379', '127.0.0.1:40000'), counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 21);
  assert.equal(resolved[0]?.attribution.receiver?.process.pid, 20);
  assert.equal(resolved[0]?.attribution.receiver?.socketInode, 801);
  assert.equal(resolved[1]?.attribution.sender?.process.pid, 20);
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 21);
  attributor.stop();
});

test('a loopback socket in another namespace never takes our loopback packets', async () => {
  const procFs = hostFs('');
  procFs.addProcess({ pid: 30, comm: 'ctr', netns: OTHER_NS, sockets: [900] });
  procFs.setNetFiles(30, { tcp: line(0, '127.0.0.1:6379', '0.0.0.0:0', TcpState.listen, 900) });
  const { attributor, clock, resolved } = setup(procFs, ['127.0.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.9:1', '127.0.0.1:6379'), counters());
  await advance(clock, attributor, 1000);
  assert.equal(only(resolved).receiver, undefined);
  attributor.stop();
});

test('wildcard listeners in two namespaces are told apart by their addresses', async () => {
  const procFs = hostFs(line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1100));
  procFs.addProcess({ pid: 40, comm: 'host-web', sockets: [1100] });
  procFs.addProcess({ pid: 41, comm: 'ctr-web', netns: OTHER_NS, sockets: [1101] });
  procFs.setNetFiles(41, {
    tcp: line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1101),
    fib_trie: '     |-- 198.18.0.2\n        /32 host LOCAL\n',
  });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.9:1000', '198.18.0.2:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.9:1000', '198.18.0.1:80'), counters());
  await advance(clock, attributor, 1000);
  assert.equal(resolved[0]?.attribution.receiver?.process.comm, 'ctr-web');
  assert.equal(resolved[1]?.attribution.receiver?.process.comm, 'host-web');
  attributor.stop();
});

test('a dual-stack :: listener takes IPv4 packets; a 0.0.0.0 listener never takes IPv6', async () => {
  const procFs = hostFs(line(0, '0.0.0.0:443', '0.0.0.0:0', TcpState.listen, 2100));
  procFs.setNetFiles(1, {
    tcp: line(0, '0.0.0.0:443', '0.0.0.0:0', TcpState.listen, 2100),
    tcp6: '   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2101 1 0000000000000000 100 0 0 10 0\n',
    fib_trie: '     |-- 198.18.0.1\n        /32 host LOCAL\n',
    if_inet6: 'fd426e66000000000000000000000001 02 40 00 80   pfa0a\n',
  });
  procFs.addProcess({ pid: 96, comm: 'web', sockets: [2100] });
  procFs.addProcess({ pid: 97, comm: 'sshd', sockets: [2101] });
  const { attributor, clock, resolved } = setup(procFs, []);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:22'), counters());
  attributor.ingest(flow(TCP, 'fd42:6e66::9:5000', 'fd42:6e66::1:22'), counters());
  attributor.ingest(flow(TCP, 'fd42:6e66::9:5000', 'fd42:6e66::1:443'), counters());
  await advance(clock, attributor, 1000);
  const byPort = new Map(resolved.map((r) => [`${r.flow.dstAddress}:${r.flow.dstPort}`, r]));
  assert.equal(byPort.get('198.18.0.1:22')?.attribution.receiver?.process.comm, 'sshd');
  assert.equal(byPort.get('fd42:6e66::1:22')?.attribution.receiver?.process.comm, 'sshd');
  assert.equal(resolved.length, 3, 'all three flows resolved');
  assert.equal(byPort.get('fd42:6e66::1:443')?.attribution.receiver, undefined);
  assert.equal(byPort.get('fd42:6e66::1:443')?.attribution.dstIsLocal, true, 'from if_inet6');
  attributor.stop();
});

test('the retry buffer resolves a flow whose socket appears at the next scan', async () => {
  const procFs = hostFs('');
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  const f = flow(TCP, '198.18.0.1:45000', '198.18.0.9:443');
  attributor.ingest(f, counters(2, 200, SYN));
  attributor.ingest(f, counters(3, 300));
  assert.equal(resolved.length, 0);
  assert.equal(attributor.stats().retry.pendingPackets, 5);
  // The connecting process shows up in /proc before the debounced rescan.
  procFs.addProcess({ pid: 50, comm: 'curl', sockets: [1200] });
  procFs.setNetFiles(1, {
    tcp: line(0, '198.18.0.1:45000', '198.18.0.9:443', TcpState.synSent, 1200),
  });
  await advance(clock, attributor, 50);
  const a = only(resolved);
  assert.equal(a.sender?.process.comm, 'curl');
  assert.equal(resolved[0]!.counters.packets, 5);
  assert.equal(resolved[0]!.counters.bytes, 500);
  assert.equal(resolved[0]!.counters.tcpFlags, SYN | ACK);
  const stats = attributor.stats();
  assert.equal(stats.retry.resolvedFlows, 1);
  assert.equal(stats.retry.pendingFlows, 0);
  assert.equal(stats.retry.pendingPackets, 0);
  assert.equal(stats.scans.onDemand, 1);
  attributor.stop();
});

test('a parked flow becomes unknown after retryScans scans, keeping its counters', async () => {
  const procFs = hostFs('');
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], { retryScans: 3 });
  await attributor.start();
  attributor.ingest(flow(UDP, '198.18.0.9:5000', '198.18.0.1:9999'), counters(4, 400));
  await advance(clock, attributor, 2000);
  const a = only(resolved);
  assert.equal(a.receiver, undefined);
  assert.equal(a.dstIsLocal, true);
  assert.equal(a.srcIsLocal, false);
  assert.equal(resolved[0]!.counters.bytes, 400);
  const stats = attributor.stats();
  assert.equal(stats.retry.expiredFlows, 1);
  assert.ok(stats.scans.count >= 4, `${stats.scans.count} scans`);
  // Later batches of the same flow are not parked again before the next scan.
  resolved.length = 0;
  attributor.ingest(flow(UDP, '198.18.0.9:5000', '198.18.0.1:9999'), counters());
  assert.equal(only(resolved).receiver, undefined);
  attributor.stop();
});

test('a full retry buffer reports the overflow at once and counts it', async () => {
  const procFs = hostFs('');
  const { attributor, resolved } = setup(procFs, ['198.18.0.1'], { retryBufferFlows: 2 });
  await attributor.start();
  for (let i = 0; i < 3; i++) {
    attributor.ingest(flow(UDP, '198.18.0.9:5000', `198.18.0.1:${7000 + i}`), counters(i + 1));
  }
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]!.flow.dstPort, 7002);
  assert.equal(resolved[0]!.attribution.receiver, undefined);
  const stats = attributor.stats();
  assert.equal(stats.retry.droppedFlows, 1);
  assert.equal(stats.retry.droppedPackets, 3);
  assert.equal(stats.retry.pendingFlows, 2);
  assert.equal(stats.retry.pendingPackets, 3);
  attributor.stop();
  assert.equal(resolved.length, 3, 'stop() flushes the parked flows');
});

test('the flow cache keeps attributing after the socket and process are gone', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:46000', '198.18.0.9:80', TcpState.established, 1300));
  procFs.addProcess({ pid: 60, comm: 'wget', sockets: [1300] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  const f = flow(TCP, '198.18.0.1:46000', '198.18.0.9:80');
  attributor.ingest(f, counters());
  assert.equal(resolved[0]?.attribution.sender?.process.comm, 'wget');
  // The process exits; its socket lingers in TIME_WAIT (inode 0).
  procFs.remove('/proc/60');
  procFs.setNetFiles(1, {
    tcp: line(0, '198.18.0.1:46000', '198.18.0.9:80', TcpState.timeWait, 0),
  });
  await advance(clock, attributor, 1000);
  assert.equal(attributor.processInfo('60:1060'), undefined);
  attributor.ingest(f, counters());
  assert.equal(resolved[1]?.attribution.sender?.process.comm, 'wget');
  attributor.stop();
});

test('a closed flow is forgotten after the grace period', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:46001', '198.18.0.9:80', TcpState.established, 1400));
  procFs.addProcess({ pid: 61, comm: 'wget', sockets: [1400] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    closedFlowGraceMs: 2000,
  });
  await attributor.start();
  const f = flow(TCP, '198.18.0.1:46001', '198.18.0.9:80');
  attributor.ingest(f, counters(1, 52, FIN | ACK));
  assert.equal(resolved[0]?.attribution.sender?.process.comm, 'wget');
  procFs.remove('/proc/61');
  procFs.setNetFiles(1, { tcp: '' });
  await advance(clock, attributor, 1000);
  attributor.ingest(f, counters()); // within the grace: still wget
  assert.equal(resolved[1]?.attribution.sender?.process.comm, 'wget');
  await advance(clock, attributor, 2500);
  assert.ok(attributor.stats().flows.expired >= 1);
  attributor.ingest(f, counters()); // after it: looked up again, nobody owns it now
  await advance(clock, attributor, 1000);
  assert.equal(resolved.length, 3);
  assert.equal(resolved[2]?.attribution.sender, undefined);
  attributor.stop();
});

test('the flow cache is bounded and counts evictions', async () => {
  const procFs = hostFs('', line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 1500));
  procFs.addProcess({ pid: 62, comm: 'dns', sockets: [1500] });
  const { attributor } = setup(procFs, ['198.18.0.1'], { flowCacheLimit: 10 });
  await attributor.start();
  for (let i = 0; i < 25; i++) {
    attributor.ingest(flow(UDP, `198.18.0.9:${10000 + i}`, '198.18.0.1:53'), counters());
  }
  const stats = attributor.stats();
  assert.equal(stats.flows.cached, 10);
  assert.equal(stats.flows.evicted, 15);
  attributor.stop();
});

test('on-demand scans are debounced and rate limited under a flood of unknown flows', async () => {
  const procFs = hostFs('');
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    syncIntervalMs: 60_000,
    minOnDemandGapMs: 200,
    onDemandDebounceMs: 30,
  });
  await attributor.start();
  // A port scan: a new unknown flow every 10 ms for one second.
  for (let i = 0; i < 100; i++) {
    attributor.ingest(flow(TCP, '198.18.0.9:40000', `198.18.0.1:${1 + i}`), counters());
    clock.advance(10);
    await attributor.whenIdle();
  }
  const stats = attributor.stats();
  assert.ok(stats.scans.onDemand <= 1000 / 200 + 1, `${stats.scans.onDemand} on-demand scans`);
  assert.ok(stats.scans.onDemand >= 3, `${stats.scans.onDemand} on-demand scans`);
  assert.ok(stats.scans.rateLimited > 0);
  attributor.stop();
  assert.equal(resolved.length, 100, 'every flow is reported once');
});

test('costly scans are spaced out to stay under maxScanShare of the time', async () => {
  const procFs = hostFs('');
  const fake = new FakeClock();
  let scanCostMs = 0;
  // Each scan "takes" 300 ms of monotonic time: the clock the attributor sees runs ahead.
  const clock = {
    now: () => fake.now(),
    monotonicMs: () => fake.monotonicMs() + scanCostMs,
    setTimeout: fake.setTimeout.bind(fake),
    setInterval: fake.setInterval.bind(fake),
  };
  procFs.onCall = (op, path) => {
    if (op === 'readdir' && path === '/proc') scanCostMs += 300;
  };
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(['198.18.0.1']),
    onResolved: () => undefined,
    maxScanShare: 0.1,
  });
  await attributor.start();
  for (let t = 0; t < 10_000; t += 100) {
    fake.advance(100);
    await attributor.whenIdle();
  }
  const stats = attributor.stats().scans;
  // 300 ms scans at most 10% of the time: one every 3 s, not one per second.
  assert.ok(stats.count <= 5, `${stats.count} scans`);
  assert.ok(stats.count >= 3, `${stats.count} scans`);
  assert.ok(stats.skippedPeriodic >= 5);
  assert.equal(stats.medianDurationMs, 300);
  attributor.stop();
});

test('a reused pid with a new start time is a new process', async () => {
  const procFs = hostFs('', line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 1600));
  procFs.addProcess({ pid: 70, comm: 'dns', startTime: 111, sockets: [1600] });
  const alive: string[][] = [];
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    onScan: (keys) => alive.push([...keys].sort()),
  });
  await attributor.start();
  attributor.ingest(flow(UDP, '198.18.0.9:1', '198.18.0.1:53'), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.key, '70:111');
  procFs.remove('/proc/70');
  procFs.addProcess({ pid: 70, comm: 'dns', startTime: 222, sockets: [1601] });
  procFs.setNetFiles(1, { udp: line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 1601) });
  await advance(clock, attributor, 1000);
  assert.deepEqual(alive.at(-1), ['1:1001', '70:222']);
  assert.equal(attributor.processInfo('70:111'), undefined);
  assert.equal(attributor.processInfo('70:222')?.pid, 70);
  attributor.ingest(flow(UDP, '198.18.0.9:2', '198.18.0.1:53'), counters());
  assert.equal(resolved[1]?.attribution.receiver?.process.key, '70:222');
  assert.equal(resolved[1]?.attribution.receiver?.socketInode, 1601);
  attributor.stop();
});

test('a settled pid reused by a process with a new socket is read afresh', async () => {
  const procFs = hostFs('', line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 1650));
  procFs.addProcess({ pid: 71, comm: 'dns', startTime: 111, sockets: [1650] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], { fullScanEvery: 1000 });
  await attributor.start();
  await advance(clock, attributor, 12_000); // settled: its stat is no longer read every scan
  let statReads = 0;
  procFs.onCall = (op, path) => {
    if (path === '/proc/71/stat') statReads++;
  };
  await advance(clock, attributor, 1000);
  assert.equal(statReads, 0, 'a quiet scan does not read a settled process');
  procFs.remove('/proc/71');
  procFs.addProcess({ pid: 71, comm: 'dns', startTime: 222, sockets: [1651] });
  procFs.setNetFiles(1, { udp: line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 1651) });
  await advance(clock, attributor, 1000);
  attributor.ingest(flow(UDP, '198.18.0.9:2', '198.18.0.1:53'), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.key, '71:222');
  attributor.stop();
});

test('processes vanishing or refusing access mid-scan are skipped and counted', async () => {
  const procFs = hostFs(
    line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1700) +
      line(1, '0.0.0.0:81', '0.0.0.0:0', TcpState.listen, 1701) +
      line(2, '0.0.0.0:82', '0.0.0.0:0', TcpState.listen, 1702),
  );
  procFs.addProcess({ pid: 80, comm: 'ok', sockets: [1700] });
  procFs.addProcess({ pid: 81, comm: 'exits', sockets: [1701] });
  procFs.addProcess({ pid: 82, comm: 'secret', sockets: [1702] });
  procFs.fail('/proc/82/fd', 'EACCES');
  procFs.onCall = (op, path) => {
    // pid 81 exits between the /proc listing and the read of its fd links.
    if (op === 'readlink' && path === '/proc/81/fd/0') procFs.remove('/proc/81');
  };
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  const stats = attributor.stats();
  assert.equal(stats.scans.deniedProcesses, 1);
  assert.ok(stats.scans.skippedProcesses >= 1);
  attributor.ingest(flow(TCP, '198.18.0.9:1', '198.18.0.1:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.9:1', '198.18.0.1:82'), counters());
  await advance(clock, attributor, 1000);
  assert.equal(resolved.length, 2);
  assert.equal(resolved[0]?.attribution.receiver?.process.comm, 'ok');
  assert.equal(resolved[1]?.attribution.receiver, undefined);
  attributor.stop();
});

test('a process that changed namespace without exec is re-read, its old tables ignored', async () => {
  const procFs = hostFs('');
  procFs.addProcess({ pid: 90, comm: 'mover', netns: OTHER_NS });
  procFs.setNetFiles(90, { tcp: line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1900) });
  const { attributor, clock } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  assert.equal(attributor.stats().scans.namespaces, 2);
  // setns() into the host namespace: same pid, start time and comm.
  procFs.setLink('/proc/90/ns/net', `net:[${HOST_NS}]`);
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.namespaces, 1, 'tables read through 90 are not OTHER_NS');
  await advance(clock, attributor, 1000);
  assert.equal(attributor.processInfo('90:1090')?.netns, HOST_NS);
  attributor.stop();
});

test('incremental scans read fd directories only when a socket is new', async () => {
  const procFs = hostFs(line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1800));
  for (let pid = 100; pid < 120; pid++) procFs.addProcess({ pid, comm: `p${pid}` });
  procFs.addSocket(110, 1800);
  const { attributor, clock } = setup(procFs, ['198.18.0.1'], { fullScanEvery: 1000 });
  await attributor.start();
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.fdDirsRead, 0, 'nothing new: no fd directory read');
  procFs.addProcess({ pid: 130, comm: 'new', sockets: [1801] });
  procFs.setNetFiles(1, {
    tcp:
      line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 1800) +
      line(1, '0.0.0.0:90', '0.0.0.0:0', TcpState.listen, 1801),
  });
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.fdDirsRead, 1, 'the new process is searched first');
  attributor.stop();
});

test('a scan that cannot list /proc is logged and counted; the old tables stay', async () => {
  const procFs = hostFs('', line(0, '0.0.0.0:53', '0.0.0.0:0', 7, 2000));
  procFs.addProcess({ pid: 95, comm: 'dns', sockets: [2000] });
  const warnings: string[] = [];
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], {
    logger: { warn: (message) => warnings.push(message) },
  });
  await attributor.start();
  procFs.fail('/proc', 'EACCES');
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.failed, 1);
  assert.match(
    warnings[0] ?? '',
    /socket scan of \/proc failed \(EACCES.*check that \/proc is mounted/,
  );
  attributor.ingest(flow(UDP, '198.18.0.9:1', '198.18.0.1:53'), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.comm, 'dns');
  attributor.stop();
});

test('an exception in onResolved after a scan is logged and counted, not thrown', async () => {
  const procFs = hostFs('');
  const warnings: string[] = [];
  const clock = new FakeClock();
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(['198.18.0.1']),
    logger: { warn: (message) => warnings.push(message) },
    onResolved: () => {
      throw new Error('handler bug');
    },
  });
  await attributor.start();
  attributor.ingest(flow(UDP, '198.18.0.9:1', '198.18.0.1:9'), counters());
  await advance(clock, attributor, 2000);
  assert.equal(attributor.stats().scans.callbackErrors, 1);
  assert.match(warnings[0] ?? '', /handler bug.*fix the onResolved\/onScan handler/);
  attributor.stop();
});

test('bad options are usage errors that name the option', () => {
  assert.throws(
    () =>
      new Attributor({
        localAddresses: new Set(),
        onResolved: () => undefined,
        retryScans: 0,
      }),
    { name: 'UsageError', code: 'ERR_USAGE', message: /retryScans must be a number >= 1, got 0/ },
  );
});

test('start() after stop() is a StateError', async () => {
  const { attributor } = setup(hostFs(''), []);
  attributor.stop();
  await assert.rejects(attributor.start(), { name: 'StateError', code: 'ERR_STATE' });
});

test('short connections whose socket no scan saw go to the one process that talks to that peer', async () => {
  // The client's first connection is in the tables; the next ones open and close between scans.
  const procFs = hostFs(line(0, '198.18.0.1:40000', '198.18.0.9:80', TcpState.established, 3000));
  procFs.addProcess({ pid: 70, comm: 'client', sockets: [3000] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.1:40000', '198.18.0.9:80'), counters(2, 200, SYN));
  assert.equal(resolved[0]?.attribution.sender?.process.comm, 'client');
  for (let port = 40001; port <= 40010; port++) {
    attributor.ingest(flow(TCP, `198.18.0.1:${port}`, '198.18.0.9:80'), counters(3, 300));
    attributor.ingest(flow(TCP, '198.18.0.9:80', `198.18.0.1:${port}`), counters(2, 1000));
  }
  await advance(clock, attributor, 4000);
  assert.equal(resolved.length, 21);
  for (const r of resolved.slice(1)) {
    const end = r.flow.srcPort === 80 ? r.attribution.receiver : r.attribution.sender;
    assert.equal(end?.process.pid, 70, `${r.flow.key} inferred to the client`);
  }
  assert.equal(attributor.stats().retry.inferredFlows, 20);
  assert.equal(attributor.stats().retry.inferredPackets, 50);
  attributor.stop();
});

test('no inference when two processes talk to the same peer, or the owner has exited', async () => {
  const procFs = hostFs(
    line(0, '198.18.0.1:40000', '198.18.0.9:80', TcpState.established, 3100) +
      line(1, '198.18.0.1:40001', '198.18.0.9:80', TcpState.established, 3101) +
      line(2, '198.18.0.1:40002', '198.18.0.9:443', TcpState.established, 3102),
  );
  procFs.addProcess({ pid: 71, comm: 'one', sockets: [3100] });
  procFs.addProcess({ pid: 72, comm: 'two', sockets: [3101] });
  procFs.addProcess({ pid: 73, comm: 'gone', sockets: [3102] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.1:40000', '198.18.0.9:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.1:40001', '198.18.0.9:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.1:40002', '198.18.0.9:443'), counters());
  procFs.remove('/proc/73');
  procFs.setNetFiles(1, { tcp: '' });
  attributor.ingest(flow(TCP, '198.18.0.1:40100', '198.18.0.9:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.1:40101', '198.18.0.9:443'), counters());
  await advance(clock, attributor, 4000);
  assert.equal(resolved.length, 5);
  assert.equal(resolved[3]?.attribution.sender, undefined, 'ambiguous peer: unknown');
  assert.equal(resolved[4]?.attribution.sender, undefined, 'exited owner: unknown');
  assert.equal(attributor.stats().retry.inferredFlows, 0);
  attributor.stop();
});

test('no inference for a non-ephemeral local port or with peerCacheLimit 0', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:40000', '198.18.0.9:80', TcpState.established, 3200));
  procFs.addProcess({ pid: 74, comm: 'client', sockets: [3200] });
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1'], { peerCacheLimit: 0 });
  await attributor.start();
  attributor.ingest(flow(TCP, '198.18.0.1:40000', '198.18.0.9:80'), counters());
  attributor.ingest(flow(TCP, '198.18.0.1:40001', '198.18.0.9:80'), counters());
  await advance(clock, attributor, 4000);
  assert.equal(resolved.length, 2, 'both flows resolved');
  assert.equal(resolved[1]?.attribution.sender, undefined);
  attributor.stop();
  const procFs2 = hostFs(line(0, '198.18.0.1:40000', '198.18.0.9:80', 1, 3300));
  procFs2.addProcess({ pid: 75, comm: 'c', sockets: [3300] });
  const second = setup(procFs2, ['198.18.0.1']);
  await second.attributor.start();
  second.attributor.ingest(flow(TCP, '198.18.0.1:40000', '198.18.0.9:80'), counters());
  second.attributor.ingest(flow(TCP, '198.18.0.1:1000', '198.18.0.9:80'), counters());
  await advance(second.clock, second.attributor, 4000);
  assert.equal(second.resolved[1]?.attribution.sender, undefined, 'port 1000 is not ephemeral');
  second.attributor.stop();
});

test('quiet scans: periodic scans wait while nothing changed, and wake on a new socket, a flow or an event', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:80', '0.0.0.0:0', TcpState.listen, 3400));
  procFs.addProcess({ pid: 76, comm: 'server', sockets: [3400] });
  const sockstat = (tcp: number): string =>
    `TCP: inuse ${tcp} orphan 0 tw 0 alloc 1 mem 0\nUDP: inuse 0 mem 0\n`;
  const snmp = (opens: number): string =>
    `Tcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: 1 ${opens} 0\n`;
  procFs.setFile('/proc/1/net/sockstat', sockstat(1));
  procFs.setFile('/proc/1/net/snmp', snmp(5));
  const { attributor, clock, resolved } = setup(procFs, ['198.18.0.1']);
  attributor.enableQuietScans(10_000);
  await attributor.start();
  await advance(clock, attributor, 3500);
  assert.equal(attributor.stats().scans.count, 1, 'nothing changed: no periodic scan');
  assert.equal(attributor.stats().scans.skippedQuiet, 3);

  // A new socket: the counters move, the next periodic scan runs and finds its owner.
  procFs.setFile(
    '/proc/1/net/tcp',
    procFs.readText('/proc/1/net/tcp') +
      line(1, '198.18.0.1:81', '198.18.0.9:5000', TcpState.established, 3401),
  );
  procFs.addSocket(76, 3401);
  procFs.setFile('/proc/1/net/sockstat', sockstat(2));
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 2, 'socket counters moved: scanned');
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:81'), counters());
  assert.equal(
    resolved.at(-1)?.attribution.receiver?.process.pid,
    76,
    'the new connection is known',
  );

  // A flow looked up since the last scan keeps the next periodic scan.
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 3, 'a flow was looked up: scanned');
  await advance(clock, attributor, 2000);
  assert.equal(attributor.stats().scans.count, 3, 'quiet again');

  // A socket event wakes the scans too.
  attributor.recordConnects([
    {
      pid: 76,
      comm: 'server',
      protocol: TCP,
      localAddress: '198.18.0.1',
      localPort: 40000,
      remoteAddress: '198.18.0.9',
      remotePort: 80,
    },
  ]);
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, 4, 'a socket event arrived: scanned');

  // An owner that exits: the /proc listing shows it gone.
  await advance(clock, attributor, 2000);
  const quietCount = attributor.stats().scans.count;
  procFs.remove('/proc/76');
  await advance(clock, attributor, 1000);
  assert.equal(attributor.stats().scans.count, quietCount + 1, 'an owner exited: scanned');

  // And at least every maxGapMs.
  const before = attributor.stats().scans.count;
  await advance(clock, attributor, 10_000);
  assert.equal(attributor.stats().scans.count, before + 1, 'the consistency scan');
  attributor.stop();
});

test('quiet scans are off until enabled, and a bad gap is a UsageError', async () => {
  const procFs = hostFs('');
  procFs.setFile('/proc/1/net/sockstat', 'TCP: inuse 0\n');
  procFs.setFile('/proc/1/net/snmp', 'Tcp: ActiveOpens PassiveOpens\nTcp: 1 1\n');
  const { attributor, clock } = setup(procFs, []);
  await attributor.start();
  await advance(clock, attributor, 3000);
  assert.equal(attributor.stats().scans.count, 4);
  assert.equal(attributor.stats().scans.skippedQuiet, 0);
  assert.throws(() => attributor.enableQuietScans(-1), {
    name: 'UsageError',
    message: /quietScanIntervalMs must be a number >= 0, got -1/,
  });
  attributor.stop();
});

test('a quiet scan keeps tables whose socket counters did not move; a parked flow gets fresh ones', async () => {
  const procFs = hostFs(line(0, '198.18.0.1:80', '0.0.0.0:0', TcpState.listen, 3400));
  procFs.addProcess({ pid: 76, comm: 'server', sockets: [3400] });
  procFs.setFile('/proc/1/net/sockstat', 'TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 0\n');
  procFs.setFile('/proc/1/net/snmp', 'Tcp: ActiveOpens PassiveOpens\nTcp: 5 0\n');
  const { attributor, resolved } = setup(procFs, ['198.18.0.1']);
  await attributor.scanNow();
  // A connection the counters do not show (as if a close and an open cancelled out).
  procFs.setFile(
    '/proc/1/net/tcp',
    procFs.readText('/proc/1/net/tcp') +
      line(1, '198.18.0.1:81', '198.18.0.9:5000', TcpState.established, 3401),
  );
  procFs.addSocket(76, 3401);
  await attributor.scanNow();
  assert.equal(attributor.stats().scans.unchanged, 1, 'tables kept: nothing looked up or parked');
  attributor.ingest(flow(TCP, '198.18.0.9:5000', '198.18.0.1:81'), counters());
  assert.equal(attributor.stats().retry.pendingFlows, 1, 'not in the kept tables: parked');
  await attributor.scanNow();
  assert.equal(attributor.stats().retry.pendingFlows, 0);
  assert.equal(resolved.at(-1)?.attribution.receiver?.process.pid, 76, 'the fresh read found it');
  attributor.stop();
});
