// Real cgroup v2 limits on a child we spawn (never on the test runner): cpu.max holds a busy
// loop near its quota, memory.max OOM-kills a child that allocates past it, remove() leaves
// nothing. Runs wherever the cgroup2 hierarchy under /sys/fs/cgroup offers the cpu and memory
// controllers (Debian 12's default). Where they are bound to cgroup v1 hierarchies instead,
// no cgroup2 mount can offer them, not even a fresh one in a new mount or cgroup namespace: a
// controller serves one hierarchy kernel-wide and only moves to cgroup2 once its v1 hierarchy
// is unmounted with no child groups, which would change the host. The test then skips with
// the tag `no-cgroup-v2-cpu-memory` and says which hierarchies hold them.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { skipReason } from '../../test/helpers/skip-reasons.js';
import { applyLimits, parseCgroupMounts } from './limits.js';

const CGROUP_ROOT = '/sys/fs/cgroup';

function words(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The cgroup2 mount under /sys/fs/cgroup, when it can give a child group cpu and memory. */
function v2Mount(): { mountPoint: string } | string {
  if (process.getuid?.() !== 0) return skipReason('needs-root', 'needs root to create cgroups');
  const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
  const v2 = mounts.find(
    (m) =>
      m.version === 2 &&
      (m.mountPoint === CGROUP_ROOT || m.mountPoint.startsWith(`${CGROUP_ROOT}/`)),
  );
  const offered = v2 === undefined ? [] : words(join(v2.mountPoint, 'cgroup.controllers'));
  const enabled = v2 === undefined ? [] : words(join(v2.mountPoint, 'cgroup.subtree_control'));
  if (v2 !== undefined && ['cpu', 'memory'].every((c) => enabled.includes(c))) return v2;
  // /proc/cgroups: subsys_name hierarchy num_cgroups enabled; hierarchy 0 = cgroup2 (or unused).
  const bound = readFileSync('/proc/cgroups', 'utf8')
    .split('\n')
    .map((l) => l.split('\t'))
    .filter((f) => (f[0] === 'cpu' || f[0] === 'memory') && f[1] !== '0')
    .map((f) => `${f[0]} on v1 hierarchy ${f[1]}`);
  return skipReason(
    'no-cgroup-v2-cpu-memory',
    v2 === undefined
      ? `no cgroup2 mount under ${CGROUP_ROOT}`
      : `the cgroup2 hierarchy at ${v2.mountPoint} offers [${offered.join(' ')}] and enables ` +
          `[${enabled.join(' ')}] for children, not cpu and memory` +
          (bound.length > 0
            ? ` (${bound.join(', ')}: a controller serves one hierarchy kernel-wide; a fresh ` +
              'cgroup2 mount, in any mount or cgroup namespace, gets it only after its v1 ' +
              'hierarchy is unmounted, which would change the host)'
            : ''),
  );
}

const V2 = v2Mount();
const SKIP = typeof V2 === 'string' ? V2 : false;

function cpuTicks(pid: number): number {
  const statLine = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve(child.signalCode ?? child.exitCode);
    else child.once('exit', (code, signal) => resolve(signal ?? code));
  });
}

test(
  'real v2: cpu.max holds a busy child near 0.2 cores, and remove() moves it back',
  { timeout: 20_000, skip: SKIP },
  async (t) => {
    assert.ok(typeof V2 !== 'string');
    const child = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    const pid = child.pid!;
    let applied: Awaited<ReturnType<typeof applyLimits>> | undefined;
    try {
      applied = await applyLimits({ cpuCores: 0.2 }, { pid, name: `pfacct2-${pid}` });
      const dir = join(V2.mountPoint, `pfacct2-${pid}`);
      assert.deepEqual(applied.paths, [dir]);
      assert.equal((await readFile(join(dir, 'cpu.max'), 'utf8')).trim(), '20000 100000');
      assert.equal((await readFile(join(dir, 'cgroup.procs'), 'utf8')).trim(), String(pid));
      const t0 = performance.now();
      const c0 = cpuTicks(pid);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
      const share = (cpuTicks(pid) - c0) / clockTicks / ((performance.now() - t0) / 1000);
      t.diagnostic(`measured CPU share ${share.toFixed(3)} under a 0.2-core cpu.max`);
      assert.ok(share > 0.1 && share < 0.35, `CPU share ${share.toFixed(3)} should be about 0.2`);
      await applied.remove();
      assert.equal(existsSync(dir), false);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await applied?.remove().catch(() => undefined);
    }
  },
);

test(
  'real v2: a child allocating past memory.max is OOM-killed, and remove() leaves nothing',
  { timeout: 20_000, skip: SKIP },
  async () => {
    assert.ok(typeof V2 !== 'string');
    const allocate =
      "process.stdin.once('data',()=>{const a=[];for(let i=0;i<32;i++)a.push(Buffer.alloc(8<<20,1));console.log('survived');process.exit(0)})";
    const child = spawn(process.execPath, ['-e', allocate], { stdio: ['pipe', 'pipe', 'ignore'] });
    const pid = child.pid!;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let applied: Awaited<ReturnType<typeof applyLimits>> | undefined;
    try {
      applied = await applyLimits({ memoryMB: 64 }, { pid, name: `pfacct2-${pid}` });
      const dir = join(V2.mountPoint, `pfacct2-${pid}`);
      assert.equal(
        (await readFile(join(dir, 'memory.max'), 'utf8')).trim(),
        String(64 * 1024 * 1024),
      );
      child.stdin!.write('go\n');
      assert.equal(await exited(child), 'SIGKILL');
      assert.equal(out, '');
      assert.match(await readFile(join(dir, 'memory.events'), 'utf8'), /oom_kill [1-9]/);
      await applied.remove();
      assert.equal(existsSync(dir), false);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await applied?.remove().catch(() => undefined);
    }
  },
);
