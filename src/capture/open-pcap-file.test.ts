// Decoder tests through the real addon's offline mode: every crafted fixture in
// test/fixtures/pcap/ is replayed and compared with its generator-written expected.json.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { findPackageRoot } from './addon.js';
import { openPcapFile } from './open-pcap-file.js';
import type { RecordBatch } from './packet-source.js';
import { CaptureError, StateError, UsageError } from '../errors.js';
import { formatDstAddress, formatSrcAddress } from '../decode/address.js';
import { createRecord, readRecord } from '../decode/read-record.js';
import { Direction, RecordFlag } from '../decode/record.js';

const FIXTURES = join(findPackageRoot(), 'test', 'fixtures', 'pcap');

interface ExpectedRecord {
  ipVersion: number;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  tcpFlags: number;
  ipLen: number;
  payloadLen: number;
  wireLen: number;
  direction: keyof typeof Direction;
  ifindex: number;
  flags: (keyof typeof RecordFlag)[];
  tsSec: number;
  tsUsec: number;
}

interface Expected {
  linkType: number;
  capturedPackets: number;
  capturedBytes: number;
  nonIpPackets: number;
  malformedByKind: Record<string, number>;
  /** Absent for recorded captures, whose ground truth is per connection. */
  records?: ExpectedRecord[];
  connections: Record<string, { packets: number; ipBytes: number; payloadBytes: number }>;
}

