// Socket inode -> pid from fd links, on a fake /proc tree and with processes that vanish or
// refuse access mid-scan.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs, procFixture } from '../../test/helpers/fake-procfs.js';
import { NodeProcFs } from './procfs.js';
import { parseSocketLink, readSocketInodes, readSocketOwners } from './socket-owners.js';

test('maps socket inodes to the pids whose fds link to them', () => {
  const procFs = new NodeProcFs(procFixture('multi-ns'));
  const { owners, vanishedProcesses, deniedProcesses } = readSocketOwners(
    procFs,
    [1, 100, 101, 102, 200, 301],
  );
  assert.deepEqual(Object.fromEntries([...owners].sort((a, b) => a[0] - b[0])), {
    1001: 100,
    1002: 100,
    1003: 101,
    1004: 101,
    1005: 102,
    1006: 100,
    2001: 200,
    2002: 200,
    3001: 301,
  });
  assert.equal(vanishedProcesses, 0);
  assert.equal(deniedProcesses, 0);
});

test('only socket links count', () => {
  assert.equal(parseSocketLink('socket:[12345]'), 12345);
  assert.equal(parseSocketLink('pipe:[12345]'), undefined);
  assert.equal(parseSocketLink('anon_inode:[eventpoll]'), undefined);
  assert.equal(parseSocketLink('/dev/null'), undefined);
  assert.equal(parseSocketLink('socket:[]'), undefined);
});

test('a pid that vanishes between readdir and readlink is skipped and counted', () => {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 10, comm: 'a', sockets: [501] });
  procFs.addProcess({ pid: 11, comm: 'b', sockets: [502, 503] });
  procFs.addProcess({ pid: 12, comm: 'c', sockets: [504] });
  // pid 11 exits right after its fd directory was listed: every readlink then fails.
  procFs.onCall = (op, path) => {
    if (op === 'readlink' && path.startsWith('/proc/11/fd/')) procFs.remove('/proc/11');
  };
  procFs.fail('/proc/12/fd', 'ESRCH');
  const { owners, vanishedProcesses } = readSocketOwners(procFs, [10, 11, 12, 13]);
  assert.deepEqual([...owners], [[501, 10]]);
  // 11 (gone after its listing), 12 (ESRCH) and 13 (never existed) are skipped and counted.
  assert.equal(vanishedProcesses, 3);
});

test('EACCES on an fd directory is counted as denied, not an error', () => {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 20, comm: 'other-user', sockets: [601] });
  procFs.fail('/proc/20/fd', 'EACCES');
  assert.deepEqual(readSocketInodes(procFs, 20), { status: 'denied' });
  const { owners, deniedProcesses } = readSocketOwners(procFs, [20]);
  assert.equal(owners.size, 0);
  assert.equal(deniedProcesses, 1);
});
