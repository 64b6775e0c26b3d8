// The attributor against fake /proc trees (on disk and in memory) and a fake clock: lookup
// order, namespaces, the flow cache, processes coming and going, inference and options. The
// retry buffer's tests are in attributor-retry.test.ts, the scans' in attributor-scans.test.ts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4TableLine as line, procFixture } from '../../test/helpers/fake-procfs.js';
import {
  HOST_NS,
  advance,
  counters,
  flow,
  hostFs,
  only,
  setup,
} from '../../test/helpers/attributor-fixture.js';
import { Attributor } from './attributor.js';
import { TcpState } from './net-table.js';
import { NodeProcFs } from './procfs.js';
import type { Attribution, FlowTuple } from './types.js';

const OTHER_NS = 4026532999;
const TCP = 6;
const UDP = 17;
const FIN = 0x01;
const ACK = 0x10;
const SYN = 0x02;

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
