// The socket index one scan builds (socket-scanner.ts): every namespace's sockets keyed three ways
// for the attributor's lookups (exact 5-tuple, bound address + port, wildcard + port), with the
// owner of each socket and the addresses local to each namespace. Immutable once built.

import { isLoopbackAddress, isWildcardAddress } from './net-table.js';
import type { SocketEntry } from './net-table.js';
import type { Owner } from './types.js';

/** A socket of the index: a table entry and the namespace whose table listed it. */
export interface IndexedSocket {
  readonly entry: SocketEntry;
  readonly netns: number;
}

type Candidates = IndexedSocket | IndexedSocket[];

// Entries are reused across scans for unchanged table lines (LineCache), so their index keys
// are worth keeping: a WeakMap hit is cheaper than building and hashing a new string.
const INDEX_KEYS = new WeakMap<SocketEntry, string>();

/** The key of `e` in the exact, bound or wildcard map (the same shapes findOwner builds). */
function indexKey(e: SocketEntry): string {
  let key = INDEX_KEYS.get(e);
  if (key === undefined) {
    key =
      e.remotePort !== 0
        ? `${e.protocol}|${e.localAddress}|${e.localPort}|${e.remoteAddress}|${e.remotePort}`
        : isWildcardAddress(e.localAddress)
          ? `${e.protocol}|${e.localPort}`
          : `${e.protocol}|${e.localAddress}|${e.localPort}`;
    INDEX_KEYS.set(e, key);
  }
  return key;
}

function add(map: Map<string, Candidates>, key: string, socket: IndexedSocket): void {
  const current = map.get(key);
  if (current === undefined) map.set(key, socket);
  else if (Array.isArray(current)) current.push(socket);
  else map.set(key, [current, socket]);
}

/**
 * The sockets of every namespace after one scan, indexed three ways for the lookup order:
 * exact 5-tuple, bound local address + port (listeners, unconnected UDP), wildcard + port.
 * Immutable once built; the next scan builds a new one.
 */
export class SocketIndex {
  private readonly exact = new Map<string, Candidates>();
  private readonly bound = new Map<string, Candidates>();
  private readonly wildcard = new Map<string, Candidates>();
  /** Addresses local to some namespace on this host. */
  private readonly anyNamespace = new Set<string>();
  /** `${protocol}|${port}` -> owned sockets, for UDP only; built on first use. */
  private udpPorts: Map<string, { address: string; pid: number }[]> | undefined;

  constructor(
    /** Namespace of the capture (our own): the only one whose loopback we can see. 0: unknown. */
    readonly hostNetns: number,
    private readonly localAddresses: { has(address: string): boolean },
    private readonly nsAddresses: ReadonlyMap<number, ReadonlySet<string>>,
    private readonly owners: ReadonlyMap<number, Owner>,
    sockets: readonly IndexedSocket[],
  ) {
    for (const addresses of nsAddresses.values())
      for (const a of addresses) this.anyNamespace.add(a);
    this.addSockets(sockets, 0, sockets.length);
  }

  /** Also count these addresses as local (namespaces seen by recent scans, not this one). */
  addRecentlyLocal(addresses: Iterable<string>): void {
    for (const a of addresses) this.anyNamespace.add(a);
  }

  /**
   * Index `sockets[from..to)`; only while the index is being built (the scanner adds the
   * sockets in slices, yielding between them), never once it is in use.
   */
  addSockets(sockets: readonly IndexedSocket[], from: number, to: number): void {
    for (let i = from; i < to; i++) {
      const socket = sockets[i]!;
      const e = socket.entry;
      if (e.inode === 0) continue; // TIME_WAIT and request sockets: no file, no owner.
      const map =
        e.remotePort !== 0
          ? this.exact
          : isWildcardAddress(e.localAddress)
            ? this.wildcard
            : this.bound;
      add(map, indexKey(e), socket);
    }
  }

  /** An empty index (before the first scan). */
  static empty(localAddresses: { has(address: string): boolean }): SocketIndex {
    return new SocketIndex(0, localAddresses, new Map(), new Map(), []);
  }

  /**
   * Owner of the local socket at (`address`, `port`) talking to (`peerAddress`, `peerPort`):
   * exact 5-tuple first, then a socket bound to the address with no peer, then a wildcard
   * socket in a namespace where the address is local. The first level with a socket decides,
   * even when its owner is not known yet (a listener must not take an accepted connection's
   * packets).
   */
  findOwner(
    protocol: number,
    address: string,
    port: number,
    peerAddress: string,
    peerPort: number,
  ): Owner | undefined {
    let socket = this.pick(
      this.exact.get(`${protocol}|${address}|${port}|${peerAddress}|${peerPort}`),
      address,
      false,
    );
    socket ??= this.pick(this.bound.get(`${protocol}|${address}|${port}`), address, false);
    socket ??= this.pick(this.wildcard.get(`${protocol}|${port}`), address, true);
    return socket === undefined ? undefined : this.owners.get(socket.entry.inode);
  }

