// The flow table against known batches: per-flow sums, growth, idle sweeps, overflow.

import assert from 'node:assert/strict';
import test from 'node:test';
import type { FlowCounters } from '../attribute/types.js';
import { IPPROTO_TCP, IPPROTO_UDP, TCP_FIN } from '../decode/record.js';
import { buildBatch, type PacketDescription } from '../../test/helpers/record-builder.js';
import { FlowTable, type FlowState } from './flow-table.js';

function drainAll(table: FlowTable): {
  flows: Map<string, FlowCounters>;
  overflow: FlowCounters[];
} {
  const flows = new Map<string, FlowCounters>();
  const overflow: FlowCounters[] = [];
  table.drain(
    (flow: FlowState, c) => {
      assert.equal(flows.has(flow.key), false, 'one call per flow per drain');
      flows.set(flow.key, c);
    },
    (c) => overflow.push(c),
  );
  return { flows, overflow };
}

function ingest(table: FlowTable, packets: PacketDescription[]): void {
  const batch = buildBatch(packets);
  table.ingest(batch.view, batch.count);
}

test('sums each flow of a batch once, keyed by the directional 5-tuple', () => {
  const table = new FlowTable({ maxFlows: 1000, protocols: [IPPROTO_TCP, IPPROTO_UDP] });
  const a = { src: '198.18.0.1', sport: 1000, dst: '198.18.0.2', dport: 80 };
  const b = { src: '198.18.0.2', sport: 80, dst: '198.18.0.1', dport: 1000 };
  ingest(table, [
    { ...a, ipLen: 100, payloadLen: 60, tsMs: 1000 },
    { ...b, ipLen: 40, tsMs: 1001 },
    { ...a, ipLen: 200, payloadLen: 160, tsMs: 1002, tcpFlags: TCP_FIN },
    {
      src: 'fd42:6e66::1',
      sport: 5,
      dst: 'fd42:6e66::2',
      dport: 53,
      protocol: IPPROTO_UDP,
      ipLen: 70,
      tsMs: 1003,
    },
  ]);
  const { flows } = drainAll(table);
  assert.equal(flows.size, 3);
  const fa = flows.get('tcp|198.18.0.1|1000|198.18.0.2|80');
  assert.deepEqual(
    fa && {
      packets: fa.packets,
      bytes: fa.bytes,
      payload: fa.payloadBytes,
      first: fa.firstMs,
      last: fa.lastMs,
      flags: fa.tcpFlags,
    },
    { packets: 2, bytes: 300, payload: 220, first: 1000, last: 1002, flags: TCP_FIN },
  );
  assert.equal(flows.get('tcp|198.18.0.2|80|198.18.0.1|1000')?.bytes, 40);
  assert.equal(flows.get('udp|fd42:6e66::1|5|fd42:6e66::2|53')?.bytes, 70);
  assert.equal(table.size, 3);
  // A second batch of the same flow reuses it: nothing new, sums start again.
  ingest(table, [{ ...a, ipLen: 10, tsMs: 2000 }]);
  const second = drainAll(table);
  assert.equal(second.flows.get('tcp|198.18.0.1|1000|198.18.0.2|80')?.bytes, 10);
  assert.equal(table.size, 3);
});

test('grows past its first size and keeps every flow apart', () => {
  const table = new FlowTable({ maxFlows: 50_000, protocols: [IPPROTO_UDP] });
  const n = 20_000;
  const batch: PacketDescription[] = [];
  for (let i = 0; i < n; i++) {
    batch.push({
      src: '198.18.0.1',
      sport: 1024 + (i % 60000),
      dst: `198.18.${1 + Math.floor(i / 60000)}.9`,
      dport: 53,
      protocol: IPPROTO_UDP,
      ipLen: 1 + (i % 7),
    });
  }
  ingest(table, batch);
  const { flows } = drainAll(table);
  assert.equal(flows.size, n);
  assert.equal(table.size, n);
  let bytes = 0;
  for (const c of flows.values()) bytes += c.bytes;
  assert.equal(
    bytes,
    batch.reduce((s, p) => s + (p.ipLen ?? 0), 0),
  );
});

