// Accountant against ground truth: known byte counts added at known (fake) seconds.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { FlowCounters, FlowTuple, ProcessInfo } from '../attribute/types.js';
import { FakeClock } from '../clock.js';
import { UsageError } from '../errors.js';
import { flowKey } from '../attribute/flow-key.js';
import { Accountant, EVICTED_PROCESS_KEY, EXITED_PROCESS_KEY } from './accountant.js';
import type { ProcessEntry, TrafficCounters } from './types.js';

const T0 = 1_700_000_000_000; // a whole second

function proc(pid: number, containerId: string | null = null): ProcessInfo {
  return {
    key: `${pid}:1000`,
    pid,
    ppid: 1,
    comm: `p${pid}`,
    exe: '',
    cmdline: [],
    uid: 0,
    user: 'root',
    startTime: 1000,
    cgroup: '/',
    containerId,
    containerRuntime: containerId === null ? null : 'docker',
    netns: 1,
  };
}

/** A flow this host's process sends on: local 198.18.0.1:localPort -> remote. */
function conn(localPort: number, remoteAddress = '198.18.0.2', remotePort = 80): FlowTuple {
  return {
    key: flowKey(6, '198.18.0.1', localPort, remoteAddress, remotePort),
    ipVersion: 4,
    protocol: 6,
    srcAddress: '198.18.0.1',
    srcPort: localPort,
    dstAddress: remoteAddress,
    dstPort: remotePort,
  };
}

/** The same connection's other direction: remote -> local 198.18.0.1:localPort (received). */
function inbound(localPort: number, remoteAddress = '198.18.0.2', remotePort = 80): FlowTuple {
  return {
    key: flowKey(6, remoteAddress, remotePort, '198.18.0.1', localPort),
    ipVersion: 4,
    protocol: 6,
    srcAddress: remoteAddress,
    srcPort: remotePort,
    dstAddress: '198.18.0.1',
    dstPort: localPort,
  };
}

function flow(
  bytes: number,
  packets = 1,
  payloadBytes = Math.max(0, bytes - 40 * packets),
): FlowCounters {
  return {
    packets,
    bytes,
    payloadBytes,
    wireBytes: bytes + 14 * packets,
    firstMs: 0,
    lastMs: 0,
    tcpFlags: 0,
  };
}

function zero(): TrafficCounters {
  return {
    sentBytes: 0,
    receivedBytes: 0,
    sentPackets: 0,
    receivedPackets: 0,
    sentPayloadBytes: 0,
    receivedPayloadBytes: 0,
  };
}

function addTo(sum: TrafficCounters, c: TrafficCounters): void {
  sum.sentBytes += c.sentBytes;
  sum.receivedBytes += c.receivedBytes;
  sum.sentPackets += c.sentPackets;
  sum.receivedPackets += c.receivedPackets;
  sum.sentPayloadBytes += c.sentPayloadBytes;
  sum.receivedPayloadBytes += c.receivedPayloadBytes;
}

function processOf(entries: readonly ProcessEntry[], key: string): ProcessEntry {
  const entry = entries.find((e) => e.key === key);
  assert.ok(entry, `no process entry ${key}`);
  return entry;
}

test('counts exact totals, window sums, rates and history over known seconds', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 15 });
  const p = proc(10);
  // 1000 B sent and 300 B received in each of seconds 0..4, as two batches per second.
  for (let s = 0; s < 5; s++) {
    acc.addSent(p, conn(5000), flow(600, 2, 520));
    clock.advance(400);
    acc.addSent(p, conn(5000), flow(400, 1, 360));
    acc.addReceived(p, inbound(5000), flow(300, 3, 180));
    clock.advance(600);
  }
  // Now at the very start of second 5 (nothing added in it yet).
  const parts = acc.snapshotParts(5);
  const e = processOf(parts.processes, p.key);
  assert.deepEqual(e.total, {
    sentBytes: 5000,
    receivedBytes: 1500,
    sentPackets: 15,
    receivedPackets: 15,
    sentPayloadBytes: 4400,
    receivedPayloadBytes: 900,
  });
  assert.deepEqual(e.window, e.total);
  assert.deepEqual(e.rate, { sentBytesPerSecond: 1000, receivedBytesPerSecond: 300 });
  assert.equal(e.history.sentBytes.length, 15);
  assert.deepEqual(e.history.sentBytes, [...Array(9).fill(0), 1000, 1000, 1000, 1000, 1000, 0]);
  assert.deepEqual(e.history.receivedBytes, [...Array(9).fill(0), 300, 300, 300, 300, 300, 0]);
  assert.equal(e.connectionCount, 1);
  assert.equal(e.exited, false);

  const w2 = processOf(acc.snapshotParts(2).processes, p.key);
  assert.equal(w2.window.sentBytes, 2000);
  assert.equal(w2.window.receivedPackets, 6);
  assert.deepEqual(w2.rate, { sentBytesPerSecond: 1000, receivedBytesPerSecond: 300 });

  // The current (partial) second shows in history but not in the window.
  clock.advance(500);
  acc.addSent(p, conn(5000), flow(77));
  const mid = processOf(acc.snapshotParts(1).processes, p.key);
  assert.equal(mid.window.sentBytes, 1000);
  assert.equal(mid.history.sentBytes.at(-1), 77);
  assert.equal(mid.total.sentBytes, 5077);

  // windowSeconds 0: totals since start, rate over the 5.5 s elapsed.
  const all = processOf(acc.snapshotParts(0).processes, p.key);
  assert.deepEqual(all.window, all.total);
  assert.equal(all.rate.sentBytesPerSecond, 5077 / 5.5);
});

