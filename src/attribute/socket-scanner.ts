// One incremental scan of /proc: processes, every network namespace's socket tables, socket
// owners; builds the SocketIndex that the attributor looks flows up in. Yields between slices.

import { isDenied } from './procfs.js';
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
import { LineCache, namespaceTablesOf, readNamespaceTables } from './net-namespaces.js';
import type { NamespaceTables, ScanSlices } from './net-namespaces.js';
import { isWildcardAddress } from './net-table.js';
import type { SocketEntry } from './net-table.js';
import { FdHoldings } from './fd-holdings.js';
import { readTableSignature } from './table-signature.js';
import type { SocketTableReader } from './sock-diag.js';
import type { SocketHolders, SocketOwnerSource } from './kernel-owners.js';
import { SocketIndex } from './socket-index.js';
import type { IndexedSocket } from './socket-index.js';
import type { Owner, ProcessInfo } from './types.js';

/**
 * A process younger than this has its stat re-read every scan (fork then exec, `ip netns exec`
 * change comm, cmdline and namespace in the first moments); older ones only at full scans or
 * when they show a new socket. Saves one procfs read per process per scan on a quiet host.
 */
const SETTLED_PROCESS_MS = 10_000;

/**
 * A namespace whose socket counters (table-signature.ts) did not move since its last table
 * read keeps that read's tables for at most this long; then it is read again whatever they say.
 */
const TABLE_REUSE_MS = 5_000;

/**
 * Scans an inode that no process held (kernel socket, refused process, or a socket passed on
 * during the search) waits before it is searched again; full scans are rarer (fullScanEvery).
 */
const ORPHAN_RETRY_SCANS = 60;

/**
 * Addresses of a namespace stay local this long after the last scan that saw them. Namespaces
 * are found through their processes: when the last process of a test net or a pod exits (a
 * short client), the next scan no longer sees the namespace, and its connections still in
 * flight would turn "remote" at one end (attributed on the other end only, for good, when the
 * connect event of that end arrives after the scan). Bounded by RECENT_ADDRESSES_LIMIT.
 */
const RECENT_ADDRESS_TTL_MS = 60_000;
const RECENT_ADDRESSES_LIMIT = 65_536;

/**
 * A known process's command line is read again at most this often, when the scan re-reads its
 * stat (every scan while it is young, then when its refresh group comes round): a process that
 * rewrites its argv at run time (setproctitle: nginx, postgres, sshd; Node's process.title)
 * shows its new command line within a few scans. Same length bound as the first read.
 */
const CMDLINE_REFRESH_MS = 1000;

