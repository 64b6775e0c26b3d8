// Slot-based counter storage for one kind of entity (processes, connections, remotes...):
// totals, a per-second ring and EWMA state live in typed arrays indexed by slot, so adding
// to an entity allocates nothing and the garbage collector sees a handful of big arrays.

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
const DECAY_TABLE_SIZE = 64;

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
  ring: Float64Array | Uint32Array = new Float64Array(0);
  private wideFlags = new Uint8Array(0);
  private readonly wideRings = new Map<number, Float64Array>();
  private readonly freeSlots: number[] = [];
  private readonly decay: number;
  private readonly decayTable: Float64Array;

  constructor(options: RingTableOptions) {
    this.maxEntries = options.maxEntries;
    this.ringSeconds = options.ringSeconds;
    this.buckets = options.ringSeconds + 1;
    this.isCompact = options.isCompact ?? false;
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
    const width = this.buckets * LANES;
    this.ring.fill(0, slot * width, slot * width + width);
    return slot;
  }

  /** Release a slot; its numbers become garbage until the next alloc. */
  free(slot: number): void {
    if (this.keys[slot] === undefined) return;
    this.keys[slot] = undefined;
    if (this.wideFlags[slot] === 1) {
      this.wideFlags[slot] = 0;
      this.wideRings.delete(slot);
    }
    this.freeSlots.push(slot);
    this.size--;
  }

  /** True when the slot holds an entity. */
  isLive(slot: number): boolean {
    return this.keys[slot] !== undefined;
  }

  /**
   * Add one direction's counters at second `sec` (>= head; the caller keeps time monotonic).
   * Hot path: no allocation, one advance per slot per second.
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
    const t = slot * LANES;
    this.totals[t + LANE_BYTES + dir] = this.totals[t + LANE_BYTES + dir]! + bytes;
    this.totals[t + LANE_PACKETS + dir] = this.totals[t + LANE_PACKETS + dir]! + packets;
    this.totals[t + LANE_PAYLOAD + dir] = this.totals[t + LANE_PAYLOAD + dir]! + payloadBytes;
    const bucket = this.head[slot]! % this.buckets;
    let ring = this.ring;
    let base = (slot * this.buckets + bucket) * LANES;
    if (this.isCompact) {
      if (this.wideFlags[slot] === 1) {
        ring = this.wideRings.get(slot)!;
        base = bucket * LANES;
      } else if (
        ring[base + LANE_BYTES + dir]! + bytes > MAX_U32 ||
        ring[base + LANE_PAYLOAD + dir]! + payloadBytes > MAX_U32 ||
        ring[base + LANE_PACKETS + dir]! + packets > MAX_U32
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
    const [ring, base] = this.ringOf(slot);
    const headBase = base + (head % this.buckets) * LANES;
    const keep = 1 - this.decay;
    const idle = this.decayPow(gap - 1);
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
    const [ring, base] = this.ringOf(slot);
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
    const [ring, base] = this.ringOf(slot);
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
    const [ring, base] = this.ringOf(slot);
    const headValue = ring[base + (head % this.buckets) * LANES + LANE_BYTES + dir]!;
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
    const [ring, base] = this.ringOf(slot);
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
    for (let lane = 0; lane < LANES; lane++) {
      this.totals[dst * LANES + lane] =
        this.totals[dst * LANES + lane]! + this.totals[src * LANES + lane]!;
    }
    this.ewma[dst * 2] = this.ewma[dst * 2]! + this.ewma[src * 2]!;
    this.ewma[dst * 2 + 1] = this.ewma[dst * 2 + 1]! + this.ewma[src * 2 + 1]!;
    const [srcRing, srcBase] = this.ringOf(src);
    const width = this.buckets * LANES;
    let [dstRing, dstBase] = this.ringOf(dst);
    if (this.isCompact && this.wideFlags[dst] !== 1) {
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

  private ringOf(slot: number): [Float64Array | Uint32Array, number] {
    if (this.isCompact && this.wideFlags[slot] === 1) return [this.wideRings.get(slot)!, 0];
    return [this.ring, slot * this.buckets * LANES];
  }

  private widen(slot: number): Float64Array {
    const width = this.buckets * LANES;
    const wide = new Float64Array(width);
    const base = slot * width;
    for (let i = 0; i < width; i++) wide[i] = this.ring[base + i]!;
    this.wideRings.set(slot, wide);
    this.wideFlags[slot] = 1;
    return wide;
  }

  private decayPow(k: number): number {
    return k < DECAY_TABLE_SIZE ? this.decayTable[k]! : Math.pow(this.decay, k);
  }

  private grow(): void {
    const capacity = Math.min(
      this.maxEntries,
      Math.max(INITIAL_CAPACITY, this.capacity * 2, this.keys.length + 1),
    );
    const width = this.buckets * LANES;
    this.totals = copyInto(new Float64Array(capacity * LANES), this.totals);
    this.ewma = copyInto(new Float64Array(capacity * 2), this.ewma);
    this.head = copyInto(new Int32Array(capacity), this.head);
    this.ring = copyInto(
      this.isCompact ? new Uint32Array(capacity * width) : new Float64Array(capacity * width),
      this.ring,
    );
    if (this.isCompact) this.wideFlags = copyInto(new Uint8Array(capacity), this.wideFlags);
    this.capacity = capacity;
  }
}

function copyInto<T extends Float64Array | Uint32Array | Uint8Array | Int32Array>(
  target: T,
  source: Float64Array | Uint32Array | Uint8Array | Int32Array,
): T {
  target.set(source.subarray(0, Math.min(source.length, target.length)));
  return target;
}
