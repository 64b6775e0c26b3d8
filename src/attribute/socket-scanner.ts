// One incremental scan of /proc: processes, every network namespace's socket tables, socket
// owners; builds the SocketIndex that the attributor looks flows up in. Yields between slices.

import { ProcessCache, readHostNetns } from './process-cache.js';
import { AddressMemory } from './address-memory.js';
import { QuietProbe, type NamespaceSignature } from './quiet-probe.js';
import { NamespaceTableReader } from './namespace-table-reader.js';
import {
  hasUnknownSockets,
  isSettledOrphan,
  ORPHAN_RETRY_SCANS,
  searchOrder,
} from './owner-search.js';
import type { NamespaceTables } from './net-namespaces.js';
import { isWildcardAddress } from './net-table.js';
import type { SocketEntry } from './net-table.js';
import { FdHoldings } from './fd-holdings.js';
import { readTableSignature } from './table-signature.js';
import type { SocketHolders } from './kernel-owners.js';
import { SocketIndex } from './socket-index.js';
import type { IndexedSocket } from './socket-index.js';
import type { Owner, ProcessInfo } from './types.js';
import type { ScanResult, SocketScannerOptions } from './socket-scanner-options.js';

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Reads /proc incrementally: keeps processes and socket owners between scans. */
export class SocketScanner {
  private readonly processes: ProcessCache;
  private owners = new Map<number, Owner>();
  /** Inodes a complete search found no owner for (kernel sockets, refused processes). */
  private orphans = new Map<number, number>();
  /** Addresses of namespaces seen by recent scans (kept local a while after). */
  private readonly addressMemory = new AddressMemory();
  /** Sockets the kernel's last list of owners showed in no fd table (kernel sockets). */
  private kernelOrphans = new Set<number>();
  /** The last index was built with the kernel's owners (every listed socket owned or ownerless). */
  private wasKernelMode = false;
  /** Orphans whose last miss was after walking every fd directory: no second search everywhere. */
  private searchedEverywhere = new Set<number>();
  private scanCount = 0;
  private hostNetns: number | undefined;
  private readonly tableReader: NamespaceTableReader;
  private readonly holdings: FdHoldings;
  private readonly refreshGroups: number;
  private ownerCorrections = 0;
  /** Table signatures of the last scan: table reuse and the quiet probe. */
  private readonly quietProbe: QuietProbe;
  /** Pids owning a socket after the last scan: one of them gone means an owner to look for. */
  private ownerPids = new Set<number>();
  /** What the last scan built, to keep when nothing changed. */
  private last:
    | {
        /** Socket lists and (as read, before sockets add theirs) addresses per namespace. */
        tables: Map<number, { sockets: readonly SocketEntry[]; addresses: ReadonlySet<string> }>;
        index: SocketIndex;
        sockets: number;
      }
    | undefined;

  constructor(private readonly options: SocketScannerOptions) {
    this.hostNetns = options.hostNetns;
    this.processes = new ProcessCache(options);
    this.quietProbe = new QuietProbe(options.procFs);
    this.tableReader = new NamespaceTableReader({
      procFs: options.procFs,
      socketTables: options.socketTables,
      onMoved: (pid) => this.processes.noteMoved(pid),
    });
    this.holdings = new FdHoldings(options.procFs);
    this.refreshGroups = Math.max(1, Math.floor(options.refreshGroups ?? 10));
  }

  /** Cached info of a live (or last seen) process by key. */
  processByKey(key: string): ProcessInfo | undefined {
    return this.processes.byKey(key);
  }

  /**
   * The process now running as `pid`: the cached info when this pid is tracked (as of the
   * last scan), else read from /proc now (not added to the cache: scans own it). undefined
   * when the process is gone.
   */
  processByPid(pid: number): ProcessInfo | undefined {
    return this.processes.get(pid) ?? this.processes.refresh(pid)?.info;
  }

  /** Cached info of `pid` as of the last scan, without reading /proc. */
  processByKnownPid(pid: number): ProcessInfo | undefined {
    return this.processes.get(pid);
  }

