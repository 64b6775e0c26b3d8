// readRecord() and formatAddress() over records built byte by byte by the test helper.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { formatAddress, formatDstAddress, formatSrcAddress } from './address.js';
import { createRecord, readRecord } from './read-record.js';
import { RECORD_SIZE, REC_OFF_SRC_ADDR } from './record.js';
import { buildBatch } from '../../test/helpers/record-builder.js';

test('reads every field of a record at its documented offset', () => {
  const { view, count } = buildBatch([
    {
      src: '198.18.0.1',
      dst: '198.18.0.2',
      sport: 40000,
      dport: 443,
      payloadLen: 100,
      tcpFlags: 0x18,
      direction: 'outgoing',
      tsMs: 1_700_000_000_250,
      ifindex: 3,
      deviceIndex: 1,
    },
    {
      src: 'fd42:6e66::1',
      dst: 'fd42:6e66::2',
      protocol: 17,
      sport: 53,
      dport: 5353,
      payloadLen: 10,
    },
  ]);
  assert.equal(count, 2);
  const r = readRecord(view, 0, createRecord());
  assert.deepEqual(
    { ...r, flowHash: 0 },
    {
      offset: 0,
      tsSec: 1_700_000_000,
      tsUsec: 250_000,
      ifindex: 3,
      deviceIndex: 1,
      direction: 2,
      ipVersion: 4,
      protocol: 6,
      tcpFlags: 0x18,
      flags: 1,
      srcPort: 40000,
      dstPort: 443,
      wireLen: 154,
      ipLen: 140,
      payloadLen: 100,
      flowHash: 0,
    },
  );
  readRecord(view, 1, r);
  assert.equal(r.offset, RECORD_SIZE);
  assert.equal(r.ipVersion, 6);
  assert.equal(r.ipLen, 40 + 8 + 10);
  assert.equal(formatSrcAddress(view, 1), 'fd42:6e66::1');
  assert.equal(formatDstAddress(view, 0), '198.18.0.2');
});

test('formats IPv6 addresses as RFC 5952 (and node) print them', () => {
  const cases = [
    '::',
    '::1',
    'fe80::1',
    'fd42:6e66::2',
    '2001:db8::1:0:0:1',
    '2001:db8:0:1:1:1:1:1',
    '1::',
    '2001:db8:1:2:3:4:5:6',
  ];
  const { view } = buildBatch(cases.map((a) => ({ src: a, dst: '::1', ipVersion: 6 as const })));
  cases.forEach((a, i) =>
    assert.equal(formatAddress(view, i * RECORD_SIZE + REC_OFF_SRC_ADDR, 6), a),
  );
});

test('shows IPv4-mapped IPv6 as plain IPv4', () => {
  const { view } = buildBatch([{ src: '::ffff:198.18.0.7', dst: '::1', ipVersion: 6 }]);
  assert.equal(formatAddress(view, REC_OFF_SRC_ADDR, 6), '198.18.0.7');
});
