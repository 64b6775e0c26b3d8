// NodeProcFs over a temporary root: reads that outgrow its buffer, links, listings, and the
// errno codes callers sort into "vanished" and "denied".

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeBytes } from '../text/bytes.js';
import { NodeProcFs, errnoCode, isDenied, isVanished } from './procfs.js';

function withRoot(fn: (root: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'pidflow-procfs-'));
    try {
      await fn(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  };
}

test(
  'reads files larger than its buffer, in order, sync (UTF-8) and async (latin1)',
  withRoot(async (root) => {
    mkdirSync(join(root, 'proc', 'net'), { recursive: true });
    const lines: string[] = [];
    for (let i = 0; i < 6000; i++) lines.push(`${String(i).padStart(6)}: line ${i} ü\n`);
    const text = lines.join('');
    assert.ok(Buffer.byteLength(text) > 64 * 1024);
    writeFileSync(join(root, 'proc', 'net', 'udp'), text);
    writeFileSync(join(root, 'proc', 'net', 'tcp'), 'short\n');
    const procFs = new NodeProcFs(root);
    assert.equal(procFs.readText('/proc/net/udp'), text);
    assert.equal(procFs.readText('/proc/net/tcp'), 'short\n', 'the grown buffer is reused');
    // The async read is for ASCII tables and decodes as latin1.
    assert.equal(
      await procFs.readTextAsync('/proc/net/udp'),
      Buffer.from(text, 'utf8').toString('latin1'),
    );
  }),
);

test(
  'lists directories and reads links',
  withRoot((root) => {
    mkdirSync(join(root, 'proc', '42', 'fd'), { recursive: true });
    symlinkSync('socket:[777]', join(root, 'proc', '42', 'fd', '3'));
    const procFs = new NodeProcFs(root);
    assert.deepEqual(procFs.readdir('/proc/42/fd'), ['3']);
    assert.equal(procFs.readlink('/proc/42/fd/3'), 'socket:[777]');
  }),
);

test(
  'a missing process fails with ENOENT, which counts as vanished',
  withRoot((root) => {
    const procFs = new NodeProcFs(root);
    let caught: unknown;
    try {
      procFs.readText('/proc/99/stat');
    } catch (error) {
      caught = error;
    }
    assert.equal(errnoCode(caught), 'ENOENT');
    assert.equal(isVanished(caught), true);
    assert.equal(isDenied(caught), false);
  }),
);

test('errno codes are sorted into vanished and denied', () => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code });
  assert.equal(isVanished(withCode('ESRCH')), true);
  assert.equal(isDenied(withCode('EACCES')), true);
  assert.equal(isDenied(withCode('EPERM')), true);
  assert.equal(isVanished(withCode('EACCES')), false);
  assert.equal(isVanished(new Error('no code')), false);
  assert.equal(errnoCode(null), undefined);
});

test(
  'keeps every byte of names that are not UTF-8, in files and link targets',
  withRoot((root) => {
    mkdirSync(join(root, 'proc', '7'), { recursive: true });
    const comm = Buffer.from([0x61, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0xc3, 0x0a]);
    writeFileSync(join(root, 'proc', '7', 'comm'), comm);
    const target = Buffer.concat([Buffer.from('/tmp/'), Buffer.from([0xfe, 0xe6, 0x95, 0xb0])]);
    symlinkSync(target, Buffer.from(join(root, 'proc', '7', 'exe')));
    const fs = new NodeProcFs(root);
    const text = fs.readText('/proc/7/comm');
    assert.equal(text, 'a\x1b[2J\udcff\udcc3\n');
    assert.deepEqual(encodeBytes(text), comm);
    assert.deepEqual(encodeBytes(fs.readlink('/proc/7/exe')), target);
  }),
);

test(
  'reads at most maxBytes, cut at a whole character: a 1 MB command line stays 4 KiB',
  withRoot((root) => {
    mkdirSync(join(root, 'proc', '8'), { recursive: true });
    const huge = `${'数'.repeat(400_000)}\0`; // 1.2 MB
    writeFileSync(join(root, 'proc', '8', 'cmdline'), huge);
    writeFileSync(join(root, 'proc', '8', 'short'), 'abc');
    const fs = new NodeProcFs(root);
    const cut = fs.readText('/proc/8/cmdline', 4096);
    // 4096 bytes hold 1365 three-byte characters and one partial one, which is dropped.
    assert.equal(cut, '数'.repeat(1365));
    assert.equal(fs.readText('/proc/8/short', 3), 'abc');
    assert.equal(fs.readText('/proc/8/short', 2), 'ab');
    assert.equal(fs.readText('/proc/8/cmdline').length, 400_001);
  }),
);
