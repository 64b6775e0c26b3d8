// One network namespace's view: its socket tables and its local addresses, read through
// /proc/<pid>/net/* of one process inside it (procfs shows the reading task's namespace).

import {
  PROTOCOL_TCP,
  PROTOCOL_UDP,
  PROTOCOL_UDPLITE,
  parseIfInet6Address,
  parseNetTable,
} from './net-table.js';
import type { SocketEntry, TableLineCacheLike } from './net-table.js';
import { isVanished } from './procfs.js';
import type { ProcFs } from './procfs.js';

/** Socket tables and addresses of one network namespace. */
export interface NamespaceTables {
  /** Inode of the namespace (/proc/<pid>/ns/net). */
  readonly netns: number;
  readonly sockets: readonly SocketEntry[];
  /** Unicast addresses assigned in this namespace (IPv4 from fib_trie, IPv6 from if_inet6). */
  readonly addresses: Set<string>;
  /** Table lines that did not parse. */
  readonly malformedLines: number;
}

const TABLES: readonly [string, number, boolean][] = [
  // [file, protocol, required]: tcp must exist in every namespace; the rest are absent when
  // IPv6 or UDP-Lite is not built in.
  ['tcp', PROTOCOL_TCP, true],
  ['tcp6', PROTOCOL_TCP, false],
  ['udp', PROTOCOL_UDP, false],
  ['udp6', PROTOCOL_UDP, false],
  ['udplite', PROTOCOL_UDPLITE, false],
  ['udplite6', PROTOCOL_UDPLITE, false],
];

/** How a long read shares the event loop (see SocketScanner). */
export interface ScanSlices {
  /** Called when an awaited read comes back: a new synchronous stretch starts. */
  resumed(): void;
  /** Yield to the event loop if the current stretch is long enough. */
  pause(): Promise<void>;
}

/**
 * Read the tables of the namespace `pid` lives in. Undefined when the process vanished (the
 * caller tries another process of the same namespace).
 */
export async function readNamespaceTables(
  procFs: ProcFs,
  pid: number,
  netns: number,
  lineCache?: LineCache,
  slices?: ScanSlices,
): Promise<NamespaceTables | undefined> {
  const base = `/proc/${pid}/net`;
  const sockets: SocketEntry[] = [];
  let malformedLines = 0;
  for (const [file, protocol, required] of TABLES) {
    let text: string;
    try {
      const path = `${base}/${file}`;
      if (procFs.readTextAsync) {
        text = await procFs.readTextAsync(path);
        slices?.resumed();
      } else {
        text = procFs.readText(path);
      }
    } catch (error) {
      if (required || !isVanished(error)) return undefined;
      continue;
    }
    const table = parseNetTable(text, protocol, lineCache?.forTable(netns, file));
    malformedLines += table.malformedLines;
    for (const entry of table.entries) sockets.push(entry);
    await slices?.pause();
  }
  return { netns, sockets, addresses: readNamespaceAddresses(procFs, pid), malformedLines };
}

/** Tables of `netns` from sockets read elsewhere (sock_diag), with addresses from /proc. */
export function namespaceTablesOf(
  procFs: ProcFs,
  pid: number,
  netns: number,
  sockets: readonly SocketEntry[],
): NamespaceTables {
  return { netns, sockets, addresses: readNamespaceAddresses(procFs, pid), malformedLines: 0 };
}

/** Unicast addresses of the namespace `pid` lives in (fib_trie, if_inet6). */
function readNamespaceAddresses(procFs: ProcFs, pid: number): Set<string> {
  const base = `/proc/${pid}/net`;
  const addresses = new Set<string>();
  tryRead(procFs, `${base}/fib_trie`, (text) => addFibTrieLocals(text, addresses));
  tryRead(procFs, `${base}/if_inet6`, (text) => addIfInet6(text, addresses));
  return addresses;
}

/**
 * Entries parsed in the previous scan, by exact line text, per namespace and table: idle
 * sockets print the same line scan after scan, and a map hit is several times cheaper than a
 * parse. Each table keeps only the lines of its latest read, so it stays bounded by the table.
 */
export class LineCache {
  private readonly tables = new Map<string, Map<string, SocketEntry>>();
  private touched = new Set<string>();

  /** Memo for one read of one table: looks up the previous read, records this one. */
  forTable(netns: number, file: string): TableLineCacheLike {
    const key = `${netns}/${file}`;
    this.touched.add(key);
    const previous = this.tables.get(key);
    const next = new Map<string, SocketEntry>();
    this.tables.set(key, next);
    return {
      get: (line) => previous?.get(line),
      set: (line, entry) => void next.set(line, entry),
    };
  }

  /** Drop the tables not read since the last call (their namespace is gone). */
  prune(): void {
    for (const key of this.tables.keys()) if (!this.touched.has(key)) this.tables.delete(key);
    this.touched = new Set();
  }
}

function tryRead(procFs: ProcFs, path: string, use: (text: string) => void): void {
  let text: string;
  try {
    text = procFs.readText(path);
  } catch {
    // Absent (no IPv6) or refused: the namespace just has fewer known addresses.
    return;
  }
  use(text);
}

/**
 * Add the IPv4 addresses fib_trie marks `/32 host LOCAL` (the local routing table: exactly the
 * addresses assigned in this namespace). /proc/net/route lacks them; fib_trie is what `ip route
 * show table local` reads.
 */
export function addFibTrieLocals(text: string, into: Set<string>): void {
  let last = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('|-- ')) last = line.slice(4);
    else if (line.startsWith('/32 host LOCAL') && last !== '') into.add(last);
  }
}

/** Add the addresses of /proc/net/if_inet6 (`<32 hex> <ifindex> <plen> <scope> <flags> <name>`). */
export function addIfInet6(text: string, into: Set<string>): void {
  for (const line of text.split('\n')) {
    const hex = line.slice(0, 32);
    const address = parseIfInet6Address(hex);
    if (address !== undefined) into.add(address);
  }
}
