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
  /** Fd counts noted by hasCountMoved (no walk). */
  private readonly counts = new Map<number, { key: string; fdCount: number }>();
  /** Some fd directory gave a count (Linux 6.2+): counts can be compared. */
  private isCountKnown = false;

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

  /**
   * For a scanner that does not walk (socket owners from the kernel): true when `pid`'s fd
   * count moved since the last call for the process `key` (a socket may have changed hands).
   * The first call for a process only notes its count.
   */
  hasCountMoved(pid: number, key: string): boolean {
    if (this.procFs.countFds === undefined) return true;
    const count = this.rawCount(pid);
    // Before Linux 6.2 every fd directory says 0: until one says more, assume a change.
    if (count > 0) this.isCountKnown = true;
    if (!this.isCountKnown) return true;
    const before = this.counts.get(pid);
    this.counts.set(pid, { key, fdCount: count });
    if (before === undefined || before.key !== key) return false;
    return count !== before.fdCount;
  }

  /** Socket inodes `pid` held at its last walk, if that walk was of the process `key`. */
  heldBy(pid: number, key: string): ReadonlySet<number> | undefined {
    const held = this.byPid.get(pid);
    return held?.key === key ? held.inodes : undefined;
  }

  /**
   * Walk `pid`'s fds (yielding through `pause`) and remember what it holds. `isSocketSetSame`:
   * the walk found exactly the sockets of the previous walk of this process (only other fds
   * changed).
   */
  async walk(
    pid: number,
    key: string,
    pause: () => Promise<void>,
  ): Promise<FdReadResult & { isSocketSetSame: boolean }> {
    const fdCount = this.countFds(pid);
    const result = await readSocketInodesSliced(this.procFs, pid, pause);
    const before = this.heldBy(pid, key);
    if (result.status !== 'ok') {
      this.byPid.delete(pid);
      return { ...result, isSocketSetSame: before === undefined };
    }
    const inodes = new Set(result.inodes);
    let isSocketSetSame = before !== undefined && before.size === inodes.size;
    if (isSocketSetSame)
      for (const inode of inodes) if (!before!.has(inode)) isSocketSetSame = false;
    this.byPid.set(pid, { key, fdCount, inodes });
    return { ...result, isSocketSetSame };
  }

  /** Forget processes that are gone. */
  prune(alive: ReadonlyMap<number, { readonly key: string }>): void {
    for (const [pid, held] of this.byPid) {
      if (alive.get(pid)?.key !== held.key) this.byPid.delete(pid);
    }
    for (const [pid, noted] of this.counts) {
      if (alive.get(pid)?.key !== noted.key) this.counts.delete(pid);
    }
  }

  get size(): number {
    return this.byPid.size;
  }

  /** st_size of /proc/<pid>/fd (0 for a process without fds, e.g. a kernel thread); -1 on error. */
  private rawCount(pid: number): number {
    try {
      return this.procFs.countFds!(pid);
    } catch {
      return -1;
    }
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
