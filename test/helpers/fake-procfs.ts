// In-memory ProcFs for attribution tests: files, links and directories built in code, with
// failures on cue (ENOENT/ESRCH/EACCES) and a hook to change the tree mid-scan.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProcFs } from '../../src/attribute/procfs.js';
import { decodeBytes, encodeBytes, utf8BoundaryBefore } from '../../src/text/bytes.js';

/** An errno-style error like the ones node:fs throws. */
export function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${op} '${path}'`);
  error.code = code;
  return error;
}

type Op = 'readText' | 'readdir' | 'readlink' | 'countFds';

/** Description of a fake process for {@link FakeProcFs.addProcess}. */
export interface FakeProcess {
  pid: number;
  comm: string;
  /** Field 22 of stat. @default 1000 + pid */
  startTime?: number;
  ppid?: number;
  uid?: number;
  cmdline?: string[];
  exe?: string;
  /** Contents of /proc/<pid>/cgroup. @default '0::/user.slice\n' */
  cgroup?: string;
  /** Network namespace inode. @default 4026531840 */
  netns?: number;
  /** Socket inodes held, as fds 3, 4, ... (fds 0-2 point at /dev/null). */
  sockets?: number[];
}

/** Tables of one namespace for {@link FakeProcFs.setNetFiles}. */
export interface FakeNetFiles {
  tcp?: string;
  tcp6?: string;
  udp?: string;
  udp6?: string;
  fib_trie?: string;
  if_inet6?: string;
}

export const TABLE_HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

/** In-memory /proc. Paths are absolute, like NodeProcFs's. */
export class FakeProcFs implements ProcFs {
  private readonly files = new Map<string, string>();
  private readonly links = new Map<string, string>();
  private readonly dirs = new Map<string, Set<string>>();
  private readonly failures = new Map<string, { code: string; times: number }>();
  /** Called before every operation; may change the tree (a process exiting mid-scan). */
  onCall: ((op: Op, path: string) => void) | undefined;
  /** Number of calls per operation, for tests that check incremental scans. */
  readonly calls = { readText: 0, readdir: 0, readlink: 0, countFds: 0 };

  setFile(path: string, text: string): void {
    this.files.set(path, text);
    this.addToDir(path);
  }

  setLink(path: string, target: string): void {
    this.links.set(path, target);
    this.addToDir(path);
  }

  /** Remove a path and everything under it. */
  remove(path: string): void {
    const prefix = `${path}/`;
    for (const map of [this.files, this.links]) {
      for (const key of [...map.keys()])
        if (key === path || key.startsWith(prefix)) map.delete(key);
    }
    for (const key of [...this.dirs.keys()]) {
      if (key === path || key.startsWith(prefix)) this.dirs.delete(key);
    }
    const slash = path.lastIndexOf('/');
    this.dirs.get(path.slice(0, slash) || '/')?.delete(path.slice(slash + 1));
  }

  /** Make `path` fail with `code` for the next `times` calls (Infinity: always). */
  fail(path: string, code: string, times = Infinity): void {
    this.failures.set(path, { code, times });
  }

  /** Add /proc/<pid>/{stat,comm,cmdline,status,cgroup,exe,ns/net,fd/*}. */
  addProcess(p: FakeProcess): void {
    const base = `/proc/${p.pid}`;
    const startTime = p.startTime ?? 1000 + p.pid;
    const stat = `${p.pid} (${p.comm}) S ${p.ppid ?? 1} ${p.pid} ${p.pid} 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 ${startTime} 1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
    this.setFile(`${base}/stat`, stat);
    this.setFile(`${base}/comm`, `${p.comm}\n`);
    this.setFile(`${base}/cmdline`, (p.cmdline ?? [p.comm]).map((a) => `${a}\0`).join(''));
    const uid = p.uid ?? 0;
    this.setFile(
      `${base}/status`,
      `Name:\t${p.comm}\nPid:\t${p.pid}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t0\t0\t0\t0\n`,
    );
    this.setFile(`${base}/cgroup`, p.cgroup ?? '0::/user.slice\n');
    this.setLink(`${base}/exe`, p.exe ?? `/usr/bin/${p.comm}`);
    this.setLink(`${base}/ns/net`, `net:[${p.netns ?? 4026531840}]`);
    for (let fd = 0; fd < 3; fd++) this.setLink(`${base}/fd/${fd}`, '/dev/null');
    (p.sockets ?? []).forEach((inode, i) =>
      this.setLink(`${base}/fd/${i + 3}`, `socket:[${inode}]`),
    );
  }

  /** Give process `pid` a new socket fd. */
  addSocket(pid: number, inode: number): void {
    const fds = this.dirs.get(`/proc/${pid}/fd`);
    let fd = 3;
    while (fds?.has(String(fd))) fd++;
    this.setLink(`/proc/${pid}/fd/${fd}`, `socket:[${inode}]`);
  }

  /** Set the /proc/<pid>/net/* files a namespace is read through (absent files: header only). */
  setNetFiles(pid: number, files: FakeNetFiles): void {
    const base = `/proc/${pid}/net`;
    for (const name of ['tcp', 'tcp6', 'udp', 'udp6'] as const) {
      this.setFile(`${base}/${name}`, TABLE_HEADER + (files[name] ?? ''));
    }
    if (files.fib_trie !== undefined) this.setFile(`${base}/fib_trie`, files.fib_trie);
    if (files.if_inet6 !== undefined) this.setFile(`${base}/if_inet6`, files.if_inet6);
  }

  readText(path: string, maxBytes = Infinity): string {
    this.calls.readText++;
    this.before('readText', path);
    const text = this.files.get(path);
    if (text === undefined) throw errnoError('ENOENT', 'open', path);
    if (text.length <= maxBytes / 4) return text;
    // The same bound as NodeProcFs: the first maxBytes bytes, cut at a whole character.
    const bytes = encodeBytes(text);
    if (bytes.length <= maxBytes) return text;
    return decodeBytes(bytes, 0, utf8BoundaryBefore(bytes, maxBytes));
  }

  readdir(path: string): string[] {
    this.calls.readdir++;
    this.before('readdir', path);
    const names = this.dirs.get(path);
    if (names === undefined) throw errnoError('ENOENT', 'scandir', path);
    return [...names];
  }

  /** Entries of /proc/<pid>/fd, as Linux 6.2+ reports in its st_size. */
  countFds(pid: number): number {
    this.calls.countFds++;
    const path = `/proc/${pid}/fd`;
    this.before('countFds', path);
    const dir = this.dirs.get(path);
    if (dir === undefined) throw errnoError('ENOENT', 'stat', path);
    return dir.size;
  }

  readlink(path: string): string {
    this.calls.readlink++;
    this.before('readlink', path);
    const resolved = path.replace(/^\/proc\/self\//, `/proc/${this.selfPid}/`);
    const target = this.links.get(resolved);
    if (target === undefined) throw errnoError('ENOENT', 'readlink', path);
    return target;
  }

  /** Pid that /proc/self points at (readlink only). */
  selfPid = 1;

  private before(op: Op, path: string): void {
    this.onCall?.(op, path);
    const failure = this.failures.get(path);
    if (failure !== undefined && failure.times > 0) {
      failure.times--;
      throw errnoError(failure.code, op, path);
    }
  }

  private addToDir(path: string): void {
    let child = path;
    for (;;) {
      const slash = child.lastIndexOf('/');
      const parent = child.slice(0, slash) || '/';
      const name = child.slice(slash + 1);
      let set = this.dirs.get(parent);
      const existed = set !== undefined;
      if (set === undefined) {
        set = new Set();
        this.dirs.set(parent, set);
      }
      set.add(name);
      if (existed || parent === '/') return;
      child = parent;
    }
  }
}

