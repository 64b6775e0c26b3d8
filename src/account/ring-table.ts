// Slot-based counter storage for one kind of entity (processes, connections, remotes...):
// totals, EWMA state and per-second history live in typed arrays indexed by slot, so adding
// to an entity allocates nothing and the garbage collector sees a handful of big arrays.
// A slot whose counters all fall in one second keeps no per-second ring at all (its totals are
// that second); it takes a ring block from a shared pool the first time it needs a second one.

import { ewmaDecayPerSecond } from './ewma.js';

/** Lanes of one ring bucket and of the totals, in this order. */
export const LANES = 6;
/** Lane offsets; add `dir` (0 sent, 1 received) to each. */
export const LANE_BYTES = 0;
export const LANE_PACKETS = 2;
export const LANE_PAYLOAD = 4;

/** Direction index used by the lanes: 0 sent, 1 received. */
export type Direction = 0 | 1;

const MAX_U32 = 0xffffffff;
const INITIAL_CAPACITY = 64;
/**
 * Past this many slots the columns are reserved at maxEntries at once instead of doubling: arrays
 * this big are their own mmap()ed zero pages (glibc's mmap threshold, 128 KiB, which the pidflow
 * command fixes), resident only once written, and slots are dense from 0. Resident memory then
 * follows the live slots without a doubled copy and the old columns waiting for the garbage
 * collector. Tables whose columns at maxEntries would pass RESERVE_MAX_BYTES keep doubling.
 */
const RESERVE_SLOTS = 4096;
const RESERVE_MAX_BYTES = 64 * 2 ** 20;
/** Bytes per slot of the columns grow() allocates: totals, ewma, head, ringRef. */
const SLOT_BYTES = LANES * 8 + 2 * 8 + 4 + 4;
const DECAY_TABLE_SIZE = 64;
/** `ringRef` of a slot whose ring is a private Float64Array in `wideRings` (compact tables). */
const WIDE_REF = -0x80000000;

/** Options of a {@link RingTable}. */
export interface RingTableOptions {
  /** Most slots ever allocated. */
  maxEntries: number;
  /** Seconds of history exposed; the ring keeps one more bucket for the window (see docs/accounting.md). */
  ringSeconds: number;
  /** EWMA half-life in seconds. */
  ewmaHalfLifeSeconds: number;
  /**
   * Store ring buckets as Uint32 (half the memory) and move a slot to a private Float64 ring the
   * first time one of its buckets would pass 2^32-1. Used for connections, which are many.
   * @default false
   */
  isCompact?: boolean;
}

/**
 * Counters of up to `maxEntries` entities. Slots are reused after {@link free}. The caller owns
 * the key -> slot maps and any per-slot metadata; this class owns the numbers.
 *
 * Ring semantics: bucket `s % buckets` holds second `s` for `head - buckets < s <= head`, where
 * `head` is the last second this slot was advanced to. Advancing over a gap clears at most
 * `buckets` buckets, so cost never depends on the gap's length. The EWMA state covers every
 * second up to `head - 1` (the head second is still open).
 *
 * Storage: a slot starts *ringless*: all its counters belong to one second, so that second's
 * bucket is exactly its totals and every other bucket is zero; `ringRef[slot] >= 0` is then
 * `head - thatSecond`, clamped to `buckets` (= no bucket in the ring holds anything). The first
 * time the slot needs a second non-zero bucket it takes a block of `buckets x LANES` from a
 * pool (Uint32 for compact tables, Float64 otherwise): `ringRef[slot] = ~block`. Readers give
 * the same numbers either way.
 */
export class RingTable {
  readonly maxEntries: number;
  readonly ringSeconds: number;
  /** Buckets per slot: ringSeconds + 1, so a full window of complete seconds fits next to the open one. */
  readonly buckets: number;
  readonly isCompact: boolean;
  /** Slot -> key, undefined for free slots ('' is a valid key: the host container). */
  readonly keys: (string | undefined)[] = [];
  size = 0;
  capacity = 0;
  totals = new Float64Array(0);
  ewma = new Float64Array(0);
  /** Ring head per slot, in seconds since the owner's epoch (small integers keep `%` cheap). */
  head = new Int32Array(0);
  /** Per slot: >= 0 ringless (seconds from its one second to head, max `buckets`); < 0 ringed. */
  private ringRef = new Int32Array(0);
  /** Ring blocks of `buckets * LANES` values; block `b` starts at `b * buckets * LANES`. */
  private pool: Float64Array | Uint32Array;
  /** Blocks the pool has room for (grown by doubling, never above maxEntries). */
  private poolBlocks = 0;
  /** Blocks ever handed out; blocks below this not in `freeBlocks` belong to a slot. */
  private poolUsed = 0;
  private readonly freeBlocks: number[] = [];
  private readonly wideRings = new Map<number, Float64Array>();
  private readonly freeSlots: number[] = [];
  private readonly decay: number;
  private readonly decayTable: Float64Array;
  /** Set by {@link locate}: offset of the located slot's bucket 0 in the returned array. */
  private locatedBase = 0;
  /** Scratch copy of a merge source's totals (src may equal dst). */
  private readonly mergeLanes = new Float64Array(LANES);

