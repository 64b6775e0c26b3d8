// Which processes share a listening socket: a listener's owner as a scan found it is only the
// first process seen holding it. Pre-fork workers and inetd-style children inherit it from a
// parent of the same program, so those relatives' fd tables are checked for the listener (a
// few readlinks, once per listener and scan) before the owner may stand in for a connection.

import type { ProcFs } from './procfs.js';
import { readSocketInodes } from './socket-owners.js';
import type { ProcessInfo } from './types.js';

/** Relatives of one process checked at most (a pre-fork pool rarely has more workers). */
const MAX_RELATIVES = 256;

/**
 * For every process whose parent runs the same program (same comm and exe): its pid and its
 * parent's pid, each mapped to the other relatives of that program (parent and children).
 * `alive` are process keys; `info` looks one up.
 * @example
 * const families = findForkFamilies(scan.alive, (key) => scanner.processByKey(key));
 * families.get(masterPid); // its workers' pids
 */
export function findForkFamilies(
  alive: Iterable<string>,
  info: (key: string) => ProcessInfo | undefined,
): Map<number, number[]> {
  const byPid = new Map<number, ProcessInfo>();
  for (const key of alive) {
    const process = info(key);
    if (process !== undefined) byPid.set(process.pid, process);
  }
  const families = new Map<number, number[]>();
  const link = (a: number, b: number): void => {
    const list = families.get(a);
    if (list === undefined) families.set(a, [b]);
    else if (list.length < MAX_RELATIVES) list.push(b);
  };
  for (const process of byPid.values()) {
    if (process.ppid <= 1) continue;
    const parent = byPid.get(process.ppid);
    if (parent === undefined || parent.comm !== process.comm || parent.exe !== process.exe)
      continue;
    link(process.pid, parent.pid);
    link(parent.pid, process.pid);
  }
  // Siblings: every child of a parent is a relative of the others (a worker found first).
  for (const [pid, relatives] of families) {
    const parent = byPid.get(pid);
    for (const relative of [...relatives]) {
      if (byPid.get(relative)?.ppid !== pid || parent === undefined) continue;
      for (const sibling of families.get(pid) ?? []) {
        if (sibling !== relative) link(relative, sibling);
      }
    }
  }
  return families;
}

/**
 * True when a relative of `ownerPid` (see {@link findForkFamilies}) holds socket `inode` too.
 * Unreadable or vanished relatives count as not holding it.
 */
export function isHeldByRelative(
  procFs: ProcFs,
  families: ReadonlyMap<number, readonly number[]>,
  ownerPid: number,
  inode: number,
): boolean {
  for (const pid of families.get(ownerPid) ?? []) {
    const fds = readSocketInodes(procFs, pid);
    if (fds.status === 'ok' && fds.inodes.includes(inode)) return true;
  }
  return false;
}
