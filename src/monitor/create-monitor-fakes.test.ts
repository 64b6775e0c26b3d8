// createMonitor() on fakes without privileges, not end to end (test/e2e/ runs the real capture):
// fake packets in, fake /proc for owners, fake clock; per-process totals are checked against the
// packets the test pushed.

import assert from 'node:assert/strict';
import test from 'node:test';
import { FakeClock } from '../clock.js';
import { StateError, UsageError } from '../errors.js';
import { FakePacketSource } from '../../test/helpers/fake-packet-source.js';
import { FakeProcFs, ipv4TableLine } from '../../test/helpers/fake-procfs.js';
import type { PacketDescription } from '../../test/helpers/record-builder.js';
import { createMonitor } from './create-monitor.js';
import type { ProcessEntry } from './types.js';

const ESTABLISHED = 1;
const LISTEN = 10;
const LOCAL = new Set(['10.0.0.1', '127.0.0.1']);

/** A host with curl (pid 100) talking to a web server, and a loopback client/server pair. */
function fakeHost(): FakeProcFs {
  const fs = new FakeProcFs();
  fs.addProcess({ pid: 100, comm: 'curl', sockets: [5001] });
  fs.addProcess({ pid: 200, comm: 'client', sockets: [6001] });
  fs.addProcess({ pid: 300, comm: 'server', sockets: [7000, 7001] });
  fs.setNetFiles(100, {
    tcp:
      ipv4TableLine(0, '10.0.0.1:40000', '93.184.216.34:443', ESTABLISHED, 5001) +
      ipv4TableLine(1, '127.0.0.1:50000', '127.0.0.1:8080', ESTABLISHED, 6001) +
      ipv4TableLine(2, '0.0.0.0:8080', '0.0.0.0:0', LISTEN, 7000) +
      ipv4TableLine(3, '127.0.0.1:8080', '127.0.0.1:50000', ESTABLISHED, 7001),
  });
  return fs;
}

/** Advances the fake clock in steps, letting the attributor's scans (which yield) finish. */
async function advance(clock: FakeClock, ms: number, stepMs = 50): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(Math.min(stepMs, ms - t));
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
  }
}

function packets(
  n: number,
  p: Omit<PacketDescription, 'ipLen'>,
  ipLen: number,
): PacketDescription[] {
  return Array.from({ length: n }, () => ({ ...p, ipLen }));
}

async function setup(extra: Parameters<typeof createMonitor>[0] = {}) {
  const clock = new FakeClock();
  const source = new FakePacketSource(['eth0']);
  const procFs = fakeHost();
  const monitor = await createMonitor(
    { captureTimeoutMs: 60_000, ...extra },
    { clock, source, procFs, localAddresses: { has: (a: string) => LOCAL.has(a) } },
  );
  monitor.start();
  return { clock, source, procFs, monitor };
}

function processByPid(entries: readonly ProcessEntry[], pid: number): ProcessEntry {
  const e = entries.find((x) => x.process.pid === pid);
  assert.ok(e, `process ${pid} should be listed`);
  return e;
}

test('attributes sent and received bytes to the process that owns the socket', async () => {
  const { clock, source, monitor } = await setup();
  const out = {
    src: '10.0.0.1',
    sport: 40000,
    dst: '93.184.216.34',
    dport: 443,
    tsMs: clock.now(),
  };
  const back = {
    src: '93.184.216.34',
    sport: 443,
    dst: '10.0.0.1',
    dport: 40000,
    tsMs: clock.now(),
  };
  source.push([...packets(10, out, 100), ...packets(5, back, 1500)]);
  source.push(packets(3, out, 52));
  clock.advance(1000);
  const curl = processByPid(monitor.snapshot().processes, 100);
  assert.equal(curl.total.sentBytes, 10 * 100 + 3 * 52);
  assert.equal(curl.total.receivedBytes, 5 * 1500);
  assert.equal(curl.total.sentPackets, 13);
  assert.equal(curl.total.receivedPackets, 5);
  assert.equal(curl.process.comm, 'curl');
  const [top] = monitor.rank({ groupBy: 'connection', windowSeconds: 0 });
  assert.equal(top?.kind, 'connection');
  if (top?.kind === 'connection') {
    assert.deepEqual(
      [top.localAddress, top.localPort, top.remoteAddress, top.remotePort, top.protocol],
      ['10.0.0.1', 40000, '93.184.216.34', 443, 'tcp'],
    );
    assert.equal(top.total.sentBytes + top.total.receivedBytes, 1156 + 7500);
  }
  const stats = monitor.stats();
  assert.equal(stats.seen.packets, 18);
  assert.equal(stats.attributed.packets, 18);
  assert.equal(stats.unknown.packets, 0);
  await monitor.stop();
});