test('sweeps idle flows and closed flows sooner; the others stay findable', () => {
  const table = new FlowTable({ maxFlows: 1000, protocols: [IPPROTO_TCP] });
  const packets: PacketDescription[] = [];
  for (let i = 0; i < 100; i++) {
    packets.push({
      src: '198.18.0.1',
      sport: 2000 + i,
      dst: '198.18.0.2',
      dport: 80,
      ipLen: 40,
      tsMs: i < 50 ? 1000 : 9000,
      tcpFlags: i % 10 === 0 ? TCP_FIN : 0,
    });
  }
  ingest(table, packets);
  drainAll(table);
  // At 10_000: flows last seen at 1000 are idle (idle 5000); flows at 9000 stay, except closed
  // ones idle longer than 500.
  const removed = table.sweep(10_000, 5000, 500);
  const closedLate = packets.filter((p, i) => i >= 50 && p.tcpFlags === TCP_FIN).length;
  assert.equal(removed, 50 + closedLate);
  assert.equal(table.size, 100 - removed);
  assert.equal(table.stats().expiredFlows, removed);
  // Every remaining flow is still found (no new flows created for it).
  ingest(
    table,
    packets.filter((p, i) => i >= 50 && p.tcpFlags !== TCP_FIN),
  );
  const { flows } = drainAll(table);
  assert.equal(flows.size, 50 - closedLate);
  assert.equal(table.size, 100 - removed);
});

test('packets of new flows beyond maxFlows go to the overflow counters, not lost', () => {
  const table = new FlowTable({ maxFlows: 16, protocols: [IPPROTO_TCP] });
  const packets: PacketDescription[] = [];
  for (let i = 0; i < 20; i++)
    packets.push({ src: '198.18.0.1', sport: 3000 + i, dst: '198.18.0.2', dport: 80, ipLen: 100 });
  ingest(table, packets);
  const { flows, overflow } = drainAll(table);
  assert.equal(flows.size, 16);
  assert.equal(overflow.length, 1);
  assert.equal(overflow[0]?.packets, 4);
  assert.equal(overflow[0]?.bytes, 400);
  assert.equal(table.stats().overflowPackets, 4);
});

test('records of unselected protocols are counted only', () => {
  const table = new FlowTable({ maxFlows: 16, protocols: [IPPROTO_TCP] });
  ingest(table, [
    { src: '198.18.0.1', dst: '198.18.0.2', protocol: 1, ipLen: 84 },
    { src: '198.18.0.1', sport: 1, dst: '198.18.0.2', dport: 2, protocol: IPPROTO_UDP, ipLen: 30 },
  ]);
  const { flows } = drainAll(table);
  assert.equal(flows.size, 0);
  assert.deepEqual(
    [table.stats().otherProtocolPackets, table.stats().otherProtocolBytes],
    [2, 114],
  );
});

test('runs of one flow and interleaved flows sum the same', () => {
  const table = new FlowTable({ maxFlows: 64, protocols: [IPPROTO_UDP] });
  const a = { src: '198.18.0.1', sport: 1, dst: '198.18.0.2', dport: 2, protocol: IPPROTO_UDP };
  const b = { ...a, sport: 3 };
  const order = [a, a, a, b, a, b, b, a];
  ingest(
    table,
    order.map((p, i) => ({ ...p, ipLen: 10 + i })),
  );
  const { flows } = drainAll(table);
  assert.equal(flows.get('udp|198.18.0.1|1|198.18.0.2|2')?.bytes, 10 + 11 + 12 + 14 + 17);
  assert.equal(flows.get('udp|198.18.0.1|3|198.18.0.2|2')?.bytes, 13 + 15 + 16);
  assert.equal(flows.get('udp|198.18.0.1|1|198.18.0.2|2')?.packets, 5);
});
