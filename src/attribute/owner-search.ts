// Rules of the search for sockets' owners in fd directories: whether a scan has sockets with no
// known owner, in which order processes are searched, and how long an ownerless inode waits
// before it is searched again. Pure functions over the scanner's state.

import type { NamespaceTables } from './net-namespaces.js';
import type { Owner, ProcessInfo } from './types.js';

/**
 * Scans an inode that no process held (kernel socket, refused process, or a socket passed on
 * during the search) waits before it is searched again; full scans are rarer (fullScanEvery).
 */
export const ORPHAN_RETRY_SCANS = 60;

/** An inode missed since scan `since` is not searched now (see ORPHAN_RETRY_SCANS). */
export function isSettledOrphan(scanCount: number, since: number | undefined): boolean {
  if (since === undefined) return false;
  const age = scanCount - since;
  return age >= 2 && age < ORPHAN_RETRY_SCANS;
}

/**
 * True when a socket of `tables` has no known owner: not in `owners` (the last scan's) with a
 * process still alive under the same key, and not in `kernelOrphans` (ownerless at the
 * kernel's last list).
 */
export function hasUnknownSockets(
  tables: readonly NamespaceTables[],
  alive: ReadonlyMap<number, ProcessInfo>,
  owners: ReadonlyMap<number, Owner>,
  kernelOrphans: ReadonlySet<number>,
): boolean {
  for (const t of tables) {
    for (const entry of t.sockets) {
      const inode = entry.inode;
      if (inode === 0 || kernelOrphans.has(inode)) continue;
      const previous = owners.get(inode);
      if (previous === undefined) return true;
      if (alive.get(previous.process.pid)?.key !== previous.process.key) return true;
    }
  }
  return false;
}

/**
 * New processes, then the rest of the namespaces with unknown sockets, then (`isEveryone`)
 * everyone else.
 */
export function searchOrder(
  alive: ReadonlyMap<number, ProcessInfo>,
  newPids: readonly number[],
  namespaces: ReadonlySet<number>,
  isEveryone: boolean,
): number[] {
  const order = [...newPids];
  const isNew = new Set(newPids);
  const rest: number[] = [];
  for (const [pid, info] of alive) {
    if (isNew.has(pid)) continue;
    if (namespaces.has(info.netns)) order.push(pid);
    else rest.push(pid);
  }
  if (isEveryone) for (const pid of rest) order.push(pid);
  return order;
}