test('ring stays correct across gaps of 1 s, the ring length and 10x the ring length', () => {
  const clock = new FakeClock(T0);
  const ring = 5;
  const acc = new Accountant({ clock, ringSeconds: ring });
  const p = proc(11);
  const history = (): readonly number[] =>
    processOf(acc.snapshotParts(ring).processes, p.key).history.sentBytes;
  const windowOf = (w: number): number =>
    processOf(acc.snapshotParts(w).processes, p.key).window.sentBytes;

  acc.addSent(p, conn(1), flow(100)); // second 0
  clock.advance(1000);
  acc.addSent(p, conn(1), flow(200)); // second 1 (gap 1 s)
  assert.deepEqual(history(), [0, 0, 0, 100, 200]);
  assert.equal(windowOf(1), 100);

  clock.advance(ring * 1000); // second 6: history shows 2..6, the full window 1..5
  assert.deepEqual(history(), [0, 0, 0, 0, 0]);
  assert.equal(windowOf(ring), 200);
  assert.equal(windowOf(ring - 1), 0);
  acc.addSent(p, conn(1), flow(300)); // second 6
  assert.deepEqual(history(), [0, 0, 0, 0, 300]);
  clock.advance(1000);
  assert.equal(windowOf(ring), 300);
  assert.equal(windowOf(1), 300);

  clock.advance(10 * ring * 1000); // 10x ring gap
  assert.deepEqual(history(), [0, 0, 0, 0, 0]);
  assert.equal(windowOf(ring), 0);
  acc.addSent(p, conn(1), flow(400));
  clock.advance(1000);
  acc.addSent(p, conn(1), flow(500));
  assert.deepEqual(history(), [0, 0, 0, 400, 500]);
  assert.equal(windowOf(2), 400);
  assert.equal(processOf(acc.snapshotParts(ring).processes, p.key).total.sentBytes, 1500);
});

test('EWMA converges on a constant rate as R * (1 - d^n) with d = 0.5^(1/halfLife)', () => {
  const clock = new FakeClock(T0);
  const halfLife = 5;
  const acc = new Accountant({ clock, ringSeconds: 15, ewmaHalfLifeSeconds: halfLife });
  const p = proc(12);
  const d = Math.pow(0.5, 1 / halfLife);
  for (let n = 1; n <= 60; n++) {
    acc.addSent(p, conn(1), flow(8000));
    clock.advance(1000);
    const e = processOf(acc.snapshotParts(1).processes, p.key);
    assert.ok(Math.abs(e.ewma.sentBytesPerSecond - 8000 * (1 - Math.pow(d, n))) < 1e-6, `n=${n}`);
  }
  const settled = processOf(acc.snapshotParts(1).processes, p.key).ewma.sentBytesPerSecond;
  assert.ok(Math.abs(settled - 8000) < 8000 * 0.001);
  // After traffic stops, it halves every half-life.
  clock.advance(halfLife * 1000);
  const later = processOf(acc.snapshotParts(1).processes, p.key).ewma.sentBytesPerSecond;
  assert.ok(Math.abs(later - settled / 2) < 1e-6);
});

