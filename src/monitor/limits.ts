// CPU and memory limits on pidflow itself (as go-netflow does), through a cgroup it creates:
// cgroup v2 when the cpu/memory controllers are delegated to the parent, else cgroup v1.
// Inputs: /proc/<pid>/mountinfo and /proc/<pid>/cgroup; outputs: files under the cgroupfs.
// Kernel docs: Documentation/admin-guide/cgroup-v2.rst, cgroup-v1/{cgroups,memory}.rst, scheduler/sched-bwc.rst.

import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { checkOptionKeys } from '../account/check-options.js';
import { LimitError, PermissionError, UsageError } from '../errors.js';
import type { LimitOptions } from './types.js';

/** CFS period written with every CPU quota, µs (the kernel default). */
export const CPU_PERIOD_US = 100_000;
/** The kernel refuses CFS quotas below 1 ms. */
const MIN_CPU_QUOTA_US = 1_000;
/** Smallest memory limit accepted: below this Node itself cannot start its heap. */
export const MIN_MEMORY_MB = 16;
const RMDIR_ATTEMPTS = 20;
const RMDIR_RETRY_MS = 25;

/** Where and for whom limits are applied. */
export interface ApplyLimitsOptions {
  /** Only cgroup mounts at or below this directory are used. @default '/sys/fs/cgroup' */
  cgroupRoot?: string;
  /** Process to limit. @default process.pid */
  pid?: number;
  /** Name of the cgroup directory created in each hierarchy. @default `pidflow-${pid}` */
  name?: string;
  /** Where /proc is mounted (tests pass a fake tree). @default '/proc' */
  procRoot?: string;
  /**
   * Cgroup (path inside each hierarchy, e.g. `/pidflow.slice`) under which the new cgroup is
   * created. For v2 it must have the controllers enabled in its cgroup.subtree_control.
   * @default '/' (the root of the hierarchy)
   */
  parent?: string;
  /** CPUs cpuCores is checked against. @default os.availableParallelism() */
  cpuCount?: number;
  /** File operations. @default nodeCgroupFs */
  fs?: CgroupFs;
}

/** The file operations limits need; tests pass a fake that behaves like cgroupfs. */
export interface CgroupFs {
  readFile(path: string): Promise<string>;
  writeFile(path: string, data: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  exists(path: string): Promise<boolean>;
}

/** The real filesystem. */
export const nodeCgroupFs: CgroupFs = {
  readFile: (path) => readFile(path, 'utf8'),
  writeFile: (path, data) => writeFile(path, data),
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
  exists: (path) =>
    access(path).then(
      () => true,
      () => false,
    ),
};

/** Limits in force; call remove() to undo them. */
export interface AppliedLimits {
  /** cgroup version used. */
  readonly version: 1 | 2;
  /** Directories created (one per v1 hierarchy, one for v2). */
  readonly paths: string[];
  /** Move the process back to the cgroups it was in before and remove the directories. Harmless twice. */
  remove(): Promise<void>;
}

/** A cgroup mount from mountinfo. */
export interface CgroupMount {
  readonly version: 1 | 2;
  readonly mountPoint: string;
  /** Path of the mounted subtree inside the hierarchy (field 4 of mountinfo). */
  readonly root: string;
  /** v1 controllers bound to the hierarchy (from the super options); [] for v2. */
  readonly controllers: readonly string[];
}

type Controller = 'cpu' | 'memory';

const LIMIT_KEYS = ['cpuCores', 'memoryMB'] as const;
const OPTION_KEYS = ['cgroupRoot', 'pid', 'name', 'procRoot', 'parent', 'cpuCount', 'fs'] as const;

/**
 * Check limits before anything is created: a UsageError for unknown keys (naming the right
 * spelling), non-numbers, NaN, values <= 0, cpuCores above the CPU count or below 0.01 (the
 * kernel's 1 ms quota), memoryMB below 16.
 */
export function validateLimits(
  limits: LimitOptions,
  cpuCount: number = availableParallelism(),
): void {
  if (typeof limits !== 'object' || limits === null) {
    throw new UsageError(
      `limits must be an object like { cpuCores: 0.5, memoryMB: 256 }, got ${String(limits)}`,
    );
  }
  checkOptionKeys(limits, LIMIT_KEYS, 'limits');
  const { cpuCores, memoryMB } = limits;
  if (cpuCores === undefined && memoryMB === undefined) {
    throw new UsageError('limits needs cpuCores or memoryMB (or both), e.g. { cpuCores: 0.5 }');
  }
  if (cpuCores !== undefined) {
    if (typeof cpuCores !== 'number' || !Number.isFinite(cpuCores) || cpuCores <= 0) {
      throw new UsageError(
        `limits.cpuCores must be a number > 0 (cores, 0.5 = half a core), got ${String(cpuCores)}`,
      );
    }
    if (cpuCores * CPU_PERIOD_US < MIN_CPU_QUOTA_US) {
      throw new UsageError(
        `limits.cpuCores must be at least 0.01 (the kernel's 1 ms CFS quota), got ${cpuCores}`,
      );
    }
    if (cpuCores > cpuCount) {
      throw new UsageError(
        `limits.cpuCores must be at most the number of CPUs (${cpuCount}), got ${cpuCores}`,
      );
    }
  }
  if (memoryMB !== undefined) {
    if (typeof memoryMB !== 'number' || !Number.isFinite(memoryMB) || memoryMB <= 0) {
      throw new UsageError(`limits.memoryMB must be a number > 0 (MiB), got ${String(memoryMB)}`);
    }
    if (memoryMB < MIN_MEMORY_MB) {
      throw new UsageError(
        `limits.memoryMB must be at least ${MIN_MEMORY_MB} (MiB), got ${memoryMB}`,
      );
    }
  }
}

/**
 * Parse /proc/<pid>/mountinfo text into its cgroup mounts (proc(5): fields up to ' - ', then
 * fstype, source, super options; octal escapes like `\040` in paths). Bad lines are skipped.
 */
export function parseCgroupMounts(text: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fields = line.slice(0, sep).split(' ');
    const tail = line.slice(sep + 3).split(' ');
    const fsType = tail[0];
    const root = fields[3];
    const mountPoint = fields[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType === 'cgroup2') {
      mounts.push({
        version: 2,
        mountPoint: unescapeMountPath(mountPoint),
        root: unescapeMountPath(root),
        controllers: [],
      });
    } else if (fsType === 'cgroup') {
      const controllers = (tail[2] ?? '')
        .split(',')
        .filter((o) => o !== 'rw' && o !== 'ro' && !o.includes('='));
      mounts.push({
        version: 1,
        mountPoint: unescapeMountPath(mountPoint),
        root: unescapeMountPath(root),
        controllers,
      });
    }
  }
  return mounts;
}

