// The quiet probe and table reuse on their own, over the in-memory /proc: which changes of the
// /proc listing and of the socket counters make a scan due, and how long tables may be kept.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import { QuietProbe, TABLE_REUSE_MS } from './quiet-probe.js';
import type { NamespaceSignature } from './quiet-probe.js';
import { readTableSignature } from './table-signature.js';

const NS_A = 4026532101;
const NS_B = 4026532102;
const SNMP =
  'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens\nTcp: 1 200 120000 -1 40 12\n';

function setCounters(procFs: FakeProcFs, pid: number, tcpInUse: number): void {
  procFs.setFile(
    `/proc/${pid}/net/sockstat`,
    `TCP: inuse ${tcpInUse} orphan 0\nUDP: inuse 1 mem 0\n`,
  );
  procFs.setFile(`/proc/${pid}/net/snmp`, SNMP);
}

/** Process 10 in NS_A owning a socket, read by a scan: the probe as that scan leaves it. */
function setUp(): {
  procFs: FakeProcFs;
  probe: QuietProbe;
  known: Set<number>;
  owners: Set<number>;
} {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 10, comm: 'server', netns: NS_A, sockets: [5001] });
  setCounters(procFs, 10, 3);
  const probe = new QuietProbe(procFs);
  const signatures = new Map<number, NamespaceSignature>([
    [NS_A, { pid: 10, signature: readTableSignature(procFs, 10) }],
  ]);
  probe.noteScanned(signatures, new Map([[NS_A, [10]]]));
  return { procFs, probe, known: new Set([10]), owners: new Set([10]) };
}

test('quiet while the listing and every namespace signature stay as the last scan read them', () => {
  const { procFs, probe, known, owners } = setUp();
  assert.equal(probe.isQuiet(known, owners), true);
  // A new process in a namespace already read: its sockets would show in the counters.
  procFs.addProcess({ pid: 11, comm: 'client', netns: NS_A });
  assert.equal(probe.isQuiet(known, owners), true);
  setCounters(procFs, 10, 4);
  assert.equal(probe.isQuiet(known, owners), false, 'a socket counter moved');
});

test('not quiet when a process sits in a namespace the last scan did not read', () => {
  const { procFs, probe, known, owners } = setUp();
  procFs.addProcess({ pid: 12, comm: 'ip', netns: NS_B });
  assert.equal(probe.isQuiet(known, owners), false);
});

test('a new process whose namespace cannot be read does not make a scan due', () => {
  const { procFs, probe, known, owners } = setUp();
  procFs.addProcess({ pid: 13, comm: 'other-user', netns: NS_B });
  procFs.fail('/proc/13/ns/net', 'EACCES');
  assert.equal(probe.isQuiet(known, owners), true);
});

test('not quiet when a socket owner is gone, or a read fails', () => {
  const { procFs, probe, known } = setUp();
  assert.equal(probe.isQuiet(known, new Set([10, 99])), false, 'owner 99 left');
  procFs.fail('/proc', 'EACCES', 1);
  assert.equal(probe.isQuiet(known, new Set([10])), false, '/proc unreadable');
  procFs.fail('/proc/10/net/sockstat', 'ENOENT', 1);
  assert.equal(probe.isQuiet(known, new Set([10])), false, 'counters unreadable');
  assert.equal(probe.isQuiet(known, new Set([10])), true);
});

test('a namespace read without a signature never counts as quiet', () => {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 10, comm: 'server', netns: NS_A });
  const probe = new QuietProbe(procFs);
  probe.noteScanned(new Map([[NS_A, { pid: 10, signature: undefined }]]), new Map([[NS_A, 1]]));
  assert.equal(probe.isQuiet(new Set([10]), new Set()), false);
});

test('tables are reusable for TABLE_REUSE_MS after a real read while the signature holds', () => {
  const { procFs, probe } = setUp();
  const signature = readTableSignature(procFs, 10)!;
  assert.equal(probe.isReusable(NS_A, signature, 1000), false, 'never dumped');
  probe.noteDumped(NS_A, 1000);
  assert.equal(probe.isReusable(NS_A, signature, 1000 + TABLE_REUSE_MS - 1), true);
  assert.equal(probe.isReusable(NS_A, signature, 1000 + TABLE_REUSE_MS), false, 'too old');
  assert.equal(probe.isReusable(NS_A, `${signature}x`, 1001), false, 'counters moved');
  assert.equal(probe.isReusable(NS_B, signature, 1001), false, 'another namespace');
});

test('a scan that no longer sees a namespace forgets its dump time and signature', () => {
  const { procFs, probe } = setUp();
  const signature = readTableSignature(procFs, 10)!;
  probe.noteDumped(NS_A, 1000);
  probe.noteScanned(new Map(), new Map());
  // Seen again with the same counters: read for real first.
  probe.noteScanned(new Map([[NS_A, { pid: 10, signature }]]), new Map([[NS_A, 1]]));
  assert.equal(probe.isReusable(NS_A, signature, 1001), false);
});