test('a loopback packet counts as sent by the client and received by the server', async () => {
  const { clock, source, monitor } = await setup();
  source.push(packets(4, { src: '127.0.0.1', sport: 50000, dst: '127.0.0.1', dport: 8080 }, 1000));
  source.push(packets(2, { src: '127.0.0.1', sport: 8080, dst: '127.0.0.1', dport: 50000 }, 300));
  clock.advance(1000);
  const snapshot = monitor.snapshot();
  const client = processByPid(snapshot.processes, 200);
  const server = processByPid(snapshot.processes, 300);
  assert.deepEqual([client.total.sentBytes, client.total.receivedBytes], [4000, 600]);
  assert.deepEqual([server.total.sentBytes, server.total.receivedBytes], [600, 4000]);
  // Six packets, each attributed once even though two processes see it.
  assert.equal(monitor.stats().attributed.packets, 6);
  await monitor.stop();
});

test('traffic whose socket never appears ends as unknown after its retries, and totals add up', async () => {
  const { clock, source, monitor } = await setup({ syncIntervalMs: 100 });
  source.push(packets(7, { src: '198.51.100.9', sport: 5555, dst: '10.0.0.1', dport: 9999 }, 200));
  assert.equal(monitor.stats().pending.packets, 7, 'parked while waiting for a rescan');
  await advance(clock, 5000);
  const stats = monitor.stats();
  assert.equal(stats.pending.packets, 0);
  assert.equal(stats.unknown.packets, 7);
  assert.equal(stats.unknown.bytes, 1400);
  assert.equal(
    stats.seen.packets,
    stats.attributed.packets + stats.unknown.packets + stats.pending.packets,
  );
  const snapshot = monitor.snapshot();
  const unknown = snapshot.unknown.find((u) => u.localPort === 9999);
  assert.ok(unknown, 'unknown traffic is listed by local port');
  assert.equal(unknown.total.receivedBytes, 1400);
  assert.equal(unknown.protocol, 'tcp');
  await monitor.stop();
});

test('a socket that appears after its first packets still gets them (retry buffer)', async () => {
  const { clock, source, procFs, monitor } = await setup({ syncIntervalMs: 1000 });
  source.push(packets(3, { src: '10.0.0.1', sport: 41000, dst: '93.184.216.34', dport: 80 }, 60));
  // The process opens the socket after the packets were captured; the next scan finds it.
  procFs.addProcess({ pid: 400, comm: 'late', sockets: [8001] });
  procFs.setNetFiles(100, {
    tcp:
      ipv4TableLine(0, '10.0.0.1:40000', '93.184.216.34:443', ESTABLISHED, 5001) +
      ipv4TableLine(1, '10.0.0.1:41000', '93.184.216.34:80', ESTABLISHED, 8001),
  });
  await advance(clock, 2000);
  const late = processByPid(monitor.snapshot().processes, 400);
  assert.equal(late.total.sentBytes, 180);
  assert.equal(monitor.stats().unknown.packets, 0);
  await monitor.stop();
});

test('protocols outside the selection are counted, not accounted', async () => {
  const { clock, source, monitor } = await setup({ protocols: ['tcp'] });
  source.push([
    { src: '10.0.0.1', dst: '93.184.216.34', protocol: 1, ipLen: 84 },
    { src: '10.0.0.1', sport: 40000, dst: '93.184.216.34', dport: 443, ipLen: 40 },
  ]);
  clock.advance(1000);
  const stats = monitor.stats();
  assert.deepEqual(stats.otherProtocol, { packets: 1, bytes: 84 });
  assert.equal(stats.seen.packets, 2);
  await monitor.stop();
});

test('tick events carry snapshots with the capture timeout counting down', async () => {
  const { clock, source, monitor } = await setup({ tickIntervalMs: 500 });
  const ticks: number[] = [];
  monitor.on('tick', (s) => ticks.push(s.remainingMs ?? -1));
  source.push(packets(1, { src: '10.0.0.1', sport: 40000, dst: '93.184.216.34', dport: 443 }, 40));
  clock.advance(1500);
  assert.deepEqual(ticks, [59_500, 59_000, 58_500]);
  await monitor.stop();
});

test('the capture timeout ends the monitor and stops the source', async () => {
  const { clock, source, monitor } = await setup({ captureTimeoutMs: 3000 });
  clock.advance(3000);
  assert.deepEqual(await monitor.done, { reason: 'timeout' });
  assert.equal(source.stopCalls, 1);
  assert.equal(clock.pendingTimers, 0, 'no timer left behind');
});

test('end of a replayed file ends the monitor with end-of-file', async () => {
  const { source, monitor } = await setup();
  source.end({ reason: 'end-of-file' });
  assert.deepEqual(await monitor.done, { reason: 'end-of-file' });
});

test('stop twice is harmless; start after stop is a StateError', async () => {
  const { monitor } = await setup();
  await monitor.stop();
  await monitor.stop();
  assert.deepEqual(await monitor.done, { reason: 'stopped' });
  assert.throws(
    () => monitor.start(),
    (e: unknown) => e instanceof StateError && e.code === 'ERR_STATE',
  );
});

test('bad options are rejected before anything opens', async () => {
  const source = new FakePacketSource();
  await assert.rejects(
    createMonitor({ ringSecond: 10 } as never, { source }),
    (e: unknown) => e instanceof UsageError && /did you mean 'ringSeconds'/.test(e.message),
  );
  assert.equal(source.started, false);
});