/**
 * Put process `pid` (default: this one) into a new cgroup with the given CPU and memory limits.
 * Never changes a cgroup it did not create: when a v2 parent lacks a controller in its
 * cgroup.subtree_control, it fails with a LimitError that names the controller and the fix.
 *
 * @example
 * const applied = await applyLimits({ cpuCores: 0.5, memoryMB: 256 });
 * // ... later
 * await applied.remove();
 */
export async function applyLimits(
  limits: LimitOptions,
  options: ApplyLimitsOptions = {},
): Promise<AppliedLimits> {
  checkOptionKeys(options, OPTION_KEYS, 'applyLimits()');
  validateLimits(limits, options.cpuCount);
  const pid = options.pid ?? process.pid;
  const name = options.name ?? `pidflow-${pid}`;
  if (!Number.isInteger(pid) || pid <= 0)
    throw new UsageError(`pid must be a positive integer, got ${String(pid)}`);
  if (name === '' || name.includes('/') || name === '.' || name === '..') {
    throw new UsageError(
      `name must be a single directory name like 'pidflow-${pid}', got '${name}'`,
    );
  }
  const cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  const procRoot = options.procRoot ?? '/proc';
  const fs = options.fs ?? nodeCgroupFs;
  const parent = options.parent ?? '/';
  const needed: Controller[] = [];
  if (limits.cpuCores !== undefined) needed.push('cpu');
  if (limits.memoryMB !== undefined) needed.push('memory');

  const mountinfo = await readProcFile(fs, procRoot, pid, 'mountinfo');
  const membership = parseProcCgroup(await readProcFile(fs, procRoot, pid, 'cgroup'));
  const mounts = parseCgroupMounts(mountinfo).filter(
    (m) => m.mountPoint === cgroupRoot || m.mountPoint.startsWith(`${cgroupRoot}/`),
  );

  const v2 = mounts.find((m) => m.version === 2);
  const v2Parent = v2 === undefined ? undefined : trimSlash(join(v2.mountPoint, parent));
  const v2Available =
    v2Parent === undefined ? [] : await readWords(fs, join(v2Parent, 'cgroup.controllers'));
  if (v2 !== undefined && v2Parent !== undefined && needed.every((c) => v2Available.includes(c))) {
    const enabled = await readWords(fs, join(v2Parent, 'cgroup.subtree_control'));
    const missing = needed.filter((c) => !enabled.includes(c));
    if (missing.length > 0) {
      const file = join(v2Parent, 'cgroup.subtree_control');
      throw new LimitError(
        `cgroup v2 parent ${v2Parent} does not enable the ${missing.join(' and ')} controller${missing.length > 1 ? 's' : ''} for its children (missing from ${file}); pidflow never changes a cgroup it did not create: enable ${missing.length > 1 ? 'them' : 'it'} with \`echo '${missing.map((c) => `+${c}`).join(' ')}' > ${file}\` (as root), or pass a parent cgroup delegated to pidflow`,
      );
    }
    const dir = join(v2Parent, name);
    const files: [string, string][] = [];
    if (limits.cpuCores !== undefined)
      files.push(['cpu.max', `${cpuQuotaUs(limits.cpuCores)} ${CPU_PERIOD_US}`]);
    if (limits.memoryMB !== undefined) {
      files.push(['memory.max', String(memoryBytes(limits.memoryMB))]);
      // Without this, a limited pidflow would swap instead of staying under memoryMB.
      files.push(['memory.swap.max?', '0']);
    }
    const previous = previousDir(membership.get(''), v2);
    return createGroups(fs, 2, pid, [{ dir, files, previous }]);
  }

  const groups: Group[] = [];
  for (const controller of needed) {
    const mount = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    if (mount === undefined)
      throw noHierarchyError(controller, mounts, v2Parent, v2Available, cgroupRoot);
    const files: [string, string][] =
      controller === 'cpu'
        ? [
            ['cpu.cfs_period_us', String(CPU_PERIOD_US)],
            ['cpu.cfs_quota_us', String(cpuQuotaUs(limits.cpuCores!))],
          ]
        : [
            ['memory.limit_in_bytes', String(memoryBytes(limits.memoryMB!))],
            // memsw (memory + swap) must be >= limit_in_bytes, so it is written second; absent
            // without swap accounting (the '?' marks the file optional).
            ['memory.memsw.limit_in_bytes?', String(memoryBytes(limits.memoryMB!))],
          ];
    const line = mount.controllers.map((c) => membership.get(c)).find((p) => p !== undefined);
    groups.push({
      dir: join(mount.mountPoint, parent, name),
      files,
      previous: previousDir(line, mount),
    });
  }
  return createGroups(fs, 1, pid, groups);
}

