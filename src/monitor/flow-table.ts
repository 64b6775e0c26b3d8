// Per-flow aggregation of record batches: the per-packet hot path. Records are matched to
// flows in an open-addressing hash table over typed arrays (no allocation, no strings per
// packet); text tuples are built once per flow, counters are handed on once per flow per batch.

import type { FlowCounters, FlowTuple } from '../attribute/types.js';
import {
  RECORD_SIZE,
  REC_OFF_DST_ADDR,
  REC_OFF_IFINDEX,
  REC_OFF_DST_PORT,
  REC_OFF_FLOW_HASH,
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
  TCP_FIN,
  TCP_RST,
} from '../decode/record.js';
import { AddressNames } from '../decode/address.js';
import { flowKey } from '../attribute/flow-key.js';
import type { DeviceCopy } from './device-copies.js';

/**
 * A flow known to the table on one network interface: its text tuple, addresses interned (flows
 * share them). The same tuple seen on two interfaces (a container's veth and the bridge, also
 * within one capture on `any`) is two flows here; device-copies.ts counts their packets once.
 */
export interface FlowState extends FlowTuple {
  /** OS interface index the packets were seen on (record.h: the SLL2 header's on `any`). */
  readonly device: number;
  /** The untranslated flow this copy belongs to (set by DeviceCopies at its first batch). */
  copy: DeviceCopy | undefined;
  /** With one capture interface: the flow handed to the attributor (NAT undone), once known. */
  attributed: FlowTuple | undefined;
}

const KEY_WORDS = 11; // meta (IP version, protocol), ports, 4 words of each address, ifindex
const ACC_FIELDS = 6; // packets, bytes, payloadBytes, wireBytes, firstMs, lastMs
/** Flow columns start this big and double as flows come, up to maxFlows. */
const MIN_FLOW_CAPACITY = 256;
/**
 * Past this many flows the columns are reserved at maxFlows at once instead of doubling. Arrays
 * this big are their own mmap()ed zero pages (the pidflow command sets glibc's mmap threshold to
 * 128 KiB; glibc's default starts there too), which stay out of the resident set until written,
 * and flow numbers are dense from 0: resident memory follows the live flows, as with doubling,
 * without a doubled copy and the old columns waiting for the garbage collector (about 15 MB
 * at 100,000 flows, docs/architecture.md#memory).
 */
const RESERVE_FLOWS = 4096;
/** Tables whose columns at maxFlows would pass this keep doubling. */
const RESERVE_MAX_BYTES = 64 * 2 ** 20;
/** Bytes per flow of the columns growFlows() allocates. */
const FLOW_COLUMN_BYTES = KEY_WORDS * 4 + 4 + 8 + 1 + 4 + 4;

// Word indexes (32-bit) of the record fields ingest() reads; record.ts offsets are 4-aligned.
const RECORD_WORDS = RECORD_SIZE / 4;
const W_TS_SEC = REC_OFF_TS_SEC / 4;
const W_TS_USEC = REC_OFF_TS_USEC / 4;
const W_PORTS = REC_OFF_SRC_PORT / 4; // source port in the low half, destination in the high
const W_WIRE_LEN = REC_OFF_WIRE_LEN / 4;
const W_IP_LEN = REC_OFF_IP_LEN / 4;
const W_PAYLOAD_LEN = REC_OFF_PAYLOAD_LEN / 4;
const W_SRC_ADDR = REC_OFF_SRC_ADDR / 4;
const W_DST_ADDR = REC_OFF_DST_ADDR / 4;
const W_FLOW_HASH = REC_OFF_FLOW_HASH / 4;
const W_IFINDEX = REC_OFF_IFINDEX / 4;
/** Typed arrays read in host byte order; the records are little-endian (native/record.h). */
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Options of {@link FlowTable}. */
export interface FlowTableOptions {
  /** Live flows at most; packets of new flows beyond it go to the overflow counters. */
  maxFlows: number;
  /** IP protocol numbers to keep; records of other protocols are only counted. */
  protocols: readonly number[];
}

