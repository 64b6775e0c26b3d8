// The retry buffer alone: bounded parking with pending and drop counters, and how many scans a
// parked flow waits before it is settled with what is known.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowKey } from './flow-key.js';
import { RetryBuffer } from './retry-buffer.js';
import type { ParkedFlow, RetryOutcome, RetryResolver } from './retry-buffer.js';
import type { FlowCounters, FlowTuple } from './types.js';

function tuple(srcPort: number): FlowTuple {
  return {
    key: flowKey(6, '198.18.0.1', srcPort, '198.18.0.2', 80),
    ipVersion: 4,
    protocol: 6,
    srcAddress: '198.18.0.1',
    srcPort,
    dstAddress: '198.18.0.2',
    dstPort: 80,
  };
}

function counters(packets: number, bytes: number): FlowCounters {
  return { packets, bytes, payloadBytes: 0, wireBytes: bytes, firstMs: 0, lastMs: 0, tcpFlags: 0 };
}

/** A resolver whose lookups answer from `complete` (flow keys found) and record what settles. */
function resolver(
  complete: Set<string>,
  outcome: Partial<RetryOutcome> = {},
): RetryResolver<RetryOutcome> & { settled: { parked: ParkedFlow; isComplete: boolean }[] } {
  const settled: { parked: ParkedFlow; isComplete: boolean }[] = [];
  return {
    settled,
    lookup: (flow, isFinal) => ({
      ...outcome,
      isComplete: complete.has(flow.key) || (isFinal && outcome.isComplete === true),
    }),
    settle: (parked, result) => settled.push({ parked, isComplete: result.isComplete }),
  };
}

test('a full buffer refuses and counts the flow; a parked flow merges later batches', () => {
  const buffer = new RetryBuffer({ limitFlows: 1, retryScans: 2, serverWaitScans: 20 });
  assert.equal(buffer.park(tuple(40000), counters(2, 200), 0), true);
  assert.equal(buffer.merge(tuple(40000).key, counters(3, 300)), true);
  assert.equal(buffer.merge(tuple(40001).key, counters(1, 100)), false);
  assert.equal(buffer.park(tuple(40001), counters(5, 500), 0), false);
  const stats = buffer.stats();
  assert.equal(stats.pendingFlows, 1);
  assert.equal(stats.pendingPackets, 5);
  assert.equal(stats.pendingBytes, 500);
  assert.equal(stats.droppedFlows, 1);
  assert.equal(stats.droppedPackets, 5);
});

test('parked counters are a copy: the caller may reuse its object', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 1, serverWaitScans: 20 });
  const reused = counters(1, 100);
  buffer.park(tuple(40000), reused, 0);
  reused.packets = 99;
  const r = resolver(new Set([tuple(40000).key]));
  buffer.retryAfterScan(1, r, false);
  assert.equal(r.settled[0]?.parked.counters.packets, 1);
});

test('a flow waits retryScans scans started after it, then is settled with its last lookup', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 2, serverWaitScans: 20 });
  buffer.park(tuple(40000), counters(1, 100), 3); // parked while scan 3 ran
  const r = resolver(new Set());
  buffer.retryAfterScan(3, r, false); // began before the flow arrived: does not count
  buffer.retryAfterScan(4, r, false);
  assert.equal(r.settled.length, 0);
  buffer.retryAfterScan(5, r, false);
  assert.equal(r.settled.length, 1);
  assert.equal(r.settled[0]?.isComplete, false);
  assert.deepEqual(
    [buffer.stats().expiredFlows, buffer.stats().resolvedFlows, buffer.size],
    [1, 0, 0],
  );
  assert.equal(buffer.stats().pendingPackets, 0);
});

test('a flow found by a lookup after a scan, or at once by retryNow, is resolved', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 2, serverWaitScans: 20 });
  buffer.park(tuple(40000), counters(1, 100), 0);
  buffer.park(tuple(40001), counters(1, 100), 0);
  const found = new Set<string>();
  const r = resolver(found);
  buffer.retryNow(tuple(40000).key, r); // not found yet: stays
  assert.equal(buffer.size, 2);
  found.add(tuple(40000).key);
  buffer.retryNow(tuple(40000).key, r);
  found.add(tuple(40001).key);
  buffer.retryAfterScan(1, r, false);
  assert.deepEqual(
    r.settled.map((s) => s.parked.flow.srcPort),
    [40000, 40001],
  );
  assert.equal(buffer.stats().resolvedFlows, 2);
});

test('with TCP read/write events, a connection seen only on a listener waits for its server', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 2, serverWaitScans: 4 });
  buffer.park(tuple(40000), counters(1, 100), 0);
  const r = resolver(new Set(), { awaitsServer: true });
  for (let seq = 1; seq <= 3; seq++) buffer.retryAfterScan(seq, r, true);
  assert.equal(r.settled.length, 0);
  buffer.retryAfterScan(4, r, true);
  assert.equal(r.settled.length, 1);
  // Without those events, retryScans alone decides.
  buffer.park(tuple(40001), counters(1, 100), 4);
  buffer.retryAfterScan(5, r, false);
  buffer.retryAfterScan(6, r, false);
  assert.equal(r.settled.length, 2);
});

test('a flow that only waited for a newer scan is settled by the first one', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 5, serverWaitScans: 20 });
  buffer.park(tuple(40000), counters(1, 100), 0);
  const r = resolver(new Set(), { awaitsScan: true });
  buffer.retryAfterScan(1, r, false);
  assert.equal(r.settled.length, 1);
});

test('flush settles every parked flow with a final lookup', () => {
  const buffer = new RetryBuffer({ limitFlows: 4, retryScans: 2, serverWaitScans: 20 });
  buffer.park(tuple(40000), counters(1, 100), 0);
  buffer.park(tuple(40001), counters(2, 200), 0);
  const r = resolver(new Set([tuple(40001).key]));
  buffer.flush(r);
  assert.equal(r.settled.length, 2);
  assert.deepEqual(
    [buffer.size, buffer.stats().resolvedFlows, buffer.stats().expiredFlows],
    [0, 1, 1],
  );
  assert.deepEqual([buffer.stats().pendingPackets, buffer.stats().pendingBytes], [0, 0]);
});
