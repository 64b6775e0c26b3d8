// The owner-search rules on their own: when an ownerless inode is searched again, which tables
// hold a socket with no known owner, and the order processes are searched in.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NamespaceTables } from './net-namespaces.js';
import type { SocketEntry } from './net-table.js';
import {
  hasUnknownSockets,
  isSettledOrphan,
  ORPHAN_RETRY_SCANS,
  searchOrder,
} from './owner-search.js';
import { placeholderProcess } from './process-info.js';
import type { Owner, ProcessInfo } from './types.js';

const NS_A = 4026532101;
const NS_B = 4026532102;

function proc(pid: number, netns: number, startTime = 1000): ProcessInfo {
  return { ...placeholderProcess(`${pid}:${startTime}`, pid, 'p'), startTime, netns };
}

function tablesOf(netns: number, inodes: number[]): NamespaceTables {
  const sockets: SocketEntry[] = inodes.map((inode, i) => ({
    protocol: 6,
    ipVersion: 4,
    localAddress: '198.18.0.1',
    localPort: 40000 + i,
    remoteAddress: '198.18.0.2',
    remotePort: 80,
    state: 1,
    uid: 0,
    inode,
  }));
  return { netns, sockets, addresses: new Set(), malformedLines: 0 };
}

test('an ownerless inode is searched at the next scan, then waits ORPHAN_RETRY_SCANS', () => {
  assert.equal(isSettledOrphan(10, undefined), false, 'never missed');
  assert.equal(isSettledOrphan(10, 10), false);
  assert.equal(isSettledOrphan(11, 10), false, 'one scan later: searched again');
  assert.equal(isSettledOrphan(12, 10), true);
  assert.equal(isSettledOrphan(10 + ORPHAN_RETRY_SCANS - 1, 10), true);
  assert.equal(isSettledOrphan(10 + ORPHAN_RETRY_SCANS, 10), false, 'due again');
});

test('a socket is unknown unless its last owner is alive as the same process or the kernel listed it ownerless', () => {
  const owner = proc(10, NS_A);
  const owners = new Map<number, Owner>([[5001, { process: owner, socketInode: 5001 }]]);
  const alive = new Map([[10, owner]]);
  const none = new Set<number>();
  assert.equal(hasUnknownSockets([tablesOf(NS_A, [5001, 0])], alive, owners, none), false);
  assert.equal(hasUnknownSockets([tablesOf(NS_A, [5001, 5002])], alive, owners, none), true);
  assert.equal(
    hasUnknownSockets([tablesOf(NS_A, [5001, 5002])], alive, owners, new Set([5002])),
    false,
    'a kernel socket',
  );
  assert.equal(
    hasUnknownSockets([tablesOf(NS_A, [5001])], new Map(), owners, none),
    true,
    'exited',
  );
  const reused = new Map([[10, proc(10, NS_A, 2000)]]);
  assert.equal(
    hasUnknownSockets([tablesOf(NS_A, [5001])], reused, owners, none),
    true,
    'pid reused',
  );
});

test('searches new processes first, then the namespaces asked for, then everyone else if asked', () => {
  const alive = new Map([
    [1, proc(1, NS_B)],
    [2, proc(2, NS_A)],
    [3, proc(3, NS_A)],
    [4, proc(4, NS_B)],
  ]);
  assert.deepEqual(searchOrder(alive, [3], new Set([NS_A]), false), [3, 2]);
  assert.deepEqual(searchOrder(alive, [3], new Set([NS_A]), true), [3, 2, 1, 4]);
  assert.deepEqual(searchOrder(alive, [4, 1], new Set(), false), [4, 1]);
});
