// NDJSON records: interval bytes are exact differences of cumulative totals per process key.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
  makeUnknownEntry,
} from '../../test/helpers/fake-monitor.js';
import { IntervalTracker, NDJSON_VERSION, buildNdjsonRecord } from './ndjson.js';

const ALL = { pids: [], names: [] };

test('interval bytes of a key are the difference of its cumulative totals', () => {
  const t = new IntervalTracker();
  assert.deepEqual(t.delta('a', { sentBytes: 100, receivedBytes: 10 }), {
    sentBytes: 100,
    receivedBytes: 10,
  });
  t.commit();
  assert.deepEqual(t.delta('a', { sentBytes: 250, receivedBytes: 10 }), {
    sentBytes: 150,
    receivedBytes: 0,
  });
  t.commit();
  // A total that went down means the entry was re-created: count from 0 again.
  assert.deepEqual(t.delta('a', { sentBytes: 40, receivedBytes: 5 }), {
    sentBytes: 40,
    receivedBytes: 5,
  });
  t.commit();
  // A key missing for one tick is forgotten, then starts from 0.
  t.commit();
  assert.deepEqual(t.delta('a', { sentBytes: 90, receivedBytes: 5 }), {
    sentBytes: 90,
    receivedBytes: 5,
  });
});

test('sums of interval bytes over all lines equal the last cumulative totals', () => {
  const nginx = makeProcessInfo(10, 'nginx');
  const curl = makeProcessInfo(20, 'curl');
  const totals: [number, number, number, number][] = [
    [1000, 200, 0, 0],
    [2500, 200, 700, 9000],
    [2500, 900, 1400, 9001],
    [9999, 1000, 1400, 20_000],
  ];
  const tracker = new IntervalTracker();
  const sums = new Map<number, [number, number]>();
  for (const [ns, nr, cs, cr] of totals) {
    const processes = [makeProcessEntry(nginx, { sentBytes: ns, receivedBytes: nr })];
    if (cs + cr > 0) processes.push(makeProcessEntry(curl, { sentBytes: cs, receivedBytes: cr }));
    const record = buildNdjsonRecord(makeSnapshot({ processes }), tracker, ALL);
    assert.equal(record.version, NDJSON_VERSION);
    for (const p of record.processes) {
      const [s, r] = sums.get(p.pid) ?? [0, 0];
      sums.set(p.pid, [s + p.intervalSentBytes, r + p.intervalReceivedBytes]);
    }
  }
  assert.deepEqual(sums.get(10), [9999, 1000]);
  assert.deepEqual(sums.get(20), [1400, 20_000]);
});

test('a --pid filter hides processes but keeps their interval accounting', () => {
  const a = makeProcessInfo(1, 'a');
  const b = makeProcessInfo(2, 'b');
  const tracker = new IntervalTracker();
  const filter = { pids: [2], names: [] };
  const snap = (x: number) =>
    makeSnapshot({
      processes: [
        makeProcessEntry(a, { sentBytes: x, receivedBytes: 0 }),
        makeProcessEntry(b, { sentBytes: 2 * x, receivedBytes: 0 }),
      ],
    });
  const first = buildNdjsonRecord(snap(100), tracker, filter);
  assert.deepEqual(
    first.processes.map((p) => p.pid),
    [2],
  );
  const second = buildNdjsonRecord(snap(150), tracker, filter);
  assert.equal(second.processes[0]!.intervalSentBytes, 100);
});

test('rates are interval bytes divided by the interval; unknown traffic has its own totals', () => {
  const p = makeProcessInfo(7, 'x');
  const record = buildNdjsonRecord(
    makeSnapshot({
      intervalMs: 500,
      processes: [makeProcessEntry(p, { sentBytes: 1000, receivedBytes: 3 })],
      unknown: [makeUnknownEntry('udp', 53, { sentBytes: 64, receivedBytes: 128 })],
    }),
    new IntervalTracker(),
    ALL,
  );
  assert.equal(record.processes[0]!.sentBytesPerSecond, 2000);
  assert.equal(record.processes[0]!.receivedBytesPerSecond, 6);
  assert.equal(record.unknown.sentBytes, 64);
  assert.equal(record.unknown.intervalReceivedBytes, 128);
  assert.deepEqual(record.unknown.ports, [
    { protocol: 'udp', localPort: 53, sentBytes: 64, receivedBytes: 128 },
  ]);
});
