// Socket tables through sock_diag netlink (the addon's sockDiag* functions): the same
// SocketEntry values as parsing /proc/net/{tcp,udp}{,6}, without the kernel printing text.
// One netlink socket per network namespace, kept open while the namespace has processes.

import type { NativeAddon } from '../capture/addon.js';
import { formatIPv6 } from './net-table.js';
import type { SocketEntry } from './net-table.js';

/** Record layout of native/sock_diag.h. */
export const SOCK_DIAG_VERSION = 1;
export const SOCK_DIAG_RECORD_SIZE = 48;

/** Protocol mask bits of sockDiagDump: TCP v4/v6, UDP v4/v6, UDP-Lite v4/v6. */
export const ALL_TABLES_MASK = 0b111111;
const UDPLITE_MASK = 0b110000;

/** Every TCP state (1 << state, states 1..12). */
export const ALL_TCP_STATES = 0x1ffe;
/**
 * TCP states a scan needs: all but TIME_WAIT, SYN_RECV and NEW_SYN_RECV, whose entries have no
 * inode and so no owner (the index skips them). On a host churning connections, TIME_WAIT
 * sockets outnumber the rest many times over.
 */
export const OWNED_TCP_STATES = ALL_TCP_STATES & ~((1 << 6) | (1 << 3) | (1 << 12));

/** The part of the addon this reader uses. */
export type SockDiagAddon = Pick<
  NativeAddon,
  'sockDiagVersion' | 'sockDiagRecordSize' | 'sockDiagOpen' | 'sockDiagDump' | 'sockDiagClose'
>;

/** Where socket tables come from for one namespace; undefined: use /proc/net text instead. */
export interface SocketTableReader {
  /**
   * Sockets of namespace `netns`, entered through process `pid`; undefined when refused.
   * `pause` gives the event loop a turn while a long dump is decoded.
   */
  read(pid: number, netns: number, pause?: () => Promise<void>): Promise<SocketEntry[] | undefined>;
  /** Forget (close) the namespaces not in `alive`. */
  prune(alive: ReadonlySet<number>): void;
  /** Close everything. */
  close(): void;
  stats(): SockDiagStats;
}

/** Counters of the netlink reader. */
export interface SockDiagStats {
  /** Namespace dumps read through netlink. */
  readonly dumps: number;
  /** Namespace reads that fell back to /proc (netlink refused or failed). */
  readonly fallbacks: number;
  /** Netlink sockets open now (one per namespace). */
  readonly openNamespaces: number;
  /** Sockets the kernel listed past maxSockets, not read (the namespace fell back to /proc). */
  readonly droppedSockets: number;
  /** Why the last fallback happened; '' when none. */
  readonly lastError: string;
}

/** Options of {@link SockDiagTables}. */
export interface SockDiagOptions {
  /** TCP states to ask for (bit mask 1 << state). @default OWNED_TCP_STATES */
  tcpStates?: number;
  /** Sockets per namespace dump at most. @default 2_000_000 */
  maxSockets?: number;
  /** Netlink sockets (namespaces) kept open at most; others are opened per read. @default 4096 */
  maxOpenNamespaces?: number;
  /** Scans before a refused namespace is tried again. @default 60 */
  retryAfterReads?: number;
}

interface Namespace {
  fd: number;
  /** Previous dump and where each inode's record sat in it, to reuse unchanged entries. */
  previous: Uint8Array | undefined;
  entries: Map<number, [number, SocketEntry]>;
  /** The array of the previous dump, returned again when the dump is byte-for-byte the same. */
  list?: SocketEntry[];
}

/** True when the addon has a sock_diag reader of the layout this file decodes. */
export function hasSockDiag(addon: Partial<SockDiagAddon> | undefined): addon is SockDiagAddon {
  return (
    addon?.sockDiagOpen !== undefined &&
    addon.sockDiagVersion === SOCK_DIAG_VERSION &&
    addon.sockDiagRecordSize === SOCK_DIAG_RECORD_SIZE
  );
}

/**
 * Socket tables of every namespace through sock_diag. A namespace whose netlink socket cannot be
 * opened (no CAP_SYS_ADMIN over it, process gone) or whose dump fails answers undefined, and the
 * scanner reads its /proc/net text instead (counted in `fallbacks`).
 */
