// Flow keys double as sender-side connection keys: the format is part of the public API
// (ConnectionEntry.key), so it is pinned here.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { flowKey, protocolName } from './flow-key.js';

test('flowKey joins protocol name, source and destination', () => {
  assert.equal(
    flowKey(6, '198.18.0.1', 40000, '198.18.0.2', 80),
    'tcp|198.18.0.1|40000|198.18.0.2|80',
  );
  assert.equal(
    flowKey(17, 'fd42:6e66::1', 53, 'fd42:6e66::2', 5353),
    'udp|fd42:6e66::1|53|fd42:6e66::2|5353',
  );
  assert.equal(protocolName(132), '132');
});
