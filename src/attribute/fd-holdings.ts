// What each process's fd table held at its last walk (socket inodes and fd count), so a scan
// re-walks /proc/<pid>/fd only when the table may have changed: the fd count moved (one stat of
// /proc/<pid>/fd, Linux 6.2+) or nothing is known. Fed by the scanner (socket-scanner.ts).

import { isDenied } from './procfs.js';
import type { ProcFs } from './procfs.js';
import { readSocketInodesSliced } from './socket-owners.js';
import type { FdReadResult } from './socket-owners.js';

interface Holding {
  /** Process key (`${pid}:${startTime}`): a reused pid starts afresh. */
  readonly key: string;
  /** Fd count read just before the walk; -1 when unknown (no countFds, or it said 0). */
  readonly fdCount: number;
  readonly inodes: ReadonlySet<number>;
}

/** Per-process socket inodes as of each process's last fd walk. Bounded by the live processes. */
export class FdHoldings {
  private readonly byPid = new Map<number, Holding>();

  constructor(private readonly procFs: ProcFs) {}

  /**
   * True when `pid`'s fd table may differ from its last walk: never walked, a new process on
   * the pid, the fd count changed, or the count cannot be read (old kernel: st_size 0).
   */
  mayHaveChanged(pid: number, key: string): boolean {
    const held = this.byPid.get(pid);
    if (held === undefined || held.key !== key || held.fdCount < 0) return true;
    return this.countFds(pid) !== held.fdCount;
  }

  /** Socket inodes `pid` held at its last walk, if that walk was of the process `key`. */
  heldBy(pid: number, key: string): ReadonlySet<number> | undefined {
    const held = this.byPid.get(pid);
    return held?.key === key ? held.inodes : undefined;
  }

  /** Walk `pid`'s fds (yielding through `pause`) and remember what it holds. */
  async walk(pid: number, key: string, pause: () => Promise<void>): Promise<FdReadResult> {
    const fdCount = this.countFds(pid);
    const result = await readSocketInodesSliced(this.procFs, pid, pause);
    if (result.status === 'ok') {
      this.byPid.set(pid, { key, fdCount, inodes: new Set(result.inodes) });
    } else {
      this.byPid.delete(pid);
    }
    return result;
  }

  /** Forget processes that are gone. */
  prune(alive: ReadonlyMap<number, { readonly key: string }>): void {
    for (const [pid, held] of this.byPid) {
      if (alive.get(pid)?.key !== held.key) this.byPid.delete(pid);
    }
  }

  get size(): number {
    return this.byPid.size;
  }

  private countFds(pid: number): number {
    if (this.procFs.countFds === undefined) return -1;
    try {
      const count = this.procFs.countFds(pid);
      // 0: a kernel before 6.2 (or a process with no fds, which is cheap to walk anyway).
      return count > 0 ? count : -1;
    } catch (error) {
      return isDenied(error) ? -1 : -2;
    }
  }
}
