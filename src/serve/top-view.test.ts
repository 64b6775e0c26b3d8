import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  makeContainerEntry,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
  makeUnknownEntry,
} from '../../test/helpers/fake-monitor.js';
import { SPARK_SECONDS, topView } from './top-view.js';

/** A parsed answer: untyped JSON, indexed freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const procs = [
  makeProcessEntry(makeProcessInfo(10, 'nginx', { user: 'www-data' }), {
    sentBytes: 5000,
    receivedBytes: 1000,
    sentBytesPerSecond: 300,
    receivedBytesPerSecond: 100,
    sentHistory: Array.from({ length: 90 }, (_, i) => i),
  }),
  makeProcessEntry(makeProcessInfo(11, 'curl', { cmdline: ['curl', 'https://example.org/x'] }), {
    sentBytes: 100,
    receivedBytes: 9000,
    sentBytesPerSecond: 10,
    receivedBytesPerSecond: 900,
  }),
  makeProcessEntry(makeProcessInfo(12, 'apt'), {
    sentBytes: 50,
    receivedBytes: 60,
    sentBytesPerSecond: 5,
    receivedBytesPerSecond: 6,
  }),
];
const unknown = [
  makeUnknownEntry('udp', 53, {
    sentBytes: 10,
    receivedBytes: 20,
    sentBytesPerSecond: 100,
    receivedBytesPerSecond: 0,
  }),
];
const snapshot = makeSnapshot({ processes: procs, unknown, windowSeconds: 5 });
const base = { groupBy: 'process' as const, windowSeconds: 5, filter: '' };

test('keeps the top N by total rate and folds the rest into one "other" row', () => {
  const a: Json = topView(procs, snapshot, { ...base, sortBy: 'total', limit: 2 });
  assert.deepEqual(
    a.entries.map((e: Json) => e.name),
    ['curl', 'nginx'],
  );
  assert.deepEqual(a.other, {
    count: 1,
    sentBytesPerSecond: 5,
    receivedBytesPerSecond: 6,
    sentBytes: 50,
    receivedBytes: 60,
  });
  assert.equal(a.matched, 3);
  const nginx = a.entries[1];
  assert.equal(nginx.pid, 10);
  assert.equal(nginx.user, 'www-data');
  assert.equal(nginx.sentBytesPerSecond, 300);
  assert.equal(nginx.sentBytes, 5000);
  assert.equal(nginx.spark.sentBytes.length, SPARK_SECONDS, 'sparklines are bounded');
  assert.equal(nginx.spark.sentBytes.at(-1), 89, 'the newest second last');
});

test('sorts by sent, received and name like the TUI', () => {
  const names = (sortBy: 'sent' | 'received' | 'name'): string[] =>
    (topView(procs, snapshot, { ...base, sortBy, limit: 10 }) as Json).entries.map(
      (e: Json) => e.name,
    );
  assert.deepEqual(names('sent'), ['nginx', 'curl', 'apt']);
  assert.deepEqual(names('received'), ['curl', 'nginx', 'apt']);
  assert.deepEqual(names('name'), ['apt', 'curl', 'nginx']);
});

test('filters on name, pid, user and command line before taking the top N', () => {
  const match = (filter: string): string[] =>
    (topView(procs, snapshot, { ...base, sortBy: 'total', limit: 1, filter }) as Json).entries.map(
      (e: Json) => e.name,
    );
  assert.deepEqual(match('example.org'), ['curl']);
  assert.deepEqual(match('www-data'), ['nginx']);
  assert.deepEqual(match('12'), ['apt']);
  assert.deepEqual(match('no-such-thing'), []);
});

test('reports the unknown share of the window and the totals', () => {
  const a: Json = topView(procs, snapshot, { ...base, sortBy: 'total', limit: 10 });
  // Window bytes: processes (300+100+10+900+5+6) * 2 s, unknown 100 * 2 s (makeTraffic's window).
  assert.equal(a.unknown.share, 200 / (2 * (1321 + 100)));
  assert.equal(a.totals.sentBytesPerSecond, 300 + 10 + 5 + 100);
  assert.deepEqual(a.devices, ['lo']);
});

test('names containers by their label and the host as (host)', () => {
  const containers = [
    makeContainerEntry('', null, 3, { sentBytes: 1, receivedBytes: 1, sentBytesPerSecond: 1 }),
    makeContainerEntry('abcdef0123456789abcdef', 'docker', 1, {
      sentBytes: 1,
      receivedBytes: 1,
      sentBytesPerSecond: 2,
    }),
  ];
  const a: Json = topView(containers, snapshot, {
    ...base,
    groupBy: 'container',
    sortBy: 'total',
    limit: 10,
  });
  assert.deepEqual(
    a.entries.map((e: Json) => [e.name, e.processCount]),
    [
      ['abcdef012345', 1],
      ['(host)', 3],
    ],
  );
});