/** Counters of the table itself, for stats(). */
export interface FlowTableStats {
  flows: number;
  capacitySlots: number;
  /** Flows removed after being idle (or closed) long enough. */
  expiredFlows: number;
  /** Packets of new flows that found the table full, accounted as unknown. */
  overflowPackets: number;
  overflowBytes: number;
  /** Records of protocols not selected (ICMP when only tcp/udp are asked for...). */
  otherProtocolPackets: number;
  otherProtocolBytes: number;
}

/**
 * Aggregates record batches per directional 5-tuple.
 *
 * Layout: an open-addressing index of `slots` (a power of two, at most half full) holds, per
 * slot, 1 + the flow's number and the flow's hash (8 bytes a slot). Everything else is a column
 * indexed by flow number, dense and only as long as the flows need (doubling up to maxFlows):
 * numbers of removed flows are reused, and never move while the flow lives.
 */
export class FlowTable {
  private readonly maxFlows: number;
  private readonly maxSlots: number;
  private readonly protocolAllowed = new Uint8Array(256);
  private slots = 0;
  private mask = 0;
  /** Per slot: 1 + the number of the flow in it, 0 when empty. */
  private slotFlow = new Int32Array(0);
  /** Per slot: the hash of the flow in it. */
  private hashes = new Uint32Array(0);
  /** Sums of the flows touched in the current batch, by position in `touched` (not by flow). */
  private acc = new Float64Array(0);
  private tcpFlags = new Uint8Array(0);
  // Columns by flow number.
  private capacity = 0;
  private keys = new Uint32Array(0);
  private flowHash = new Uint32Array(0);
  private lastSeenMs = new Float64Array(0);
  private closedFlags = new Uint8Array(0);
  /** Per flow: 1 + position in `touched` while the flow is touched in this batch, else 0. */
  private touchedAt = new Int32Array(0);
  private flows: (FlowState | undefined)[] = [];
  /** Numbers of removed flows, to reuse; `highWater` numbers were ever handed out. */
  private freeFlows = new Int32Array(0);
  private freeCount = 0;
  private highWater = 0;
  private touched = new Int32Array(0);
  private touchedCount = 0;
  private live = 0;
  private readonly scratch = new Uint32Array(KEY_WORDS);
  /** Aligned host-order copy of a batch that cannot be read in place (see recordWords). */
  private alignedScratch = new ArrayBuffer(0);
  private readonly addressNames = new AddressNames();
  private readonly counters = {
    expiredFlows: 0,
    overflowPackets: 0,
    overflowBytes: 0,
    overflowPending: 0,
    overflowPendingBytes: 0,
    overflowPendingPayload: 0,
    overflowPendingWire: 0,
    overflowFirstMs: 0,
    overflowLastMs: 0,
    otherProtocolPackets: 0,
    otherProtocolBytes: 0,
  };

  constructor(options: FlowTableOptions) {
    this.maxFlows = options.maxFlows;
    // Load factor at most 1/2 keeps linear probing short.
    this.maxSlots = nextPowerOfTwo(Math.max(1024, options.maxFlows * 2));
    for (const p of options.protocols) this.protocolAllowed[p] = 1;
    this.resize(Math.min(this.maxSlots, 4096));
  }

  /** Number of live flows. */
  get size(): number {
    return this.live;
  }

