// --text with names chosen by an attacker: one line per row, nothing active, columns aligned.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { displayWidth } from '../text/display-text.js';
import type { NdjsonProcess, NdjsonRecord } from './ndjson.js';
import { formatTextTable } from './text-table.js';

const HOSTILE = [
  'x\n4242  root  9.00 GiB/s  0 B/s  1 B  1 B  fake',
  '\x1b[2J\x1b]0;title\x07',
  'evil\u202e\u2066txt',
  '数据库🐍',
  'a\udcffb\r',
];

function process(pid: number, name: string): NdjsonProcess {
  return {
    pid,
    key: `${pid}:1`,
    name,
    exe: `/tmp/${name}`,
    cmdline: pid % 2 === 0 ? [] : [name, `--x=${name}`],
    user: name,
    uid: 1000,
    container: pid % 2 === 0 ? `${'c0ffee'.repeat(10)}abcd` : null,
    // Container names are chosen by the containers' owners too.
    containerInfo:
      pid % 2 === 0
        ? {
            id: `${'c0ffee'.repeat(10)}abcd`,
            runtime: 'docker',
            name,
            image: name,
            composeProject: name,
            composeService: name,
            pod: null,
          }
        : null,
    exited: false,
    sentBytes: 1000,
    receivedBytes: 2000,
    intervalSentBytes: 1000,
    intervalReceivedBytes: 2000,
    sentBytesPerSecond: 1000,
    receivedBytesPerSecond: 2000,
    sentPackets: 1,
    receivedPackets: 1,
    connections: 1,
  };
}

test('--text prints one line per process whatever the names, escaped and aligned', () => {
  const record: NdjsonRecord = {
    version: 1,
    time: '2026-12-04T00:00:00.000Z',
    intervalMs: 1000,
    elapsedMs: 1000,
    remainingMs: null,
    devices: ['lo', 'e\nth0'],
    processes: HOSTILE.map((name, i) => process(100 + i, name)),
    unknown: {
      sentBytes: 0,
      receivedBytes: 0,
      intervalSentBytes: 0,
      intervalReceivedBytes: 0,
      sentBytesPerSecond: 0,
      receivedBytesPerSecond: 0,
      sentPackets: 0,
      receivedPackets: 0,
      ports: [],
    },
    stats: {
      seenPackets: 0,
      seenBytes: 0,
      attributedPackets: 0,
      unknownPackets: 0,
      pendingPackets: 0,
      queueDroppedPackets: 0,
      kernelDroppedPackets: 0,
      malformedPackets: 0,
      nonIpPackets: 0,
      retryDroppedFlows: 0,
      duplicatePackets: 0,
      duplicateBytes: 0,
    },
  };
  const text = formatTextTable(record, 'interval 1.0s');
  const lines = text.trimEnd().split('\n');
  // Summary, header, one row per process.
  assert.equal(lines.length, 2 + HOSTILE.length);
  // eslint-disable-next-line no-control-regex
  assert.doesNotMatch(text.replace(/\n/g, ''), /[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
  assert.match(lines[0]!, /devices lo,e\\nth0 /);
  // The SENT/s column starts at the same cell on every row, CJK names included.
  const ends = lines
    .slice(2)
    .map((l) => displayWidth(l.slice(0, l.indexOf('0.98 KiB/s')) as never));
  assert.equal(new Set(ends).size, 1, lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('[a\\xffb\\r]') || l.includes('a\\xffb\\r')));
});
