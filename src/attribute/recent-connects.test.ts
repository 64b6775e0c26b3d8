// RecentConnects: key format, TTL, size limit with its eviction counter, 4-tuple reuse.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentConnects, connectKey } from './recent-connects.js';
import type { ConnectEvent } from './recent-connects.js';

function connect(pid: number, localPort: number, localAddress = '198.18.0.1'): ConnectEvent {
  return {
    pid,
    comm: `p${pid}`,
    protocol: 6,
    localAddress,
    localPort,
    remoteAddress: '198.18.0.2',
    remotePort: 80,
  };
}

test('connectKey is protocol|local address|local port|remote address|remote port', () => {
  assert.equal(
    connectKey(6, 'fd42:6e66::1', 40000, '198.18.0.2', 80),
    '6|fd42:6e66::1|40000|198.18.0.2|80',
  );
});

test('finds a connect by its local and remote endpoints until the TTL has passed', () => {
  const connects = new RecentConnects({ ttlMs: 1000 });
  connects.add(connect(7, 40000), 0);
  assert.equal(connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, 1000)?.pid, 7);
  assert.equal(connects.find(6, '198.18.0.1', 40001, '198.18.0.2', 80, 10), undefined);
  assert.equal(connects.find(17, '198.18.0.1', 40000, '198.18.0.2', 80, 10), undefined);
  assert.equal(connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, 1001), undefined);
});

test('expired entries are swept when new ones arrive and counted', () => {
  const connects = new RecentConnects({ ttlMs: 100 });
  connects.add(connect(1, 40000), 0);
  connects.add(connect(2, 40001), 70);
  // At 160 the first is 160 ms old (expired), the second 90 ms (kept).
  connects.add(connect(3, 40002), 160);
  assert.deepEqual(connects.stats(), { size: 2, limit: 65536, evicted: 0, expired: 1 });
});

test('the size limit pushes out the oldest entry and counts it', () => {
  const connects = new RecentConnects({ limit: 2 });
  connects.add(connect(1, 40000), 0);
  connects.add(connect(2, 40001), 1);
  connects.add(connect(3, 40002), 2);
  assert.equal(connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, 3), undefined);
  assert.equal(connects.find(6, '198.18.0.1', 40002, '198.18.0.2', 80, 3)?.pid, 3);
  assert.deepEqual(connects.stats(), { size: 2, limit: 2, evicted: 1, expired: 0 });
});

test('a reused 4-tuple belongs to the latest connect', () => {
  const connects = new RecentConnects({ limit: 2 });
  connects.add(connect(1, 40000), 0);
  connects.add(connect(2, 40001), 1);
  connects.add(connect(9, 40000), 2);
  connects.add(connect(3, 40002), 3);
  // 40001 was the oldest after 40000 moved to the end.
  assert.equal(connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, 4)?.pid, 9);
  assert.equal(connects.find(6, '198.18.0.1', 40001, '198.18.0.2', 80, 4), undefined);
});

test('a limit of 0 keeps nothing', () => {
  const connects = new RecentConnects({ limit: 0 });
  connects.add(connect(1, 40000), 0);
  assert.equal(connects.find(6, '198.18.0.1', 40000, '198.18.0.2', 80, 0), undefined);
  assert.equal(connects.stats().size, 0);
});