  /**
   * Adds every record of a batch to its flow's accumulators. Call {@link drain} afterwards
   * (before the next batch) to hand the per-flow sums on.
   */
  ingest(view: DataView, count: number): void {
    // The typed-array views below would read past a view too short for `count` (into the rest
    // of its buffer) where DataView getters threw: read only the records the view holds.
    count = Math.min(count, Math.floor(view.byteLength / RECORD_SIZE));
    // Grow before the batch: every record may start a flow, and the columns the loop below
    // holds in locals must not be replaced under it.
    while (this.slots < this.maxSlots && (this.live + count) * 2 > this.slots) {
      this.resize(this.slots * 2);
    }
    const needed = Math.min(this.maxFlows, this.live + count);
    if (needed > this.capacity) this.growFlows(needed);
    if (this.touched.length < count + this.touchedCount) {
      const size = Math.max(count + this.touchedCount, this.touched.length * 2, 1024);
      const touched = new Int32Array(size);
      touched.set(this.touched.subarray(0, this.touchedCount));
      this.touched = touched;
      const acc = new Float64Array(size * ACC_FIELDS);
      acc.set(this.acc.subarray(0, this.touchedCount * ACC_FIELDS));
      this.acc = acc;
      const tcpFlags = new Uint8Array(size);
      tcpFlags.set(this.tcpFlags.subarray(0, this.touchedCount));
      this.tcpFlags = tcpFlags;
    }
    // Typed-array reads instead of DataView getters: about 2x faster per record (bench in
    // docs/benchmarks.md). words/bytes cover the same records, in host order (see recordWords).
    const words = this.recordWords(view, count);
    const bytes = new Uint8Array(words.buffer, words.byteOffset, count * RECORD_SIZE);
    const key = this.scratch;
    const c = this.counters;
    const acc = this.acc;
    const tcpFlags = this.tcpFlags;
    const touchedAt = this.touchedAt;
    const touched = this.touched;
    const closedFlags = this.closedFlags;
    const protocolAllowed = this.protocolAllowed;
    // Packets of one flow tend to come in runs (bulk transfers, floods): try the previous
    // record's flow before hashing. Flow numbers do not change while a flow lives.
    let lastFlow = -1;
    for (let i = 0; i < count; i++) {
      const b = i * RECORD_SIZE;
      const w = i * RECORD_WORDS;
      const protocol = bytes[b + REC_OFF_PROTOCOL]!;
      const ipLen = words[w + W_IP_LEN]!;
      if (protocolAllowed[protocol] === 0) {
        c.otherProtocolPackets++;
        c.otherProtocolBytes += ipLen;
        continue;
      }
      const meta = (bytes[b + REC_OFF_IP_VERSION]! << 8) | protocol;
      const tsMs = words[w + W_TS_SEC]! * 1000 + words[w + W_TS_USEC]! / 1000;
      const payload = words[w + W_PAYLOAD_LEN]!;
      const wire = words[w + W_WIRE_LEN]!;
      let flow = lastFlow;
      if (flow < 0 || !this.recordHasKey(flow, meta, words, w)) {
        key[0] = meta;
        // Both ports as one word: the key is only compared and hashed, never decoded.
        key[1] = words[w + W_PORTS]!;
        key[2] = words[w + W_SRC_ADDR]!;
        key[3] = words[w + W_SRC_ADDR + 1]!;
        key[4] = words[w + W_SRC_ADDR + 2]!;
        key[5] = words[w + W_SRC_ADDR + 3]!;
        key[6] = words[w + W_DST_ADDR]!;
        key[7] = words[w + W_DST_ADDR + 1]!;
        key[8] = words[w + W_DST_ADDR + 2]!;
        key[9] = words[w + W_DST_ADDR + 3]!;
        // The interface is part of the key: copies of one packet on several interfaces are
        // told apart here and counted once downstream (device-copies.ts).
        key[10] = words[w + W_IFINDEX]!;
        // The addon's flow hash (FNV-1a of protocol, addresses and ports, record.h) is a
        // function of the key's fields, so one flow always probes from one home slot; hashing
        // the key again here cost a third of the lookup time with many interleaved flows.
        flow = this.findOrInsert(key, words[w + W_FLOW_HASH]!, view, b);
      }
      lastFlow = flow;
      if (flow < 0) {
        c.overflowPackets++;
        c.overflowBytes += ipLen;
        if (c.overflowPending === 0) c.overflowFirstMs = tsMs;
        c.overflowPending++;
        c.overflowPendingBytes += ipLen;
        c.overflowPendingPayload += payload;
        c.overflowPendingWire += wire;
        c.overflowLastMs = tsMs;
        continue;
      }
      let t = touchedAt[flow]! - 1;
      if (t < 0) {
        t = this.touchedCount++;
        touchedAt[flow] = t + 1;
        touched[t] = flow;
        const z = t * ACC_FIELDS;
        acc[z] = 0;
        acc[z + 1] = 0;
        acc[z + 2] = 0;
        acc[z + 3] = 0;
        acc[z + 4] = tsMs;
        tcpFlags[t] = 0;
      }
      const a = t * ACC_FIELDS;
      acc[a]! += 1;
      acc[a + 1]! += ipLen;
      acc[a + 2]! += payload;
      acc[a + 3]! += wire;
      acc[a + 5] = tsMs;
      const flags = bytes[b + REC_OFF_TCP_FLAGS]!;
      tcpFlags[t]! |= flags;
      if ((flags & (TCP_FIN | TCP_RST)) !== 0) closedFlags[flow] = 1;
    }
  }