test('rank orders by window bytes for every sortBy and groupBy, with stable tie-breaks', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 10 });
  const a = proc(1, 'c1');
  const b = proc(2, 'c1');
  const c = proc(3);
  acc.addSent(a, conn(1, '198.18.0.10'), flow(5000));
  acc.addReceived(a, inbound(1, '198.18.0.10'), flow(100));
  acc.addSent(b, conn(2, '198.18.0.11'), flow(1000));
  acc.addReceived(b, inbound(2, '198.18.0.11'), flow(7000));
  acc.addSent(c, conn(3, '198.18.0.10'), flow(2000));
  acc.addReceived(c, inbound(3, '198.18.0.10'), flow(2000));
  acc.addSent(c, conn(4, '198.18.0.12'), flow(10));
  clock.advance(1000);
  const keys = (entries: { key: string }[]): string[] => entries.map((e) => e.key);

  assert.deepEqual(keys(acc.rank()), [b.key, a.key, c.key]); // 8000, 5100, 4010
  assert.deepEqual(keys(acc.rank({ sortBy: 'sent' })), [a.key, c.key, b.key]);
  assert.deepEqual(keys(acc.rank({ sortBy: 'received' })), [b.key, c.key, a.key]);
  assert.deepEqual(keys(acc.rank({ limit: 1 })), [b.key]);
  assert.deepEqual(keys(acc.rank({ groupBy: 'connection' })), [
    conn(2, '198.18.0.11').key,
    conn(1, '198.18.0.10').key,
    conn(3, '198.18.0.10').key,
    conn(4, '198.18.0.12').key,
  ]);
  const remotes = acc.rank({ groupBy: 'remote' });
  assert.deepEqual(keys(remotes), ['198.18.0.10', '198.18.0.11', '198.18.0.12']);
  assert.equal(remotes[0]!.kind === 'remote' && remotes[0]!.processCount, 2);
  assert.equal(remotes[0]!.window.sentBytes, 7000);
  assert.equal(remotes[0]!.window.receivedBytes, 2100);
  const containers = acc.rank({ groupBy: 'container', sortBy: 'received' });
  assert.deepEqual(keys(containers), ['c1', '']);
  const c1 = containers[0]!;
  assert.ok(c1.kind === 'container');
  assert.equal(c1.processCount, 2);
  assert.equal(c1.containerRuntime, 'docker');
  assert.deepEqual([c1.window.sentBytes, c1.window.receivedBytes], [6000, 7100]);

  // Equal window bytes: more bytes since start first, then key order.
  clock.advance(10_000);
  acc.addSent(proc(9), conn(9), flow(50));
  acc.addSent(proc(8), conn(8), flow(50));
  clock.advance(1000);
  assert.deepEqual(keys(acc.rank({ limit: 2 })), [proc(8).key, proc(9).key]);
  assert.deepEqual(keys(acc.rank({ windowSeconds: 0, limit: 4 })), [
    b.key,
    a.key,
    c.key,
    proc(8).key,
  ]);
  assert.deepEqual(keys(acc.rank({ windowSeconds: 3 }).slice(2)), [b.key, a.key, c.key]);
});

test('exited processes keep their totals for the retention, then fold into one exited entry', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 5, exitedRetentionMs: 10_000 });
  const alive = proc(1);
  const gone = proc(2);
  acc.addSent(alive, conn(1), flow(1000));
  acc.addSent(gone, conn(2), flow(3000));
  acc.addReceived(gone, inbound(3), flow(500));
  clock.advance(1000);
  acc.markAlive(new Set([alive.key]));
  let parts = acc.snapshotParts(5);
  assert.equal(processOf(parts.processes, gone.key).exited, true);
  assert.equal(processOf(parts.processes, alive.key).exited, false);
  assert.equal(acc.connections(gone.key).length, 2);

  clock.advance(9_000);
  acc.markAlive(new Set([alive.key]));
  assert.ok(acc.snapshotParts(5).processes.some((e) => e.key === gone.key));
  clock.advance(1_000); // retention reached
  acc.markAlive(new Set([alive.key]));
  parts = acc.snapshotParts(0);
  assert.equal(
    parts.processes.some((e) => e.key === gone.key),
    false,
  );
  const exited = processOf(parts.processes, EXITED_PROCESS_KEY);
  assert.equal(exited.exited, true);
  assert.equal(exited.process.comm, '(exited)');
  assert.equal(exited.total.sentBytes, 3000);
  assert.equal(exited.total.receivedBytes, 500);
  assert.deepEqual(acc.connections(gone.key), []);
  assert.equal(acc.stats().connections, 1);
  const sum = zero();
  for (const e of parts.processes) addTo(sum, e.total);
  assert.deepEqual(sum, parts.totals.total);
  assert.equal(parts.totals.total.sentBytes, 4000);
});

