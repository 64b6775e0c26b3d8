// Builds RecordBatch buffers from plain packet descriptions, byte for byte in the layout of
// src/decode/record.ts, so downstream stages can be tested without the addon.
import { isIP } from 'node:net';

import type { RecordBatch } from '../../src/capture/packet-source.js';
import {
  Direction,
  RECORD_SIZE,
  REC_OFF_DEVICE,
  REC_OFF_DIRECTION,
  REC_OFF_DST_ADDR,
  REC_OFF_DST_PORT,
  REC_OFF_FLAGS,
  REC_OFF_FLOW_HASH,
  REC_OFF_IFINDEX,
  REC_OFF_IP_LEN,
  REC_OFF_IP_VERSION,
  REC_OFF_PAYLOAD_LEN,
  REC_OFF_PROTOCOL,
  REC_OFF_SRC_ADDR,
  REC_OFF_SRC_PORT,
  REC_OFF_TCP_FLAGS,
  REC_OFF_TS_SEC,
  REC_OFF_TS_USEC,
  REC_OFF_WIRE_LEN,
  RecordFlag,
} from '../../src/decode/record.js';

/** One packet as a test describes it. Omitted fields get the defaults noted. */
export interface PacketDescription {
  /** @default 4, or 6 when `src` contains ':' */
  readonly ipVersion?: 4 | 6;
  /** IP protocol number. @default 6 (TCP) */
  readonly protocol?: number;
  readonly src: string;
  /** @default 0 */
  readonly sport?: number;
  readonly dst: string;
  /** @default 0 */
  readonly dport?: number;
  /** IP length. @default payloadLen + 40 (IPv4 TCP) or the matching header sizes */
  readonly ipLen?: number;
  /** @default 0 */
  readonly payloadLen?: number;
  /** @default 0 */
  readonly tcpFlags?: number;
  /** `Direction` name or number. @default 'unknown' */
  readonly direction?: keyof typeof Direction | number;
  /** Capture time, ms since the epoch. @default 1_700_000_000_000 */
  readonly tsMs?: number;
  /** @default ipLen + 14 (Ethernet) */
  readonly wireLen?: number;
  /** @default 0 */
  readonly ifindex?: number;
  /** @default 0 */
  readonly deviceIndex?: number;
  /** Record flag bits. @default hasPorts for TCP/UDP, else 0 */
  readonly flags?: number;
}

/** A RecordBatch holding one record per description, in order. */
export function buildBatch(packets: readonly PacketDescription[]): RecordBatch {
  const buffer = new ArrayBuffer(Math.max(1, packets.length) * RECORD_SIZE);
  const view = new DataView(buffer, 0, packets.length * RECORD_SIZE);
  packets.forEach((p, i) => writeRecord(view, i, p));
  return { view, count: packets.length };
}

/** Write one description as record `index` of `view`. */
export function writeRecord(view: DataView, index: number, p: PacketDescription): void {
  const o = index * RECORD_SIZE;
  const ipVersion = p.ipVersion ?? (p.src.includes(':') ? 6 : 4);
  const protocol = p.protocol ?? 6;
  const hasPorts = protocol === 6 || protocol === 17;
  const l4Header = protocol === 6 ? 20 : protocol === 17 ? 8 : 0;
  const payloadLen = p.payloadLen ?? 0;
  const ipLen = p.ipLen ?? payloadLen + l4Header + (ipVersion === 4 ? 20 : 40);
  const tsMs = p.tsMs ?? 1_700_000_000_000;
  const direction =
    typeof p.direction === 'number' ? p.direction : Direction[p.direction ?? 'unknown'];
  for (let b = 0; b < RECORD_SIZE; b++) view.setUint8(o + b, 0);
  view.setUint32(o + REC_OFF_TS_SEC, Math.floor(tsMs / 1000), true);
  view.setUint32(o + REC_OFF_TS_USEC, Math.round((tsMs % 1000) * 1000), true);
  view.setUint32(o + REC_OFF_IFINDEX, p.ifindex ?? 0, true);
  view.setUint16(o + REC_OFF_DEVICE, p.deviceIndex ?? 0, true);
  view.setUint8(o + REC_OFF_DIRECTION, direction);
  view.setUint8(o + REC_OFF_IP_VERSION, ipVersion);
  view.setUint8(o + REC_OFF_PROTOCOL, protocol);
  view.setUint8(o + REC_OFF_TCP_FLAGS, p.tcpFlags ?? 0);
  view.setUint8(o + REC_OFF_FLAGS, p.flags ?? (hasPorts ? RecordFlag.hasPorts : 0));
  view.setUint16(o + REC_OFF_SRC_PORT, p.sport ?? 0, true);
  view.setUint16(o + REC_OFF_DST_PORT, p.dport ?? 0, true);
  view.setUint32(o + REC_OFF_WIRE_LEN, p.wireLen ?? ipLen + 14, true);
  view.setUint32(o + REC_OFF_IP_LEN, ipLen, true);
  view.setUint32(o + REC_OFF_PAYLOAD_LEN, payloadLen, true);
  writeAddress(view, o + REC_OFF_SRC_ADDR, p.src, ipVersion);
  writeAddress(view, o + REC_OFF_DST_ADDR, p.dst, ipVersion);
  view.setUint32(o + REC_OFF_FLOW_HASH, flowHash(view, o), true);
}

/** The address bytes (16, IPv4 in the first 4) of an IPv4 or IPv6 text address. */
export function addressBytes(address: string, ipVersion: 4 | 6): Uint8Array {
  const out = new Uint8Array(16);
  const kind = isIP(address);
  if (kind === 4) {
    const parts = address.split('.').map(Number);
    if (ipVersion === 4) out.set(parts, 0);
    else out.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...parts], 0);
    return out;
  }
  if (kind !== 6) throw new Error(`not an IP address: ${address}`);
  let text = address;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1] !== undefined) {
    const parts = v4[1].split('.').map(Number);
    tail = [((parts[0] ?? 0) << 8) | (parts[1] ?? 0), ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)];
    text = text.slice(0, -v4[1].length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':').map((g) => parseInt(g, 16));
  const r = rest === undefined || rest === '' ? [] : rest.split(':').map((g) => parseInt(g, 16));
  const groups =
    rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  if (tail.length === 2) groups.splice(6, 2, ...tail);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

function writeAddress(view: DataView, offset: number, address: string, ipVersion: 4 | 6): void {
  const bytes = addressBytes(address, ipVersion);
  bytes.forEach((b, i) => view.setUint8(offset + i, b));
}

/**
 * The flow hash record.h defines: FNV-1a, 32 bits, byte by byte over protocol, source address,
 * source port (LE), destination address, destination port (LE) of the record at `o`.
 */
export function flowHash(view: DataView, o: number): number {
  let h = 2166136261;
  const mix = (from: number, n: number): void => {
    for (let i = 0; i < n; i++) {
      h ^= view.getUint8(o + from + i);
      h = Math.imul(h, 16777619) >>> 0;
    }
  };
  mix(REC_OFF_PROTOCOL, 1);
  mix(REC_OFF_SRC_ADDR, 16);
  mix(REC_OFF_SRC_PORT, 2);
  mix(REC_OFF_DST_ADDR, 16);
  mix(REC_OFF_DST_PORT, 2);
  return h >>> 0;
}