  constructor(options: RingTableOptions) {
    this.maxEntries = options.maxEntries;
    this.ringSeconds = options.ringSeconds;
    this.buckets = options.ringSeconds + 1;
    this.isCompact = options.isCompact ?? false;
    this.pool = this.isCompact ? new Uint32Array(0) : new Float64Array(0);
    this.decay = ewmaDecayPerSecond(options.ewmaHalfLifeSeconds);
    this.decayTable = new Float64Array(DECAY_TABLE_SIZE);
    for (let k = 0; k < DECAY_TABLE_SIZE; k++) this.decayTable[k] = Math.pow(this.decay, k);
  }

  /** True when no more slots can be allocated. */
  get isFull(): boolean {
    return this.size >= this.maxEntries;
  }

  /** Number of slots whose ring moved to Float64 storage (compact tables only). */
  get wideSlots(): number {
    return this.wideRings.size;
  }

  /**
   * Number of pool ring blocks held by live slots (read-only, for tests and memory figures).
   * Slots whose counters all fall in one second hold none; wide slots count in {@link wideSlots}.
   */
  get ringBlocks(): number {
    return this.poolUsed - this.freeBlocks.length;
  }

  /** Blocks the ring pool has room for now (grows by doubling up to maxEntries; read-only). */
  get ringPoolBlocks(): number {
    return this.poolBlocks;
  }