test('exited folding keeps window sums: the folded ring lands in the exited entry', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 10, exitedRetentionMs: 0 });
  const p = proc(5);
  acc.addSent(p, conn(1), flow(700));
  clock.advance(1000);
  acc.markAlive(new Set());
  clock.advance(1000);
  const exited = processOf(acc.snapshotParts(3).processes, EXITED_PROCESS_KEY);
  assert.equal(exited.window.sentBytes, 700);
  assert.deepEqual(exited.history.sentBytes.slice(-3), [700, 0, 0]);
});

test('bounded tables evict the least recently active entries and count them', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({
    clock,
    ringSeconds: 5,
    maxProcesses: 4,
    maxConnections: 6,
    maxRemotes: 3,
    maxContainers: 2,
  });
  for (let pid = 1; pid <= 4; pid++) {
    acc.addSent(proc(pid, `c${pid}`), conn(pid, `198.18.0.${pid}`), flow(100 * pid));
    clock.advance(1000);
  }
  assert.deepEqual(acc.stats().evicted, {
    processes: 0,
    connections: 0,
    remotes: 1,
    containers: 2,
    unknown: 0,
  });
  acc.addSent(proc(5), conn(5, '198.18.0.5'), flow(10_000));
  const stats = acc.stats();
  assert.equal(stats.processes, 5); // four processes plus the evicted aggregate
  assert.equal(stats.evicted.processes, 1);
  assert.equal(stats.evicted.connections, 1);
  const parts = acc.snapshotParts(0);
  // pid 1 was the least recently active: its bytes are in the evicted aggregate.
  assert.equal(
    parts.processes.some((e) => e.key === proc(1).key),
    false,
  );
  assert.equal(processOf(parts.processes, EVICTED_PROCESS_KEY).total.sentBytes, 100);
  assert.equal(parts.totals.total.sentBytes, 100 + 200 + 300 + 400 + 10_000);

  // Connections: 4 tracked + 4 new > 6, so the two least recently active (pids 2, 3) go.
  for (let port = 10; port < 14; port++) acc.addSent(proc(5), conn(port, '198.18.0.5'), flow(1));
  assert.equal(acc.stats().connections, 6);
  assert.equal(acc.stats().evicted.connections, 1 + 2);
  assert.equal(acc.connections(proc(2).key).length, 0);
  assert.equal(acc.connections(proc(3).key).length, 0);
  assert.equal(acc.connections(proc(4).key).length, 1);
  assert.equal(acc.connections(proc(5).key).length, 5);
  // Process totals are not affected by connection evictions.
  assert.equal(processOf(acc.snapshotParts(0).processes, proc(2).key).total.sentBytes, 200);
});

