// One network namespace's socket tables, read through one of its processes: from sock_diag when
// available, else /proc/<pid>/net text (parsed lines cached between scans), with a check that
// the process was still in that namespace when the read ended.

import { isDenied } from './procfs.js';
import type { ProcFs } from './procfs.js';
import { parseNamespaceLink } from './process-info.js';
import { LineCache, namespaceTablesOf, readNamespaceTables } from './net-namespaces.js';
import type { NamespaceTables, ScanSlices } from './net-namespaces.js';
import type { SocketEntry } from './net-table.js';
import type { SocketTableReader } from './sock-diag.js';

/** What the reader reads with. */
export interface NamespaceTableReaderOptions {
  procFs: ProcFs;
  /** Binary socket tables (sock_diag); undefined: parse /proc/net text for every namespace. */
  socketTables?: SocketTableReader | undefined;
  /** `pid` was found in another namespace after the read (setns() without exec). */
  onMoved: (pid: number) => void;
}

/** Reads namespaces' tables scan after scan, keeping per-namespace state between scans. */
export class NamespaceTableReader {
  private readonly lineCache = new LineCache();
  /** Whether each namespace's last real table read came through sock_diag. */
  private readonly isNetlinkRead = new Map<number, boolean>();

  constructor(private readonly options: NamespaceTableReaderOptions) {}

  /**
   * Tables of `netns` read through `pid`, checking that the process is still in that namespace
   * afterwards (procfs shows the reader's current namespace). A process that moved is reported
   * to `onMoved` (the next scan reads it afresh) and gives undefined. `reuse`: the socket list
   * of the last read, kept instead of a new dump (addresses are still read).
   */
  async read(
    pid: number,
    netns: number,
    slices: ScanSlices,
    reuse?: readonly SocketEntry[],
  ): Promise<{ tables: NamespaceTables; isNetlink: boolean } | undefined> {
    // The alive map of this scan keeps the process; only the next scan re-reads it.
    const { procFs, socketTables } = this.options;
    let sockets: readonly SocketEntry[] | undefined = reuse;
    if (sockets === undefined) {
      sockets = await socketTables?.read(pid, netns, slices.pause);
      if (socketTables !== undefined) slices.resumed();
      this.isNetlinkRead.set(netns, sockets !== undefined);
    }
    const isNetlink = this.isNetlinkRead.get(netns) === true;
    const t =
      sockets !== undefined
        ? namespaceTablesOf(procFs, pid, netns, sockets)
        : await readNamespaceTables(procFs, pid, netns, this.lineCache, slices);
    if (t === undefined) return undefined;
    let now = 0;
    try {
      now = parseNamespaceLink(procFs.readlink(`/proc/${pid}/ns/net`));
    } catch (error) {
      if (isDenied(error)) return { tables: t, isNetlink };
    }
    if (now === netns) return { tables: t, isNetlink };
    this.options.onMoved(pid);
    return undefined;
  }

  /** Forget the namespaces not in `namespaces` (sock_diag handles closed). */
  prune(namespaces: ReadonlyMap<number, unknown>): void {
    this.options.socketTables?.prune(new Set(namespaces.keys()));
    for (const netns of this.isNetlinkRead.keys()) {
      if (!namespaces.has(netns)) this.isNetlinkRead.delete(netns);
    }
  }

  /** Drop the cached /proc/net lines of tables not read since the last call. */
  pruneLineCache(): void {
    this.lineCache.prune();
  }
}
