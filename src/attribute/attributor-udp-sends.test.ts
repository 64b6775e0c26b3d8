// The attributor with kernel UDP send events (recordConnects with protocol 17): a short-lived
// UDP sender whose socket no scan ever saw is attributed from its event; the socket tables win
// over events; a newer owner of the same local port wins over an older event.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FakeClock } from '../clock.js';
import {
  attributorHarness,
  flowTuple,
  resolutionOf,
} from '../../test/helpers/attributor-harness.js';
import { FakeProcFs, ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import type { Attributor } from './attributor.js';
import type { AttributorOptions } from './attributor.js';
import type { ConnectEvent } from './recent-connects.js';
import type { FlowCounters, FlowTuple } from './types.js';

const HOST_NS = 4026531840;
const UDP = 17;
/** /proc/net/udp state of an unconnected socket (TCP_CLOSE). */
const UDP_UNCONNECTED = 7;
const CLIENT = '198.18.0.1';
const RESOLVER = '198.18.0.2';
const FIB = `     |-- ${CLIENT}\n        /32 host LOCAL\n`;

function flow(srcAddress: string, srcPort: number, dstAddress: string, dstPort: number): FlowTuple {
  return flowTuple(UDP, srcAddress, srcPort, dstAddress, dstPort);
}

function counters(bytes = 60): FlowCounters {
  return {
    packets: 1,
    bytes,
    payloadBytes: bytes - 28,
    wireBytes: bytes + 14,
    firstMs: 1,
    lastMs: 2,
    tcpFlags: 0,
  };
}

/** What the BPF program reports for an unbound socket's first sendto(): wildcard, no peer. */
function sendEvent(
  pid: number,
  comm: string,
  localPort: number,
  localAddress = '0.0.0.0',
): ConnectEvent {
  return {
    pid,
    comm,
    protocol: UDP,
    localAddress,
    localPort,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
  };
}

/** Host whose tables hold no client socket (the DNS server is remote). */
function hostFs(udp = ''): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, { udp, fib_trie: FIB });
  return procFs;
}

function setup(procFs: FakeProcFs, options: Partial<AttributorOptions> = {}) {
  return attributorHarness(procFs, [CLIENT], options);
}

/** Advance the fake clock until `count` scans have completed (bounded). */
async function scans(attributor: Attributor, clock: FakeClock, count: number): Promise<void> {
  for (let i = 0; i < 500 && attributor.stats().scans.count < count; i++) {
    clock.advance(10);
    await attributor.whenIdle();
  }
  assert.ok(attributor.stats().scans.count >= count, 'the scans did not run');
}

test('a UDP query and its answer are attributed to the sender from its send event', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 42, comm: 'dig', cmdline: ['dig', 'example.test'] });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([sendEvent(42, 'dig', 53001)]);
  attributor.ingest(flow(CLIENT, 53001, RESOLVER, 53), counters());
  attributor.ingest(flow(RESOLVER, 53, CLIENT, 53001), counters(120));
  assert.equal(resolved.length, 2, 'resolved at once, not parked');
  assert.equal(resolved[0]?.attribution.sender?.process.key, '42:1042');
  assert.deepEqual(resolved[0]?.attribution.sender?.process.cmdline, ['dig', 'example.test']);
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 42);
  const events = attributor.stats().events;
  assert.equal(events.received, 1);
  assert.equal(events.udpReceived, 1);
  assert.equal(events.udpUsed, 2);
  assert.equal(events.used, 2);
  assert.equal(events.udpIndexed, 1);
  assert.equal(events.indexed, 0, 'not in the TCP connect index');
  attributor.stop();
});

test('a sender that exited before its event arrived keeps the event pid and comm', async () => {
  const { attributor, resolved } = setup(hostFs());
  await attributor.start();
  attributor.recordConnects([sendEvent(77, 'host', 53002)]);
  attributor.ingest(flow(CLIENT, 53002, RESOLVER, 53), counters());
  const sender = resolved[0]?.attribution.sender;
  assert.equal(sender?.process.key, '77:0');
  assert.equal(sender?.process.pid, 77);
  assert.equal(sender?.process.comm, 'host');
  assert.equal(attributor.stats().events.exitedOwners, 1);
  attributor.stop();
});

test('an event bound to another address does not answer for this one', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 43, comm: 'bound' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([sendEvent(43, 'bound', 53003, '198.18.0.9')]);
  const f = flow(CLIENT, 53003, RESOLVER, 53);
  attributor.ingest(f, counters());
  attributor.flush();
  assert.equal(resolutionOf(resolved, f).sender, undefined);
  assert.equal(attributor.stats().events.udpUsed, 0);
  attributor.stop();
});

