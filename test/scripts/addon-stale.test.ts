// scripts/lib/addon-stale.sh, which scripts/setup.sh uses to rebuild the addon: any native
// source, the eBPF program or binding.gyp newer than build/Release/pidflow.node makes it stale;
// the fuzz harness does not; a missing addon is stale.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findPackageRoot } from '../../src/capture/addon.js';

const LIB = join(
  findPackageRoot(dirname(fileURLToPath(import.meta.url))),
  'scripts/lib/addon-stale.sh',
);

function stale(dir: string): string[] {
  const r = spawnSync('bash', ['-c', `. ${JSON.stringify(LIB)} && addon_stale_sources`], {
    cwd: dir,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter((l) => l.length > 0);
}

test('the addon is stale when a native source, the BPF program or binding.gyp is newer than it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pf-stale-'));
  try {
    const files = [
      'native/capture.cc',
      'native/bpf/sock_events.bpf.c',
      'native/fuzz/fuzz_decode.cc',
      'binding.gyp',
    ];
    for (const f of files) {
      mkdirSync(dirname(join(dir, f)), { recursive: true });
      writeFileSync(join(dir, f), 'x');
    }
    assert.deepEqual(stale(dir), ['missing']);
    mkdirSync(join(dir, 'build/Release'), { recursive: true });
    writeFileSync(join(dir, 'build/Release/pidflow.node'), 'x');
    const old = new Date(Date.now() - 60_000);
    for (const f of files) utimesSync(join(dir, f), old, old);
    assert.deepEqual(stale(dir), []);
    const later = new Date(Date.now() + 60_000);
    for (const f of files) {
      utimesSync(join(dir, f), later, later);
      assert.deepEqual(stale(dir), f.startsWith('native/fuzz/') ? [] : [f], f);
      utimesSync(join(dir, f), old, old);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
