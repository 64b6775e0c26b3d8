// The deployment files in deploy/: the systemd unit passes `systemd-analyze verify` (which exits
// 0 even for unknown keys, so its output must be empty) with exactly the capabilities pidflow
// needs; the Grafana dashboard is valid JSON whose queries use exported metrics.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRootDir } from './golden/assert-golden.js';

const ROOT = packageRootDir();
const UNIT = join(ROOT, 'deploy', 'systemd', 'pidflow.service');
const HAS_SYSTEMD = spawnSync('systemd-analyze', ['--version']).status === 0;

/** Output of `systemd-analyze verify` on `text` with ExecStart pointed at this checkout. */
function verify(text: string): { status: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-unit-'));
  try {
    const path = join(dir, 'pidflow.service');
    writeFileSync(path, text.replaceAll('/usr/local/bin/pidflow', join(ROOT, 'bin', 'pidflow.js')));
    const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
    return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  'the systemd unit passes systemd-analyze verify without a single remark',
  {
    skip: HAS_SYSTEMD ? false : 'needs systemd-analyze (Debian systemd; setup-test.sh installs it)',
  },
  () => {
    const unit = readFileSync(UNIT, 'utf8');
    const clean = verify(unit);
    assert.equal(clean.status, 0);
    assert.equal(clean.output, '', clean.output);
    // The check is able to fail: an unknown key is reported (with exit status 0).
    const broken = verify(unit.replace('[Service]', '[Service]\nCapabiltyBoundingSet=CAP_NET_RAW'));
    assert.match(broken.output, /Unknown key 'CapabiltyBoundingSet'/);
  },
);

test('the unit grants exactly the capabilities pidflow needs, restarts, bounds memory and keeps state', () => {
  const unit = readFileSync(UNIT, 'utf8');
  const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1]?.split(/\s+/).sort();
  assert.deepEqual(caps, [
    'CAP_BPF',
    'CAP_DAC_READ_SEARCH',
    'CAP_NET_RAW',
    'CAP_PERFMON',
    'CAP_SYS_PTRACE',
  ]);
  assert.match(unit, /^StateDirectory=pidflow$/m);
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^MemoryMax=\d+M$/m);
  assert.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  assert.match(unit, /^NoNewPrivileges=yes$/m);
  // The database path of ExecStart is inside the state directory.
  assert.match(unit, /--history-db \/var\/lib\/pidflow\//);
});

test('the Grafana dashboard is valid JSON and queries only metrics the agent exports', () => {
  const dashboard = JSON.parse(
    readFileSync(join(ROOT, 'deploy', 'grafana', 'pidflow-dashboard.json'), 'utf8'),
  ) as {
    panels: { title: string; targets: { expr: string }[] }[];
  };
  const golden = readFileSync(join(ROOT, 'test', 'golden', 'metrics.txt'), 'utf8');
  const exported = new Set([...golden.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  assert.ok(dashboard.panels.length >= 8);
  for (const panel of dashboard.panels) {
    for (const target of panel.targets) {
      for (const [name] of target.expr.matchAll(/\b(pidflow_[a-z_]+|process_[a-z_]+)\b/g)) {
        assert.ok(exported.has(name!), `${panel.title}: ${name} is not exported`);
      }
    }
  }
});