test('all processes plus unknown add up to everything added, through evictions and exits', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({
    clock,
    ringSeconds: 8,
    maxProcesses: 7,
    maxConnections: 20,
    maxRemotes: 5,
    maxContainers: 3,
    maxUnknown: 4,
    exitedRetentionMs: 3000,
  });
  const truth = zero();
  const windowTruth: number[] = [];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let step = 0; step < 400; step++) {
    const bytes = 40 + rand(1500);
    const packets = 1 + rand(3);
    const payload = rand(bytes);
    const pid = 1 + rand(30);
    const sent = rand(2) === 0;
    const c = flow(bytes, packets, payload);
    const sec = Math.floor(clock.now() / 1000);
    windowTruth[sec] = (windowTruth[sec] ?? 0) + bytes;
    if (rand(5) === 0) {
      acc.addUnknown(rand(2) === 0 ? 'tcp' : 'udp', rand(10), sent ? 'sent' : 'received', c);
    } else {
      const p = proc(pid, `c${pid % 5}`);
      const ref = conn(rand(40), `198.18.0.${rand(12)}`);
      if (sent) acc.addSent(p, ref, c);
      else acc.addReceived(p, reverse(ref), c);
    }
    addTo(truth, {
      sentBytes: sent ? bytes : 0,
      receivedBytes: sent ? 0 : bytes,
      sentPackets: sent ? packets : 0,
      receivedPackets: sent ? 0 : packets,
      sentPayloadBytes: sent ? payload : 0,
      receivedPayloadBytes: sent ? 0 : payload,
    });
    if (step % 25 === 0) {
      const alive = new Set<string>();
      for (let q = 1; q <= 30; q++) if (rand(3) > 0) alive.add(proc(q).key);
      acc.markAlive(alive);
    }
    clock.advance(rand(400));
  }
  const parts = acc.snapshotParts(0);
  const sum = zero();
  for (const e of parts.processes) addTo(sum, e.total);
  for (const e of parts.unknown) addTo(sum, e.total);
  const evictedUnknown = acc.stats().evicted.unknown;
  if (evictedUnknown === 0) assert.deepEqual(sum, truth);
  const sumWithUnknownTotals = zero();
  for (const e of parts.processes) addTo(sumWithUnknownTotals, e.total);
  addTo(sumWithUnknownTotals, parts.unknownTotals.total);
  assert.deepEqual(sumWithUnknownTotals, truth);
  assert.deepEqual(parts.totals.total, truth);
  assert.ok(acc.stats().evicted.processes > 0, 'the test should exercise process eviction');

  // Window sums add up too (last 8 complete seconds).
  clock.advance(1000);
  const nowSec = Math.floor(clock.now() / 1000);
  let expected = 0;
  for (let s = nowSec - 8; s < nowSec; s++) expected += windowTruth[s] ?? 0;
  const windowed = acc.snapshotParts(8);
  let windowSum =
    windowed.unknownTotals.window.sentBytes + windowed.unknownTotals.window.receivedBytes;
  for (const e of windowed.processes) windowSum += e.window.sentBytes + e.window.receivedBytes;
  assert.equal(windowSum, expected);
  assert.equal(windowed.totals.window.sentBytes + windowed.totals.window.receivedBytes, expected);
});

test('groups unknown traffic by protocol and local port', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 5 });
  acc.addUnknown('udp', 53, 'received', flow(100));
  acc.addUnknown('udp', 53, 'sent', flow(60));
  acc.addUnknown('tcp', 53, 'received', flow(1000));
  acc.addUnknown('udp', 0, 'received', flow(7));
  clock.advance(1000);
  const parts = acc.snapshotParts(5);
  assert.deepEqual(
    parts.unknown.map((u) => [
      u.key,
      u.protocol,
      u.localPort,
      u.total.sentBytes,
      u.total.receivedBytes,
    ]),
    [
      ['tcp:53', 'tcp', 53, 0, 1000],
      ['udp:53', 'udp', 53, 60, 100],
      ['udp:0', 'udp', 0, 0, 7],
    ],
  );
  assert.equal(parts.unknownTotals.total.receivedBytes, 1107);
  assert.equal(parts.totals.total.sentBytes, 60);
  assert.equal(parts.processes.length, 0);
});

test('a connection moving past 2^32 bytes in one second keeps exact counts', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 3 });
  const p = proc(1);
  const big = 3_000_000_000;
  acc.addSent(p, conn(1), flow(big, 2_000_000, big - 80_000_000));
  acc.addSent(p, conn(1), flow(big, 2_000_000, big - 80_000_000));
  clock.advance(1000);
  const [c] = acc.connections(p.key, 1);
  assert.ok(c);
  assert.equal(c.window.sentBytes, 2 * big);
  assert.equal(c.window.sentPayloadBytes, 2 * (big - 80_000_000));
  assert.equal(c.history.sentBytes.at(-2), 2 * big);
});

test('a connection key reused by another process becomes a new connection', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock });
  acc.addSent(proc(1), conn(7), flow(100));
  acc.addSent(proc(2), conn(7), flow(50));
  assert.equal(acc.connections(proc(1).key).length, 0);
  assert.equal(acc.connections(proc(2).key)[0]!.total.sentBytes, 50);
  assert.equal(acc.stats().connections, 1);
});

