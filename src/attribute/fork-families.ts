// Which processes share a listening socket: a listener's owner as a scan found it is only the
// first process seen holding it. Pre-fork workers and inetd-style children inherit it from a
// parent of the same program, so those relatives' fd tables are checked for the listener (a
// few readlinks, once per listener and scan) before the owner may stand in for a connection.

import type { ProcFs } from './procfs.js';
import { readSocketInodes } from './socket-owners.js';
import type { ProcessInfo } from './types.js';

/** Relatives of one process checked at most (a pre-fork pool rarely has more workers). */
const MAX_RELATIVES = 256;

/** Relatives by pid, worked out at the first question about a pid (see findForkFamilies). */
export interface ForkFamilies {
  has(pid: number): boolean;
  get(pid: number): readonly number[] | undefined;
}

/**
 * For every process whose parent runs the same program (same comm and exe): its pid and its
 * parent's pid, each mapped to the other relatives of that program (parent, children and
 * siblings). `alive` are process keys; `info` looks one up. Built in one pass over the
 * processes; a pid's relatives are listed only when asked (a listener lookup), so a scan of a
 * host with a 1,000-worker pool does not pay for a million sibling links.
 * @example
 * const families = findForkFamilies(scan.alive, (key) => scanner.processByKey(key));
 * families.get(masterPid); // its workers' pids
 */
export function findForkFamilies(
  alive: Iterable<string>,
  info: (key: string) => ProcessInfo | undefined,
): ForkFamilies {
  const byPid = new Map<number, ProcessInfo>();
  for (const key of alive) {
    const process = info(key);
    if (process !== undefined) byPid.set(process.pid, process);
  }
  /** Parent pid -> its children that run the parent's program. */
  const children = new Map<number, number[]>();
  const sameProgramParent = (process: ProcessInfo): ProcessInfo | undefined => {
    if (process.ppid <= 1) return undefined;
    const parent = byPid.get(process.ppid);
    return parent !== undefined && parent.comm === process.comm && parent.exe === process.exe
      ? parent
      : undefined;
  };
  for (const process of byPid.values()) {
    const parent = sameProgramParent(process);
    if (parent === undefined) continue;
    const list = children.get(parent.pid);
    if (list === undefined) children.set(parent.pid, [process.pid]);
    else list.push(process.pid);
  }
  /** Parent (same program) and children of `pid`. */
  const direct = (pid: number): number[] => {
    const process = byPid.get(pid);
    const parent = process === undefined ? undefined : sameProgramParent(process);
    return [...(parent === undefined ? [] : [parent.pid]), ...(children.get(pid) ?? [])];
  };
  const memo = new Map<number, number[]>();
  const get = (pid: number): number[] | undefined => {
    const known = memo.get(pid);
    if (known !== undefined) return known;
    const relatives = new Set(direct(pid));
    // Siblings: the parent's other relatives (a worker found first).
    const process = byPid.get(pid);
    const parent = process === undefined ? undefined : sameProgramParent(process);
    if (parent !== undefined) {
      for (const other of direct(parent.pid)) {
        if (relatives.size >= MAX_RELATIVES) break;
        if (other !== pid) relatives.add(other);
      }
    }
    if (relatives.size === 0) return undefined;
    const list = [...relatives].slice(0, MAX_RELATIVES);
    memo.set(pid, list);
    return list;
  };
  return { has: (pid) => get(pid) !== undefined, get };
}

/**
 * True when a relative of `ownerPid` (see {@link findForkFamilies}) holds socket `inode` too.
 * Unreadable or vanished relatives count as not holding it.
 */
export function isHeldByRelative(
  procFs: ProcFs,
  families: ForkFamilies,
  ownerPid: number,
  inode: number,
): boolean {
  for (const pid of families.get(ownerPid) ?? []) {
    const fds = readSocketInodes(procFs, pid);
    if (fds.status === 'ok' && fds.inodes.includes(inode)) return true;
  }
  return false;
}
