// The fake PacketSource behaves like the real one where consumers can tell.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FakePacketSource, deviceStats } from './fake-packet-source.js';
import { createRecord, readRecord } from '../../src/decode/read-record.js';
import { formatSrcAddress } from '../../src/decode/address.js';

test('delivers pushed descriptions as records, and ends once', async () => {
  const source = new FakePacketSource(['eth0', 'eth1']);
  const seen: string[] = [];
  const r = createRecord();
  source.setBatchHandler(({ view, count }) => {
    for (let i = 0; i < count; i++) {
      readRecord(view, i, r);
      seen.push(`${formatSrcAddress(view, i)}:${r.srcPort} ${r.ipLen} dev${r.deviceIndex}`);
    }
  });
  assert.throws(() => source.push([]), /before start/);
  source.start();
  source.push([
    { src: '198.18.0.1', sport: 1000, dst: '198.18.0.2', dport: 80, payloadLen: 10 },
    {
      src: 'fd42:6e66::1',
      sport: 2000,
      dst: 'fd42:6e66::2',
      dport: 53,
      protocol: 17,
      deviceIndex: 1,
    },
  ]);
  assert.deepEqual(seen, ['198.18.0.1:1000 50 dev0', 'fd42:6e66::1:2000 48 dev1']);
  source.currentStats = {
    devices: [deviceStats('eth0', { kernelDroppedPackets: 5 })],
    pcap: undefined,
  };
  assert.equal(source.stats().devices[0]?.kernelDroppedPackets, 5);
  source.end({ reason: 'end-of-file' });
  await source.stop();
  assert.deepEqual(await source.done, { reason: 'end-of-file' });
  assert.equal(source.stopCalls, 1);
  assert.throws(() => source.push([]), /after the source ended/);
});
