// scripts/check-skips.mjs, the filter scripts/test.sh puts after node --test: unexpected skips
// fail the run and are counted in the closing summary CI reads; expected ones are named.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { findPackageRoot } from '../../src/capture/addon.js';

const SCRIPT = `${findPackageRoot(dirname(fileURLToPath(import.meta.url)))}/scripts/check-skips.mjs`;

const TAP = [
  'TAP version 13',
  '# Subtest: captures a \\# thing',
  'ok 1 - captures a \\# thing # SKIP [needs-root] needs root (raw capture): run as root; CI does',
  'ok 2 - b # SKIP [no-cgroup-v2-cpu-memory] cpu on v1 hierarchy 1',
  '    ok 1 - inner # SKIP',
  'ok 3 - c',
  '1..3',
  '# tests 4',
  '# suites 0',
  '# pass 1',
  '# fail 0',
  '# cancelled 0',
  '# skipped 3',
  '# todo 0',
  '# duration_ms 12.5',
  '',
].join('\n');

function run(input: string, expected?: string): { status: number | null; out: string } {
  const env = { ...process.env };
  delete env.PIDFLOW_EXPECTED_SKIPS;
  if (expected !== undefined) env.PIDFLOW_EXPECTED_SKIPS = expected;
  const r = spawnSync(process.execPath, [SCRIPT], { input, env, encoding: 'utf8' });
  return { status: r.status, out: r.stdout };
}

/** The closing summary: the last `# key value` lines. */
function summary(out: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of out.trim().split('\n').slice(-8)) {
    const m = /^# (\w+) (\S+)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) result[m[1]] = m[2];
  }
  return result;
}

test('with no expected skips, every skip is a failure in the closing summary and the exit status', () => {
  const { status, out } = run(TAP);
  assert.equal(status, 1);
  assert.deepEqual(summary(out), {
    tests: '4',
    suites: '0',
    pass: '1',
    fail: '3',
    cancelled: '0',
    skipped: '3',
    todo: '0',
    duration_ms: '12.5',
  });
  assert.match(out, /^# skips: 3 \(0 expected, 3 unexpected\)$/m);
  assert.match(
    out,
    /^# UNEXPECTED SKIP \(counted as a failure\): captures a # thing: \[needs-root\]/m,
  );
  assert.match(out, /^# UNEXPECTED SKIP \(counted as a failure\): inner: \(no reason given\)$/m);
  assert.match(out, /PIDFLOW_EXPECTED_SKIPS='needs-root,no-cgroup-v2-cpu-memory,inner' npm test/);
  // The original summary lines are not printed twice.
  assert.equal(out.match(/^# tests /gm)?.length, 1);
});

test('skips named by tag or test name pass and are listed; a name no test used is reported', () => {
  const { status, out } = run(TAP, 'needs-root, no-cgroup-v2-cpu-memory\ninner,not-a-tag');
  assert.equal(status, 0);
  assert.equal(summary(out).fail, '0');
  assert.match(out, /^# skips: 3 \(3 expected, 0 unexpected\)$/m);
  assert.match(out, /^# expected skip: b: \[no-cgroup-v2-cpu-memory\] cpu on v1 hierarchy 1$/m);
  assert.match(out, /^# PIDFLOW_EXPECTED_SKIPS lists 'not-a-tag', which no test skipped$/m);
});

test('a listed tag does not excuse a different one, and real failures still fail', () => {
  const failing = TAP.replace('ok 3 - c', 'not ok 3 - c').replace('# fail 0', '# fail 1');
  const { status, out } = run(failing, 'needs-root,inner');
  assert.equal(status, 1);
  assert.equal(summary(out).fail, '2');
  assert.match(out, /^# UNEXPECTED SKIP \(counted as a failure\): b: /m);
});

test('a run that ends without a closing summary fails', () => {
  const { status, out } = run('TAP version 13\nok 1 - a\n');
  assert.equal(status, 1);
  assert.match(out, /no closing summary from node --test/);
});
