// The process cache on its own, over the in-memory /proc: reuse of cached info against re-reads
// on exec or pid reuse, the command-line refresh rate limit, settling, the host namespace.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import {
  CMDLINE_REFRESH_MS,
  ProcessCache,
  readHostNetns,
  SETTLED_PROCESS_MS,
} from './process-cache.js';
import type { ProcessInfo } from './types.js';

function setUp(): { procFs: FakeProcFs; cache: ProcessCache; clock: { ms: number } } {
  const procFs = new FakeProcFs();
  procFs.setFile(
    '/etc/passwd',
    'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n',
  );
  const clock = { ms: 50_000 };
  const cache = new ProcessCache({ procFs, monotonicMs: () => clock.ms });
  return { procFs, cache, clock };
}

/** One scan's worth of refreshes for `pids`, handed to the cache as the scanner does. */
function scanPids(cache: ProcessCache, pids: number[]): Map<number, ProcessInfo> {
  cache.beginScan();
  const alive = new Map<number, ProcessInfo>();
  for (const pid of pids) {
    const read = cache.refresh(pid);
    if (read !== undefined) alive.set(pid, read.info);
  }
  cache.replace(alive);
  return alive;
}

test('reuses the cached info while pid, start time and comm stay the same', () => {
  const { procFs, cache } = setUp();
  procFs.addProcess({ pid: 10, comm: 'nginx', uid: 1000 });
  const first = cache.refresh(10);
  assert.equal(first?.isNew, true);
  assert.equal(first.info.user, 'alice');
  scanPids(cache, [10]);
  const statReadsBefore = procFs.calls.readText;
  const again = cache.refresh(10);
  assert.equal(again?.isNew, false);
  assert.equal(again.info, cache.get(10), 'the same object, not a re-read copy');
  // Only the stat was read (the command line is within its refresh interval).
  assert.equal(procFs.calls.readText, statReadsBefore + 1);
});

test('reads a process afresh when its comm changes (exec) or its start time does (pid reuse)', () => {
  const { procFs, cache } = setUp();
  procFs.addProcess({ pid: 10, comm: 'sh', startTime: 500 });
  scanPids(cache, [10]);
  const before = cache.get(10)!;
  procFs.addProcess({ pid: 10, comm: 'curl', startTime: 500 });
  const exec = cache.refresh(10);
  assert.equal(exec?.isNew, true);
  assert.equal(exec.info.comm, 'curl');
  assert.equal(exec.info.key, before.key, 'exec keeps pid and start time: the same key');
  scanPids(cache, [10]);
  procFs.addProcess({ pid: 10, comm: 'curl', startTime: 900 });
  const reused = cache.refresh(10);
  assert.equal(reused?.isNew, true);
  assert.equal(reused.info.startTime, 900);
  assert.notEqual(reused.info.key, before.key);
  scanPids(cache, [10]);
  assert.equal(cache.byKey(before.key), undefined, 'the old key no longer resolves');
  assert.equal(cache.byKey(reused.info.key), cache.get(10));
});

test('reads a process afresh after it was noted as moved, until the moves are cleared', () => {
  const { procFs, cache } = setUp();
  procFs.addProcess({ pid: 10, comm: 'app', netns: 4026531840 });
  scanPids(cache, [10]);
  procFs.addProcess({ pid: 10, comm: 'app', netns: 4026532999 });
  cache.noteMoved(10);
  assert.equal(cache.hasMoved(10), true);
  const moved = cache.refresh(10);
  assert.equal(moved?.isNew, true);
  assert.equal(moved.info.netns, 4026532999);
  cache.clearMoved();
  assert.equal(cache.hasMoved(10), false);
});