  /**
   * One scan. `mayReuseTables`: a namespace whose socket counters did not move since its last
   * read (less than TABLE_REUSE_MS ago) keeps those tables instead of a new dump; false when
   * flows wait for their sockets.
   */
  async scan(mayReuseTables = false): Promise<ScanResult> {
    const { procFs, monotonicMs, sliceMs } = this.options;
    const full = this.scanCount % this.options.fullScanEvery === 0;
    const group = this.scanCount % this.refreshGroups;
    this.scanCount++;
    this.processes.beginScan();
    const cpuMs = this.options.cpuMs ?? ((): number => 0);
    let sliceStart = monotonicMs();
    let sliceCpuStart = cpuMs();
    let maxBlockMs = 0;
    let maxBlockCpuMs = 0;
    const endSlice = (now: number): void => {
      maxBlockMs = Math.max(maxBlockMs, now - sliceStart);
      maxBlockCpuMs = Math.max(maxBlockCpuMs, cpuMs() - sliceCpuStart);
    };
    const startSlice = (): void => {
      sliceStart = monotonicMs();
      sliceCpuStart = cpuMs();
    };
    /** Cheap check for hot loops: call yieldIfDue only when it will yield. */
    const isDue = (): boolean => monotonicMs() - sliceStart >= sliceMs;
    const yieldIfDue = async (): Promise<void> => {
      const now = monotonicMs();
      if (now - sliceStart < sliceMs) return;
      endSlice(now);
      await this.options.yieldToEventLoop();
      startSlice();
    };
    const slices = {
      resumed: startSlice,
      pause: yieldIfDue,
    };
    this.hostNetns ??= readHostNetns(procFs);

    const names = procFs.readdir('/proc');
    const scanStartMs = monotonicMs();
    const verified = new Set<number>();
    const alive = new Map<number, ProcessInfo>();
    const newPids: number[] = [];
    let skipped = 0;
    let dropped = 0;
    for (let i = 0; i < names.length; i++) {
      // New processes cost several reads each (~0.3 ms): look at the clock often.
      if (isDue()) await yieldIfDue();
      const name = names[i] ?? '';
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      if (alive.size >= this.options.maxProcesses) {
        dropped++;
        continue;
      }
      const pid = Number(name);
      const cached = this.processes.get(pid);
      if (
        cached !== undefined &&
        !full &&
        !this.processes.hasMoved(pid) &&
        pid % this.refreshGroups !== group &&
        this.processes.isSettled(pid, scanStartMs)
      ) {
        // A settled process: skip its stat read. A reused pid is caught when the fd search
        // finds a new socket in it (verified there) or when its refresh group comes round.
        alive.set(pid, cached);
        continue;
      }
      verified.add(pid);
      const info = this.processes.refresh(pid);
      if (info === undefined) skipped++;
      else {
        if (info.isNew) {
          newPids.push(pid);
          this.processes.noteFirstSeen(pid, scanStartMs);
        }
        alive.set(pid, info.info);
      }
    }
    let isProcessSetSame = alive.size === this.processes.size;
    if (isProcessSetSame) {
      for (const [pid, info] of alive) {
        if (this.processes.get(pid) !== info) {
          isProcessSetSame = false;
          break;
        }
      }
    }
    // Every socket owner is still the same process (same info object): new processes and
    // exits of processes without sockets change nothing in the index.
    let isEveryOwnerKept = true;
    for (const pid of this.ownerPids) {
      const before = this.processes.get(pid);
      if (before === undefined || alive.get(pid) !== before) {
        isEveryOwnerKept = false;
        break;
      }
    }
    this.processes.replace(alive);
    this.holdings.prune(alive);

    // Fd walks known to be due before the tables are read: everyone at a full scan; else the
    // refresh group's processes whose fd count moved since their last walk (a socket may have
    // been handed to or from them). New sockets are searched for after the tables.
    const walked = new Set<number>();
    const firstHolder = new Map<number, number>();
    let denied = 0;
    let fdDirsRead = 0;
    let socketSetsChanged = 0;
    const walk = async (pid: number, info: ProcessInfo): Promise<number[] | undefined> => {
      walked.add(pid);
      fdDirsRead++;
      const result = await this.holdings.walk(pid, info.key, yieldIfDue);
      if (!result.isSocketSetSame) socketSetsChanged++;
      if (result.status === 'denied') denied++;
      return result.status === 'ok' ? result.inodes : undefined;
    };
    // With the kernel's list of owners no fd directory is read: the list is read after the
    // tables when a full scan is due, a refresh group's fd count moved, or a socket has no
    // known owner.
    const kernelOwners =
      this.options.socketOwners?.isAvailable() === true ? this.options.socketOwners : undefined;
    let isHandoffSuspected = false;
    for (const [pid, info] of alive) {
      if (!full && (pid % this.refreshGroups !== group || !verified.has(pid))) continue;
      await yieldIfDue();
      if (kernelOwners !== undefined) {
        if (full) break;
        if (this.holdings.hasCountMoved(pid, info.key)) isHandoffSuspected = true;
        continue;
      }
      if (!full && !this.holdings.mayHaveChanged(pid, info.key)) continue;
      const inodes = await walk(pid, info);
      for (const inode of inodes ?? []) if (!firstHolder.has(inode)) firstHolder.set(inode, pid);
    }
    this.processes.clearMoved();
    const aliveKeys = new Set<string>();
    for (const info of alive.values()) aliveKeys.add(info.key);

    // One table read per namespace, through the first process of it that is still there.
    const byNamespace = new Map<number, number[]>();
    for (const [pid, info] of alive) {
      if (info.netns === 0) continue;
      const pids = byNamespace.get(info.netns);
      if (pids === undefined) byNamespace.set(info.netns, [pid]);
      else pids.push(pid);
    }
    const tables: NamespaceTables[] = [];
    let malformedLines = 0;
    let netlinkNamespaces = 0;
    const signatures = new Map<number, NamespaceSignature>();
    for (const [netns, pids] of byNamespace) {
      await yieldIfDue();
      for (const pid of pids) {
        // Read before the tables: a change after this read shows in the next probe.
        const signature = readTableSignature(procFs, pid);
        // Same socket counters as at the last read, read recently: the tables most likely did
        // not change, and a dump of a big namespace is most of a scan's cost (16 ms of CPU for
        // 10,000 sockets). What the counters cannot show is caught within TABLE_REUSE_MS.
        const previous = this.last?.tables.get(netns);
        const isReusable =
          mayReuseTables &&
          !full &&
          signature !== undefined &&
          previous !== undefined &&
          this.quietProbe.isReusable(netns, signature, scanStartMs);
        const t = await this.tableReader.read(
          pid,
          netns,
          slices,
          isReusable ? previous.sockets : undefined,
        );
        if (t !== undefined) {
          if (!isReusable) this.quietProbe.noteDumped(netns, scanStartMs);
          signatures.set(netns, { pid, signature });
          tables.push(t.tables);
          malformedLines += t.tables.malformedLines;
          if (t.isNetlink) netlinkNamespaces++;
          break;
        }
      }
    }
    this.tableReader.prune(byNamespace);
    this.quietProbe.noteScanned(signatures, byNamespace);

    // Owners from the kernel, read after the tables: a socket they list that is still open is
    // in this read. A failed read walks fd directories instead (every one at a full scan).
    let holders: SocketHolders | undefined;
    let isKernelMode = kernelOwners !== undefined;
    // The same table arrays as the last kernel-mode scan and the same owner processes: every
    // socket is still owned or ownerless as then, without looking at each.
    const last = this.last;
    const isAsLastTime =
      this.wasKernelMode &&
      isEveryOwnerKept &&
      last !== undefined &&
      tables.length === last.tables.size &&
      tables.every((t) => last.tables.get(t.netns)?.sockets === t.sockets);
    if (
      kernelOwners !== undefined &&
      (full ||
        isHandoffSuspected ||
        (!isAsLastTime && hasUnknownSockets(tables, alive, this.owners, this.kernelOrphans)))
    ) {
      endSlice(monotonicMs());
      holders = await kernelOwners.read();
      startSlice();
      if (holders === undefined) {
        isKernelMode = false;
        // This read failed: walk as without the source (everyone, as at a full scan: the walks
        // before the tables were skipped).
        for (const [pid, info] of alive) {
          await yieldIfDue();
          const inodes = await walk(pid, info);
          for (const inode of inodes ?? [])
            if (!firstHolder.has(inode)) firstHolder.set(inode, pid);
        }
      } else if (!holders.isSame) socketSetsChanged++;
    }
    // A process the kernel says holds a socket: the one in `alive` once its stat is read in
    // this scan (a settled pid may have been reused), or one that started after the listing.
    const holderInfo = (pid: number): ProcessInfo | undefined => {
      const info = alive.get(pid);
      if (info !== undefined && verified.has(pid)) return info;
      if (info === undefined && alive.size >= this.options.maxProcesses) return undefined;
      verified.add(pid);
      const fresh = this.processes.refresh(pid);
      if (fresh === undefined) {
        if (info !== undefined) {
          alive.delete(pid);
          aliveKeys.delete(info.key);
        }
        return undefined;
      }
      if (fresh.info !== info) {
        if (info !== undefined) aliveKeys.delete(info.key);
        aliveKeys.add(fresh.info.key);
        alive.set(pid, fresh.info);
        this.processes.noteFirstSeen(pid, scanStartMs);
      }
      return fresh.info;
    };

    // Nothing changed (an idle host): same processes, same tables, no walk: keep the index.
    const readTables = new Map(
      tables.map((t) => [t.netns, { sockets: t.sockets, addresses: new Set(t.addresses) }]),
    );
    if (
      !full &&
      socketSetsChanged === 0 &&
      (isProcessSetSame || isEveryOwnerKept) &&
      last !== undefined
    ) {
      let isSame = tables.length === last.tables.size;
      for (let i = 0; isSame && i < tables.length; i++) {
        const t = tables[i]!;
        const before = last.tables.get(t.netns);
        isSame = before !== undefined && before.sockets === t.sockets;
        if (isSame && before !== undefined) isSame = sameSet(before.addresses, t.addresses);
      }
      if (isSame) {
        this.tableReader.pruneLineCache();
        endSlice(monotonicMs());
        return {
          index: last.index,
          alive: aliveKeys,
          processes: alive.size,
          namespaces: tables.length,
          sockets: last.sockets,
          skippedProcesses: skipped + denied,
          deniedProcesses: denied,
          droppedProcesses: dropped,
          fdDirsRead,
          malformedLines,
          netlinkNamespaces,
          ownerCorrections: this.ownerCorrections,
          isUnchanged: true,
          ownersFromKernel: true,
          maxBlockMs,
          maxBlockCpuMs,
        };
      }
    }

    this.tableReader.pruneLineCache();
    // One pass over every table: index entries, learn addresses, and keep what we knew about
    // each socket's owner when the socket is still listed and its owner still alive. Only
    // inodes not seen before are searched for in fd directories below.
    const sockets: IndexedSocket[] = [];
    const nsAddresses = new Map<number, Set<string>>();
    const owners = new Map<number, Owner>();
    const needed = new Set<number>();
    const neededNamespaces = new Set<number>();
    const orphans = new Map<number, number>();
    const searchedEverywhere = new Set<number>();
    const kernelOrphans = new Set<number>();
    let visited = 0;
    for (const t of tables) {
      const addresses = t.addresses;
      for (const entry of t.sockets) {
        if ((++visited & 127) === 0 && isDue()) await yieldIfDue();
        sockets.push({ entry, netns: t.netns });
        // A socket bound to a specific address proves the address is local to its namespace.
        if (!isWildcardAddress(entry.localAddress)) addresses.add(entry.localAddress);
        const inode = entry.inode;
        if (inode === 0 || owners.has(inode)) continue;
        const previous = this.owners.get(inode);
        const current = previous === undefined ? undefined : alive.get(previous.process.pid);
        const isSameProcess = current !== undefined && current.key === previous?.process.key;
        if (isKernelMode) {
          if (holders === undefined) {
            // Not read this scan: every socket has its owner or was ownerless at the last read.
            if (!isSameProcess) kernelOrphans.add(inode);
            else {
              owners.set(
                inode,
                current === previous!.process
                  ? previous!
                  : { process: current, socketInode: inode },
              );
            }
            continue;
          }
          // The kernel's list is complete: a socket no fd table holds has no owner to search.
          const held = holders.of(inode);
          if (held === undefined) {
            kernelOrphans.add(inode);
            continue;
          }
          if (
            isSameProcess &&
            (held === current.pid || (Array.isArray(held) && held.includes(current.pid)))
          ) {
            owners.set(
              inode,
              current === previous!.process ? previous! : { process: current, socketInode: inode },
            );
            continue;
          }
          const pids: readonly number[] = typeof held === 'number' ? [held] : held;
          for (const pid of pids) {
            const info = holderInfo(pid);
            if (info === undefined) continue;
            owners.set(inode, { process: info, socketInode: inode });
            break;
          }
          continue;
        }
        // The owner still holds it, unless its latest fd walk no longer shows it.
        const isReleased =
          isSameProcess && this.holdings.heldBy(current.pid, current.key)?.has(inode) === false;
        const holder = firstHolder.get(inode);
        if (isSameProcess && !isReleased) {
          // Kept (re-read info of the same process when it changed, e.g. a new comm).
          owners.set(
            inode,
            current === previous!.process ? previous! : { process: current, socketInode: inode },
          );
        } else if (holder !== undefined) {
          if (full && isReleased) this.ownerCorrections++;
          owners.set(inode, { process: alive.get(holder)!, socketInode: inode });
        } else if (full) {
          // Every fd directory was read and none holds it (kernel socket, refused process).
          orphans.set(inode, this.scanCount);
          searchedEverywhere.add(inode);
        } else if (
          previous === undefined &&
          isSettledOrphan(this.scanCount, this.orphans.get(inode))
        ) {
          orphans.set(inode, this.orphans.get(inode)!);
        } else {
          needed.add(inode);
          neededNamespaces.add(t.netns);
        }
      }
      nsAddresses.set(t.netns, addresses);
    }

    let isSecondSearch = false;
    if (needed.size > 0) {
      // A socket seen for the first time is searched in new processes and in its namespace's
      // processes only: most that are not found there closed between the dump and the walk
      // (short connections of a busy host), and walking every other namespace's processes for
      // them cost a full walk per scan. One still listed at the next scan (held from another
      // namespace, after setns() or SCM_RIGHTS) is searched everywhere then.
      for (const inode of needed) {
        if (this.orphans.has(inode) && !this.searchedEverywhere.has(inode)) {
          isSecondSearch = true;
          break;
        }
      }
      const order = searchOrder(alive, newPids, neededNamespaces, isSecondSearch);
      for (let i = 0; i < order.length && needed.size > 0; i++) {
        await yieldIfDue();
        const pid = order[i]!;
        let info = alive.get(pid);
        // Walked earlier in this scan too: walk again, the socket may be younger than that walk.
        if (info === undefined) continue;
        const inodes = await walk(pid, info);
        if (inodes === undefined) continue;
        if (!verified.has(pid) && inodes.some((inode) => needed.has(inode))) {
          // A settled process holds a new socket: make sure the pid was not reused.
          verified.add(pid);
          const fresh = this.processes.refresh(pid);
          if (fresh === undefined) continue;
          if (fresh.info !== info) {
            aliveKeys.delete(info.key);
            aliveKeys.add(fresh.info.key);
            alive.set(pid, fresh.info);
            this.processes.noteFirstSeen(pid, scanStartMs);
            info = fresh.info;
          }
        }
        for (const inode of inodes) {
          if (needed.delete(inode)) owners.set(inode, { process: info, socketInode: inode });
        }
      }
    }
    for (const inode of needed) {
      if (isSecondSearch) searchedEverywhere.add(inode);
      // First miss: searched again next scan (its process may have started after this scan
      // listed /proc). A retry after ORPHAN_RETRY_SCANS that misses again waits as long again.
      const since = this.orphans.get(inode);
      orphans.set(
        inode,
        since === undefined
          ? this.scanCount
          : this.scanCount - since >= ORPHAN_RETRY_SCANS
            ? this.scanCount - 1
            : since,
      );
    }
    this.orphans = orphans;
    this.kernelOrphans = kernelOrphans;
    this.wasKernelMode = isKernelMode;
    this.searchedEverywhere = searchedEverywhere;
    this.owners = owners;
    this.ownerPids = new Set();
    for (const owner of owners.values()) this.ownerPids.add(owner.process.pid);

    const index = new SocketIndex(
      this.hostNetns,
      this.options.localAddresses,
      nsAddresses,
      owners,
      [],
    );
    index.addRecentlyLocal(this.addressMemory.remember(nsAddresses, scanStartMs));
    for (let from = 0; from < sockets.length; from += 512) {
      await yieldIfDue();
      index.addSockets(sockets, from, Math.min(sockets.length, from + 512));
    }
    this.last = {
      tables: readTables,
      index,
      sockets: sockets.length,
    };
    endSlice(monotonicMs());
    return {
      index,
      alive: aliveKeys,
      processes: alive.size,
      namespaces: tables.length,
      sockets: sockets.length,
      skippedProcesses: skipped + denied,
      deniedProcesses: denied,
      droppedProcesses: dropped,
      fdDirsRead,
      malformedLines,
      netlinkNamespaces,
      ownerCorrections: this.ownerCorrections,
      isUnchanged: false,
      ownersFromKernel: holders !== undefined,
      maxBlockMs,
      maxBlockCpuMs,
    };
  }

  /**
   * True when a scan now would most likely find what the last one found (see
   * QuietProbe.isQuiet). False before the first scan and whenever a read fails.
   */
  isQuiet(): boolean {
    return this.last !== undefined && this.quietProbe.isQuiet(this.processes, this.ownerPids);
  }
}
