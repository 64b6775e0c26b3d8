// Address texts from raw 16-byte address fields, and their interning.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AddressNames, formatAddress } from './address.js';

function field(bytes: readonly number[]): DataView {
  const view = new DataView(new ArrayBuffer(16));
  bytes.forEach((b, i) => view.setUint8(i, b));
  return view;
}

const V4 = [198, 18, 0, 7];
const V6 = [0xfd, 0x42, 0x6e, 0x66, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
const MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 18, 0, 3];

test('formatAddress writes IPv4, RFC 5952 IPv6 and IPv4-mapped IPv6 as IPv4', () => {
  assert.equal(formatAddress(field(V4), 0, 4), '198.18.0.7');
  assert.equal(formatAddress(field(V6), 0, 6), 'fd42:6e66::9');
  assert.equal(formatAddress(field(MAPPED), 0, 6), '198.18.0.3');
});

test('AddressNames gives the same text as formatAddress, one string per address', () => {
  const names = new AddressNames();
  for (const [bytes, version] of [
    [V4, 4],
    [V6, 6],
    [MAPPED, 6],
  ] as const) {
    const first = names.text(field(bytes), 0, version);
    assert.equal(first, formatAddress(field(bytes), 0, version));
    // A second lookup from another buffer returns the very same string, not an equal copy.
    assert.ok(Object.is(names.text(field(bytes), 0, version), first));
  }
  assert.equal(names.size, 3);
  assert.equal(names.resets, 0);
});

test('AddressNames is bounded: it starts over when full and counts it', () => {
  const names = new AddressNames(4);
  for (let i = 1; i <= 4; i++) names.text(field([198, 18, 0, i]), 0, 4);
  assert.equal(names.size, 4);
  assert.equal(names.text(field([198, 18, 0, 5]), 0, 4), '198.18.0.5');
  assert.equal(names.resets, 1);
  assert.equal(names.size, 1);
  // Texts built after the reset are still right.
  assert.equal(names.text(field([198, 18, 0, 1]), 0, 4), '198.18.0.1');
});
