// The attributor with kernel connect events (recordConnects): a client socket no scan ever saw
// is attributed at its first lookup, from the cached, freshly read or vanished process.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  attributorHarness,
  flowTuple,
  resolutionOf,
} from '../../test/helpers/attributor-harness.js';
import { FakeProcFs, ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import type { AttributorOptions } from './attributor.js';
import { TcpState } from './net-table.js';
import type { ConnectEvent } from './recent-connects.js';
import type { FlowCounters, FlowTuple } from './types.js';

const HOST_NS = 4026531840;
const TCP = 6;
const ACK = 0x10;
const CLIENT = '198.18.0.1';
const SERVER = '198.18.0.2';

function flow(srcAddress: string, srcPort: number, dstAddress: string, dstPort: number): FlowTuple {
  return flowTuple(TCP, srcAddress, srcPort, dstAddress, dstPort);
}

function counters(bytes = 100): FlowCounters {
  return {
    packets: 1,
    bytes,
    payloadBytes: bytes - 40,
    wireBytes: bytes + 14,
    firstMs: 1,
    lastMs: 2,
    tcpFlags: ACK,
  };
}

function connectEvent(pid: number, comm: string, localPort: number): ConnectEvent {
  return {
    pid,
    comm,
    protocol: TCP,
    localAddress: CLIENT,
    localPort,
    remoteAddress: SERVER,
    remotePort: 80,
  };
}

/** Host with only a remote server in sight: the client sockets are in no table. */
function hostFs(): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp: line(0, '198.18.0.1:22', '0.0.0.0:0', TcpState.listen, 500),
    fib_trie: `     |-- ${CLIENT}\n        /32 host LOCAL\n`,
  });
  return procFs;
}

function setup(procFs: FakeProcFs, options: Partial<AttributorOptions> = {}) {
  return attributorHarness(procFs, [CLIENT], options);
}

test('a churned client socket is attributed at first lookup from its connect event', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 42, comm: 'churner', cmdline: ['churner', '--fast'] });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  // The process started after the scan: its info is read from /proc when the event arrives.
  attributor.recordConnects([connectEvent(42, 'churner', 40000)]);
  attributor.ingest(flow(CLIENT, 40000, SERVER, 80), counters());
  attributor.ingest(flow(SERVER, 80, CLIENT, 40000), counters());
  assert.equal(resolved.length, 2, 'resolved at once, not parked');
  assert.equal(resolved[0]?.attribution.sender?.process.key, '42:1042');
  assert.deepEqual(resolved[0]?.attribution.sender?.process.cmdline, ['churner', '--fast']);
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 42);
  const stats = attributor.stats();
  assert.equal(stats.retry.pendingFlows, 0);
  assert.equal(stats.retry.inferredFlows, 0);
  assert.equal(stats.events.received, 1);
  assert.equal(stats.events.used, 2);
  assert.equal(stats.events.exitedOwners, 0);
  attributor.stop();
});

test('a process that exited before its event arrived is named from the event (startTime 0)', async () => {
  const { attributor, resolved } = setup(hostFs());
  await attributor.start();
  attributor.recordConnects([connectEvent(77, 'gone', 40001)]);
  attributor.ingest(flow(CLIENT, 40001, SERVER, 80), counters());
  const sender = resolved[0]?.attribution.sender;
  assert.equal(sender?.process.key, '77:0');
  assert.equal(sender?.process.comm, 'gone');
  assert.equal(sender?.process.startTime, 0);
  assert.equal(attributor.stats().events.exitedOwners, 1);
  attributor.stop();
});

test('the owner is resolved when the event arrives, so a later exit does not lose it', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 43, comm: 'short' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([connectEvent(43, 'short', 40002), connectEvent(43, 'short', 40003)]);
  procFs.remove('/proc/43');
  attributor.ingest(flow(CLIENT, 40002, SERVER, 80), counters());
  attributor.ingest(flow(CLIENT, 40003, SERVER, 80), counters());
  assert.equal(resolved[0]?.attribution.sender?.process.key, '43:1043');
  assert.equal(resolved[1]?.attribution.sender?.process.key, '43:1043');
  attributor.stop();
});

