import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findForkFamilies } from './fork-families.js';
import type { ProcessInfo } from './types.js';

function proc(pid: number, ppid: number, comm: string): ProcessInfo {
  return {
    key: `${pid}:1`,
    pid,
    ppid,
    comm,
    exe: `/usr/sbin/${comm}`,
    cmdline: [comm],
    uid: 0,
    user: 'root',
    startTime: 1,
    cgroup: '',
    containerId: null,
    containerRuntime: null,
    netns: 1,
  } as ProcessInfo;
}

test('fork families: a pre-fork master, its workers and their siblings; other programs apart', () => {
  const all = [
    proc(10, 1, 'nginx'), // master (parent is init: no family above it)
    proc(11, 10, 'nginx'),
    proc(12, 10, 'nginx'),
    proc(13, 10, 'nginx'),
    proc(14, 10, 'sh'), // a child running another program
    proc(20, 1, 'sshd'),
  ];
  const byKey = new Map(all.map((p) => [p.key, p]));
  const families = findForkFamilies(byKey.keys(), (key) => byKey.get(key));
  assert.deepEqual([...(families.get(10) ?? [])].sort(), [11, 12, 13]);
  assert.deepEqual([...(families.get(12) ?? [])].sort(), [10, 11, 13]);
  assert.equal(families.has(14), false);
  assert.equal(families.has(20), false);
  assert.equal(families.get(99), undefined);
});
