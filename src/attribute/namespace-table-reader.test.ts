// The per-namespace table read on its own, over the in-memory /proc: the moved-process check,
// sock_diag against /proc/net text, reused socket lists, and what prune forgets.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs, ipv4TableLine } from '../../test/helpers/fake-procfs.js';
import { NamespaceTableReader } from './namespace-table-reader.js';
import type { SocketEntry } from './net-table.js';
import type { SockDiagStats, SocketTableReader } from './sock-diag.js';

const NS_A = 4026532101;
const NS_B = 4026532102;
const slices = { resumed: (): void => {}, pause: async (): Promise<void> => {} };

function entry(inode: number): SocketEntry {
  return {
    protocol: 6,
    ipVersion: 4,
    localAddress: '198.18.0.1',
    localPort: 8080,
    remoteAddress: '0.0.0.0',
    remotePort: 0,
    state: 10,
    uid: 0,
    inode,
  };
}

/** A sock_diag stand-in: the socket lists it has, undefined (refused) for other namespaces. */
class FakeSocketTables implements SocketTableReader {
  reads = 0;
  pruned: number[][] = [];
  constructor(readonly byNamespace: Map<number, SocketEntry[]>) {}
  read(_pid: number, netns: number): Promise<SocketEntry[] | undefined> {
    this.reads++;
    return Promise.resolve(this.byNamespace.get(netns));
  }
  prune(alive: ReadonlySet<number>): void {
    this.pruned.push([...alive]);
  }
  close(): void {}
  stats(): SockDiagStats {
    return { dumps: 0, fallbacks: 0, openNamespaces: 0, droppedSockets: 0, lastError: '' };
  }
}

function setUp(): { procFs: FakeProcFs; moved: number[] } {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 10, comm: 'server', netns: NS_A });
  procFs.setNetFiles(10, { tcp: ipv4TableLine(0, '198.18.0.1:8080', '0.0.0.0:0', 10, 5001) });
  return { procFs, moved: [] };
}

test('reads /proc/net text through a process still in the namespace', async () => {
  const { procFs, moved } = setUp();
  const reader = new NamespaceTableReader({ procFs, onMoved: (pid) => moved.push(pid) });
  const read = await reader.read(10, NS_A, slices);
  assert.equal(read?.isNetlink, false);
  assert.equal(read.tables.netns, NS_A);
  assert.deepEqual(
    read.tables.sockets.map((s) => s.inode),
    [5001],
  );
  assert.deepEqual(moved, []);
});

test('a process that left the namespace during the read gives nothing and is reported moved', async () => {
  const { procFs, moved } = setUp();
  procFs.onCall = (op, path) => {
    // setns() without exec, between the table read and the check.
    if (op === 'readlink' && path === '/proc/10/ns/net') procFs.setLink(path, `net:[${NS_B}]`);
  };
  const reader = new NamespaceTableReader({ procFs, onMoved: (pid) => moved.push(pid) });
  assert.equal(await reader.read(10, NS_A, slices), undefined);
  assert.deepEqual(moved, [10]);
});

test('a refused namespace link keeps the tables; a vanished one gives nothing', async () => {
  const { procFs, moved } = setUp();
  const reader = new NamespaceTableReader({ procFs, onMoved: (pid) => moved.push(pid) });
  procFs.fail('/proc/10/ns/net', 'EACCES', 1);
  assert.notEqual(await reader.read(10, NS_A, slices), undefined);
  procFs.fail('/proc/10/ns/net', 'ENOENT', 1);
  assert.equal(await reader.read(10, NS_A, slices), undefined);
  assert.deepEqual(moved, [10], 'gone reads as moved: the next scan reads it afresh');
});

test('sock_diag lists come first; a reused list keeps the way it was last read', async () => {
  const { procFs, moved } = setUp();
  procFs.addProcess({ pid: 20, comm: 'other', netns: NS_B });
  procFs.setNetFiles(20, { tcp: ipv4TableLine(0, '198.18.0.2:80', '0.0.0.0:0', 10, 6001) });
  const socketTables = new FakeSocketTables(new Map([[NS_A, [entry(7001)]]]));
  const reader = new NamespaceTableReader({
    procFs,
    socketTables,
    onMoved: (pid) => moved.push(pid),
  });
  const a = await reader.read(10, NS_A, slices);
  assert.equal(a?.isNetlink, true);
  assert.deepEqual(
    a.tables.sockets.map((s) => s.inode),
    [7001],
  );
  // Refused by sock_diag: /proc/net text.
  const b = await reader.read(20, NS_B, slices);
  assert.equal(b?.isNetlink, false);
  assert.deepEqual(
    b.tables.sockets.map((s) => s.inode),
    [6001],
  );
  const reads = socketTables.reads;
  const reused = await reader.read(10, NS_A, slices, a.tables.sockets);
  assert.equal(socketTables.reads, reads, 'no new dump');
  assert.equal(reused?.isNetlink, true);
  assert.equal(reused.tables.sockets, a.tables.sockets);
});

test('prune forgets namespaces no longer seen and passes them to sock_diag', async () => {
  const { procFs, moved } = setUp();
  const socketTables = new FakeSocketTables(new Map([[NS_A, [entry(7001)]]]));
  const reader = new NamespaceTableReader({
    procFs,
    socketTables,
    onMoved: (pid) => moved.push(pid),
  });
  const a = await reader.read(10, NS_A, slices);
  reader.prune(new Map([[NS_B, [20]]]));
  assert.deepEqual(socketTables.pruned, [[NS_B]]);
  // Forgotten: a reused list of NS_A no longer knows it came through sock_diag.
  const reused = await reader.read(10, NS_A, slices, a?.tables.sockets);
  assert.equal(reused?.isNetlink, false);
});