test('both directions of a connection land on one entry, whichever is seen first', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 15 });
  const p = proc(1);
  // Received first: the entry still shows the local end first and the canonical key.
  acc.addReceived(p, inbound(7), flow(300));
  acc.addSent(p, conn(7), flow(100));
  acc.addSent(p, conn(7), flow(50));
  acc.addReceived(p, inbound(7), flow(20));
  // A second process on the other end of the same tuple (both ends local): its own entry.
  const q = proc(2);
  acc.addReceived(q, conn(7), flow(100));
  acc.addSent(q, inbound(7), flow(300));
  clock.advance(1000);
  const conns = acc.rank({ groupBy: 'connection', windowSeconds: 0 });
  assert.equal(conns.length, 2);
  const mine = conns.find((c) => c.kind === 'connection' && c.process.pid === 1);
  assert.ok(mine?.kind === 'connection');
  assert.equal(mine.key, 'tcp|198.18.0.1|7|198.18.0.2|80');
  assert.equal(mine.localPort, 7);
  assert.equal(mine.remotePort, 80);
  assert.equal(mine.total.sentBytes, 150);
  assert.equal(mine.total.receivedBytes, 320);
  const theirs = conns.find((c) => c.kind === 'connection' && c.process.pid === 2);
  assert.ok(theirs?.kind === 'connection');
  assert.equal(theirs.key, 'tcp|198.18.0.2|80|198.18.0.1|7');
  assert.equal(theirs.localAddress, '198.18.0.2');
  assert.equal(theirs.total.sentBytes, 300);
  assert.equal(theirs.total.receivedBytes, 100);
  assert.equal(acc.stats().connections, 2);
});

test('a dropped connection lets go of both directions: the next owner starts from zero', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 15 });
  acc.addSent(proc(1), conn(9), flow(100));
  acc.addReceived(proc(1), inbound(9), flow(200));
  // The port is reused by process 3: a new connection, found through either direction.
  acc.addReceived(proc(3), inbound(9), flow(5));
  acc.addSent(proc(3), conn(9), flow(7));
  clock.advance(1000);
  const conns = acc.rank({ groupBy: 'connection', windowSeconds: 0 });
  assert.equal(conns.length, 1);
  assert.ok(conns[0]?.kind === 'connection');
  assert.equal(conns[0].process.pid, 3);
  assert.equal(conns[0].total.sentBytes, 7);
  assert.equal(conns[0].total.receivedBytes, 5);
  // Process 1 keeps its bytes.
  const p1 = acc.snapshotParts(0).processes.find((e) => e.process.pid === 1);
  assert.equal(p1?.total.sentBytes, 100);
  assert.equal(p1?.total.receivedBytes, 200);
});

test('rejects bad options with UsageError naming the option and the allowed values', () => {
  const clock = new FakeClock(T0);
  const acc = new Accountant({ clock, ringSeconds: 15 });
  const cases: [unknown, RegExp][] = [
    [
      { windowSeconds: 16 },
      /windowSeconds must be an integer 1\.\.15 \(ringSeconds\), or 0 for totals since start, got 16/,
    ],
    [{ windowSeconds: -1 }, /windowSeconds .* got -1/],
    [{ windowSeconds: 1.5 }, /windowSeconds .* got 1\.5/],
    [{ limit: 0 }, /limit must be an integer >= 1, got 0/],
    [{ sortBy: 'bytes' }, /sortBy must be one of 'total', 'sent', 'received', got "bytes"/],
    [
      { groupBy: 'pid' },
      /groupBy must be one of 'process', 'connection', 'remote', 'container', got "pid"/,
    ],
    [{ window: 5 }, /unknown rank\(\) option 'window': did you mean 'windowSeconds'\?/],
    [{ sortby: 'sent' }, /did you mean 'sortBy'/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => acc.rank(options as never),
      (err: unknown) =>
        err instanceof UsageError && err.code === 'ERR_USAGE' && message.test(err.message),
      JSON.stringify(options),
    );
  }
  assert.throws(() => acc.snapshotParts(99), UsageError);
  const ctorCases: [object, RegExp][] = [
    [{ ringSeconds: 0 }, /ringSeconds must be an integer 1\.\.3600, got 0/],
    [{ ringSeconds: 3601 }, /ringSeconds must be an integer 1\.\.3600/],
    [{ maxProcesses: -5 }, /maxProcesses must be an integer >= 1, got -5/],
    [{ ewmaHalfLifeSeconds: 0 }, /ewmaHalfLifeSeconds must be a finite number > 0, got 0/],
    [
      { maxConnection: 5 },
      /unknown Accountant option 'maxConnection': did you mean 'maxConnections'\?/,
    ],
  ];
  for (const [options, message] of ctorCases) {
    assert.throws(
      () => new Accountant({ clock, ...options }),
      (err: unknown) => err instanceof UsageError && message.test(err.message),
      JSON.stringify(options),
    );
  }
  assert.throws(() => new Accountant({} as never), /needs a clock option/);
});

function reverse(f: FlowTuple): FlowTuple {
  return inbound(f.srcPort, f.dstAddress, f.dstPort);
}