test('a socket found in the tables wins over a connect event', async () => {
  const procFs = hostFs();
  procFs.setNetFiles(1, {
    tcp: line(0, `${CLIENT}:40004`, `${SERVER}:80`, TcpState.established, 600),
    fib_trie: `     |-- ${CLIENT}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 50, comm: 'real', sockets: [600] });
  procFs.addProcess({ pid: 51, comm: 'other' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([connectEvent(51, 'other', 40004)]);
  attributor.ingest(flow(CLIENT, 40004, SERVER, 80), counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 50);
  assert.equal(resolved[0]?.attribution.sender?.socketInode, 600);
  assert.equal(attributor.stats().events.used, 0);
  attributor.stop();
});

test('connect events older than connectEventsTtlMs are not used', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 44, comm: 'old' });
  const { attributor, clock, resolved } = setup(procFs, { connectEventsTtlMs: 1000 });
  await attributor.start();
  attributor.recordConnects([connectEvent(44, 'old', 40005)]);
  clock.advance(1001);
  await attributor.whenIdle();
  const f = flow(CLIENT, 40005, SERVER, 80);
  attributor.ingest(f, counters());
  attributor.flush();
  assert.equal(resolutionOf(resolved, f).sender, undefined);
  attributor.stop();
});

test('a flow parked before its event arrived is resolved by the event at the next retry', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 45, comm: 'late' });
  const { attributor, clock, resolved } = setup(procFs);
  await attributor.start();
  attributor.ingest(flow(CLIENT, 40006, SERVER, 80), counters());
  assert.equal(resolved.length, 0, 'parked: nothing knows the socket yet');
  attributor.recordConnects([connectEvent(45, 'late', 40006)]);
  for (let i = 0; i < 100 && resolved.length === 0; i++) {
    clock.advance(10);
    await attributor.whenIdle();
  }
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 45);
  assert.equal(attributor.stats().retry.resolvedFlows, 1);
  attributor.stop();
});

test('an event-answered flow whose other end is unknown is looked up again after the next scan', async () => {
  // The server lives in a namespace no scan has seen yet (it started after the last scan).
  const procFs = hostFs();
  procFs.addProcess({ pid: 46, comm: 'client' });
  const { attributor, clock, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([connectEvent(46, 'client', 40007)]);
  const f = flow(CLIENT, 40007, SERVER, 80);
  attributor.ingest(f, counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 46, 'reported at once');
  assert.equal(resolved[0]?.attribution.receiver, undefined);
  // The server's namespace appears: pid 60 in another netns owns the accepted socket.
  procFs.addProcess({ pid: 60, comm: 'server', netns: 4026532100, sockets: [900] });
  procFs.setNetFiles(60, {
    tcp: line(0, `${SERVER}:80`, `${CLIENT}:40007`, TcpState.established, 900),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  for (let i = 0; i < 100 && attributor.stats().scans.count < 2; i++) {
    clock.advance(10);
    await attributor.whenIdle();
  }
  attributor.ingest(f, counters());
  assert.equal(resolved[1]?.attribution.sender?.process.pid, 46);
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 60);
  attributor.stop();
});

test('a client namespace whose last process exited keeps its client end: the late connect event names it', async () => {
  // The server (pid 60, host namespace) has accepted CLIENT_NS_ADDRESS:40020 (socket 701); the
  // client (pid 70) ran in its own namespace, which the first scan saw, and exited before the
  // flow's packets were looked up; its connect event arrives after a later scan. That scan no
  // longer sees the namespace: its address must stay local, so the flow waits for the event
  // instead of being reported (for good) on the server's side only.
  const CLIENT_NS = 4026532200;
  const CLIENT_NS_ADDRESS = '198.18.0.66';
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp:
      line(0, `${SERVER}:80`, '0.0.0.0:0', TcpState.listen, 700) +
      line(1, `${SERVER}:80`, `${CLIENT_NS_ADDRESS}:40020`, TcpState.established, 701),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 60, comm: 'server', netns: HOST_NS, sockets: [700, 701] });
  procFs.addProcess({ pid: 70, comm: 'client', netns: CLIENT_NS });
  procFs.setNetFiles(70, { fib_trie: `     |-- ${CLIENT_NS_ADDRESS}\n        /32 host LOCAL\n` });
  const { attributor, clock, resolved } = attributorHarness(procFs, [SERVER]);
  await attributor.start();
  procFs.remove('/proc/70'); // the client exits; its namespace has no process left
  const f = flow(CLIENT_NS_ADDRESS, 40020, SERVER, 80);
  attributor.ingest(f, counters(4268));
  assert.equal(resolved.length, 0, 'parked: the client end is local and has no owner yet');
  const scans = attributor.stats().scans.count;
  for (let i = 0; i < 100 && attributor.stats().scans.count < scans + 1; i++) {
    clock.advance(10);
    await attributor.whenIdle();
  }
  assert.ok(attributor.stats().scans.count > scans, 'a scan ran without the client namespace');
  assert.equal(resolved.length, 0, 'still parked after that scan');
  attributor.recordConnects([
    {
      kind: 'connect',
      pid: 70,
      comm: 'client',
      protocol: TCP,
      localAddress: CLIENT_NS_ADDRESS,
      localPort: 40020,
      remoteAddress: SERVER,
      remotePort: 80,
    },
  ]);
  const got = resolutionOf(resolved, f);
  assert.equal(got.sender?.process.pid, 70, 'the client end, from its connect event');
  assert.equal(got.receiver?.process.pid, 60, 'the server end, from the tables');
  attributor.stop();
});
