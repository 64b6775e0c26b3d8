// Unit formatting across many values, in one golden file (bandwhich's display_bandwidth model).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertGolden } from '../../test/golden/assert-golden.js';
import {
  BYTE_UNITS,
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
} from './format.js';

const VALUES = [
  0, 1, 9, 10, 99, 100, 512, 999, 1000, 1023, 1024, 1025, 1536, 10_000, 10_240, 102_400, 999_999,
  1_000_000, 1_023_487, 1_048_576, 1_572_864, 10_485_760, 104_857_600, 1_023_000_000, 1_073_741_824,
  5_368_709_120, 1_099_511_627_776, 5e15,
];

test('formats byte sizes in every unit (golden)', () => {
  const header = ['bytes'.padStart(18), ...BYTE_UNITS.map((u) => u.padStart(18))].join(' ');
  const lines = [header];
  for (const v of VALUES) {
    lines.push(
      [String(v).padStart(18), ...BYTE_UNITS.map((u) => formatBytes(v, u).padStart(18))].join(' '),
    );
  }
  assertGolden('units.txt', lines.join('\n') + '\n');
});

test('keeps auto sizes within 9 characters up to petabytes', () => {
  for (let v = 1; v < 1e16; v *= 1.37) {
    assert.ok(formatBytes(v).length <= 9, `${v} -> ${formatBytes(v)}`);
  }
});

test('formats exact binary boundaries', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1024), '1.00 KiB');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(1024 ** 2), '1.00 MiB');
  assert.equal(formatBytes(1024 ** 3), '1.00 GiB');
  assert.equal(formatBytes(1536, 'B'), '1536 B');
  assert.equal(formatRate(2048), '2.00 KiB/s');
});

test('shows invalid sizes as a dash', () => {
  assert.equal(formatBytes(-1), '-');
  assert.equal(formatBytes(Number.NaN), '-');
  assert.equal(formatCount(Number.POSITIVE_INFINITY), '-');
});

test('formats counts, durations and shares', () => {
  assert.deepEqual([0, 999, 1000, 1499, 12_345, 999_499, 1_000_000, 2.5e9].map(formatCount), [
    '0',
    '999',
    '1.0k',
    '1.5k',
    '12k',
    '999k',
    '1.0M',
    '2.5G',
  ]);
  assert.deepEqual([0, 999, 1000, 65_000, 3_599_999, 3_600_000, 7_384_000].map(formatDuration), [
    '0:00',
    '0:00',
    '0:01',
    '1:05',
    '59:59',
    '1:00:00',
    '2:03:04',
  ]);
  assert.equal(formatPercent(0, 100), '0%');
  assert.equal(formatPercent(1, 0), '0%');
  assert.equal(formatPercent(1, 10_000), '<0.1%');
  assert.equal(formatPercent(5, 1000), '0.5%');
  assert.equal(formatPercent(1, 3), '33%');
});