/** An inode missed since scan `since` is not searched now (see ORPHAN_RETRY_SCANS). */
function isSettledOrphan(scanCount: number, since: number | undefined): boolean {
  if (since === undefined) return false;
  const age = scanCount - since;
  return age >= 2 && age < ORPHAN_RETRY_SCANS;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Tunables of the scanner. */
export interface SocketScannerOptions {
  procFs: ProcFs;
  localAddresses: { has(address: string): boolean };
  /** Monotonic ms, to cut the scan into slices. */
  monotonicMs: () => number;
  /** Give the event loop a turn between slices. */
  yieldToEventLoop: () => Promise<void>;
  /** Longest synchronous slice, ms. */
  sliceMs: number;
  /**
   * CPU time used so far, ms (the process's, as process.cpuUsage() counts it): the CPU of each
   * stretch is measured too, which preemption on a loaded host does not inflate. Optional.
   */
  cpuMs?: (() => number) | undefined;
  /**
   * Every Nth scan re-reads every stat and fd directory: a consistency check of the incremental
   * scans (what it corrects is counted in ownerCorrections).
   */
  fullScanEvery: number;
  /**
   * Settled processes are checked in this many rotating groups, one group per scan: stat
   * re-read (a renamed process, a reused pid) and fd count compared with the last walk (a socket
   * handed over). 1: every process every scan. @default 10
   */
  refreshGroups?: number | undefined;
  /** Processes cached at most. */
  maxProcesses: number;
  /** Namespace of the capture; undefined: read /proc/self/ns/net (else pid 1's). */
  hostNetns: number | undefined;
  /** Names of containers (runtime state files); undefined: processes carry ids only. */
  containerNames?: ContainerNameSource | undefined;
  /** Binary socket tables (sock_diag); undefined: parse /proc/net text for every namespace. */
  socketTables?: SocketTableReader | undefined;
  /**
   * Socket owners from the kernel (a BPF iterator, kernel-owners.ts): no fd directory is walked
   * while it works; undefined or unavailable: walk /proc/<pid>/fd.
   */
  socketOwners?: SocketOwnerSource | undefined;
}

/** What one scan found and how much it cost. */
export interface ScanResult {
  readonly index: SocketIndex;
  /** Process keys alive after this scan. */
  readonly alive: Set<string>;
  readonly processes: number;
  readonly namespaces: number;
  readonly sockets: number;
  /** Processes that vanished mid-scan or refused access. */
  readonly skippedProcesses: number;
  readonly deniedProcesses: number;
  /** Processes not tracked because maxProcesses was reached. */
  readonly droppedProcesses: number;
  /** fd directories read (the costly part; an incremental scan reads few). */
  readonly fdDirsRead: number;
  readonly malformedLines: number;
  /** Namespaces whose tables came through sock_diag (the rest: /proc/net text). */
  readonly netlinkNamespaces: number;
  /**
   * Sockets whose owner a full scan found elsewhere than the incremental scans had it (since
   * the scanner started): a handoff not yet seen by the rotating check, or a miss.
   */
  readonly ownerCorrections: number;
  /** The scan found nothing changed and kept the previous index. */
  readonly isUnchanged: boolean;
  /** Socket owners came from the kernel's list (kernel-owners.ts), not fd directory walks. */
  readonly ownersFromKernel: boolean;
  /** Longest synchronous stretch of the scan, ms. */
  readonly maxBlockMs: number;
  /** CPU used in the longest (by CPU) synchronous stretch, ms; 0 without `cpuMs`. */
  readonly maxBlockCpuMs: number;
}

/** Reads /proc incrementally: keeps processes and socket owners between scans. */
export class SocketScanner {
  private processes = new Map<number, ProcessInfo>();
  private owners = new Map<number, Owner>();
  /** Inodes a complete search found no owner for (kernel sockets, refused processes). */
  private orphans = new Map<number, number>();
  /** pid -> monotonic ms of the last read of its command line (live processes only). */
  private readonly cmdlineReadMs = new Map<number, number>();
  /** Address local to a namespace -> monotonic ms of the last scan that saw it. */
  private readonly recentAddresses = new Map<string, number>();
  /** Sockets the kernel's last list of owners showed in no fd table (kernel sockets). */
  private kernelOrphans = new Set<number>();
  /** Orphans whose last miss was after walking every fd directory: no second search everywhere. */
  private searchedEverywhere = new Set<number>();
  private scanCount = 0;
  private users: Map<number, string> | undefined;
  private usersReloaded = false;
  private hostNetns: number | undefined;
  private readonly lineCache = new LineCache();
  /** Monotonic ms when each live pid's current process was first read. */
  private readonly firstSeenMs = new Map<number, number>();
  /** Pids seen in another namespace than cached (setns() without exec): re-read next scan. */
  private movedProcesses = new Set<number>();
  private readonly holdings: FdHoldings;
  private readonly refreshGroups: number;
  private ownerCorrections = 0;
  /** Per namespace read by the last scan: the process read through and its table signature. */
  private signatures = new Map<number, { pid: number; signature: string | undefined }>();
  /** Monotonic ms of each namespace's last real table read (not reused). */
  private readonly dumpedAtMs = new Map<number, number>();
  /** Whether each namespace's last real table read came through sock_diag. */
  private readonly isNetlinkRead = new Map<number, boolean>();
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
    this.holdings = new FdHoldings(options.procFs);
    this.refreshGroups = Math.max(1, Math.floor(options.refreshGroups ?? 10));
  }

  /** Cached info of a live (or last seen) process by key. */
  processByKey(key: string): ProcessInfo | undefined {
    const pid = Number(key.slice(0, key.indexOf(':')));
    const info = this.processes.get(pid);
    return info?.key === key ? info : undefined;
  }

  /**
   * The process now running as `pid`: the cached info when this pid is tracked (as of the
   * last scan), else read from /proc now (not added to the cache: scans own it). undefined
   * when the process is gone.
   */
  processByPid(pid: number): ProcessInfo | undefined {
    return this.processes.get(pid) ?? this.refreshProcess(pid)?.info;
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
    this.usersReloaded = false;
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
    this.hostNetns ??= this.readHostNetns();

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
        !this.movedProcesses.has(pid) &&
        pid % this.refreshGroups !== group &&
        scanStartMs - (this.firstSeenMs.get(pid) ?? scanStartMs) >= SETTLED_PROCESS_MS
      ) {
        // A settled process: skip its stat read. A reused pid is caught when the fd search
        // finds a new socket in it (verified there) or when its refresh group comes round.
        alive.set(pid, cached);
        continue;
      }
      verified.add(pid);
      const info = this.refreshProcess(pid);
      if (info === undefined) skipped++;
      else {
        if (info.isNew) {
          newPids.push(pid);
          this.firstSeenMs.set(pid, scanStartMs);
        }
        alive.set(pid, info.info);
      }
    }
    for (const pid of this.firstSeenMs.keys()) if (!alive.has(pid)) this.firstSeenMs.delete(pid);
    for (const pid of this.cmdlineReadMs.keys()) {
      if (!alive.has(pid)) this.cmdlineReadMs.delete(pid);
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
    this.processes = alive;
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
    this.movedProcesses.clear();
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
    const signatures = new Map<number, { pid: number; signature: string | undefined }>();
    for (const [netns, pids] of byNamespace) {
      await yieldIfDue();
      for (const pid of pids) {
        // Read before the tables: a change after this read shows in the next probe.
        const signature = readTableSignature(procFs, pid);
        // Same socket counters as at the last read, read recently: the tables most likely did
        // not change, and a dump of a big namespace is most of a scan's cost (16 ms of CPU for
        // 10,000 sockets). What the counters cannot show is caught within TABLE_REUSE_MS.
        const previous = this.last?.tables.get(netns);
        const dumpedAtMs = this.dumpedAtMs.get(netns);
        const isReusable =
          mayReuseTables &&
          !full &&
          signature !== undefined &&
          previous !== undefined &&
          dumpedAtMs !== undefined &&
          scanStartMs - dumpedAtMs < TABLE_REUSE_MS &&
          this.signatures.get(netns)?.signature === signature;
        const t = await this.readTablesOf(
          pid,
          netns,
          slices,
          isReusable ? previous.sockets : undefined,
        );
        if (t !== undefined) {
          if (!isReusable) this.dumpedAtMs.set(netns, scanStartMs);
          signatures.set(netns, { pid, signature });
          tables.push(t.tables);
          malformedLines += t.tables.malformedLines;
          if (t.isNetlink) netlinkNamespaces++;
          break;
        }
      }
    }
    this.options.socketTables?.prune(new Set(byNamespace.keys()));
    this.signatures = signatures;
    for (const netns of this.dumpedAtMs.keys()) {
      if (!byNamespace.has(netns)) this.dumpedAtMs.delete(netns);
    }
    for (const netns of this.isNetlinkRead.keys()) {
      if (!byNamespace.has(netns)) this.isNetlinkRead.delete(netns);
    }

    // Owners from the kernel, read after the tables: a socket they list that is still open is
    // in this read. A failed read walks fd directories instead (every one at a full scan).
    let holders: SocketHolders | undefined;
    let isKernelMode = kernelOwners !== undefined;
    if (
      kernelOwners !== undefined &&
      (full || isHandoffSuspected || this.hasUnknownSockets(tables, alive))
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
      const fresh = this.refreshProcess(pid);
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
        this.firstSeenMs.set(pid, scanStartMs);
      }
      return fresh.info;
    };

    // Nothing changed (an idle host): same processes, same tables, no walk: keep the index.
    const last = this.last;
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
        this.lineCache.prune();
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

    this.lineCache.prune();
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
      const order = this.searchOrder(alive, newPids, neededNamespaces, isSecondSearch);
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
          const fresh = this.refreshProcess(pid);
          if (fresh === undefined) continue;
          if (fresh.info !== info) {
            aliveKeys.delete(info.key);
            aliveKeys.add(fresh.info.key);
            alive.set(pid, fresh.info);
            this.firstSeenMs.set(pid, scanStartMs);
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
    index.addRecentlyLocal(this.rememberAddresses(nsAddresses, scanStartMs));
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
   * Note the addresses of this scan's namespaces as seen now and return those seen by earlier
   * scans within RECENT_ADDRESS_TTL_MS (forgetting older ones; the oldest go first past the
   * limit).
   */
  private rememberAddresses(
    nsAddresses: ReadonlyMap<number, ReadonlySet<string>>,
    nowMs: number,
  ): string[] {
    for (const addresses of nsAddresses.values()) {
      for (const a of addresses) {
        this.recentAddresses.delete(a); // re-inserted last: the map stays in age order
        this.recentAddresses.set(a, nowMs);
      }
    }
    const recent: string[] = [];
    for (const [address, seenMs] of this.recentAddresses) {
      if (
        nowMs - seenMs > RECENT_ADDRESS_TTL_MS ||
        this.recentAddresses.size > RECENT_ADDRESSES_LIMIT
      ) {
        this.recentAddresses.delete(address);
      } else if (seenMs !== nowMs) {
        recent.push(address);
      }
    }
    return recent;
  }

  /**
   * True when a scan now would most likely find what the last one found, judged from cheap
   * reads: the `/proc` listing (no process that owned a socket is gone, no process sits in a
   * namespace the last scan did not read) and each namespace's table signature (socket counters,
   * see table-signature.ts) unchanged. What it cannot see (a socket closed and another bound in
   * its place, a pid reused, a socket handed over) waits for the next scan the caller runs
   * anyway at its own pace. False before the first scan and whenever a read fails.
   */
  isQuiet(): boolean {
    if (this.last === undefined) return false;
    const { procFs } = this.options;
    let names: string[];
    try {
      names = procFs.readdir('/proc');
    } catch {
      return false;
    }
    const present = new Set<number>();
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      const pid = Number(name);
      present.add(pid);
      if (this.processes.has(pid)) continue;
      // A process the last scan did not see: only its namespace matters here (its sockets
      // show in that namespace's counters). Not memoised: `ip netns exec` forks, then moves.
      let netns = 0;
      try {
        netns = parseNamespaceLink(procFs.readlink(`/proc/${pid}/ns/net`));
      } catch {
        continue; // gone, or another user's (denied): a scan could not read it either
      }
      if (netns !== 0 && !this.signatures.has(netns)) return false;
    }
    for (const pid of this.ownerPids) if (!present.has(pid)) return false;
    for (const { pid, signature } of this.signatures.values()) {
      if (signature === undefined || readTableSignature(procFs, pid) !== signature) return false;
    }
    return true;
  }

  /**
   * True when a socket of `tables` has no known owner: not owned by a live process after the
   * last scan and not ownerless at the kernel's last list.
   */
  private hasUnknownSockets(
    tables: readonly NamespaceTables[],
    alive: ReadonlyMap<number, ProcessInfo>,
  ): boolean {
    for (const t of tables) {
      for (const entry of t.sockets) {
        const inode = entry.inode;
        if (inode === 0 || this.kernelOrphans.has(inode)) continue;
        const previous = this.owners.get(inode);
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
  private searchOrder(
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

  /**
   * Read a process's stat; reuse the cached info when pid, start time and comm match. comm
   * changes on exec, which also catches `ip netns exec` and unshare(1): they move to another
   * namespace and then exec, keeping pid and start time. A process that calls setns() without
   * exec is caught when its namespace's tables are read through it (see readTablesOf).
   */
  private refreshProcess(pid: number): { info: ProcessInfo; isNew: boolean } | undefined {
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

  /**
   * Tables of `netns` read through `pid`, checking that the process is still in that namespace
   * afterwards (procfs shows the reader's current namespace). A process that moved is read
   * afresh by the next scan.
   */
  private async readTablesOf(
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
    this.movedProcesses.add(pid);
    return undefined;
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

  private readHostNetns(): number {
    for (const path of ['/proc/self/ns/net', '/proc/1/ns/net']) {
      try {
        const inode = parseNamespaceLink(this.options.procFs.readlink(path));
        if (inode !== 0) return inode;
      } catch {
        // Try the next one.
      }
    }
    return 0;
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
