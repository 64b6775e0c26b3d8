// Text form of the addresses inside batch records, for the non-hot path (per flow, not per
// packet): IPv4 dotted quad, IPv6 compressed as RFC 5952, IPv4-mapped IPv6 shown as IPv4.
import { RECORD_SIZE, REC_OFF_DST_ADDR, REC_OFF_IP_VERSION, REC_OFF_SRC_ADDR } from './record.js';

/**
 * Text form of the 16-byte address at `offset` (IPv4 in the first 4 bytes when ipVersion is
 * 4). IPv6 is compressed as RFC 5952 (and node's os.networkInterfaces) prints it;
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is shown as plain IPv4.
 * @example formatAddress(view, index * RECORD_SIZE + REC_OFF_SRC_ADDR, 4) // '198.18.0.1'
 */
export function formatAddress(view: DataView, offset: number, ipVersion: number): string {
  if (ipVersion === 4) return formatIpv4(view, offset);
  let mapped = view.getUint16(offset + 10) === 0xffff;
  for (let i = 0; i < 10 && mapped; i++) mapped = view.getUint8(offset + i) === 0;
  if (mapped) return formatIpv4(view, offset + 12);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(view.getUint16(offset + i * 2));
  return formatIPv6Groups(groups);
}

/**
 * RFC 5952 text of eight 16-bit groups: lower case, no leading zeros, the longest run of two or
 * more zero groups (the first on a tie, section 4.2) shortened to `::`. Built with join() so
 * the result is one flat string (these end up as long-lived map keys).
 * @example formatIPv6Groups([0xfd42, 0x6e66, 0, 0, 0, 0, 0, 1]) // 'fd42:6e66::1'
 */
export function formatIPv6Groups(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return [hex.slice(0, bestStart).join(':'), hex.slice(bestStart + bestLen).join(':')].join('::');
}

/** The source address of record `index` as text. */
export function formatSrcAddress(view: DataView, index: number): string {
  const o = index * RECORD_SIZE;
  return formatAddress(view, o + REC_OFF_SRC_ADDR, view.getUint8(o + REC_OFF_IP_VERSION));
}

/** The destination address of record `index` as text. */
export function formatDstAddress(view: DataView, index: number): string {
  const o = index * RECORD_SIZE;
  return formatAddress(view, o + REC_OFF_DST_ADDR, view.getUint8(o + REC_OFF_IP_VERSION));
}

function formatIpv4(view: DataView, offset: number): string {
  // join() gives a flat string (a template literal keeps a rope alive: these are map keys).
  return [
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  ].join('.');
}

/** Distinct address texts kept by one {@link AddressNames} before it starts over. */
const ADDRESS_NAMES_LIMIT = 65_536;

/**
 * Interned address texts: every flow from or to one address shares one string instead of
 * formatting its own (100,000 flows between a few hosts cost a few strings, not 200,000).
 * Bounded: when `limit` texts are held the table starts over (counted in `resets`); a text
 * built after a reset is equal, just not shared with the older flows.
 */
export class AddressNames {
  /** Times the table was full and started over. */
  resets = 0;
  private readonly v4 = new Map<number, string>();
  private readonly v6 = new Map<string, string>();

  constructor(private readonly limit: number = ADDRESS_NAMES_LIMIT) {}

  /** Texts held now. */
  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /** The text of the address at `offset`, as {@link formatAddress} writes it. */
  text(view: DataView, offset: number, ipVersion: number): string {
    if (ipVersion === 4) {
      const word = view.getUint32(offset);
      let text = this.v4.get(word);
      if (text === undefined) {
        text = formatIpv4(view, offset);
        this.makeRoom();
        this.v4.set(word, text);
      }
      return text;
    }
    const built = formatAddress(view, offset, ipVersion);
    const known = this.v6.get(built);
    if (known !== undefined) return known;
    this.makeRoom();
    this.v6.set(built, built);
    return built;
  }

  private makeRoom(): void {
    if (this.v4.size + this.v6.size < this.limit) return;
    this.v4.clear();
    this.v6.clear();
    this.resets++;
  }
}
