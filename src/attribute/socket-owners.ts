// Socket inode -> pid, from the /proc/<pid>/fd/* links that read `socket:[inode]`. Processes
// that exit mid-scan or deny access are counted and skipped, never an error.

import { isDenied, isVanished } from './procfs.js';
import type { ProcFs } from './procfs.js';

/** What reading one process's fd directory gave. */
export type FdReadResult =
  | { readonly status: 'ok'; readonly inodes: number[] }
  | { readonly status: 'vanished' }
  | { readonly status: 'denied' };

/** Result of {@link readSocketOwners}. */
export interface SocketOwners {
  /** Socket inode -> pid of the first process (in the given order) holding it. */
  readonly owners: Map<number, number>;
  /** Processes that exited while we read them. */
  readonly vanishedProcesses: number;
  /** Processes whose fds we may not read (EACCES/EPERM). */
  readonly deniedProcesses: number;
}

const SOCKET_PREFIX = 'socket:[';

/** Inode of a `socket:[123]` link target, or undefined for any other kind of fd. */
export function parseSocketLink(target: string): number | undefined {
  if (!target.startsWith(SOCKET_PREFIX) || !target.endsWith(']')) return undefined;
  const value = Number(target.slice(SOCKET_PREFIX.length, -1));
  return Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

/**
 * Socket inodes held by one process. An fd closed between readdir and readlink is skipped;
 * the whole process vanishing (ENOENT/ESRCH) or refusing access (EACCES) is reported as such.
 */
export function readSocketInodes(procFs: ProcFs, pid: number): FdReadResult {
  const names = listFds(procFs, pid);
  if (typeof names === 'string') return { status: names };
  return readFdLinks(procFs, pid, names, 0, names.length, { inodes: [], gone: 0 });
}

/**
 * readSocketInodes that awaits `pause()` every FD_SLICE links, for processes with thousands
 * of fds (a busy proxy): reading 10,000 fd links takes ~80 ms.
 */
export async function readSocketInodesSliced(
  procFs: ProcFs,
  pid: number,
  pause: () => Promise<void>,
): Promise<FdReadResult> {
  const names = listFds(procFs, pid);
  if (typeof names === 'string') return { status: names };
  const state = { inodes: [] as number[], gone: 0 };
  for (let from = 0; ; from += FD_SLICE) {
    const to = Math.min(names.length, from + FD_SLICE);
    const result = readFdLinks(procFs, pid, names, from, to, state);
    if (result.status !== 'ok' || to === names.length) return result;
    await pause();
  }
}

const FD_SLICE = 512;

function listFds(procFs: ProcFs, pid: number): string[] | 'denied' | 'vanished' {
  try {
    return procFs.readdir(`/proc/${pid}/fd`);
  } catch (error) {
    return isDenied(error) ? 'denied' : 'vanished';
  }
}

function readFdLinks(
  procFs: ProcFs,
  pid: number,
  names: readonly string[],
  from: number,
  to: number,
  state: { inodes: number[]; gone: number },
): FdReadResult {
  const dir = `/proc/${pid}/fd`;
  for (let i = from; i < to; i++) {
    let target: string;
    try {
      target = procFs.readlink(`${dir}/${names[i]}`);
    } catch (error) {
      // One fd closed under us (ENOENT) is normal; a refusal mid-way means the process changed
      // credentials (setuid exec): treat it as denied.
      if (isDenied(error)) return { status: 'denied' };
      if (isVanished(error)) state.gone++;
      continue;
    }
    const inode = parseSocketLink(target);
    if (inode !== undefined) state.inodes.push(inode);
  }
  // Every link gone: the process exited between readdir and readlink.
  if (to === names.length && state.gone > 0 && state.gone === names.length) {
    return { status: 'vanished' };
  }
  return { status: 'ok', inodes: state.inodes };
}

/**
 * Map every socket inode held by `pids` to the first pid holding it (a socket shared after
 * fork() goes to the first pid in the list, usually the parent).
 * @example readSocketOwners(new NodeProcFs(), [1, 42]).owners.get(12345) // 42
 */
export function readSocketOwners(procFs: ProcFs, pids: readonly number[]): SocketOwners {
  const owners = new Map<number, number>();
  let vanishedProcesses = 0;
  let deniedProcesses = 0;
  for (const pid of pids) {
    const result = readSocketInodes(procFs, pid);
    if (result.status === 'vanished') vanishedProcesses++;
    else if (result.status === 'denied') deniedProcesses++;
    else for (const inode of result.inodes) if (!owners.has(inode)) owners.set(inode, pid);
  }
  return { owners, vanishedProcesses, deniedProcesses };
}
