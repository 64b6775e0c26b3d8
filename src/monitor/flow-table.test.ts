// The flow table against known batches: per-flow sums, growth, idle sweeps, overflow.

import assert from 'node:assert/strict';
import test from 'node:test';
import type { FlowCounters } from '../attribute/types.js';
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  RECORD_SIZE,
  REC_OFF_FLOW_HASH,
  TCP_FIN,
} from '../decode/record.js';
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

/** The same records at `byteOffset` inside a bigger buffer (as a slice of a pooled Buffer is). */
function batchAt(packets: PacketDescription[], byteOffset: number): DataView {
  const built = buildBatch(packets);
  const bytes = new Uint8Array(byteOffset + built.view.byteLength + 5);
  bytes.set(
    new Uint8Array(built.view.buffer, built.view.byteOffset, built.view.byteLength),
    byteOffset,
  );
  return new DataView(bytes.buffer, byteOffset, built.view.byteLength);
}

test('batches at any byte offset, aligned or not, give the sums of the packets sent', () => {
  const a = { src: '198.18.0.1', sport: 40000, dst: '198.18.0.2', dport: 5353 };
  const b = { src: 'fd42:6e66::2', sport: 443, dst: 'fd42:6e66::1', dport: 61000 };
  // Three sizes of batch, so the scratch copy of a misaligned batch has to grow, then shrink back.
  const batches: PacketDescription[][] = [4, 300, 7].map((n) =>
    Array.from({ length: n }, (_, i) => ({
      ...(i % 3 === 2 ? b : a),
      protocol: i % 3 === 2 ? IPPROTO_TCP : IPPROTO_UDP,
      ipLen: 100 + i,
      payloadLen: 50 + i,
      wireLen: 114 + i,
      tsMs: 1_700_000_000_000 + i * 1.5,
      tcpFlags: i === 5 ? TCP_FIN : 0,
    })),
  );
  for (const offset of [0, 1, 2, 3, 4, 6, 8]) {
    const table = new FlowTable({ maxFlows: 100, protocols: [IPPROTO_TCP, IPPROTO_UDP] });
    for (const packets of batches) {
      const view = batchAt(packets, offset);
      table.ingest(view, packets.length);
      const { flows } = drainAll(table);
      for (const [key, flow, protocol] of [
        ['udp|198.18.0.1|40000|198.18.0.2|5353', a, IPPROTO_UDP],
        ['tcp|fd42:6e66::2|443|fd42:6e66::1|61000', b, IPPROTO_TCP],
      ] as const) {
        const sent = packets.filter((p) => p.src === flow.src && p.protocol === protocol);
        const got = flows.get(key);
        const sum = (f: (p: PacketDescription) => number): number =>
          sent.reduce((s, p) => s + f(p), 0);
        assert.deepEqual(
          got && {
            packets: got.packets,
            bytes: got.bytes,
            payloadBytes: got.payloadBytes,
            wireBytes: got.wireBytes,
            firstMs: got.firstMs,
            lastMs: got.lastMs,
            tcpFlags: got.tcpFlags,
          },
          {
            packets: sent.length,
            bytes: sum((p) => p.ipLen ?? 0),
            payloadBytes: sum((p) => p.payloadLen ?? 0),
            wireBytes: sum((p) => p.wireLen ?? 0),
            firstMs: sent[0]?.tsMs,
            lastMs: sent.at(-1)?.tsMs,
            tcpFlags: sent.reduce((f, p) => f | (p.tcpFlags ?? 0), 0),
          },
          `offset ${offset}, ${packets.length} records, ${key}`,
        );
      }
      assert.equal(flows.size, 2, `offset ${offset}: two flows, nothing else`);
    }
    assert.equal(table.size, 2);
  }
});

test('flows whose records all carry one flow hash still sum apart, expire and stay findable', () => {
  // The table places flows by the addon's flow hash: a degenerate hash may slow it, never merge.
  const flows = 200;
  const packets: PacketDescription[] = Array.from({ length: flows * 2 }, (_, i) => ({
    protocol: IPPROTO_UDP,
    src: '198.18.0.1',
    sport: 1000 + (i % flows),
    dst: '198.18.0.2',
    dport: 53,
    ipLen: 30 + (i % flows),
    tsMs: i < flows ? 1000 : 5000 + (i % flows),
  }));
  const batch = buildBatch(packets);
  for (let i = 0; i < batch.count; i++) {
    batch.view.setUint32(i * RECORD_SIZE + REC_OFF_FLOW_HASH, 0x12345678, true);
  }
  const table = new FlowTable({ maxFlows: 1000, protocols: [IPPROTO_UDP] });
  table.ingest(batch.view, batch.count);
  const { flows: sums } = drainAll(table);
  assert.equal(sums.size, flows);
  for (let f = 0; f < flows; f++) {
    const got = sums.get(`udp|198.18.0.1|${1000 + f}|198.18.0.2|53`);
    assert.equal(got?.packets, 2, `flow ${f}`);
    assert.equal(got?.bytes, 2 * (30 + f), `flow ${f}`);
  }
  // Idle since before 5000 + 100: flows 0..99 expire, the others must remain findable.
  assert.equal(table.sweep(5100 + 60_000, 60_000, 60_000), 100);
  table.ingest(batch.view, batch.count);
  const again = drainAll(table);
  assert.equal(again.flows.size, flows);
  assert.equal(table.size, flows);
  assert.equal(again.flows.get('udp|198.18.0.1|1150|198.18.0.2|53')?.bytes, 2 * 180);
});