  /**
   * Like {@link findOwner}, and says whether the socket found is the connection's own (exact
   * 5-tuple) or a socket with no peer (a listener, an unconnected UDP socket) standing in for it.
   * `found` is false when no socket matches at all.
   */
  findOwnerLevel(
    protocol: number,
    address: string,
    port: number,
    peerAddress: string,
    peerPort: number,
  ): { found: boolean; isExact: boolean; isShared: boolean; owner: Owner | undefined } {
    const exact = this.pick(
      this.exact.get(`${protocol}|${address}|${port}|${peerAddress}|${peerPort}`),
      address,
      false,
    );
    if (exact !== undefined) {
      const owner = this.owners.get(exact.entry.inode);
      return { found: true, isExact: true, isShared: false, owner };
    }
    let candidates = this.bound.get(`${protocol}|${address}|${port}`);
    let socket = this.pick(candidates, address, false);
    if (socket === undefined) {
      candidates = this.wildcard.get(`${protocol}|${port}`);
      socket = this.pick(candidates, address, true);
    }
    if (socket === undefined) {
      return { found: false, isExact: false, isShared: false, owner: undefined };
    }
    const owner = this.owners.get(socket.entry.inode);
    // Several sockets of other processes on the same port of the same namespace (an
    // SO_REUSEPORT group): the one picked need not be the one that took the connection.
    let isShared = false;
    if (Array.isArray(candidates)) {
      for (const other of candidates) {
        if (other === socket || other.netns !== socket.netns) continue;
        const otherOwner = this.owners.get(other.entry.inode);
        if (otherOwner?.process.pid !== owner?.process.pid) isShared = true;
      }
    }
    return { found: true, isExact: false, isShared, owner };
  }

  /** True when any socket (owned or not) matches this local end, at any level of the lookup. */
  hasSocket(
    protocol: number,
    address: string,
    port: number,
    peerAddress: string,
    peerPort: number,
  ): boolean {
    return (
      this.pick(
        this.exact.get(`${protocol}|${address}|${port}|${peerAddress}|${peerPort}`),
        address,
        false,
      ) !== undefined ||
      this.pick(this.bound.get(`${protocol}|${address}|${port}`), address, false) !== undefined ||
      this.pick(this.wildcard.get(`${protocol}|${port}`), address, true) !== undefined
    );
  }

  /**
   * Owned UDP/UDP-Lite sockets on local `port` (any address, any namespace) with their local
   * address and owner pid. Built once per index at the first call (only when UDP send events
   * are in use), so a scan without them pays nothing.
   */
  udpPortOwners(protocol: number, port: number): readonly { address: string; pid: number }[] {
    if (this.udpPorts === undefined) {
      const ports = new Map<string, { address: string; pid: number }[]>();
      for (const map of [this.exact, this.bound, this.wildcard]) {
        for (const candidates of map.values()) {
          for (const socket of Array.isArray(candidates) ? candidates : [candidates]) {
            const e = socket.entry;
            if (e.protocol === 6) break; // one key holds one protocol
            const owner = this.owners.get(e.inode);
            if (owner === undefined) continue;
            const key = `${e.protocol}|${e.localPort}`;
            const list = ports.get(key);
            const item = { address: e.localAddress, pid: owner.process.pid };
            if (list === undefined) ports.set(key, [item]);
            else list.push(item);
          }
        }
      }
      this.udpPorts = ports;
    }
    return this.udpPorts.get(`${protocol}|${port}`) ?? [];
  }

  /** True when `address` belongs to this host: the host's addresses, loopback, or any namespace's. */
  isLocal(address: string): boolean {
    return (
      this.localAddresses.has(address) ||
      isLoopbackAddress(address) ||
      this.anyNamespace.has(address)
    );
  }

  /** True when `address` is local to namespace `netns`. */
  isLocalTo(netns: number, address: string): boolean {
    if (isLoopbackAddress(address)) return true;
    if (this.nsAddresses.get(netns)?.has(address) === true) return true;
    return netns === this.hostNetns && this.localAddresses.has(address);
  }

  private pick(
    candidates: Candidates | undefined,
    address: string,
    requireLocal: boolean,
  ): IndexedSocket | undefined {
    if (candidates === undefined) return undefined;
    const list = Array.isArray(candidates) ? candidates : [candidates];
    const isLoopback = isLoopbackAddress(address);
    const isV6 = address.includes(':');
    let best: IndexedSocket | undefined;
    let bestScore = -1;
    for (const socket of list) {
      // We capture in our own namespace: a loopback packet can only be one of its sockets.
      if (isLoopback && this.hostNetns !== 0 && socket.netns !== this.hostNetns) continue;
      // An IPv4 socket never carries IPv6 packets (the reverse, `::` without V6ONLY, does).
      if (isV6 && socket.entry.ipVersion === 4) continue;
      const isLocal = this.isLocalTo(socket.netns, address);
      if (requireLocal && !isLocal) continue;
      const score =
        (isLocal ? 4 : 0) +
        (socket.netns === this.hostNetns ? 2 : 0) +
        (socket.entry.ipVersion === (isV6 ? 6 : 4) ? 1 : 0);
      if (score > bestScore) {
        best = socket;
        bestScore = score;
      }
    }
    return best;
  }
}