test('re-reads a known command line at most every CMDLINE_REFRESH_MS', () => {
  const { procFs, cache, clock } = setUp();
  procFs.addProcess({ pid: 10, comm: 'node', cmdline: ['node', 'server.js'] });
  scanPids(cache, [10]);
  const original = cache.get(10)!;
  // setproctitle: the argv changes, comm and start time do not.
  procFs.setFile('/proc/10/cmdline', 'node: worker 1\0');
  clock.ms += CMDLINE_REFRESH_MS - 1;
  assert.equal(cache.refresh(10)?.info, original, 'too soon: the cached info as it was');
  clock.ms += 1;
  const fresh = cache.refresh(10);
  assert.equal(fresh?.isNew, false);
  assert.deepEqual(fresh.info.cmdline, ['node: worker 1']);
  assert.equal(fresh.info.key, original.key, 'same process');
  assert.deepEqual(original.cmdline, ['node', 'server.js'], 'the cached object is not changed');
  // Read again just now: the next refresh within the interval reads no command line.
  const reads = procFs.calls.readText;
  clock.ms += CMDLINE_REFRESH_MS - 1;
  cache.refresh(10);
  assert.equal(procFs.calls.readText, reads + 1, 'stat only');
});

test('an unchanged or unreadable command line keeps the cached info object', () => {
  const { procFs, cache, clock } = setUp();
  procFs.addProcess({ pid: 10, comm: 'node', cmdline: ['node', 'a.js'] });
  scanPids(cache, [10]);
  const original = cache.get(10)!;
  clock.ms += CMDLINE_REFRESH_MS;
  assert.equal(cache.refresh(10)?.info, original);
  clock.ms += CMDLINE_REFRESH_MS;
  procFs.fail('/proc/10/cmdline', 'EACCES', 1);
  assert.equal(cache.refresh(10)?.info, original);
});

test('a vanished or garbled process reads as undefined', () => {
  const { procFs, cache } = setUp();
  assert.equal(cache.refresh(77), undefined);
  procFs.setFile('/proc/78/stat', 'garbage');
  assert.equal(cache.refresh(78), undefined);
});

test('replace forgets the bookkeeping of pids no longer alive', () => {
  const { procFs, cache, clock } = setUp();
  procFs.addProcess({ pid: 10, comm: 'a' });
  procFs.addProcess({ pid: 11, comm: 'b' });
  scanPids(cache, [10, 11]);
  cache.noteFirstSeen(10, clock.ms);
  cache.noteFirstSeen(11, clock.ms);
  assert.equal(cache.size, 2);
  scanPids(cache, [10]);
  assert.equal(cache.size, 1);
  assert.equal(cache.has(11), false);
  // 11 forgot when it was first seen: with no record a pid counts as just seen, not settled.
  assert.equal(cache.isSettled(11, clock.ms + SETTLED_PROCESS_MS), false);
  assert.equal(cache.isSettled(10, clock.ms + SETTLED_PROCESS_MS), true);
  assert.equal(cache.isSettled(10, clock.ms + SETTLED_PROCESS_MS - 1), false);
});

test('a uid missing from /etc/passwd reloads the file once per scan, else shows the number', () => {
  const { procFs, cache } = setUp();
  procFs.addProcess({ pid: 10, comm: 'a', uid: 0 });
  procFs.addProcess({ pid: 11, comm: 'b', uid: 2000 });
  procFs.addProcess({ pid: 12, comm: 'c', uid: 3000 });
  cache.beginScan();
  assert.equal(cache.refresh(10)?.info.user, 'root');
  assert.equal(cache.refresh(11)?.info.user, '2000');
  procFs.setFile('/etc/passwd', 'root:x:0:0::/:/bin/sh\ncarol:x:3000:3000::/:/bin/sh\n');
  assert.equal(cache.refresh(12)?.info.user, '3000', 'already reloaded in this scan');
  cache.beginScan();
  procFs.addProcess({ pid: 12, comm: 'c2', uid: 3000 });
  assert.equal(cache.refresh(12)?.info.user, 'carol', 'reloaded at the next scan');
});

test('the host namespace is /proc/self/ns/net, else pid 1s, else 0', () => {
  const procFs = new FakeProcFs();
  procFs.selfPid = 4242;
  assert.equal(readHostNetns(procFs), 0);
  procFs.setLink('/proc/1/ns/net', 'net:[4026531840]');
  assert.equal(readHostNetns(procFs), 4026531840);
  procFs.setLink('/proc/4242/ns/net', 'net:[4026532001]');
  assert.equal(readHostNetns(procFs), 4026532001);
});
