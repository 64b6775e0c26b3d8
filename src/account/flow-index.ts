// Connections by the directional 5-tuple of a flow they were seen on: an open-addressing hash
// table over typed arrays for the accountant. No key strings and no Map: the entries are
// connection slots, and the tuple an entry stands for is read back from the accountant's own
// columns. A Map of 100,000 flow keys reallocated its table at every doubling and, with a full
// connection table evicting, at every rehash: about 14 MB of old-generation garbage per
// 100,000 flows (docs/architecture.md#memory).

import type { FlowTuple } from '../attribute/types.js';

const MIN_SLOTS = 1024;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Slots by directional 5-tuple. `tupleOf(value)` must return the tuple an entry was filed under
 * for as long as the entry is in the index (the caller deletes an entry before changing it).
 * At most `maxEntries` entries; the table stays at most half full.
 * @example
 * const index = new FlowIndex(100_000, (cs) => flowOfConnection[cs]);
 * index.set(flow, false, cs);
 * index.get(flow, true); // the connection filed under the reverse flow, or -1
 */
export class FlowIndex {
  private readonly maxSlots: number;
  private readonly tupleOf: (value: number) => FlowTuple | undefined;
  private mask = 0;
  /** Per slot: 1 + the value in it, 0 when empty. */
  private values = new Int32Array(0);
  private hashes = new Uint32Array(0);
  private count = 0;

  constructor(maxEntries: number, tupleOf: (value: number) => FlowTuple | undefined) {
    this.maxSlots = nextPowerOfTwo(Math.max(MIN_SLOTS, maxEntries * 2));
    this.tupleOf = tupleOf;
    this.resize(MIN_SLOTS);
  }

  get size(): number {
    return this.count;
  }

  /** The value filed under `flow` (its reverse when `isReversed`), or -1. */
  get(flow: FlowTuple, isReversed: boolean): number {
    const slot = this.find(flow, isReversed, hashTuple(flow, isReversed));
    return slot < 0 ? -1 : this.values[slot]! - 1;
  }

  /** File `value` under `flow` (its reverse when `isReversed`), replacing what was there. */
  set(flow: FlowTuple, isReversed: boolean, value: number): void {
    const hash = hashTuple(flow, isReversed);
    const found = this.find(flow, isReversed, hash);
    if (found >= 0) {
      this.values[found] = value + 1;
      return;
    }
    if ((this.count + 1) * 2 > this.values.length && this.values.length < this.maxSlots) {
      this.resize(this.values.length * 2);
    }
    let slot = hash & this.mask;
    while (this.values[slot] !== 0) slot = (slot + 1) & this.mask;
    this.values[slot] = value + 1;
    this.hashes[slot] = hash;
    this.count++;
  }

  /** Remove the entry filed under `flow` (its reverse when `isReversed`), if any. */
  delete(flow: FlowTuple, isReversed: boolean): void {
    let hole = this.find(flow, isReversed, hashTuple(flow, isReversed));
    if (hole < 0) return;
    // Linear-probing deletion with backward shift (no tombstones), as in the flow table.
    let next = (hole + 1) & this.mask;
    while (this.values[next] !== 0) {
      const home = this.hashes[next]! & this.mask;
      const inRange = hole <= next ? home > hole && home <= next : home > hole || home <= next;
      if (!inRange) {
        this.values[hole] = this.values[next]!;
        this.hashes[hole] = this.hashes[next]!;
        hole = next;
      }
      next = (next + 1) & this.mask;
    }
    this.values[hole] = 0;
    this.count--;
  }

  private find(flow: FlowTuple, isReversed: boolean, hash: number): number {
    let slot = hash & this.mask;
    for (;;) {
      const v = this.values[slot]!;
      if (v === 0) return -1;
      if (this.hashes[slot] === hash) {
        const t = this.tupleOf(v - 1);
        if (t !== undefined && sameTuple(t, flow, isReversed)) return slot;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  private resize(slots: number): void {
    const oldValues = this.values;
    const oldHashes = this.hashes;
    this.values = new Int32Array(slots);
    this.hashes = new Uint32Array(slots);
    this.mask = slots - 1;
    for (let i = 0; i < oldValues.length; i++) {
      const v = oldValues[i]!;
      if (v === 0) continue;
      const hash = oldHashes[i]!;
      let slot = hash & this.mask;
      while (this.values[slot] !== 0) slot = (slot + 1) & this.mask;
      this.values[slot] = v;
      this.hashes[slot] = hash;
    }
  }
}

function sameTuple(t: FlowTuple, flow: FlowTuple, isReversed: boolean): boolean {
  if (t.protocol !== flow.protocol) return false;
  return isReversed
    ? t.srcPort === flow.dstPort &&
        t.dstPort === flow.srcPort &&
        t.srcAddress === flow.dstAddress &&
        t.dstAddress === flow.srcAddress
    : t.srcPort === flow.srcPort &&
        t.dstPort === flow.dstPort &&
        t.srcAddress === flow.srcAddress &&
        t.dstAddress === flow.dstAddress;
}

/** FNV-1a over the tuple's fields (reversed: the ends swapped), then a final mix for the mask. */
function hashTuple(flow: FlowTuple, isReversed: boolean): number {
  let h = Math.imul(FNV_OFFSET ^ flow.protocol, FNV_PRIME);
  h = hashEnd(
    h,
    isReversed ? flow.dstAddress : flow.srcAddress,
    isReversed ? flow.dstPort : flow.srcPort,
  );
  h = hashEnd(
    h,
    isReversed ? flow.srcAddress : flow.dstAddress,
    isReversed ? flow.srcPort : flow.dstPort,
  );
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function hashEnd(h: number, address: string, port: number): number {
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), FNV_PRIME);
  h = Math.imul(h ^ (port & 0xff), FNV_PRIME);
  return Math.imul(h ^ (port >>> 8), FNV_PRIME);
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
