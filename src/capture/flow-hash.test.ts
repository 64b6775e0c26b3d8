// The addon's per-record flow hash against its definition in native/record.h (FNV-1a over
// protocol, source address, source port, destination address, destination port, as stored in the
// record), on every recorded and crafted fixture replayed through the real addon. The flow table
// places flows by this hash, and decode.cc computes the IPv4 case with a shortcut.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { findPackageRoot } from './addon.js';
import { openPcapFile } from './open-pcap-file.js';
import type { RecordBatch } from './packet-source.js';
import { RECORD_SIZE, REC_OFF_FLOW_HASH, REC_OFF_IP_VERSION } from '../decode/record.js';
import { flowHash } from '../../test/helpers/record-builder.js';

const FIXTURES = join(findPackageRoot(), 'test', 'fixtures', 'pcap');
const FILES = [
  'ethernet',
  'ipv4',
  'ipv6',
  'loop',
  'malformed',
  'null',
  'raw',
  'recorded-veth',
  'sll',
  'sll2',
  'vlan',
];

test('every record carries the FNV-1a flow hash record.h defines, IPv4 and IPv6', async () => {
  const checked = { 4: 0, 6: 0 };
  for (const name of FILES) {
    const source = openPcapFile(join(FIXTURES, `${name}.pcap`));
    const mismatches: string[] = [];
    source.setBatchHandler(({ view, count }: RecordBatch) => {
      const bytes = new Uint8Array(view.buffer, view.byteOffset, count * RECORD_SIZE);
      for (let i = 0; i < count; i++) {
        const o = i * RECORD_SIZE;
        const version = bytes[o + REC_OFF_IP_VERSION];
        if (version === 4 || version === 6) checked[version]++;
        const got = view.getUint32(o + REC_OFF_FLOW_HASH, true);
        const want = flowHash(view, o);
        if (got !== want) mismatches.push(`record ${i}: ${got} != ${want}`);
      }
    });
    source.start();
    const end = await source.done;
    assert.equal(end.reason, 'end-of-file', `${name}: ${end.error?.message ?? ''}`);
    assert.deepEqual(mismatches.slice(0, 5), [], `${name}.pcap`);
  }
  assert.ok(checked[4] >= 10, `only ${checked[4]} IPv4 records checked`);
  assert.ok(checked[6] >= 10, `only ${checked[6]} IPv6 records checked`);
});
