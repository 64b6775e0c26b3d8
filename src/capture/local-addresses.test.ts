// LocalAddresses: membership, normalisation, refresh by timer, and failed refreshes.
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';

import { LocalAddresses } from './local-addresses.js';
import { FakeClock } from '../clock.js';

test("knows this host's real addresses from os.networkInterfaces()", () => {
  const local = new LocalAddresses({ refreshIntervalMs: 0 });
  const all = Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
  assert.ok(all.length > 0);
  for (const a of all) assert.equal(local.has(a), true, a);
  assert.equal(local.has('198.18.0.254'), all.includes('198.18.0.254'));
});

test('matches IPv4-mapped IPv6, letter case and zone ids', () => {
  const local = new LocalAddresses({
    refreshIntervalMs: 0,
    readAddresses: () => ['198.18.0.1', 'FD42:6E66::1', 'fe80::1%eth0'],
  });
  assert.equal(local.has('::ffff:198.18.0.1'), true);
  assert.equal(local.has('fd42:6e66::1'), true);
  assert.equal(local.has('fe80::1'), true);
  assert.equal(local.has('198.18.0.2'), false);
  assert.deepEqual(local.addresses(), ['198.18.0.1', 'fd42:6e66::1', 'fe80::1']);
});

test('picks up new interfaces on the timer and keeps the old set when reading fails', () => {
  const clock = new FakeClock();
  let current: string[] | Error = ['198.18.0.1'];
  const local = new LocalAddresses({
    clock,
    refreshIntervalMs: 1000,
    readAddresses: () => {
      if (current instanceof Error) throw current;
      return current;
    },
  });
  current = ['198.18.0.1', '198.18.0.9'];
  assert.equal(local.has('198.18.0.9'), false);
  clock.advance(1000);
  assert.equal(local.has('198.18.0.9'), true);
  current = new Error('EMFILE');
  clock.advance(1000);
  assert.equal(local.has('198.18.0.9'), true);
  assert.equal(local.failedRefreshes, 1);
  local.close();
  assert.equal(clock.pendingTimers, 0);
});