interface Group {
  readonly dir: string;
  /** [file, value]; a name ending in '?' is written only when the file exists. */
  readonly files: [string, string][];
  /** Directory of the cgroup the pid was in before (undefined when unknown). */
  readonly previous: string | undefined;
}

async function createGroups(
  fs: CgroupFs,
  version: 1 | 2,
  pid: number,
  groups: Group[],
): Promise<AppliedLimits> {
  const created: Group[] = [];
  let isRemoved = false;
  const remove = async (): Promise<void> => {
    if (isRemoved) return;
    isRemoved = true;
    const errors: unknown[] = [];
    // Reverse order: undo the last hierarchy first.
    for (const group of [...created].reverse()) {
      try {
        await removeGroup(fs, group);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  };
  try {
    for (const group of groups) {
      try {
        await fs.mkdir(group.dir);
      } catch (err) {
        if (errnoOf(err) === 'EEXIST') {
          throw new LimitError(
            `cgroup ${group.dir} already exists and pidflow did not create it: another pidflow with the same name may be running; stop it or remove the directory with rmdir`,
            { cause: err },
          );
        }
        throw translate(err, `create cgroup ${group.dir}`);
      }
      created.push(group);
      for (const [file, value] of group.files) await writeLimitFile(fs, group.dir, file, value);
    }
    for (const group of created) {
      try {
        await fs.writeFile(join(group.dir, 'cgroup.procs'), `${pid}\n`);
      } catch (err) {
        throw translate(err, `move process ${pid} into ${group.dir}`, pid);
      }
    }
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }
  return { version, paths: created.map((g) => g.dir), remove };
}

async function writeLimitFile(
  fs: CgroupFs,
  dir: string,
  file: string,
  value: string,
): Promise<void> {
  const isOptional = file.endsWith('?');
  const path = join(dir, isOptional ? file.slice(0, -1) : file);
  if (isOptional) {
    if (!(await fs.exists(path))) return;
  }
  try {
    await fs.writeFile(path, value);
  } catch (err) {
    throw translate(err, `write ${value} to ${path}`);
  }
}

/** Move every process still in the group back to where pidflow's process was, then rmdir. */
async function removeGroup(fs: CgroupFs, group: Group): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let procs: string[];
    try {
      procs = await readWords(fs, join(group.dir, 'cgroup.procs'), true);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw translate(err, `read ${join(group.dir, 'cgroup.procs')}`);
    }
    if (group.previous !== undefined) {
      for (const pid of procs) {
        try {
          await fs.writeFile(join(group.previous, 'cgroup.procs'), `${pid}\n`);
        } catch (err) {
          // The process exited meanwhile: nothing to move.
          if (errnoOf(err) !== 'ESRCH' && errnoOf(err) !== 'ENOENT') {
            throw translate(err, `move process ${pid} back to ${group.previous}`);
          }
        }
      }
    }
    try {
      await fs.rmdir(group.dir);
      return;
    } catch (err) {
      const code = errnoOf(err);
      if (code === 'ENOENT') return;
      // EBUSY while an exiting task is still charged to the group: short, bounded retry.
      if (code !== 'EBUSY' || attempt >= RMDIR_ATTEMPTS) {
        throw translate(err, `remove cgroup ${group.dir}`);
      }
      await new Promise((resolve) => setTimeout(resolve, RMDIR_RETRY_MS));
    }
  }
}