  /**
   * The batch's records as 32-bit words in host order. The addon's batches start at offset 0 of
   * a malloc()ed buffer (aligned), so on little-endian hosts this is a view over the same memory,
   * no copy. A view at an offset that is not a multiple of 4 (a slice of a pooled Buffer, say)
   * cannot back a Uint32Array, and a big-endian host would read the little-endian integers
   * swapped: then the records are copied into an aligned scratch buffer (grown to the largest
   * batch seen, so bounded by the batch size) and the integer fields read are rewritten in host
   * order. Addresses and ports stay as they are: the key only compares and hashes them.
   */
  private recordWords(view: DataView, count: number): Uint32Array {
    const byteLength = count * RECORD_SIZE;
    if (HOST_IS_LITTLE_ENDIAN && view.byteOffset % 4 === 0) {
      return new Uint32Array(view.buffer, view.byteOffset, byteLength / 4);
    }
    if (this.alignedScratch.byteLength < byteLength) {
      this.alignedScratch = new ArrayBuffer(
        Math.max(byteLength, this.alignedScratch.byteLength * 2),
      );
    }
    new Uint8Array(this.alignedScratch, 0, byteLength).set(
      new Uint8Array(view.buffer, view.byteOffset, byteLength),
    );
    const words = new Uint32Array(this.alignedScratch, 0, byteLength / 4);
    for (let i = 0; i < count; i++) {
      const b = i * RECORD_SIZE;
      const w = i * RECORD_WORDS;
      words[w + W_TS_SEC] = view.getUint32(b + REC_OFF_TS_SEC, true);
      words[w + W_TS_USEC] = view.getUint32(b + REC_OFF_TS_USEC, true);
      words[w + W_WIRE_LEN] = view.getUint32(b + REC_OFF_WIRE_LEN, true);
      words[w + W_IP_LEN] = view.getUint32(b + REC_OFF_IP_LEN, true);
      words[w + W_PAYLOAD_LEN] = view.getUint32(b + REC_OFF_PAYLOAD_LEN, true);
      words[w + W_FLOW_HASH] = view.getUint32(b + REC_OFF_FLOW_HASH, true);
    }
    return words;
  }

  /**
   * Hands each flow touched since the last drain to `emit` with its sums, once per flow.
   * Packets that found the table full are handed to `emitOverflow`.
   */
  drain(
    emit: (flow: FlowState, counters: FlowCounters) => void,
    emitOverflow: (counters: FlowCounters) => void,
  ): void {
    for (let t = 0; t < this.touchedCount; t++) {
      const flow = this.touched[t]!;
      this.touchedAt[flow] = 0;
      const a = t * ACC_FIELDS;
      const lastMs = this.acc[a + 5]!;
      this.lastSeenMs[flow] = lastMs;
      emit(this.flows[flow]!, {
        packets: this.acc[a]!,
        bytes: this.acc[a + 1]!,
        payloadBytes: this.acc[a + 2]!,
        wireBytes: this.acc[a + 3]!,
        firstMs: this.acc[a + 4]!,
        lastMs,
        tcpFlags: this.tcpFlags[t]!,
      });
    }
    this.touchedCount = 0;
    const c = this.counters;
    if (c.overflowPending > 0) {
      emitOverflow({
        packets: c.overflowPending,
        bytes: c.overflowPendingBytes,
        payloadBytes: c.overflowPendingPayload,
        wireBytes: c.overflowPendingWire,
        firstMs: c.overflowFirstMs,
        lastMs: c.overflowLastMs,
        tcpFlags: 0,
      });
      c.overflowPending = 0;
      c.overflowPendingBytes = 0;
      c.overflowPendingPayload = 0;
      c.overflowPendingWire = 0;
    }
  }