function expected(name: string): Expected {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.expected.json`), 'utf8')) as Expected;
}

/** Replay a file and return every record as plain objects, plus the final stats. */
async function replay(name: string, options: Parameters<typeof openPcapFile>[1] = {}) {
  const source = openPcapFile(join(FIXTURES, `${name}.pcap`), options);
  const records: ExpectedRecord[] = [];
  const r = createRecord();
  source.setBatchHandler(({ view, count }: RecordBatch) => {
    for (let i = 0; i < count; i++) {
      readRecord(view, i, r);
      const flags = (Object.keys(RecordFlag) as (keyof typeof RecordFlag)[]).filter(
        (k) => (r.flags & RecordFlag[k]) !== 0,
      );
      const direction = (Object.keys(Direction) as (keyof typeof Direction)[]).find(
        (k) => Direction[k] === r.direction,
      );
      records.push({
        ipVersion: r.ipVersion,
        protocol: r.protocol,
        src: formatSrcAddress(view, i),
        dst: formatDstAddress(view, i),
        srcPort: r.srcPort,
        dstPort: r.dstPort,
        tcpFlags: r.tcpFlags,
        ipLen: r.ipLen,
        payloadLen: r.payloadLen,
        wireLen: r.wireLen,
        direction: direction ?? 'unknown',
        ifindex: r.ifindex,
        flags,
        tsSec: r.tsSec,
        tsUsec: r.tsUsec,
      });
    }
  });
  source.start();
  const end = await source.done;
  await source.stop();
  return { records, stats: source.stats(), end };
}

const LINK_TYPES = [
  ['ethernet', 'Ethernet with IPv4 options, fragments, IPv6 extension headers, ICMP, ARP, LLDP'],
  ['vlan', '802.1Q, 802.1ad QinQ and stacked tags'],
  ['sll', 'Linux cooked v1 with direction hints'],
  ['sll2', 'Linux cooked v2 with interface index and direction'],
  ['null', 'BSD loopback (DLT_NULL) in both byte orders'],
  ['loop', 'OpenBSD loopback (DLT_LOOP)'],
  ['raw', 'raw IP (LINKTYPE_RAW)'],
  ['ipv4', 'LINKTYPE_IPV4'],
  ['ipv6', 'LINKTYPE_IPV6'],
  ['malformed', 'malformed headers of every kind'],
  ['recorded-veth', 'a real capture from a veth pair (record.sh), per connection'],
] as const;

for (const [name, what] of LINK_TYPES) {
  test(`decodes ${what} exactly as the generator wrote them (${name}.pcap)`, async () => {
    const want = expected(name);
    const { records, stats, end } = await replay(name);
    assert.deepEqual(end, { reason: 'end-of-file' });
    if (want.records !== undefined) assert.deepEqual(records, want.records);
    const dev = stats.devices[0];
    assert.ok(dev);
    assert.equal(dev.linkType === 12 ? 101 : dev.linkType, want.linkType);
    assert.equal(dev.capturedPackets, want.capturedPackets);
    assert.equal(dev.capturedBytes, want.capturedBytes);
    assert.equal(dev.deliveredPackets, records.length);
    assert.equal(
      records.length,
      Object.values(want.connections).reduce((sum, c) => sum + c.packets, 0),
    );
    assert.equal(dev.nonIpPackets, want.nonIpPackets);
    assert.deepEqual(dev.malformedByKind, want.malformedByKind);
    const malformedTotal = Object.values(want.malformedByKind).reduce((a, b) => a + b, 0);
    assert.equal(dev.malformedPackets, malformedTotal);
    assert.equal(dev.queueDroppedPackets, 0);
    // Per-connection totals, summed from the decoded records.
    const conns: Expected['connections'] = {};
    for (const r of records) {
      const key = `${r.protocol} ${r.src}:${r.srcPort} > ${r.dst}:${r.dstPort}`;
      const c = (conns[key] ??= { packets: 0, ipBytes: 0, payloadBytes: 0 });
      c.packets++;
      c.ipBytes += r.ipLen;
      c.payloadBytes += r.payloadLen;
    }
    assert.deepEqual(conns, want.connections);
  });
}

test('a file record with more bytes captured than on the wire is malformed, never a record (fuzz finding)', async () => {
  // The exact input native/fuzz/fuzz_pcap_file reported: record 1 is a good UDP packet, record
  // 2 says caplen 289 > len 282 (the decoder used to raise its wire length to 289, so the
  // record disagreed with the file and with capturedBytes), record 3 is cut off by the end of
  // the file. Lengths must nest on every record: payload <= IP length <= wire length.
  const { records, stats, end } = await replay('fuzz-caplen-exceeds-len');
  assert.equal(end.reason, 'error');
  assert.match(end.error?.message ?? '', /truncated dump file/);
  const dev = stats.devices[0];
  assert.ok(dev);
  assert.equal(dev.capturedPackets, 2);
  assert.equal(dev.capturedBytes, 79 + 282); // the file's own lengths, not the captured ones
  assert.deepEqual(dev.malformedByKind, { capturedExceedsWire: 1 });
  assert.equal(dev.malformedPackets, 1);
  assert.equal(records.length, 1);
  assert.deepEqual(
    records.map((r) => [r.src, r.srcPort, r.dst, r.dstPort, r.wireLen, r.ipLen, r.payloadLen]),
    [['198.18.0.2', 5353, '198.18.0.1', 53, 79, 61, 33]],
  );
  for (const r of records) assert.ok(r.payloadLen <= r.ipLen && r.ipLen <= r.wireLen);
});

test('replays exactly with one-record batches and a one-record in-flight limit (back-pressure)', async () => {
  const want = expected('ethernet');
  assert.ok(want.records);
  const { records, stats } = await replay('ethernet', { batchRecords: 1, queueLimit: 1 });
  assert.deepEqual(records, want.records);
  assert.equal(stats.devices[0]?.queueDroppedPackets, 0);
});

test('applies a BPF filter while replaying', async () => {
  const want = (expected('ethernet').records ?? []).filter(
    (r) => r.ipVersion === 4 && r.protocol === 17,
  );
  assert.ok(want.length >= 4);
  const { records, stats } = await replay('ethernet', { filter: 'ip and udp' });
  assert.deepEqual(records, want);
  assert.equal(stats.devices[0]?.capturedPackets, want.length);
});

test('rejects a file with an unknown link type at open time', () => {
  assert.throws(
    () => openPcapFile(join(FIXTURES, 'unknown-linktype.pcap')),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_LINK_TYPE' &&
      /unsupported link type 147/.test(e.message) &&
      e.message.includes('unknown-linktype.pcap'),
  );
});

test('a missing file is a CaptureError naming the path', () => {
  const path = join(FIXTURES, 'does-not-exist.pcap');
  assert.throws(
    () => openPcapFile(path),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_FILE' &&
      e.message.startsWith(`cannot read pcap file ${path}: `) &&
      /No such file or directory/.test(e.message),
  );
});

test('a bad filter is a CaptureError quoting the expression and libpcap', () => {
  assert.throws(
    () => openPcapFile(join(FIXTURES, 'ethernet.pcap'), { filter: 'tcp port banana' }),
    (e: unknown) =>
      e instanceof CaptureError &&
      e.code === 'ERR_CAPTURE_FILTER' &&
      e.message.startsWith('invalid capture filter "tcp port banana": ') &&
      /banana/.test(e.message.slice(40)),
  );
});

test('bad options are UsageErrors naming the option', () => {
  const path = join(FIXTURES, 'ethernet.pcap');
  assert.throws(() => openPcapFile(''), { name: 'UsageError', code: 'ERR_USAGE' });
  assert.throws(
    () => openPcapFile(path, { batchRecords: 0 }),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message === 'batchRecords must be an integer from 1 to 1048576, got 0',
  );
  assert.throws(
    () => openPcapFile(path, { batchrecords: 5 } as never),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message.startsWith(
        'unknown openPcapFile option "batchrecords": did you mean "batchRecords"?',
      ),
  );
});

test('a throwing batch handler ends the source with that error; stop() twice is harmless', async () => {
  const source = openPcapFile(join(FIXTURES, 'ethernet.pcap'), { batchRecords: 2 });
  const boom = new Error('consumer bug');
  let calls = 0;
  source.setBatchHandler(() => {
    calls++;
    throw boom;
  });
  source.start();
  const end = await source.done;
  assert.equal(end.reason, 'error');
  assert.equal(end.error, boom);
  assert.equal(calls, 1);
  await source.stop();
  await source.stop();
  assert.throws(() => source.start(), StateError);
});

test('stop() before start() ends the source without delivering', async () => {
  const source = openPcapFile(join(FIXTURES, 'ethernet.pcap'));
  let calls = 0;
  source.setBatchHandler(() => calls++);
  await source.stop();
  assert.deepEqual(await source.done, { reason: 'stopped' });
  assert.equal(calls, 0);
});

test('a batch view kept after the handler returns is detached, never reused memory', async () => {
  const source = openPcapFile(join(FIXTURES, 'ethernet.pcap'));
  let kept: DataView | undefined;
  source.setBatchHandler(({ view }) => {
    kept = view;
  });
  source.start();
  await source.done;
  assert.ok(kept);
  assert.throws(() => kept?.getUint8(0), TypeError);
});
