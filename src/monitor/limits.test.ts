// Resource limits: v1 and v2 against fake cgroup trees that behave like cgroupfs, every error
// path, and (as root, on this machine's v1 hierarchies) real limits on child processes we spawn.

import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  mkdtemp,
  mkdir,
  readFile,
  readdir,
  rm,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { LimitError, PermissionError, UsageError } from '../errors.js';
import {
  applyLimits,
  nodeCgroupFs,
  parseCgroupMounts,
  validateLimits,
  type CgroupFs,
} from './limits.js';

const PID = 4242;

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the test file');
    dir = up;
  }
  return dir;
}

const FIXTURES = join(packageRoot(), 'test', 'fixtures', 'cgroup');

/**
 * cgroupfs rules the fake keeps: mkdir creates cgroup.procs and the hierarchy's control files;
 * writing a pid to cgroup.procs moves it out of every other group of the same hierarchy (ESRCH
 * if it is not running); rmdir refuses a group with processes (EBUSY) or children (ENOTEMPTY)
 * and removes the control files with the directory. `failures` injects errno on cue.
 */
class FakeCgroupFs implements CgroupFs {
  readonly failures = new Map<string, string>();
  readonly running = new Set<number>([PID]);

  constructor(private readonly hierarchies: Map<string, string[]>) {}

  async readFile(path: string): Promise<string> {
    this.maybeFail('read', path);
    return readFile(path, 'utf8');
  }

  async writeFile(path: string, data: string): Promise<void> {
    this.maybeFail('write', path);
    if (!existsSync(path)) throw errno('EACCES', path); // cgroupfs has no file creation
    if (path.endsWith('/cgroup.procs')) {
      const pid = Number(data.trim());
      if (!this.running.has(pid)) throw errno('ESRCH', path);
      const root = this.hierarchyOf(path);
      for (const file of await listProcsFiles(root)) {
        const pids = (await readFile(file, 'utf8'))
          .split('\n')
          .filter((l) => l !== '' && l !== String(pid));
        await writeFile(file, pids.map((p) => `${p}\n`).join(''));
      }
      const current = await readFile(path, 'utf8');
      await writeFile(path, `${current}${pid}\n`);
      return;
    }
    await writeFile(path, data);
  }

  async mkdir(path: string): Promise<void> {
    this.maybeFail('mkdir', path);
    await mkdir(path);
    const files = this.hierarchies.get(this.hierarchyOf(path)) ?? [];
    for (const f of ['cgroup.procs', ...files]) await writeFile(join(path, f), '');
  }

  async rmdir(path: string): Promise<void> {
    this.maybeFail('rmdir', path);
    const entries = await readdir(path, { withFileTypes: true });
    if (entries.some((e) => e.isDirectory())) throw errno('ENOTEMPTY', path);
    if ((await readFile(join(path, 'cgroup.procs'), 'utf8')).trim() !== '')
      throw errno('EBUSY', path);
    for (const e of entries) await unlink(join(path, e.name));
    await rmdir(path);
  }

  async exists(path: string): Promise<boolean> {
    return existsSync(path);
  }

  private hierarchyOf(path: string): string {
    let best = '';
    for (const root of this.hierarchies.keys()) {
      if (path.startsWith(`${root}/`) && root.length > best.length) best = root;
    }
    return best;
  }

  private maybeFail(op: string, path: string): void {
    for (const [cue, code] of this.failures) {
      const [cueOp, suffix] = cue.split(' ');
      if (cueOp === op && path.endsWith(suffix!)) throw errno(code, path);
    }
  }
}

