// The attributor's retry buffer (retry-buffer.ts) through the attributor, on a fake /proc and
// a fake clock: a parked flow resolved by the next scan, expired after its scans, or reported
// at once when the buffer is full.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import {
  advance,
  counters,
  flow,
  hostFs,
  only,
  setup,
} from '../../test/helpers/attributor-fixture.js';
import { TcpState } from './net-table.js';

const TCP = 6;
const UDP = 17;
const ACK = 0x10;
const SYN = 0x02;

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