/** Hex of an IPv4 address as /proc/net/tcp prints it on a little-endian host. */
export function hexIPv4(address: string): string {
  return address
    .split('.')
    .reverse()
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

/**
 * One /proc/net/{tcp,udp} line for `local` and `remote` given as `a.b.c.d:port` (IPv4 only;
 * tests of IPv6 use literal lines).
 */
export function ipv4TableLine(
  slot: number,
  local: string,
  remote: string,
  state: number,
  inode: number,
  uid = 0,
): string {
  const endpoint = (text: string): string => {
    const [address = '', port = '0'] = text.split(':');
    return `${hexIPv4(address)}:${Number(port).toString(16).padStart(4, '0').toUpperCase()}`;
  };
  const st = state.toString(16).padStart(2, '0').toUpperCase();
  return `${String(slot).padStart(4)}: ${endpoint(local)} ${endpoint(remote)} ${st} 00000000:00000000 00:00000000 00000000 ${String(uid).padStart(5)}        0 ${inode} 1 0000000000000000 100 0 0 10 0\n`;
}

/**
 * Folder of a fake /proc tree in test/fixtures/proc/<name> (contains `proc/` and `etc/`).
 * Found from the package root, so it works from src/ under tsx and from compiled dist/.
 */
export function procFixture(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return join(dir, 'test', 'fixtures', 'proc', name);
}

/** Path of a container-runtime state tree under test/fixtures/containers/ (see its README). */
export function containerFixture(name: string): string {
  return join(procFixture('.'), '..', 'containers', name);
}
