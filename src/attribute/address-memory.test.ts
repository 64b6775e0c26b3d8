// The memory of namespace addresses on its own: what a scan gets back, the TTL, the limit and
// which addresses the limit drops first.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AddressMemory, RECENT_ADDRESS_TTL_MS, RECENT_ADDRESSES_LIMIT } from './address-memory.js';

function seen(...namespaces: string[][]): Map<number, Set<string>> {
  return new Map(namespaces.map((addresses, i) => [4026532000 + i, new Set(addresses)]));
}

test('returns addresses of earlier scans that this scan no longer sees, not its own', () => {
  const memory = new AddressMemory();
  assert.deepEqual(memory.remember(seen(['198.18.0.1', '198.18.0.2'], ['fd42:6e66::1']), 1000), []);
  // The second namespace is gone (its last process exited); 198.18.0.2 left the first one.
  assert.deepEqual(memory.remember(seen(['198.18.0.1']), 2000), ['198.18.0.2', 'fd42:6e66::1']);
  assert.equal(memory.size, 3);
});

test('forgets an address RECENT_ADDRESS_TTL_MS after the last scan that saw it', () => {
  const memory = new AddressMemory();
  memory.remember(seen(['198.18.0.1', '198.18.0.2']), 0);
  // 198.18.0.1 is seen again later: its clock starts again.
  memory.remember(seen(['198.18.0.1']), 10_000);
  assert.deepEqual(memory.remember(seen(), RECENT_ADDRESS_TTL_MS), ['198.18.0.2', '198.18.0.1']);
  assert.deepEqual(memory.remember(seen(), RECENT_ADDRESS_TTL_MS + 1), ['198.18.0.1']);
  assert.deepEqual(memory.remember(seen(), RECENT_ADDRESS_TTL_MS + 10_000), ['198.18.0.1']);
  assert.deepEqual(memory.remember(seen(), RECENT_ADDRESS_TTL_MS + 10_001), []);
  assert.equal(memory.size, 0);
});

test('past the limit the addresses seen longest ago go first', () => {
  const memory = new AddressMemory(RECENT_ADDRESS_TTL_MS, 3);
  memory.remember(seen(['198.18.0.1']), 1);
  memory.remember(seen(['198.18.0.2']), 2);
  memory.remember(seen(['198.18.0.3']), 3);
  // Seen again: 198.18.0.1 becomes the youngest of the earlier ones.
  memory.remember(seen(['198.18.0.1']), 4);
  assert.deepEqual(memory.remember(seen(['198.18.0.4']), 5), ['198.18.0.3', '198.18.0.1']);
  assert.equal(memory.size, 3);
});

test('keeps at most RECENT_ADDRESSES_LIMIT addresses by default', () => {
  const memory = new AddressMemory();
  const many: string[] = [];
  for (let i = 0; i < RECENT_ADDRESSES_LIMIT + 10; i++) {
    many.push(`fd42:6e66::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  }
  memory.remember(seen(many.slice(0, 10)), 1);
  const recent = memory.remember(seen(many.slice(10)), 2);
  assert.equal(memory.size, RECENT_ADDRESSES_LIMIT);
  // The 10 from the first scan were the oldest: dropped, so none comes back.
  assert.deepEqual(recent, []);
});