test('a socket in the tables wins over a send event', async () => {
  const procFs = hostFs(line(0, `0.0.0.0:53004`, '0.0.0.0:0', UDP_UNCONNECTED, 600));
  procFs.addProcess({ pid: 50, comm: 'real', sockets: [600] });
  procFs.addProcess({ pid: 51, comm: 'other' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  attributor.recordConnects([sendEvent(51, 'other', 53004)]);
  attributor.ingest(flow(CLIENT, 53004, RESOLVER, 53), counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 50);
  assert.equal(resolved[0]?.attribution.sender?.socketInode, 600);
  assert.equal(attributor.stats().events.udpUsed, 0);
  attributor.stop();
});

test('send events older than connectEventsTtlMs are not used', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 44, comm: 'old' });
  const { attributor, clock, resolved } = setup(procFs, { connectEventsTtlMs: 1000 });
  await attributor.start();
  attributor.recordConnects([sendEvent(44, 'old', 53005)]);
  clock.advance(1001);
  await attributor.whenIdle();
  const f = flow(CLIENT, 53005, RESOLVER, 53);
  attributor.ingest(f, counters());
  attributor.flush();
  assert.equal(resolutionOf(resolved, f).sender, undefined);
  attributor.stop();
});

test('port reuse: a remembered flow follows the newest sender of its local port', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 45, comm: 'first' });
  procFs.addProcess({ pid: 46, comm: 'second' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  const f = flow(CLIENT, 53006, RESOLVER, 53);
  attributor.recordConnects([sendEvent(45, 'first', 53006)]);
  attributor.ingest(f, counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 45);
  // The first process is done; a second one gets the same port and asks the same server.
  attributor.recordConnects([sendEvent(46, 'second', 53006)]);
  attributor.ingest(f, counters());
  assert.equal(resolved[1]?.attribution.sender?.process.pid, 46);
  attributor.stop();
});

test('an event older than a scan that shows another owner on its port is never used', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 47, comm: 'gone' });
  const { attributor, clock, resolved } = setup(procFs, { syncIntervalMs: 100 });
  await attributor.start();
  attributor.recordConnects([sendEvent(47, 'gone', 53007)]);
  // Later a server (no send event: it only receives) binds the port and a scan sees it.
  procFs.addProcess({ pid: 60, comm: 'listener', sockets: [700] });
  procFs.setNetFiles(1, {
    udp: line(0, `0.0.0.0:53007`, '0.0.0.0:0', UDP_UNCONNECTED, 700),
    fib_trie: FIB,
  });
  await scans(attributor, clock, 2);
  assert.equal(attributor.stats().events.udpContradicted, 1);
  // The listener closes before the next scan: its traffic must not go to pid 47.
  procFs.setNetFiles(1, { udp: '', fib_trie: FIB });
  await scans(attributor, clock, 3);
  const f = flow(RESOLVER, 53, CLIENT, 53007);
  attributor.ingest(f, counters());
  attributor.flush();
  assert.equal(resolutionOf(resolved, f).receiver, undefined);
  assert.equal(attributor.stats().events.udpUsed, 0);
  attributor.stop();
});

test('a scan that shows the event owner itself on the port keeps the event', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 48, comm: 'same' });
  const { attributor, clock, resolved } = setup(procFs, { syncIntervalMs: 100 });
  await attributor.start();
  attributor.recordConnects([sendEvent(48, 'same', 53008)]);
  procFs.addProcess({ pid: 48, comm: 'same', sockets: [800] });
  procFs.setNetFiles(1, {
    udp: line(0, `0.0.0.0:53008`, '0.0.0.0:0', UDP_UNCONNECTED, 800),
    fib_trie: FIB,
  });
  await scans(attributor, clock, 2);
  procFs.setNetFiles(1, { udp: '', fib_trie: FIB });
  await scans(attributor, clock, 3);
  attributor.ingest(flow(CLIENT, 53008, RESOLVER, 53), counters());
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 48);
  assert.equal(attributor.stats().events.udpContradicted, 0);
  attributor.stop();
});

test('traffic this host forwards is never claimed by a send event of the same port', async () => {
  const procFs = hostFs();
  procFs.addProcess({ pid: 42, comm: 'dig' });
  const { attributor, resolved } = setup(procFs);
  await attributor.start();
  // dig sent from *:53001; a forwarded datagram between two other hosts uses port 53001 too.
  attributor.recordConnects([sendEvent(42, 'dig', 53001)]);
  attributor.ingest(flow('203.0.113.7', 53001, '203.0.113.9', 53), counters());
  attributor.ingest(flow('203.0.113.9', 53, '203.0.113.7', 53001), counters());
  // Neither end is local to a namespace known yet: the flows wait for one scan, then are unknown.
  await attributor.scanNow();
  assert.equal(resolved.length, 2);
  for (const r of resolved) {
    assert.equal(r.attribution.sender, undefined);
    assert.equal(r.attribution.receiver, undefined);
  }
  assert.equal(attributor.stats().events.udpUsed, 0);
  attributor.stop();
});