  /** Allocate a zeroed slot for `key` whose ring starts at second `sec`. Caller checks isFull first. */
  alloc(key: string, sec: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.keys.length >= this.capacity) this.grow();
      slot = this.keys.length;
      this.keys.push(key);
    } else {
      this.keys[slot] = key;
    }
    this.size++;
    this.totals.fill(0, slot * LANES, slot * LANES + LANES);
    this.ewma[slot * 2] = 0;
    this.ewma[slot * 2 + 1] = 0;
    this.head[slot] = sec;
    this.ringRef[slot] = 0;
    return slot;
  }

  /** Release a slot and its ring block; its numbers become garbage until the next alloc. */
  free(slot: number): void {
    if (this.keys[slot] === undefined) return;
    this.keys[slot] = undefined;
    this.dropRing(slot);
    this.freeSlots.push(slot);
    this.size--;
  }

  /** True when the slot holds an entity. */
  isLive(slot: number): boolean {
    return this.keys[slot] !== undefined;
  }

  /**
   * Add one direction's counters at second `sec` (>= head; the caller keeps time monotonic).
   * Hot path: no allocation (except, rarely, growing the block pool), one advance per slot per second.
   */
  add(
    slot: number,
    sec: number,
    dir: Direction,
    bytes: number,
    packets: number,
    payloadBytes: number,
  ): void {
    if (sec > this.head[slot]!) this.advance(slot, sec);
    let ref = this.ringRef[slot]!;
    // ref > 0: ringless, and its one second is older than the head second these counters go to.
    if (ref > 0) ref = this.leaveOneSecond(slot, bytes, packets, payloadBytes);
    const t = slot * LANES;
    this.totals[t + LANE_BYTES + dir] = this.totals[t + LANE_BYTES + dir]! + bytes;
    this.totals[t + LANE_PACKETS + dir] = this.totals[t + LANE_PACKETS + dir]! + packets;
    this.totals[t + LANE_PAYLOAD + dir] = this.totals[t + LANE_PAYLOAD + dir]! + payloadBytes;
    // Still ringless (ref 0): the totals are the head second's bucket, nothing else to write.
    if (ref < 0) this.addToRing(slot, ref, dir, bytes, packets, payloadBytes);
  }

  /**
   * Before a ringless slot whose one second is not the head second takes counters: it needs a
   * ring, unless it has nothing counted yet (the head becomes its second) or this adds nothing.
   */
  private leaveOneSecond(
    slot: number,
    bytes: number,
    packets: number,
    payloadBytes: number,
  ): number {
    if (bytes === 0 && packets === 0 && payloadBytes === 0) return this.ringRef[slot]!;
    if (this.isZero(slot)) return (this.ringRef[slot] = 0);
    return this.attachRing(slot);
  }

  /** The ring half of {@link add} for a ringed slot (`ref < 0`). */
  private addToRing(
    slot: number,
    ref: number,
    dir: Direction,
    bytes: number,
    packets: number,
    payloadBytes: number,
  ): void {
    const bucket = this.head[slot]! % this.buckets;
    let ring: Float64Array | Uint32Array;
    let base: number;
    if (ref === WIDE_REF) {
      ring = this.wideRings.get(slot)!;
      base = bucket * LANES;
    } else {
      ring = this.pool;
      base = (~ref * this.buckets + bucket) * LANES;
      if (
        this.isCompact &&
        (ring[base + LANE_BYTES + dir]! + bytes > MAX_U32 ||
          ring[base + LANE_PAYLOAD + dir]! + payloadBytes > MAX_U32 ||
          ring[base + LANE_PACKETS + dir]! + packets > MAX_U32)
      ) {
        ring = this.widen(slot);
        base = bucket * LANES;
      }
    }
    ring[base + LANE_BYTES + dir] = ring[base + LANE_BYTES + dir]! + bytes;
    ring[base + LANE_PACKETS + dir] = ring[base + LANE_PACKETS + dir]! + packets;
    ring[base + LANE_PAYLOAD + dir] = ring[base + LANE_PAYLOAD + dir]! + payloadBytes;
  }

  /** Move the slot's ring head to `sec`, folding the closed seconds into the EWMA. */
  advance(slot: number, sec: number): void {
    const head = this.head[slot]!;
    if (sec <= head) return;
    const gap = sec - head;
    const keep = 1 - this.decay;
    const idle = this.decayPow(gap - 1);
    const ref = this.ringRef[slot]!;
    if (ref >= 0) {
      // Ringless: the head bucket is the totals when the one second is the head, else empty.
      const sent = ref === 0 ? this.totals[slot * LANES + LANE_BYTES]! : 0;
      const received = ref === 0 ? this.totals[slot * LANES + LANE_BYTES + 1]! : 0;
      this.ewma[slot * 2] = (this.ewma[slot * 2]! * this.decay + sent * keep) * idle;
      this.ewma[slot * 2 + 1] = (this.ewma[slot * 2 + 1]! * this.decay + received * keep) * idle;
      this.ringRef[slot] = gap >= this.buckets - ref ? this.buckets : ref + gap;
      this.head[slot] = sec;
      return;
    }
    const ring = this.locate(slot);
    const base = this.locatedBase;
    const headBase = base + (head % this.buckets) * LANES;
    // The head second is now complete: fold it, then decay over the idle seconds in between.
    this.ewma[slot * 2] =
      (this.ewma[slot * 2]! * this.decay + ring[headBase + LANE_BYTES]! * keep) * idle;
    this.ewma[slot * 2 + 1] =
      (this.ewma[slot * 2 + 1]! * this.decay + ring[headBase + LANE_BYTES + 1]! * keep) * idle;
    if (gap >= this.buckets) {
      ring.fill(0, base, base + this.buckets * LANES);
    } else {
      for (let s = head + 1; s <= sec; s++) {
        const b = base + (s % this.buckets) * LANES;
        ring.fill(0, b, b + LANES);
      }
    }
    this.head[slot] = sec;
  }

  /** Sum of the complete seconds `nowSec - windowSeconds .. nowSec - 1` into `out` (6 lanes). */
  readWindow(slot: number, nowSec: number, windowSeconds: number, out: Float64Array): void {
    out.fill(0);
    const head = this.head[slot]!;
    const ref = this.ringRef[slot]!;
    if (ref >= 0) {
      const one = head - ref;
      if (ref >= this.buckets || one < nowSec - windowSeconds || one >= nowSec) return;
      for (let lane = 0; lane < LANES; lane++) out[lane] = this.totals[slot * LANES + lane]!;
      return;
    }
    const ring = this.locate(slot);
    const base = this.locatedBase;
    for (let s = nowSec - windowSeconds; s < nowSec; s++) {
      if (s > head || s <= head - this.buckets) continue;
      const b = base + (s % this.buckets) * LANES;
      for (let lane = 0; lane < LANES; lane++) out[lane] = out[lane]! + ring[b + lane]!;
    }
  }

  /** Sent and received bytes of seconds `nowSec - ringSeconds + 1 .. nowSec`, oldest first. */
  readHistory(slot: number, nowSec: number): { sentBytes: number[]; receivedBytes: number[] } {
    const sentBytes: number[] = [];
    const receivedBytes: number[] = [];
    const head = this.head[slot]!;
    const ref = this.ringRef[slot]!;
    if (ref >= 0) {
      const one = ref < this.buckets ? head - ref : Infinity;
      const t = slot * LANES + LANE_BYTES;
      for (let s = nowSec - this.ringSeconds + 1; s <= nowSec; s++) {
        sentBytes.push(s === one ? this.totals[t]! : 0);
        receivedBytes.push(s === one ? this.totals[t + 1]! : 0);
      }
      return { sentBytes, receivedBytes };
    }
    const ring = this.locate(slot);
    const base = this.locatedBase;
    for (let s = nowSec - this.ringSeconds + 1; s <= nowSec; s++) {
      if (s > head || s <= head - this.buckets) {
        sentBytes.push(0);
        receivedBytes.push(0);
        continue;
      }
      const b = base + (s % this.buckets) * LANES;
      sentBytes.push(ring[b + LANE_BYTES]!);
      receivedBytes.push(ring[b + LANE_BYTES + 1]!);
    }
    return { sentBytes, receivedBytes };
  }

  /** EWMA of bytes per second over the complete seconds up to `nowSec - 1`, per direction. */
  readEwma(slot: number, nowSec: number, dir: Direction): number {
    const head = this.head[slot]!;
    const stored = this.ewma[slot * 2 + dir]!;
    if (nowSec <= head) return stored;
    const ref = this.ringRef[slot]!;
    let headValue: number;
    if (ref >= 0) {
      headValue = ref === 0 ? this.totals[slot * LANES + LANE_BYTES + dir]! : 0;
    } else {
      const ring = this.locate(slot);
      headValue = ring[this.locatedBase + (head % this.buckets) * LANES + LANE_BYTES + dir]!;
    }
    return (stored * this.decay + headValue * (1 - this.decay)) * this.decayPow(nowSec - 1 - head);
  }

  /** Window bytes of one slot (sent + received, or one direction) for ranking. */
  windowBytes(
    slot: number,
    nowSec: number,
    windowSeconds: number,
    sortLane: -1 | Direction,
  ): number {
    const head = this.head[slot]!;
    const ref = this.ringRef[slot]!;
    if (ref >= 0) {
      const one = head - ref;
      if (ref >= this.buckets || one < nowSec - windowSeconds || one >= nowSec) return 0;
      const t = slot * LANES + LANE_BYTES;
      return sortLane === -1 ? this.totals[t]! + this.totals[t + 1]! : this.totals[t + sortLane]!;
    }
    const ring = this.locate(slot);
    const base = this.locatedBase;
    let sum = 0;
    for (let s = nowSec - windowSeconds; s < nowSec; s++) {
      if (s > head || s <= head - this.buckets) continue;
      const b = base + (s % this.buckets) * LANES + LANE_BYTES;
      sum += sortLane === -1 ? ring[b]! + ring[b + 1]! : ring[b + sortLane]!;
    }
    return sum;
  }

  /**
   * Add everything of `src` (totals, ring, EWMA) into `dst` of the same table; both are
   * advanced to `nowSec` first so their buckets cover the same seconds.
   */
  merge(src: number, dst: number, nowSec: number): void {
    this.advance(src, nowSec);
    this.advance(dst, nowSec);
    const srcLanes = this.mergeLanes;
    for (let lane = 0; lane < LANES; lane++) srcLanes[lane] = this.totals[src * LANES + lane]!;
    const srcRef = this.ringRef[src]!;
    // A ringless source holds at most one non-zero bucket: its totals, in this bucket.
    const srcBucket =
      srcRef >= 0 && srcRef < this.buckets && !this.isZero(src)
        ? (this.head[src]! - srcRef) % this.buckets
        : -1;
    if (this.ringRef[dst]! >= 0) this.prepareRinglessMerge(dst, srcRef, srcBucket);

    for (let lane = 0; lane < LANES; lane++) {
      this.totals[dst * LANES + lane] = this.totals[dst * LANES + lane]! + srcLanes[lane]!;
    }
    this.ewma[dst * 2] = this.ewma[dst * 2]! + this.ewma[src * 2]!;
    this.ewma[dst * 2 + 1] = this.ewma[dst * 2 + 1]! + this.ewma[src * 2 + 1]!;
    if (this.ringRef[dst]! >= 0) return;

    let dstRing = this.locate(dst);
    let dstBase = this.locatedBase;
    if (srcRef >= 0) {
      if (srcBucket < 0) return;
      let b = dstBase + srcBucket * LANES;
      if (this.isCompact && this.ringRef[dst] !== WIDE_REF) {
        for (let lane = 0; lane < LANES; lane++) {
          if (dstRing[b + lane]! + srcLanes[lane]! > MAX_U32) {
            dstRing = this.widen(dst);
            b = srcBucket * LANES;
            break;
          }
        }
      }
      for (let lane = 0; lane < LANES; lane++)
        dstRing[b + lane] = dstRing[b + lane]! + srcLanes[lane]!;
      return;
    }
    const srcRing = this.locate(src);
    const srcBase = this.locatedBase;
    const width = this.buckets * LANES;
    if (this.isCompact && this.ringRef[dst] !== WIDE_REF) {
      for (let i = 0; i < width; i++) {
        if (dstRing[dstBase + i]! + srcRing[srcBase + i]! > MAX_U32) {
          dstRing = this.widen(dst);
          dstBase = 0;
          break;
        }
      }
    }
    for (let i = 0; i < width; i++)
      dstRing[dstBase + i] = dstRing[dstBase + i]! + srcRing[srcBase + i]!;
  }

  /**
   * The `count` live slots to evict first: `isPreferred` ones first, then the least recently
   * active (oldest ring head second), ties in slot order. One pass plus a native numeric sort.
   */
  leastRecentlyActive(
    count: number,
    isProtected: (slot: number) => boolean,
    isPreferred: (slot: number) => boolean = () => false,
  ): number[] {
    const age = new Float64Array(this.keys.length).fill(Infinity);
    let live = 0;
    for (let slot = 0; slot < this.keys.length; slot++) {
      if (!this.isLive(slot) || isProtected(slot)) continue;
      age[slot] = isPreferred(slot) ? -Infinity : this.head[slot]!;
      live++;
    }
    const n = Math.min(count, live);
    if (n === 0) return [];
    const threshold = age.slice().sort()[n - 1]!;
    const victims: number[] = [];
    for (let slot = 0; slot < age.length && victims.length < n; slot++) {
      if (age[slot]! < threshold) victims.push(slot);
    }
    for (let slot = 0; slot < age.length && victims.length < n; slot++) {
      if (age[slot] === threshold) victims.push(slot);
    }
    return victims;
  }

  /**
   * Before ringless `dst` (advanced like `src`) takes `src`'s counters: keep it ringless when
   * the sum still fits in one second (or in none), else give it a ring holding its own second.
   * `srcBucket` is a ringless source's only non-zero bucket, -1 when it has none.
   */
  private prepareRinglessMerge(dst: number, srcRef: number, srcBucket: number): void {
    if (srcRef < 0) {
      this.attachRing(dst);
      return;
    }
    const dstRef = this.ringRef[dst]!;
    const isDstZero = this.isZero(dst);
    const isDstRingEmpty = isDstZero || dstRef >= this.buckets;
    if (srcBucket < 0) {
      // Nothing joins the ring. Totals that grow while the ring stays empty: one second none.
      if (isZeroLanes(this.mergeLanes, 0)) return;
      if (isDstRingEmpty) this.ringRef[dst] = this.buckets;
      else this.attachRing(dst);
      return;
    }
    const headBucket = this.head[dst]! % this.buckets;
    if (isDstZero) {
      // The source's bucket, read on dst's own head, is dst's one second from now on.
      this.ringRef[dst] = (headBucket - srcBucket + this.buckets) % this.buckets;
      return;
    }
    const dstBucket = (headBucket - dstRef + this.buckets) % this.buckets;
    if (isDstRingEmpty || dstBucket !== srcBucket) this.attachRing(dst);
  }

  /** Give ringless `slot` a ring that holds its totals in its one second; returns the new ref. */
  private attachRing(slot: number): number {
    const ref = this.ringRef[slot]!;
    const t = slot * LANES;
    const bucket = ref < this.buckets ? (this.head[slot]! - ref) % this.buckets : -1;
    let isWide = false;
    if (this.isCompact && bucket >= 0) {
      for (let lane = 0; lane < LANES; lane++) if (this.totals[t + lane]! > MAX_U32) isWide = true;
    }
    let ring: Float64Array | Uint32Array;
    let base: number;
    if (isWide) {
      ring = new Float64Array(this.buckets * LANES);
      base = 0;
      this.wideRings.set(slot, ring);
      this.ringRef[slot] = WIDE_REF;
    } else {
      const block = this.takeBlock();
      ring = this.pool;
      base = block * this.buckets * LANES;
      this.ringRef[slot] = ~block;
    }
    if (bucket >= 0) {
      for (let lane = 0; lane < LANES; lane++)
        ring[base + bucket * LANES + lane] = this.totals[t + lane]!;
    }
    return this.ringRef[slot]!;
  }

  /** A zeroed pool block, growing the pool by doubling when no freed block is left. */
  private takeBlock(): number {
    const width = this.buckets * LANES;
    const reused = this.freeBlocks.pop();
    if (reused !== undefined) {
      this.pool.fill(0, reused * width, reused * width + width);
      return reused;
    }
    if (this.poolUsed >= this.poolBlocks) {
      // Each live slot holds at most one block, so maxEntries blocks always suffice.
      // Reserved at maxEntries at once past RESERVE_SLOTS, like the columns (see grow()).
      const doubled = Math.max(INITIAL_CAPACITY, this.poolBlocks * 2);
      const poolBytes = this.maxEntries * width * (this.isCompact ? 4 : 8);
      const blocks =
        doubled > RESERVE_SLOTS && poolBytes <= RESERVE_MAX_BYTES
          ? this.maxEntries
          : Math.min(this.maxEntries, doubled);
      const pool = this.isCompact
        ? new Uint32Array(blocks * width)
        : new Float64Array(blocks * width);
      pool.set(this.pool);
      this.pool = pool;
      this.poolBlocks = blocks;
    }
    return this.poolUsed++;
  }

  /** Return the slot's ring (pool block or wide ring), leaving it ringless. */
  private dropRing(slot: number): void {
    const ref = this.ringRef[slot]!;
    if (ref === WIDE_REF) this.wideRings.delete(slot);
    else if (ref < 0) this.freeBlocks.push(~ref);
    this.ringRef[slot] = 0;
  }

  /** True when every total of the slot is zero (so its ring is all zeros too). */
  private isZero(slot: number): boolean {
    return isZeroLanes(this.totals, slot * LANES);
  }

  /** The ringed slot's ring array; its bucket 0 starts at `locatedBase`. */
  private locate(slot: number): Float64Array | Uint32Array {
    const ref = this.ringRef[slot]!;
    if (ref === WIDE_REF) {
      this.locatedBase = 0;
      return this.wideRings.get(slot)!;
    }
    this.locatedBase = ~ref * this.buckets * LANES;
    return this.pool;
  }

  /** Move a compact slot's ring from its Uint32 block to a private Float64 ring. */
  private widen(slot: number): Float64Array {
    const width = this.buckets * LANES;
    const wide = new Float64Array(width);
    const base = ~this.ringRef[slot]! * width;
    for (let i = 0; i < width; i++) wide[i] = this.pool[base + i]!;
    this.freeBlocks.push(~this.ringRef[slot]!);
    this.wideRings.set(slot, wide);
    this.ringRef[slot] = WIDE_REF;
    return wide;
  }

  private decayPow(k: number): number {
    return k < DECAY_TABLE_SIZE ? this.decayTable[k]! : Math.pow(this.decay, k);
  }

  private grow(): void {
    const doubled = Math.max(INITIAL_CAPACITY, this.capacity * 2, this.keys.length + 1);
    const isReserved = doubled > RESERVE_SLOTS && this.maxEntries * SLOT_BYTES <= RESERVE_MAX_BYTES;
    const capacity = isReserved ? this.maxEntries : Math.min(this.maxEntries, doubled);
    this.totals = copyInto(new Float64Array(capacity * LANES), this.totals);
    this.ewma = copyInto(new Float64Array(capacity * 2), this.ewma);
    this.head = copyInto(new Int32Array(capacity), this.head);
    this.ringRef = copyInto(new Int32Array(capacity), this.ringRef);
    this.capacity = capacity;
  }
}

function isZeroLanes(lanes: Float64Array, offset: number): boolean {
  for (let lane = 0; lane < LANES; lane++) if (lanes[offset + lane] !== 0) return false;
  return true;
}

function copyInto<T extends Float64Array | Uint32Array | Int32Array>(
  target: T,
  source: Float64Array | Uint32Array | Int32Array,
): T {
  target.set(source.subarray(0, Math.min(source.length, target.length)));
  return target;
}