  /**
   * Removes flows idle since before `nowMs - idleMs`, and closed TCP flows (FIN or RST seen)
   * idle since before `nowMs - closedIdleMs`. Call between batches (after drain).
   * @returns the number of flows removed
   */
  sweep(nowMs: number, idleMs: number, closedIdleMs: number): number {
    let removed = 0;
    const idleBefore = nowMs - idleMs;
    const closedBefore = nowMs - closedIdleMs;
    for (let flow = 0; flow < this.highWater; flow++) {
      if (this.flows[flow] === undefined) continue;
      const lastSeen = this.lastSeenMs[flow]!;
      if (lastSeen < idleBefore || (this.closedFlags[flow] === 1 && lastSeen < closedBefore)) {
        this.remove(flow);
        removed++;
      }
    }
    this.counters.expiredFlows += removed;
    return removed;
  }

  stats(): FlowTableStats {
    const c = this.counters;
    return {
      flows: this.live,
      capacitySlots: this.slots,
      expiredFlows: c.expiredFlows,
      overflowPackets: c.overflowPackets,
      overflowBytes: c.overflowBytes,
      otherProtocolPackets: c.otherProtocolPackets,
      otherProtocolBytes: c.otherProtocolBytes,
    };
  }

  private findOrInsert(key: Uint32Array, hash: number, view: DataView, base: number): number {
    let slot = hash & this.mask;
    for (;;) {
      const inSlot = this.slotFlow[slot]!;
      if (inSlot === 0) break;
      if (this.hashes[slot] === hash && this.sameKey(inSlot - 1, key)) return inSlot - 1;
      slot = (slot + 1) & this.mask;
    }
    if (this.live >= this.maxFlows || (this.live + 1) * 4 > this.slots * 3) return -1;
    // ingest() made the columns long enough for every record of the batch to be a new flow.
    const flow = this.freeCount > 0 ? this.freeFlows[--this.freeCount]! : this.highWater++;
    this.slotFlow[slot] = flow + 1;
    this.hashes[slot] = hash;
    this.flowHash[flow] = hash;
    this.keys.set(key, flow * KEY_WORDS);
    this.closedFlags[flow] = 0;
    this.lastSeenMs[flow] = 0;
    this.touchedAt[flow] = 0;
    this.flows[flow] = makeFlowState(view, base, this.addressNames);
    this.live++;
    return flow;
  }

  private recordHasKey(flow: number, meta: number, words: Uint32Array, w: number): boolean {
    const keys = this.keys;
    const k = flow * KEY_WORDS;
    return (
      keys[k] === meta &&
      keys[k + 1] === words[w + W_PORTS] &&
      keys[k + 2] === words[w + W_SRC_ADDR] &&
      keys[k + 3] === words[w + W_SRC_ADDR + 1] &&
      keys[k + 4] === words[w + W_SRC_ADDR + 2] &&
      keys[k + 5] === words[w + W_SRC_ADDR + 3] &&
      keys[k + 6] === words[w + W_DST_ADDR] &&
      keys[k + 7] === words[w + W_DST_ADDR + 1] &&
      keys[k + 8] === words[w + W_DST_ADDR + 2] &&
      keys[k + 9] === words[w + W_DST_ADDR + 3] &&
      keys[k + 10] === words[w + W_IFINDEX]
    );
  }

