// Command lines rewritten at run time (setproctitle, process.title without a comm change) are
// read again by later scans, at a bounded cadence and with the first read's length bound.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributorHarness } from '../../test/helpers/attributor-harness.js';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import { READ_LIMITS_BYTES } from './process-info.js';

const HOST_NS = 4026531840;

function setup() {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {});
  procFs.addProcess({ pid: 50, comm: 'postgres', cmdline: ['/usr/bin/postgres', '-D', '/db'] });
  const h = attributorHarness(procFs, ['198.18.0.1'], { syncIntervalMs: 200 });
  return { procFs, ...h };
}

test('a command line the process rewrote is shown after a later scan; comm unchanged', async () => {
  const { procFs, attributor, clock } = setup();
  await attributor.start();
  assert.deepEqual(attributor.processInfo('50:1050')?.cmdline, ['/usr/bin/postgres', '-D', '/db']);
  const reads = () => procFs.calls.readText;
  // setproctitle: the same argv area, new text padded with NULs; comm stays 'postgres'.
  procFs.setFile('/proc/50/cmdline', 'postgres: checkpointer\0\0\0\0');
  const before = reads();
  clock.advance(200); // one scan, but less than the refresh cadence since the first read
  await attributor.whenIdle();
  assert.deepEqual(attributor.processInfo('50:1050')?.cmdline, ['/usr/bin/postgres', '-D', '/db']);
  assert.ok(reads() > before, 'the scan ran');
  for (let i = 0; i < 10; i++) {
    clock.advance(200);
    await attributor.whenIdle();
  }
  const info = attributor.processInfo('50:1050');
  assert.equal(info?.cmdline[0], 'postgres: checkpointer');
  assert.equal(info?.comm, 'postgres');
  assert.equal(info?.key, '50:1050', 'the same process, not a new one');
  attributor.stop();
});

test('a rewritten command line of 1 MB is read only up to the same bound', async () => {
  const { procFs, attributor, clock } = setup();
  await attributor.start();
  procFs.setFile('/proc/50/cmdline', `${'B'.repeat(1024 * 1024)}\0`);
  for (let i = 0; i < 10; i++) {
    clock.advance(200);
    await attributor.whenIdle();
  }
  const cmdline = attributor.processInfo('50:1050')?.cmdline ?? [];
  assert.equal(cmdline.join('\0').length, READ_LIMITS_BYTES.cmdline);
  assert.ok(cmdline[0]?.startsWith('BBBB'));
  attributor.stop();
});