function errno(code: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: fake cgroupfs, ${path}`);
  err.code = code;
  return err;
}

async function listProcsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await listProcsFiles(join(dir, e.name))));
    else if (e.name === 'cgroup.procs') out.push(join(dir, e.name));
  }
  return out;
}

interface FakeTree {
  root: string;
  cgroup: string;
  proc: string;
  fs: FakeCgroupFs;
}

async function writeTree(base: string, files: Record<string, string>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(base, path)), { recursive: true });
    await writeFile(join(base, path), content);
  }
}

async function v1Tree(): Promise<FakeTree> {
  const root = await mkdtemp(join(tmpdir(), 'pfacct-cg1-'));
  const cgroup = join(root, 'cgroup');
  const proc = join(root, 'proc');
  const mountinfo = (await readFile(join(FIXTURES, 'mountinfo-v1-hybrid.txt'), 'utf8')).replaceAll(
    '@ROOT@',
    cgroup,
  );
  await writeTree(root, {
    [`proc/${PID}/mountinfo`]: mountinfo,
    [`proc/${PID}/cgroup`]: await readFile(join(FIXTURES, 'cgroup-v1-hybrid.txt'), 'utf8'),
    'cgroup/cpu/cgroup.procs': `1\n${PID}\n`,
    'cgroup/memory/cgroup.procs': '1\n',
    'cgroup/memory/system.slice/pidflow.service/cgroup.procs': `${PID}\n`,
    'cgroup/unified/cgroup.procs': `1\n${PID}\n`,
    'cgroup/unified/cgroup.controllers': 'hugetlb\n',
    'cgroup/unified/cgroup.subtree_control': '',
  });
  const fs = new FakeCgroupFs(
    new Map([
      [join(cgroup, 'cpu'), ['cpu.cfs_period_us', 'cpu.cfs_quota_us', 'cpu.shares']],
      [join(cgroup, 'memory'), ['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']],
      [join(cgroup, 'unified'), []],
    ]),
  );
  return { root, cgroup, proc, fs };
}

async function v2Tree(subtreeControl = 'cpu memory pids'): Promise<FakeTree> {
  const root = await mkdtemp(join(tmpdir(), 'pfacct-cg2-'));
  const cgroup = join(root, 'cgroup');
  const proc = join(root, 'proc');
  const mountinfo = (await readFile(join(FIXTURES, 'mountinfo-v2.txt'), 'utf8')).replaceAll(
    '@ROOT@',
    cgroup,
  );
  await writeTree(root, {
    [`proc/${PID}/mountinfo`]: mountinfo,
    [`proc/${PID}/cgroup`]: await readFile(join(FIXTURES, 'cgroup-v2.txt'), 'utf8'),
    'cgroup/cgroup.procs': '1\n',
    'cgroup/cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
    'cgroup/cgroup.subtree_control': `${subtreeControl}\n`,
    'cgroup/system.slice/pidflow.service/cgroup.procs': `${PID}\n`,
  });
  const fs = new FakeCgroupFs(new Map([[cgroup, ['cpu.max', 'memory.max', 'memory.swap.max']]]));
  return { root, cgroup, proc, fs };
}

async function text(path: string): Promise<string> {
  return (await readFile(path, 'utf8')).trim();
}

test('parses the cgroup mounts of a v1/v2 hybrid mountinfo', async () => {
  const mounts = parseCgroupMounts(
    await readFile(join(FIXTURES, 'mountinfo-v1-hybrid.txt'), 'utf8'),
  );
  assert.equal(mounts.length, 10);
  assert.deepEqual(mounts[0], {
    version: 1,
    mountPoint: '@ROOT@/cpu',
    root: '/',
    controllers: ['cpu'],
  });
  assert.deepEqual(mounts[3], {
    version: 1,
    mountPoint: '@ROOT@/memory',
    root: '/',
    controllers: ['memory'],
  });
  assert.deepEqual(mounts[9], {
    version: 2,
    mountPoint: '@ROOT@/unified',
    root: '/',
    controllers: [],
  });
  assert.deepEqual(
    parseCgroupMounts(
      '41 30 0:38 /docker/ab /sys/fs/my\\040cg rw - cgroup cgroup rw,cpu,cpuacct\ngarbage\n',
    ),
    [
      {
        version: 1,
        mountPoint: '/sys/fs/my cg',
        root: '/docker/ab',
        controllers: ['cpu', 'cpuacct'],
      },
    ],
  );
});

test('v1: creates cpu and memory groups with the right values, moves the pid, and removes them', async () => {
  const t = await v1Tree();
  try {
    const applied = await applyLimits(
      { cpuCores: 1.5, memoryMB: 256 },
      { cgroupRoot: t.cgroup, procRoot: t.proc, pid: PID, fs: t.fs, cpuCount: 2 },
    );
    const cpuDir = join(t.cgroup, 'cpu', `pidflow-${PID}`);
    const memDir = join(t.cgroup, 'memory', `pidflow-${PID}`);
    assert.equal(applied.version, 1);
    assert.deepEqual(applied.paths, [cpuDir, memDir]);
    assert.equal(await text(join(cpuDir, 'cpu.cfs_period_us')), '100000');
    assert.equal(await text(join(cpuDir, 'cpu.cfs_quota_us')), '150000');
    assert.equal(await text(join(memDir, 'memory.limit_in_bytes')), String(256 * 1024 * 1024));
    assert.equal(
      await text(join(memDir, 'memory.memsw.limit_in_bytes')),
      String(256 * 1024 * 1024),
    );
    assert.equal(await text(join(cpuDir, 'cgroup.procs')), String(PID));
    assert.equal(await text(join(memDir, 'cgroup.procs')), String(PID));
    assert.equal(await text(join(t.cgroup, 'cpu', 'cgroup.procs')), '1');
    assert.equal(
      await text(join(t.cgroup, 'memory/system.slice/pidflow.service/cgroup.procs')),
      '',
    );
    // The v2 mount (hugetlb only) is never touched.
    assert.deepEqual(await readdir(join(t.cgroup, 'unified')), [
      'cgroup.controllers',
      'cgroup.procs',
      'cgroup.subtree_control',
    ]);

    await applied.remove();
    assert.equal(existsSync(cpuDir), false);
    assert.equal(existsSync(memDir), false);
    assert.equal(await text(join(t.cgroup, 'cpu', 'cgroup.procs')), `1\n${PID}`);
    assert.equal(
      await text(join(t.cgroup, 'memory/system.slice/pidflow.service/cgroup.procs')),
      String(PID),
    );
    await applied.remove(); // harmless twice
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
});

test('v1: a memory-only limit creates only the memory group, under the given name', async () => {
  const t = await v1Tree();
  try {
    const applied = await applyLimits(
      { memoryMB: 64 },
      { cgroupRoot: t.cgroup, procRoot: t.proc, pid: PID, fs: t.fs, name: 'pfacct-mem' },
    );
    assert.deepEqual(applied.paths, [join(t.cgroup, 'memory', 'pfacct-mem')]);
    assert.equal(existsSync(join(t.cgroup, 'cpu', 'pfacct-mem')), false);
    await applied.remove();
    assert.equal(existsSync(join(t.cgroup, 'memory', 'pfacct-mem')), false);
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
});

test('v2: creates one group with cpu.max and memory.max, moves the pid, and removes it', async () => {
  const t = await v2Tree();
  try {
    const applied = await applyLimits(
      { cpuCores: 0.25, memoryMB: 100 },
      { cgroupRoot: t.cgroup, procRoot: t.proc, pid: PID, fs: t.fs, cpuCount: 2 },
    );
    const dir = join(t.cgroup, `pidflow-${PID}`);
    assert.equal(applied.version, 2);
    assert.deepEqual(applied.paths, [dir]);
    assert.equal(await text(join(dir, 'cpu.max')), '25000 100000');
    assert.equal(await text(join(dir, 'memory.max')), String(100 * 1024 * 1024));
    assert.equal(await text(join(dir, 'memory.swap.max')), '0');
    assert.equal(await text(join(dir, 'cgroup.procs')), String(PID));
    assert.equal(await text(join(t.cgroup, 'system.slice/pidflow.service/cgroup.procs')), '');
    // The parent's own files are unchanged.
    assert.equal(await text(join(t.cgroup, 'cgroup.subtree_control')), 'cpu memory pids');
    await applied.remove();
    assert.equal(existsSync(dir), false);
    assert.equal(
      await text(join(t.cgroup, 'system.slice/pidflow.service/cgroup.procs')),
      String(PID),
    );
    await applied.remove();
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
});

test('v2: a parent without the controller in subtree_control fails, naming it and the fix, and changes nothing', async () => {
  const t = await v2Tree('pids');
  try {
    await assert.rejects(
      applyLimits(
        { cpuCores: 1, memoryMB: 64 },
        { cgroupRoot: t.cgroup, procRoot: t.proc, pid: PID, fs: t.fs, cpuCount: 2 },
      ),
      (err: unknown) =>
        err instanceof LimitError &&
        err.code === 'ERR_LIMIT' &&
        err.message.includes('does not enable the cpu and memory controllers') &&
        err.message.includes(`echo '+cpu +memory' > ${join(t.cgroup, 'cgroup.subtree_control')}`) &&
        err.message.includes('never changes a cgroup it did not create'),
    );
    assert.equal(await text(join(t.cgroup, 'cgroup.subtree_control')), 'pids');
    assert.equal(existsSync(join(t.cgroup, `pidflow-${PID}`)), false);
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
});

test('error paths: permission, read-only cgroupfs, vanished pid, existing group, no hierarchy', async () => {
  const t = await v1Tree();
  const base = { cgroupRoot: t.cgroup, procRoot: t.proc, pid: PID, fs: t.fs, cpuCount: 2 };
  const cpuDir = join(t.cgroup, 'cpu', `pidflow-${PID}`);
  const memDir = join(t.cgroup, 'memory', `pidflow-${PID}`);
  const clean = async (): Promise<void> => {
    assert.equal(existsSync(cpuDir), false, 'rolled back cpu group');
    assert.equal(existsSync(memDir), false, 'rolled back memory group');
    assert.equal(await text(join(t.cgroup, 'cpu', 'cgroup.procs')), `1\n${PID}`);
  };
  try {
    t.fs.failures.set(`mkdir pidflow-${PID}`, 'EACCES');
    await assert.rejects(
      applyLimits({ cpuCores: 1 }, base),
      (err: unknown) =>
        err instanceof PermissionError &&
        err.code === 'ERR_PERMISSION' &&
        err.message.startsWith(
          `cannot create cgroup ${cpuDir} (EACCES): setting resource limits needs root, or a cgroup delegated`,
        ),
    );
    t.fs.failures.clear();

    // Fails after the cpu group was made and the pid moved: everything is rolled back.
    t.fs.failures.set('write memory.limit_in_bytes', 'EPERM');
    await assert.rejects(applyLimits({ cpuCores: 1, memoryMB: 64 }, base), PermissionError);
    await clean();
    t.fs.failures.clear();

    t.fs.failures.set('write cpu.cfs_quota_us', 'EROFS');
    await assert.rejects(
      applyLimits({ cpuCores: 1 }, base),
      (err: unknown) =>
        err instanceof LimitError &&
        err.code === 'ERR_LIMIT' &&
        /read-only \(EROFS\)/.test(err.message),
    );
    await clean();
    t.fs.failures.clear();

    t.fs.running.delete(PID);
    await assert.rejects(
      applyLimits({ cpuCores: 1, memoryMB: 64 }, base),
      (err: unknown) =>
        err instanceof LimitError &&
        err.message ===
          `cannot move process ${PID} into ${cpuDir}: process ${PID} has exited (ESRCH)`,
    );
    assert.equal(existsSync(cpuDir), false);
    assert.equal(existsSync(memDir), false);
    t.fs.running.add(PID);

    await assert.rejects(
      applyLimits({ cpuCores: 1 }, { ...base, pid: 999_999 }),
      (err: unknown) =>
        err instanceof LimitError &&
        err.message ===
          `cannot limit process 999999: it does not exist (${join(t.proc, '999999', 'mountinfo')} is missing)`,
    );

    await mkdir(cpuDir);
    await assert.rejects(
      applyLimits({ cpuCores: 1 }, base),
      (err: unknown) =>
        err instanceof LimitError &&
        err.message.includes(`cgroup ${cpuDir} already exists and pidflow did not create it`),
    );
    assert.equal(
      (await stat(cpuDir)).isDirectory(),
      true,
      'a group we did not create is left alone',
    );
    await rmdir(cpuDir);

    await assert.rejects(
      applyLimits({ cpuCores: 1 }, { ...base, cgroupRoot: join(t.cgroup, 'unified') }),
      (err: unknown) =>
        err instanceof LimitError &&
        err.message.startsWith(
          `no cgroup hierarchy offers the cpu controller (cgroup2 at ${join(t.cgroup, 'unified')} (${join(t.cgroup, 'unified')}/cgroup.controllers: hugetlb))`,
        ),
    );
  } finally {
    await rm(t.root, { recursive: true, force: true });
  }
});

test('validateLimits rejects bad values and misspelled keys with UsageError', () => {
  const cases: [unknown, RegExp][] = [
    [{ cpuCores: 0 }, /limits\.cpuCores must be a number > 0 \(cores, 0\.5 = half a core\), got 0/],
    [{ cpuCores: -1 }, /cpuCores must be a number > 0.*got -1/],
    [{ cpuCores: Number.NaN }, /cpuCores must be a number > 0.*got NaN/],
    [{ cpuCores: 3 }, /limits\.cpuCores must be at most the number of CPUs \(2\), got 3/],
    [{ cpuCores: 0.001 }, /at least 0\.01/],
    [{ memoryMB: 8 }, /limits\.memoryMB must be at least 16 \(MiB\), got 8/],
    [{ memoryMB: Infinity }, /memoryMB must be a number > 0 \(MiB\), got Infinity/],
    [{ memoryMb: 64 }, /unknown limits option 'memoryMb': did you mean 'memoryMB'\?/],
    [{ cpu: 1 }, /unknown limits option 'cpu': did you mean 'cpuCores'\?/],
    [{}, /limits needs cpuCores or memoryMB/],
    [null, /limits must be an object/],
  ];
  for (const [limits, message] of cases) {
    assert.throws(
      () => validateLimits(limits as never, 2),
      (err: unknown) =>
        err instanceof UsageError && err.code === 'ERR_USAGE' && message.test(err.message),
      String(message),
    );
  }
  validateLimits({ cpuCores: 2, memoryMB: 16 }, 2);
});

// Real cgroup v1 limits on children we spawn (never on the test runner itself).

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return '[needs-root] needs root to create cgroups';
  const mounts = parseCgroupMounts(
    execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }),
  );
  const has = (c: string): boolean =>
    mounts.some(
      (m) =>
        m.version === 1 && m.mountPoint.startsWith('/sys/fs/cgroup/') && m.controllers.includes(c),
    );
  if (!has('cpu') || !has('memory'))
    return '[no-cgroup-v1-cpu-memory] needs cgroup v1 cpu and memory hierarchies under /sys/fs/cgroup (this is a v2-only or v1-less system)';
  return undefined;
}

function cpuTicks(pid: number): number {
  const statLine = execFileSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' });
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  // Fields 14 (utime) and 15 (stime) of proc(5), counted from 1 with pid and comm first.
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
  'real v1: 0.2 cores hold a busy-looping child near 20% CPU, and remove() moves it back',
  { timeout: 20_000, skip: skipReason() },
  async (t) => {
    const child = spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' });
    const pid = child.pid!;
    let applied: Awaited<ReturnType<typeof applyLimits>> | undefined;
    try {
      applied = await applyLimits({ cpuCores: 0.2 }, { pid, name: `pfacct-${pid}` });
      const dir = `/sys/fs/cgroup/cpu/pfacct-${pid}`;
      assert.deepEqual(applied.paths, [dir]);
      assert.equal(await text(join(dir, 'cpu.cfs_quota_us')), '20000');
      assert.equal(await text(join(dir, 'cgroup.procs')), String(pid));
      const clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));
      const t0 = performance.now();
      const c0 = cpuTicks(pid);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const share = (cpuTicks(pid) - c0) / clockTicks / ((performance.now() - t0) / 1000);
      t.diagnostic(`measured CPU share ${share.toFixed(3)} of one core under a 0.2-core quota`);
      assert.ok(share > 0.1 && share < 0.35, `CPU share ${share.toFixed(3)} should be about 0.2`);
      await applied.remove();
      assert.equal(existsSync(dir), false);
      const cgroupLine = (await readFile(`/proc/${pid}/cgroup`, 'utf8'))
        .split('\n')
        .find((l) => /:cpu:/.test(l));
      assert.equal(cgroupLine?.split(':')[2], '/');
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await applied?.remove().catch(() => undefined);
    }
  },
);

test(
  'real v1: a child allocating past memoryMB is OOM-killed, and remove() leaves nothing',
  { timeout: 20_000, skip: skipReason() },
  async () => {
    const allocate =
      "process.stdin.once('data',()=>{const a=[];for(let i=0;i<32;i++)a.push(Buffer.alloc(8<<20,1));console.log('survived');process.exit(0)})";
    const child = spawn(process.execPath, ['-e', allocate], { stdio: ['pipe', 'pipe', 'ignore'] });
    const pid = child.pid!;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let applied: Awaited<ReturnType<typeof applyLimits>> | undefined;
    try {
      applied = await applyLimits({ memoryMB: 64 }, { pid, name: `pfacct-${pid}` });
      const dir = `/sys/fs/cgroup/memory/pfacct-${pid}`;
      assert.equal(await text(join(dir, 'memory.limit_in_bytes')), String(64 * 1024 * 1024));
      child.stdin!.write('go\n');
      const end = await exited(child);
      assert.equal(end, 'SIGKILL');
      assert.equal(out, '');
      assert.match(await readFile(join(dir, 'memory.oom_control'), 'utf8'), /oom_kill [1-9]/);
      await applied.remove();
      assert.equal(existsSync(dir), false);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
      await applied?.remove().catch(() => undefined);
    }
  },
);

test('nodeCgroupFs reports missing files', async () => {
  assert.equal(await nodeCgroupFs.exists('/nonexistent/pfacct'), false);
});