export class SockDiagTables implements SocketTableReader {
  private readonly namespaces = new Map<number, Namespace>();
  private readonly refused = new Map<number, number>();
  private readonly tcpStates: number;
  private readonly maxSockets: number;
  private readonly maxOpen: number;
  private readonly retryAfterReads: number;
  private protocolMask = ALL_TABLES_MASK;
  private dumps = 0;
  private fallbacks = 0;
  private droppedSockets = 0;
  private lastError = '';
  private ownNetns: number | undefined;
  private inFlight: Promise<unknown> | undefined;
  private isClosed = false;

  constructor(
    private readonly addon: SockDiagAddon,
    options: SockDiagOptions = {},
  ) {
    this.tcpStates = options.tcpStates ?? OWNED_TCP_STATES;
    this.maxSockets = options.maxSockets ?? 2_000_000;
    this.maxOpen = options.maxOpenNamespaces ?? 4096;
    this.retryAfterReads = options.retryAfterReads ?? 60;
  }

  async read(
    pid: number,
    netns: number,
    pause?: () => Promise<void>,
  ): Promise<SocketEntry[] | undefined> {
    const wait = this.refused.get(netns);
    if (wait !== undefined) {
      if (wait > 0) {
        this.refused.set(netns, wait - 1);
        this.fallbacks++;
        return undefined;
      }
      this.refused.delete(netns);
    }
    if (this.isClosed) return undefined;
    let ns = this.namespaces.get(netns);
    if (ns === undefined) {
      ns = this.open(pid, netns);
      if (ns === undefined) return undefined;
    }
    let dump;
    try {
      const pending = this.addon.sockDiagDump!(
        ns.fd,
        this.protocolMask,
        this.tcpStates,
        this.maxSockets,
      );
      this.inFlight = pending;
      dump = await pending;
    } catch (error) {
      return this.refuse(netns, `sock_diag dump failed: ${message(error)}`);
    } finally {
      this.inFlight = undefined;
    }
    if (this.isClosed) {
      this.closeNs(ns);
      return undefined;
    }
    if ((dump.failedMask & ~UDPLITE_MASK) !== 0 || dump.dropped > 0) {
      this.droppedSockets += dump.dropped;
      return this.refuse(
        netns,
        dump.dropped > 0
          ? `sock_diag listed more than ${this.maxSockets} sockets`
          : `sock_diag refused a table (errno ${dump.errno})`,
      );
    }
    // UDP-Lite alone missing (kernels built without it, or that dropped it): stop asking.
    if (dump.failedMask !== 0) this.protocolMask &= ~dump.failedMask;
    this.dumps++;
    if (!this.namespaces.has(netns)) this.closeNs(ns);
    return decodeRecords(dump.records, ns, pause);
  }

  prune(alive: ReadonlySet<number>): void {
    for (const [netns, ns] of this.namespaces) {
      if (alive.has(netns)) continue;
      // Our socket holds a reference on its namespace: close it so a dead namespace can go.
      this.closeNs(ns);
      this.namespaces.delete(netns);
    }
    for (const netns of this.refused.keys()) if (!alive.has(netns)) this.refused.delete(netns);
  }

  close(): void {
    this.isClosed = true;
    const closeAll = (): void => {
      for (const ns of this.namespaces.values()) this.closeNs(ns);
      this.namespaces.clear();
    };
    // A dump in the thread pool still uses its fd: close after it (the number could be reused).
    if (this.inFlight === undefined) closeAll();
    else void this.inFlight.then(closeAll, closeAll);
  }

  stats(): SockDiagStats {
    return {
      dumps: this.dumps,
      fallbacks: this.fallbacks,
      openNamespaces: this.namespaces.size,
      droppedSockets: this.droppedSockets,
      lastError: this.lastError,
    };
  }

  private open(pid: number, netns: number): Namespace | undefined {
    let socket;
    try {
      this.ownNetns ??= this.addon.sockDiagOpen!(null).netns;
      socket =
        netns === this.ownNetns
          ? this.addon.sockDiagOpen!(null)
          : this.addon.sockDiagOpen!(`/proc/${pid}/ns/net`);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      // A process that exited is no reason to give up on its namespace.
      if (code === 'ENOENT') {
        this.fallbacks++;
        return undefined;
      }
      return this.refuse(netns, `cannot open sock_diag in namespace ${netns}: ${message(error)}`);
    }
    if (socket.netns !== netns) {
      // The pid moved to another namespace (or was reused): the /proc path sorts it out.
      this.addon.sockDiagClose!(socket.fd);
      this.fallbacks++;
      return undefined;
    }
    const ns: Namespace = { fd: socket.fd, previous: undefined, entries: new Map() };
    if (this.namespaces.size < this.maxOpen) this.namespaces.set(netns, ns);
    return ns;
  }