test('consecutive records that differ in one key field only are different flows', () => {
  const base = {
    protocol: IPPROTO_UDP,
    src: 'fd42:6e66::1',
    sport: 5000,
    dst: 'fd42:6e66::2',
    dport: 53,
  };
  // Each variant differs from `base` in exactly one field of the key, including the IP version
  // alone: c612:1:: has the same 16 address bytes as IPv4 198.18.0.1 (IPv4 sits in the first 4).
  const variants: PacketDescription[] = [
    base,
    { ...base, protocol: IPPROTO_TCP },
    { ...base, src: 'fd42:6e66::3' },
    { ...base, dst: 'fd42:6e66::4' },
    { ...base, sport: 5001 },
    { ...base, dport: 54 },
    { ...base, src: '198.18.0.1', dst: '198.18.0.2', ipVersion: 4 },
    { ...base, src: 'c612:1::', dst: 'c612:2::', ipVersion: 6 },
  ];
  const packets = [...variants, ...variants].map((p, i) => ({ ...p, ipLen: 100 + (i % 8) }));
  const table = new FlowTable({ maxFlows: 100, protocols: [IPPROTO_TCP, IPPROTO_UDP] });
  ingest(table, packets);
  const { flows } = drainAll(table);
  assert.equal(flows.size, variants.length);
  assert.deepEqual(
    [...flows.values()].map((c) => [c.packets, c.bytes]).sort((x, y) => x[1]! - y[1]!),
    variants.map((_, i) => [2, 2 * (100 + i)]),
  );
  assert.equal(flows.get('udp|c612:1::|5000|c612:2::|53')?.bytes, 2 * 107);
  assert.equal(flows.get('udp|198.18.0.1|5000|198.18.0.2|53')?.bytes, 2 * 106);
});

test('a view shorter than its count is read only as far as it goes', () => {
  const a = { protocol: IPPROTO_UDP, src: '198.18.0.1', sport: 1, dst: '198.18.0.2', dport: 2 };
  const built = buildBatch([
    { ...a, ipLen: 10 },
    { ...a, ipLen: 20 },
    { ...a, ipLen: 40 },
  ]);
  const table = new FlowTable({ maxFlows: 10, protocols: [IPPROTO_UDP] });
  table.ingest(new DataView(built.view.buffer, 0, 2 * RECORD_SIZE), 3);
  const { flows } = drainAll(table);
  assert.deepEqual(
    [...flows.values()].map((c) => [c.packets, c.bytes]),
    [[2, 30]],
  );
});

test('flows that expire free their place: a churning table keeps its size and its sums', () => {
  // maxFlows 600 with 500 new flows a round for 20 rounds: only reuse of freed places fits them.
  const table = new FlowTable({ maxFlows: 600, protocols: [IPPROTO_TCP, IPPROTO_UDP] });
  const keeper = { src: '198.18.0.1', sport: 7, dst: '198.18.0.2', dport: 53 } as const;
  for (let round = 0; round < 20; round++) {
    const t0 = round * 1000;
    const packets: PacketDescription[] = [
      { ...keeper, protocol: IPPROTO_UDP, ipLen: 60, tsMs: t0 },
    ];
    for (let i = 0; i < 500; i++) {
      packets.push({
        src: '198.18.0.1',
        sport: 1024 + round * 1000 + i,
        dst: '198.18.0.2',
        dport: 53,
        protocol: IPPROTO_UDP,
        ipLen: 100 + i,
        tsMs: t0,
      });
    }
    ingest(table, packets);
    const { flows, overflow } = drainAll(table);
    assert.equal(overflow.length, 0, `round ${round}: no overflow`);
    assert.equal(flows.size, 501);
    assert.equal(flows.get('udp|198.18.0.1|7|198.18.0.2|53')?.bytes, 60);
    for (let i = 0; i < 500; i += 7) {
      const key = `udp|198.18.0.1|${1024 + round * 1000 + i}|198.18.0.2|53`;
      assert.equal(flows.get(key)?.bytes, 100 + i, key);
    }
    // The keeper is seen again later; then everything idle for 400 ms goes.
    ingest(table, [{ ...keeper, protocol: IPPROTO_UDP, ipLen: 40, tsMs: t0 + 600 }]);
    assert.equal(drainAll(table).flows.get('udp|198.18.0.1|7|198.18.0.2|53')?.bytes, 40);
    assert.equal(table.sweep(t0 + 900, 400, 400), 500);
    assert.equal(table.size, 1, `round ${round}: only the keeper is left`);
  }
  assert.equal(table.stats().expiredFlows, 20 * 500);
});
