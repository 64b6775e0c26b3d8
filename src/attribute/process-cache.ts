// The scanner's cache of processes between scans: stat re-read and compared with the cached
// info (pid reuse, exec), command lines refreshed at a bounded rate, user names from /etc/passwd.

import type { ProcFs } from './procfs.js';
import {
  parseNamespaceLink,
  parsePasswd,
  parseProcessStat,
  readProcessInfo,
  rereadCmdline,
  type ContainerNameSource,
  READ_LIMITS_BYTES,
} from './process-info.js';
import type { ProcessInfo } from './types.js';

/**
 * A process younger than this has its stat re-read every scan (fork then exec, `ip netns exec`
 * change comm, cmdline and namespace in the first moments); older ones only at full scans or
 * when they show a new socket. Saves one procfs read per process per scan on a quiet host.
 */
export const SETTLED_PROCESS_MS = 10_000;

/**
 * A known process's command line is read again at most this often, when the scan re-reads its
 * stat (every scan while it is young, then when its refresh group comes round): a process that
 * rewrites its argv at run time (setproctitle: nginx, postgres, sshd; Node's process.title)
 * shows its new command line within a few scans. Same length bound as the first read.
 */
export const CMDLINE_REFRESH_MS = 1000;

/** What the process cache reads with. */
export interface ProcessCacheOptions {
  procFs: ProcFs;
  /** Monotonic ms: when a command line was last read. */
  monotonicMs: () => number;
  /** Names of containers (runtime state files); undefined: processes carry ids only. */
  containerNames?: ContainerNameSource | undefined;
}

/**
 * Processes as of the last scan, keyed by pid. The scanner builds each scan's map of live
 * processes with {@link ProcessCache.refresh} and hands it over with {@link ProcessCache.replace}.
 */
export class ProcessCache {
  private processes = new Map<number, ProcessInfo>();
  /** pid -> monotonic ms of the last read of its command line (live processes only). */
  private readonly cmdlineReadMs = new Map<number, number>();
  /** Monotonic ms when each live pid's current process was first read. */
  private readonly firstSeenMs = new Map<number, number>();
  /** Pids seen in another namespace than cached (setns() without exec): re-read next scan. */
  private readonly movedProcesses = new Set<number>();
  private users: Map<number, string> | undefined;
  private usersReloaded = false;

  constructor(private readonly options: ProcessCacheOptions) {}

  /** Number of cached processes. */
  get size(): number {
    return this.processes.size;
  }

  /** Cached info of `pid` as of the last scan, without reading /proc. */
  get(pid: number): ProcessInfo | undefined {
    return this.processes.get(pid);
  }

  has(pid: number): boolean {
    return this.processes.has(pid);
  }

  /** Cached info of a live (or last seen) process by key. */
  byKey(key: string): ProcessInfo | undefined {
    const pid = Number(key.slice(0, key.indexOf(':')));
    const info = this.processes.get(pid);
    return info?.key === key ? info : undefined;
  }

  /** A scan starts: a user missing from /etc/passwd may send it to be read again once. */
  beginScan(): void {
    this.usersReloaded = false;
  }

  /**
   * Make `alive` the cache (kept by reference: the scan may still add to it) and forget the
   * bookkeeping of pids not in it.
   */
  replace(alive: Map<number, ProcessInfo>): void {
    for (const pid of this.firstSeenMs.keys()) if (!alive.has(pid)) this.firstSeenMs.delete(pid);
    for (const pid of this.cmdlineReadMs.keys()) {
      if (!alive.has(pid)) this.cmdlineReadMs.delete(pid);
    }
    this.processes = alive;
  }

  /** `pid` runs a process first read at `nowMs` (a new process, or a reused pid). */
  noteFirstSeen(pid: number, nowMs: number): void {
    this.firstSeenMs.set(pid, nowMs);
  }

  /** Whether `pid`'s process was first read at least SETTLED_PROCESS_MS before `nowMs`. */
  isSettled(pid: number, nowMs: number): boolean {
    return nowMs - (this.firstSeenMs.get(pid) ?? nowMs) >= SETTLED_PROCESS_MS;
  }

  /** `pid` was found in another namespace than cached: re-read it at the next scan. */
  noteMoved(pid: number): void {
    this.movedProcesses.add(pid);
  }

  hasMoved(pid: number): boolean {
    return this.movedProcesses.has(pid);
  }

  /** The moved processes were re-read. */
  clearMoved(): void {
    this.movedProcesses.clear();
  }

  /**
   * Read a process's stat; reuse the cached info when pid, start time and comm match. comm
   * changes on exec, which also catches `ip netns exec` and unshare(1): they move to another
   * namespace and then exec, keeping pid and start time. A process that calls setns() without
   * exec is caught when its namespace's tables are read through it (see noteMoved). Not added
   * to the cache: the scanner does that. undefined when the process is gone or unreadable.
   */
  refresh(pid: number): { info: ProcessInfo; isNew: boolean } | undefined {
    const { procFs } = this.options;
    let statText: string;
    try {
      statText = procFs.readText(`/proc/${pid}/stat`, READ_LIMITS_BYTES.stat);
    } catch {
      return undefined;
    }
    const stat = parseProcessStat(statText);
    if (stat === undefined) return undefined;
    const cached = this.processes.get(pid);
    if (
      cached !== undefined &&
      cached.startTime === stat.startTime &&
      cached.comm === stat.comm &&
      !this.movedProcesses.has(pid)
    ) {
      return { info: this.withFreshCmdline(cached), isNew: false };
    }
    try {
      const result = readProcessInfo(
        procFs,
        stat,
        (uid) => this.userName(uid),
        this.options.containerNames,
      );
      if (result.status === 'vanished') return undefined;
      this.cmdlineReadMs.set(pid, this.options.monotonicMs());
      this.options.containerNames?.noteProcess?.(result.info);
      return { info: result.info, isNew: true };
    } catch {
      return undefined;
    }
  }

  /**
   * `info`, or a copy with the command line read now when it changed (read at most every
   * CMDLINE_REFRESH_MS per process). Unreadable now: `info` as it was.
   */
  private withFreshCmdline(info: ProcessInfo): ProcessInfo {
    const now = this.options.monotonicMs();
    const last = this.cmdlineReadMs.get(info.pid);
    if (last !== undefined && now - last < CMDLINE_REFRESH_MS) return info;
    this.cmdlineReadMs.set(info.pid, now);
    let cmdline: string[] | undefined;
    try {
      cmdline = rereadCmdline(this.options.procFs, info.pid);
    } catch {
      return info;
    }
    if (cmdline === undefined || sameStrings(cmdline, info.cmdline)) return info;
    return { ...info, cmdline };
  }

  private userName(uid: number): string {
    if (this.users === undefined || (!this.users.has(uid) && !this.usersReloaded)) {
      this.usersReloaded = true;
      try {
        this.users = parsePasswd(
          this.options.procFs.readText('/etc/passwd', READ_LIMITS_BYTES.passwd),
        );
      } catch {
        this.users = new Map();
      }
    }
    return this.users.get(uid) ?? String(uid);
  }
}

/** The host's network namespace: /proc/self/ns/net, else pid 1's; 0 when neither reads. */
export function readHostNetns(procFs: ProcFs): number {
  for (const path of ['/proc/self/ns/net', '/proc/1/ns/net']) {
    try {
      const inode = parseNamespaceLink(procFs.readlink(path));
      if (inode !== 0) return inode;
    } catch {
      // Try the next one.
    }
  }
  return 0;
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