function noHierarchyError(
  controller: Controller,
  mounts: CgroupMount[],
  v2Parent: string | undefined,
  v2Available: string[],
  cgroupRoot: string,
): LimitError {
  const found =
    mounts.length === 0
      ? `no cgroup filesystem is mounted under ${cgroupRoot}`
      : mounts
          .map((m) =>
            m.version === 2
              ? `cgroup2 at ${m.mountPoint} (${join(v2Parent ?? m.mountPoint, 'cgroup.controllers')}: ${v2Available.join(' ') || 'none'})`
              : `cgroup v1 at ${m.mountPoint} (${m.controllers.join(',')})`,
          )
          .join('; ');
  return new LimitError(
    `no cgroup hierarchy offers the ${controller} controller (${found}): mount one (cgroup v1 \`mount -t cgroup -o ${controller} cgroup ${cgroupRoot}/${controller}\`) or enable ${controller} in the cgroup v2 parent`,
  );
}

/** `/proc/<pid>/cgroup` -> controller (or '' for the v2 line) -> cgroup path. */
function parseProcCgroup(text: string): Map<string, string> {
  const byController = new Map<string, string>();
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const path = line.slice(second + 1);
    const controllers = line.slice(first + 1, second);
    if (controllers === '') byController.set('', path);
    else for (const c of controllers.split(',')) byController.set(c, path);
  }
  return byController;
}

function previousDir(path: string | undefined, mount: CgroupMount): string | undefined {
  if (path === undefined) return undefined;
  // Inside a container the mount shows a subtree (mount root /docker/<id>): strip that prefix.
  let inside = path;
  if (mount.root !== '/' && (path === mount.root || path.startsWith(`${mount.root}/`))) {
    inside = path.slice(mount.root.length) || '/';
  }
  return join(mount.mountPoint, inside);
}

async function readProcFile(
  fs: CgroupFs,
  procRoot: string,
  pid: number,
  file: string,
): Promise<string> {
  const path = join(procRoot, String(pid), file);
  try {
    return await fs.readFile(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ESRCH') {
      throw new LimitError(`cannot limit process ${pid}: it does not exist (${path} is missing)`, {
        cause: err,
      });
    }
    throw translate(err, `read ${path}`);
  }
}

async function readWords(fs: CgroupFs, path: string, isStrict = false): Promise<string[]> {
  try {
    return (await fs.readFile(path)).split(/\s+/).filter((w) => w !== '');
  } catch (err) {
    if (isStrict) throw err;
    return [];
  }
}

function translate(err: unknown, action: string, pid?: number): Error {
  const code = errnoOf(err);
  if (code === 'EACCES' || code === 'EPERM') {
    return new PermissionError(
      `cannot ${action} (${code}): setting resource limits needs root, or a cgroup delegated to this user (systemd Delegate=yes)`,
      { cause: err },
    );
  }
  if (code === 'EROFS') {
    return new LimitError(
      `cannot ${action}: the cgroup filesystem is read-only (EROFS); in a container, run with a writable cgroupfs (e.g. docker --cgroupns=private with cgroup v2) or drop the limits`,
      { cause: err },
    );
  }
  if (pid !== undefined && (code === 'ESRCH' || code === 'ENOENT')) {
    return new LimitError(`cannot ${action}: process ${pid} has exited (${code})`, { cause: err });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new LimitError(`cannot ${action}: ${reason}`, { cause: err });
}

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}

function cpuQuotaUs(cores: number): number {
  return Math.max(MIN_CPU_QUOTA_US, Math.round(cores * CPU_PERIOD_US));
}

function memoryBytes(mb: number): number {
  return Math.floor(mb * 1024 * 1024);
}

function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

function trimSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
