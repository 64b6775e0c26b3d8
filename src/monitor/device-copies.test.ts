import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowKey } from '../attribute/flow-key.js';
import { NatTranslations } from '../attribute/nat.js';
import type { FlowCounters, FlowTuple } from '../attribute/types.js';
import { DeviceCopies } from './device-copies.js';
import type { FlowState } from './flow-table.js';

function copy(device: number, src: string, sport: number, dst: string, dport: number): FlowState {
  return {
    key: flowKey(6, src, sport, dst, dport),
    ipVersion: 4,
    protocol: 6,
    srcAddress: src,
    srcPort: sport,
    dstAddress: dst,
    dstPort: dport,
    device,
    copy: undefined,
    attributed: undefined,
  };
}

function counters(packets: number, bytes: number): FlowCounters {
  return {
    packets,
    bytes,
    payloadBytes: bytes - 52 * packets,
    wireBytes: bytes + 14 * packets,
    firstMs: 1,
    lastMs: 2,
    tcpFlags: 0,
  };
}

function collect(nat?: NatTranslations): {
  copies: DeviceCopies;
  out: { flow: FlowTuple; packets: number; bytes: number }[];
} {
  const out: { flow: FlowTuple; packets: number; bytes: number }[] = [];
  const copies = new DeviceCopies({
    nat,
    limit: 1000,
    onFlow: (flow, c) => out.push({ flow, packets: c.packets, bytes: c.bytes }),
  });
  return { copies, out };
}

const sum = (out: { packets: number; bytes: number }[]): [number, number] => [
  out.reduce((n, o) => n + o.packets, 0),
  out.reduce((n, o) => n + o.bytes, 0),
];

test('a packet seen on a veth and on the bridge counts once, whichever copy comes first', () => {
  for (const order of [
    [0, 1],
    [1, 0],
  ]) {
    const { copies, out } = collect();
    const onDevice = [
      copy(0, '198.19.7.2', 40000, '198.19.7.3', 80),
      copy(1, '198.19.7.2', 40000, '198.19.7.3', 80),
    ];
    // Batches of 10 packets, the two devices' copies interleaved in varying order.
    for (let batch = 0; batch < 5; batch++) {
      for (const d of order) copies.ingest(onDevice[d]!, counters(10, 10_000));
    }
    assert.deepEqual(sum(out), [50, 50_000]);
    assert.equal(copies.stats().duplicatePackets, 50);
    assert.equal(copies.stats().multiDeviceFlows, 1);
  }
});

test('a device that lags behind adds nothing; one that sees more adds only the difference', () => {
  const { copies, out } = collect();
  const a = copy(0, '198.18.0.1', 1, '198.18.0.2', 2);
  const b = copy(3, '198.18.0.1', 1, '198.18.0.2', 2);
  copies.ingest(a, counters(10, 1000));
  copies.ingest(b, counters(4, 400));
  copies.ingest(b, counters(8, 800));
  assert.deepEqual(sum(out), [12, 1200]);
});

test('copies before and after MASQUERADE are one flow when conntrack knows the translation', () => {
  const entry = [
    '198.19.7.2',
    40000,
    '198.18.5.2',
    5001,
    '198.18.5.2',
    5001,
    '198.18.5.1',
    40000,
  ] as const;
  const nat = new NatTranslations({
    reader: {
      get: (_v, _p, src, sport, dst, dport) =>
        (src === entry[0] && sport === entry[1] && dst === entry[2] && dport === entry[3]) ||
        (src === entry[4] && sport === entry[5] && dst === entry[6] && dport === entry[7])
          ? [...entry]
          : null,
      close: () => undefined,
    },
    monotonicMs: () => 0,
  });
  const { copies, out } = collect(nat);
  copies.ingest(copy(0, '198.19.7.2', 40000, '198.18.5.2', 5001), counters(10, 10_000));
  copies.ingest(copy(1, '198.18.5.1', 40000, '198.18.5.2', 5001), counters(10, 10_000));
  assert.deepEqual(sum(out), [10, 10_000]);
  assert.equal(out[0]!.flow.srcAddress, '198.19.7.2');
  assert.equal(out[0]!.flow.receiverView?.srcAddress, '198.18.5.1');
});

test('two directions of a connection are two flows, both counted', () => {
  const { copies, out } = collect();
  copies.ingest(copy(0, '198.18.0.1', 1, '198.18.0.2', 2), counters(3, 300));
  copies.ingest(copy(0, '198.18.0.2', 2, '198.18.0.1', 1), counters(2, 200));
  assert.deepEqual(sum(out), [5, 500]);
  assert.equal(copies.stats().flows, 2);
});

test('the merge table is bounded: the oldest flow goes, counted', () => {
  const out: unknown[] = [];
  const copies = new DeviceCopies({ nat: undefined, limit: 2, onFlow: () => out.push(1) });
  for (let port = 1; port <= 4; port++) {
    copies.ingest(copy(0, '198.18.0.1', port, '198.18.0.2', 2), counters(1, 100));
  }
  assert.equal(copies.stats().flows, 2);
  assert.equal(copies.stats().evictedFlows, 2);
  assert.equal(out.length, 4);
});

test('one interface: no merge table, the NAT view is looked up once per flow', () => {
  let lookups = 0;
  const nat = new NatTranslations({
    reader: {
      get: () => {
        lookups++;
        return null;
      },
      close: () => undefined,
    },
    monotonicMs: () => 0,
  });
  const out: FlowTuple[] = [];
  const copies = new DeviceCopies({
    nat,
    limit: 1000,
    isSingleInterface: true,
    onFlow: (flow) => out.push(flow),
  });
  const a = copy(0, '198.18.0.1', 1, '198.18.0.2', 2);
  copies.ingest(a, counters(1, 100));
  copies.ingest(a, counters(1, 100));
  assert.equal(out.length, 2);
  assert.equal(out[0], a);
  assert.equal(lookups, 2, 'the tuple, then its reverse, once');
  assert.equal(copies.stats().flows, 0);
});
