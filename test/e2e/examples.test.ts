// The examples use only the public API: each one runs here as a user would run it.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

const isRoot = process.getuid?.() === 0;

test(
  'examples/top-processes.mjs runs on loopback and ends by its capture timeout',
  { skip: isRoot ? false : '[needs-root] needs root to capture', timeout: 30_000 },
  async () => {
    const root = packageRoot();
    const { stdout } = await run(
      process.execPath,
      [join(root, 'examples', 'top-processes.mjs'), 'lo'],
      {
        cwd: root,
        timeout: 20_000,
      },
    );
    const lines = stdout.trim().split('\n');
    assert.ok(lines.length >= 4, `one line per second, then the end line:\n${stdout}`);
    assert.match(
      lines.at(-1) ?? '',
      /^ended: timeout; packets seen \d+, attributed \d+, unknown \d+$/,
    );
  },
);

test(
  'examples/top-containers.mjs runs on loopback and ends by its capture timeout',
  { skip: isRoot ? false : '[needs-root] needs root to capture', timeout: 30_000 },
  async () => {
    const root = packageRoot();
    const { stdout } = await run(
      process.execPath,
      [join(root, 'examples', 'top-containers.mjs'), 'lo'],
      { cwd: root, timeout: 20_000 },
    );
    const lines = stdout.trim().split('\n');
    assert.ok(lines.length >= 4, `one line per second, then the end line:\n${stdout}`);
    assert.match(lines.at(-1) ?? '', /^ended: timeout; containers named \d+ of \d+$/);
  },
);
