// Pure parser of the kernel's socket tables /proc/net/{tcp,tcp6,udp,udp6} (and udplite, raw):
// text in, socket entries out, with addresses in the same text form the decoder prints.

import { formatIPv6Groups } from '../decode/address.js';
import { endianness } from 'node:os';

/** IP protocol numbers of the tables we read. */
export const PROTOCOL_TCP = 6;
export const PROTOCOL_UDP = 17;
export const PROTOCOL_UDPLITE = 136;
export const PROTOCOL_RAW = 255;

/** TCP states as numbered in include/net/tcp_states.h (the `st` column). */
export const TcpState = {
  established: 1,
  synSent: 2,
  synRecv: 3,
  finWait1: 4,
  finWait2: 5,
  timeWait: 6,
  close: 7,
  closeWait: 8,
  lastAck: 9,
  listen: 10,
  closing: 11,
  newSynRecv: 12,
} as const;

/** One socket from a /proc/net table. */
export interface SocketEntry {
  /** IP protocol number (6 TCP, 17 UDP...). */
  readonly protocol: number;
  /** 4, or 6 for native IPv6 addresses; IPv4-mapped addresses of tcp6/udp6 are 4. */
  readonly ipVersion: 4 | 6;
  /** Local address text (`127.0.0.1`, `fd42:6e66::1`, `0.0.0.0` or `::` for a wildcard bind). */
  readonly localAddress: string;
  readonly localPort: number;
  /** Remote address text; `0.0.0.0`/`::` with port 0 for listeners and unconnected UDP. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The `st` column (see {@link TcpState}); UDP uses 7 (unconnected) and 1 (connected). */
  readonly state: number;
  readonly uid: number;
  /** Socket inode; 0 for sockets no file refers to (TIME_WAIT, request sockets): no owner. */
  readonly inode: number;
}

/** Result of parsing one table file. */
export interface NetTable {
  readonly entries: SocketEntry[];
  /** Lines that did not parse (skipped). */
  readonly malformedLines: number;
}

// /proc/net/tcp prints addresses as the raw in-memory 32-bit words in hex (%08X of a __be32),
// so on a little-endian host the bytes of each word appear reversed.
const IS_LITTLE_ENDIAN = endianness() === 'LE';
const HEX_RE = /^[0-9A-Fa-f]+$/;

/** Optional memo of parsed lines (see LineCache in net-namespaces.ts). */
export interface TableLineCacheLike {
  get(line: string): SocketEntry | undefined;
  set(line: string, entry: SocketEntry): void;
}

/**
 * Parse a whole table file. The header line and blank lines are skipped; a bad line is
 * counted in `malformedLines` and parsing goes on. `cache` reuses entries of lines seen before.
 * @example
 * parseNetTable(readFileSync('/proc/net/tcp', 'utf8'), PROTOCOL_TCP).entries
 */
export function parseNetTable(
  text: string,
  protocol: number,
  cache?: TableLineCacheLike,
): NetTable {
  const entries: SocketEntry[] = [];
  let malformedLines = 0;
  let start = 0;
  let first = true;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (first) {
      first = false;
      // The header (`  sl  local_address ...`) is the first line; skip it by shape, not position,
      // so a fragment without a header still parses.
      if (line.includes('local_address')) continue;
    }
    if (line.trim() === '') continue;
    const entry = cache?.get(line) ?? parseNetTableLine(line, protocol);
    if (entry === undefined) malformedLines++;
    else {
      entries.push(entry);
      cache?.set(line, entry);
    }
  }
  return { entries, malformedLines };
}

/**
 * Parse one line of a table (`   0: 0100007F:0277 00000000:0000 0A ...`), or undefined when it
 * is not a well-formed socket line.
 */
