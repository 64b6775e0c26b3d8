// NodeProcFs over a temporary root: reads that outgrow its buffer, links, listings, and the
// errno codes callers sort into "vanished" and "denied".

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
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
