// Golden-file assertions: compare text with test/golden/<name>, or rewrite the file when
// UPDATE_GOLDEN=1. Review regenerated files like code.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder with package.json (works from test/ and from dist/test/). */
export function packageRootDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`package.json not found above ${fileURLToPath(import.meta.url)}`);
}

/** Replaces ISO timestamps with <TIMESTAMP> (as bandwhich scrubs its snapshots). */
export function scrubTimestamps(text: string): string {
  return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<TIMESTAMP>');
}

/** Removes ANSI escape sequences. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** Asserts that `actual` equals test/golden/`name` (or writes it with UPDATE_GOLDEN=1). */
export function assertGolden(name: string, actual: string): void {
  const path = join(packageRootDir(), 'test', 'golden', name);
  if (process.env['UPDATE_GOLDEN'] === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${path} is missing: run the test with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from ${path} (UPDATE_GOLDEN=1 rewrites it)`);
}