export function parseNetTableLine(line: string, protocol: number): SocketEntry | undefined {
  const fields = line.trim().split(/\s+/);
  // sl local remote st tx:rx tr:when retrnsmt uid timeout inode [...]
  if (fields.length < 10) return undefined;
  const sl = fields[0] ?? '';
  if (!sl.endsWith(':')) return undefined;
  const local = parseEndpoint(fields[1] ?? '');
  const remote = parseEndpoint(fields[2] ?? '');
  if (local === undefined || remote === undefined) return undefined;
  const stateText = fields[3] ?? '';
  if (stateText.length !== 2 || !HEX_RE.test(stateText)) return undefined;
  const uid = parseDecimal(fields[7] ?? '');
  const inode = parseDecimal(fields[9] ?? '');
  if (uid === undefined || inode === undefined) return undefined;
  const localIsV4 = local.ipVersion === 4;
  if (localIsV4 !== (remote.ipVersion === 4)) {
    // A dual-stack socket reports both ends mapped or neither; `::` remote with a mapped
    // local (unconnected) is the one mixed case: show the remote as the IPv4 wildcard.
    if (localIsV4 && remote.address === '::') remote.address = '0.0.0.0';
    else if (!localIsV4 && remote.address === '0.0.0.0') remote.address = '::';
  }
  return {
    protocol,
    ipVersion: local.ipVersion,
    localAddress: local.address,
    localPort: local.port,
    remoteAddress: remote.address,
    remotePort: remote.port,
    state: Number.parseInt(stateText, 16),
    uid,
    inode,
  };
}

function parseDecimal(text: string): number | undefined {
  if (text === '' || !/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

interface Endpoint {
  address: string;
  port: number;
  ipVersion: 4 | 6;
}

function parseEndpoint(text: string): Endpoint | undefined {
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const hexAddress = text.slice(0, colon);
  const hexPort = text.slice(colon + 1);
  if (hexPort.length !== 4 || !HEX_RE.test(hexPort) || !HEX_RE.test(hexAddress)) return undefined;
  const port = Number.parseInt(hexPort, 16);
  if (hexAddress.length === 8) {
    return { address: formatIPv4Word(Number.parseInt(hexAddress, 16)), port, ipVersion: 4 };
  }
  if (hexAddress.length !== 32) return undefined;
  const bytes = new Uint8Array(16);
  for (let word = 0; word < 4; word++) {
    const value = Number.parseInt(hexAddress.slice(word * 8, word * 8 + 8), 16);
    writeHostWord(bytes, word * 4, value);
  }
  const mapped = ipv4FromMapped(bytes);
  if (mapped !== undefined) return { address: mapped, port, ipVersion: 4 };
  return { address: formatIPv6(bytes), port, ipVersion: 6 };
}

function writeHostWord(bytes: Uint8Array, offset: number, value: number): void {
  if (IS_LITTLE_ENDIAN) {
    bytes[offset] = value & 0xff;
    bytes[offset + 1] = (value >>> 8) & 0xff;
    bytes[offset + 2] = (value >>> 16) & 0xff;
    bytes[offset + 3] = (value >>> 24) & 0xff;
  } else {
    bytes[offset] = (value >>> 24) & 0xff;
    bytes[offset + 1] = (value >>> 16) & 0xff;
    bytes[offset + 2] = (value >>> 8) & 0xff;
    bytes[offset + 3] = value & 0xff;
  }
}

/** Dotted IPv4 text of a /proc/net/tcp address word (the in-memory __be32 read as a host integer). */
export function formatIPv4Word(value: number): string {
  return IS_LITTLE_ENDIAN
    ? [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff].join('.')
    : [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

/** `a.b.c.d` when the 16 bytes are an IPv4-mapped address (::ffff:a.b.c.d), else undefined. */
function ipv4FromMapped(bytes: Uint8Array): string | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
}

/**
 * RFC 5952 text of 16 network-order bytes: lower case, no leading zeros, the longest run of two
 * or more zero groups (the first on a tie) shortened to `::`. IPv4-mapped addresses print as
 * plain IPv4, as the FlowTuple contract says.
 * @example formatIPv6(bytes) // 'fd42:6e66::1'
 */
export function formatIPv6(bytes: Uint8Array): string {
  const mapped = ipv4FromMapped(bytes);
  if (mapped !== undefined) return mapped;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0));
  return formatIPv6Groups(groups);
}

/** Parse the 32-hex-digit network-order address of /proc/net/if_inet6 into RFC 5952 text. */
export function parseIfInet6Address(hex: string): string | undefined {
  if (hex.length !== 32 || !HEX_RE.test(hex)) return undefined;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return formatIPv6(bytes);
}

/** True for wildcard (unspecified) local addresses. */
export function isWildcardAddress(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

/** True for 127.0.0.0/8 and ::1, which every namespace has on its own loopback. */
export function isLoopbackAddress(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