  private refuse(netns: number, why: string): undefined {
    this.fallbacks++;
    this.lastError = why;
    this.refused.set(netns, this.retryAfterReads);
    const ns = this.namespaces.get(netns);
    if (ns !== undefined) {
      this.closeNs(ns);
      this.namespaces.delete(netns);
    }
    return undefined;
  }

  private closeNs(ns: Namespace): void {
    if (ns.fd >= 0) this.addon.sockDiagClose!(ns.fd);
    ns.fd = -1;
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Entries of one dump. A socket whose record is byte-for-byte the one of the previous dump
 * keeps its entry object (the index caches keys per entry, as for unchanged /proc lines).
 */
export async function decodeRecords(
  records: Uint8Array,
  ns?: {
    previous: Uint8Array | undefined;
    entries: Map<number, [number, SocketEntry]>;
    list?: SocketEntry[];
  },
  pause?: () => Promise<void>,
): Promise<SocketEntry[]> {
  // An idle namespace dumps the same bytes scan after scan: the same array says "unchanged".
  if (
    ns?.previous !== undefined &&
    ns.list !== undefined &&
    Buffer.from(ns.previous.buffer, ns.previous.byteOffset, ns.previous.byteLength).equals(records)
  ) {
    return ns.list;
  }
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const buffer = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  const count = Math.floor(records.byteLength / SOCK_DIAG_RECORD_SIZE);
  const entries: SocketEntry[] = new Array<SocketEntry>(count);
  const previous = ns?.previous;
  const before = ns?.entries;
  const next = new Map<number, [number, SocketEntry]>();
  for (let i = 0; i < count; i++) {
    if (pause !== undefined && (i & 255) === 255) await pause();
    const at = i * SOCK_DIAG_RECORD_SIZE;
    const inode = view.getUint32(at + 12, true);
    let entry: SocketEntry | undefined;
    if (inode !== 0 && previous !== undefined) {
      const old = before?.get(inode);
      if (
        old !== undefined &&
        buffer.compare(
          previous,
          old[0],
          old[0] + SOCK_DIAG_RECORD_SIZE,
          at,
          at + SOCK_DIAG_RECORD_SIZE,
        ) === 0
      ) {
        entry = old[1];
      }
    }
    entry ??= decodeRecord(records, view, at);
    entries[i] = entry;
    if (inode !== 0) next.set(inode, [at, entry]);
  }
  if (ns !== undefined) {
    ns.previous = records;
    ns.entries = next;
    ns.list = entries;
  }
  return entries;
}

function decodeRecord(records: Uint8Array, view: DataView, at: number): SocketEntry {
  const isV6 = records[at] === 6;
  const local = address(records, at + 16, isV6);
  let remote = address(records, at + 32, isV6);
  const localIsV4 = local.ipVersion === 4;
  if (localIsV4 !== (remote.ipVersion === 4)) {
    // As parseNetTableLine: a mapped local with `::` remote shows the IPv4 wildcard, and back.
    if (localIsV4 && remote.address === '::') remote = { address: '0.0.0.0', ipVersion: 4 };
    else if (!localIsV4 && remote.address === '0.0.0.0') remote = { address: '::', ipVersion: 6 };
  }
  return {
    protocol: records[at + 1]!,
    ipVersion: local.ipVersion,
    localAddress: local.address,
    localPort: view.getUint16(at + 4, true),
    remoteAddress: remote.address,
    remotePort: view.getUint16(at + 6, true),
    state: records[at + 2]!,
    uid: view.getUint32(at + 8, true),
    inode: view.getUint32(at + 12, true),
  };
}

function address(
  records: Uint8Array,
  at: number,
  isV6: boolean,
): { address: string; ipVersion: 4 | 6 } {
  if (!isV6) {
    return {
      address: `${records[at]}.${records[at + 1]}.${records[at + 2]}.${records[at + 3]}`,
      ipVersion: 4,
    };
  }
  const bytes = records.subarray(at, at + 16);
  let isMapped = bytes[10] === 0xff && bytes[11] === 0xff;
  for (let i = 0; i < 10 && isMapped; i++) if (bytes[i] !== 0) isMapped = false;
  return { address: formatIPv6(bytes), ipVersion: isMapped ? 4 : 6 };
}