  private sameKey(flow: number, key: Uint32Array): boolean {
    const k = flow * KEY_WORDS;
    for (let w = 0; w < KEY_WORDS; w++) if (this.keys[k + w] !== key[w]) return false;
    return true;
  }

  /** Forget a flow: its slot by linear-probing deletion with backward shift (no tombstones). */
  private remove(flow: number): void {
    let hole = this.flowHash[flow]! & this.mask;
    while (this.slotFlow[hole] !== flow + 1) hole = (hole + 1) & this.mask;
    let next = (hole + 1) & this.mask;
    while (this.slotFlow[next] !== 0) {
      const home = this.hashes[next]! & this.mask;
      // Move `next` into the hole unless its home lies cyclically in (hole, next].
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        this.slotFlow[hole] = this.slotFlow[next]!;
        this.hashes[hole] = this.hashes[next]!;
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.slotFlow[hole] = 0;
    this.flows[flow] = undefined;
    this.freeFlows[this.freeCount++] = flow;
    this.live--;
  }

  /** Rebuild the index with `slots` slots (between batches; flow numbers do not change). */
  private resize(slots: number): void {
    this.slots = slots;
    this.mask = slots - 1;
    this.slotFlow = new Int32Array(slots);
    this.hashes = new Uint32Array(slots);
    for (let flow = 0; flow < this.highWater; flow++) {
      if (this.flows[flow] === undefined) continue;
      const hash = this.flowHash[flow]!;
      let slot = hash & this.mask;
      while (this.slotFlow[slot] !== 0) slot = (slot + 1) & this.mask;
      this.slotFlow[slot] = flow + 1;
      this.hashes[slot] = hash;
    }
  }

  /** Make the flow columns at least `needed` long (doubling, at most maxFlows). */
  private growFlows(needed: number): void {
    const doubled = Math.max(needed, this.capacity * 2, MIN_FLOW_CAPACITY);
    const isReserved =
      doubled > RESERVE_FLOWS && this.maxFlows * FLOW_COLUMN_BYTES <= RESERVE_MAX_BYTES;
    const capacity = isReserved ? this.maxFlows : Math.min(this.maxFlows, doubled);
    const grow = <T extends Uint32Array | Float64Array | Uint8Array | Int32Array>(
      old: T,
      fresh: T,
    ): T => {
      fresh.set(old);
      return fresh;
    };
    this.keys = grow(this.keys, new Uint32Array(capacity * KEY_WORDS));
    this.flowHash = grow(this.flowHash, new Uint32Array(capacity));
    this.lastSeenMs = grow(this.lastSeenMs, new Float64Array(capacity));
    this.closedFlags = grow(this.closedFlags, new Uint8Array(capacity));
    this.touchedAt = grow(this.touchedAt, new Int32Array(capacity));
    this.freeFlows = grow(this.freeFlows, new Int32Array(capacity));
    this.capacity = capacity;
  }
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Builds the text tuple of a new flow: once per flow, off the per-packet path. */
function makeFlowState(view: DataView, base: number, names: AddressNames): FlowState {
  const ipVersion = view.getUint8(base + REC_OFF_IP_VERSION) === 6 ? 6 : 4;
  const protocol = view.getUint8(base + REC_OFF_PROTOCOL);
  const srcAddress = names.text(view, base + REC_OFF_SRC_ADDR, ipVersion);
  const dstAddress = names.text(view, base + REC_OFF_DST_ADDR, ipVersion);
  const srcPort = view.getUint16(base + REC_OFF_SRC_PORT, true);
  const dstPort = view.getUint16(base + REC_OFF_DST_PORT, true);
  return {
    device: view.getUint32(base + REC_OFF_IFINDEX, true),
    copy: undefined,
    attributed: undefined,
    key: flowKey(protocol, srcAddress, srcPort, dstAddress, dstPort),
    ipVersion,
    protocol,
    srcAddress,
    srcPort,
    dstAddress,
    dstPort,
  };
}
