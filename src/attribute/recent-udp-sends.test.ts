// RecentUdpSends: lookup by local end (bound address or wildcard), TTL, size limit with its
// eviction counter, port reuse (the newest event wins, the generation moves), contradiction.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SocketEvent } from '../capture/socket-events.js';
import { RecentUdpSends } from './recent-udp-sends.js';

function send(
  pid: number,
  localPort: number,
  localAddress = '0.0.0.0',
  protocol = 17,
): SocketEvent {
  return {
    pid,
    comm: `p${pid}`,
    protocol,
    localAddress,
    localPort,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
  };
}

test('a wildcard IPv4 or IPv6 event matches any local address on its port and protocol', () => {
  const sends = new RecentUdpSends();
  sends.add(send(7, 40000), 0);
  sends.add(send(8, 40001, '::'), 0);
  assert.equal(sends.find(17, '198.18.0.1', 40000, 1)?.pid, 7);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 1)?.pid, 7);
  assert.equal(sends.find(17, 'fd42:6e66::1', 40001, 1)?.pid, 8);
  assert.equal(sends.find(17, '198.18.0.1', 40001, 1)?.pid, 8, ':: without V6ONLY sends IPv4');
  assert.equal(sends.find(17, '198.18.0.1', 40002, 1), undefined);
  assert.equal(sends.find(136, '198.18.0.1', 40000, 1), undefined, 'UDP-Lite is another table');
  assert.equal(sends.find(17, '198.18.0.1', 40000, 1)?.localAddress, '*');
});

test('an event bound to an address matches only that address', () => {
  const sends = new RecentUdpSends();
  sends.add(send(9, 40000, '198.18.0.1'), 0);
  assert.equal(sends.find(17, '198.18.0.1', 40000, 1)?.pid, 9);
  assert.equal(sends.find(17, '198.18.0.3', 40000, 1), undefined);
});

test('entries are used until the TTL has passed, and swept and counted after it', () => {
  const sends = new RecentUdpSends({ ttlMs: 1000 });
  sends.add(send(1, 40000), 0);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 1000)?.pid, 1);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 1001), undefined);
  sends.add(send(2, 40001), 1500);
  assert.deepEqual(sends.stats(), {
    size: 1,
    limit: 65536,
    evicted: 0,
    expired: 1,
    contradicted: 0,
  });
});

test('the size limit pushes out the oldest entry and counts it', () => {
  const sends = new RecentUdpSends({ limit: 2 });
  sends.add(send(1, 40000), 0);
  sends.add(send(2, 40001), 1);
  sends.add(send(3, 40002), 2);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 3), undefined);
  assert.equal(sends.find(17, '127.0.0.1', 40001, 3)?.pid, 2);
  assert.equal(sends.find(17, '127.0.0.1', 40002, 3)?.pid, 3);
  assert.equal(sends.stats().evicted, 1);
  assert.equal(sends.stats().size, 2);
});

test('limit 0 keeps nothing', () => {
  const sends = new RecentUdpSends({ limit: 0 });
  assert.equal(sends.add(send(1, 40000), 0).pid, 1);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 1), undefined);
});

test('port reuse: the newest event of a local end wins and moves the generation', () => {
  const sends = new RecentUdpSends();
  sends.add(send(1, 40000), 0);
  const before = sends.generation;
  sends.add(send(1, 40000), 5);
  assert.equal(sends.generation, before, 'the same process again is no change of owner');
  sends.add(send(2, 40000), 10);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 11)?.pid, 2);
  assert.notEqual(sends.generation, before);
});

test('between a bound and a wildcard event on one port, the newer one answers', () => {
  const sends = new RecentUdpSends();
  sends.add(send(1, 40000, '127.0.0.1'), 0);
  sends.add(send(2, 40000), 10);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 11)?.pid, 2);
  const gen = sends.generation;
  sends.add(send(3, 40000, '127.0.0.1'), 20);
  assert.equal(sends.find(17, '127.0.0.1', 40000, 21)?.pid, 3);
  assert.notEqual(sends.generation, gen, 'a bound event under a wildcard one of another pid');
  assert.equal(sends.find(17, '198.18.0.1', 40000, 21)?.pid, 2);
});

test('dropContradicted forgets only entries older than the scan that the check rejects', () => {
  const sends = new RecentUdpSends();
  sends.add(send(1, 40000), 0);
  sends.add(send(2, 40001), 0);
  sends.add(send(3, 40002), 50);
  const gen = sends.generation;
  // The scan started at 40: pid 3's event is newer than it, so it stays whatever the check says.
  assert.equal(
    sends.dropContradicted(40, (e) => e.pid !== 2),
    1,
  );
  assert.equal(sends.find(17, '127.0.0.1', 40000, 60), undefined);
  assert.equal(sends.find(17, '127.0.0.1', 40001, 60)?.pid, 2);
  assert.equal(sends.find(17, '127.0.0.1', 40002, 60)?.pid, 3);
  assert.equal(sends.stats().contradicted, 1);
  assert.notEqual(sends.generation, gen);
});
