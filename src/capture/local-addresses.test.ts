// LocalAddresses: membership, normalisation, refresh by timer, and failed refreshes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { LocalAddresses } from './local-addresses.js';
import { FakeClock } from '../clock.js';

/** The addresses `ip -j addr` lists in this namespace (iproute2: an independent reader). */
function ipAddresses(): Set<string> {
  const links = JSON.parse(execFileSync('ip', ['-j', 'addr'], { encoding: 'utf8' })) as {
    addr_info?: { local?: string }[];
  }[];
  return new Set(links.flatMap((l) => (l.addr_info ?? []).flatMap((a) => a.local ?? [])));
}

test("knows exactly this host's addresses as `ip -j addr` lists them", () => {
  // Other tests add and remove links meanwhile: an address counts as present when both reads
  // of ip list it, as absent when neither does.
  const before = ipAddresses();
  const local = new LocalAddresses({ refreshIntervalMs: 0 });
  const after = ipAddresses();
  assert.ok(before.size > 0 && before.has('127.0.0.1'));
  for (const a of before) {
    if (after.has(a)) assert.equal(local.has(a), true, `ip lists ${a}, pidflow does not know it`);
  }
  for (const a of local.addresses()) {
    assert.ok(before.has(a) || after.has(a), `pidflow knows ${a}, ip does not list it`);
  }
  // An address of the test range no interface has.
  const absent = ['198.18.255.253', 'fd42:6e66::fffe:fffd'].filter(
    (a) => !before.has(a) && !after.has(a),
  );
  for (const a of absent) assert.equal(local.has(a), false, a);
  local.close();
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
