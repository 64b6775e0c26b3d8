// RingTable: ringless slots (all counters in one second) read exactly like ringed ones, ring
// blocks come from a pool and go back to it, and a dense per-second reference model driven with
// the same random operations agrees with every reader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ewmaDecayPerSecond } from './ewma.js';
import { LANES, RingTable, type Direction } from './ring-table.js';

const HALF_LIFE_SECONDS = 5;
const D = ewmaDecayPerSecond(HALF_LIFE_SECONDS);
const U32_LIMIT = 2 ** 32;

function table(ringSeconds = 4, isCompact = false, maxEntries = 1000): RingTable {
  return new RingTable({
    maxEntries,
    ringSeconds,
    ewmaHalfLifeSeconds: HALF_LIFE_SECONDS,
    isCompact,
  });
}

/** Lanes of one add: [sentBytes, receivedBytes, sentPackets, receivedPackets, sentPayload, receivedPayload]. */
function lanesOf(dir: Direction, bytes: number, packets: number, payloadBytes: number): number[] {
  const lanes = [0, 0, 0, 0, 0, 0];
  lanes[dir] = bytes;
  lanes[2 + dir] = packets;
  lanes[4 + dir] = payloadBytes;
  return lanes;
}

function window(t: RingTable, slot: number, nowSec: number, windowSeconds: number): number[] {
  const out = new Float64Array(LANES);
  t.readWindow(slot, nowSec, windowSeconds, out);
  return [...out];
}

function totalsOf(t: RingTable, slot: number): number[] {
  return [...t.totals.subarray(slot * LANES, slot * LANES + LANES)];
}

function assertClose(actual: number, expected: number, message: string): void {
  const tolerance = 1e-9 * Math.max(Math.abs(actual), Math.abs(expected)) + 1e-300;
  assert.ok(Math.abs(actual - expected) <= tolerance, `${message}: ${actual} vs ${expected}`);
}

test('a slot added in one second holds no ring block and reads like a slot that got one', () => {
  for (const isCompact of [false, true]) {
    const t = table(4, isCompact);
    const ringless = t.alloc('a', 0);
    const ringed = t.alloc('b', 0);
    for (const slot of [ringless, ringed]) {
      t.add(slot, 10, 0, 1000, 2, 900);
      t.add(slot, 10, 1, 300, 1, 250);
    }
    assert.equal(t.ringBlocks, 0);
    t.add(ringed, 11, 0, 7, 1, 5);
    assert.equal(t.ringBlocks, 1, 'the second second of a slot takes a block');

    const second10 = [1000, 300, 2, 1, 900, 250];
    for (const slot of [ringless, ringed]) {
      for (const w of [1, 2, 4, 9]) assert.deepEqual(window(t, slot, 11, w), second10, `w=${w}`);
      assert.deepEqual(
        window(t, slot, 10, 4),
        [0, 0, 0, 0, 0, 0],
        'second 10 is not complete at 10',
      );
      assert.deepEqual(t.readHistory(slot, 10), {
        sentBytes: [0, 0, 0, 1000],
        receivedBytes: [0, 0, 0, 300],
      });
      assert.equal(t.windowBytes(slot, 11, 4, -1), 1300);
      assert.equal(t.windowBytes(slot, 11, 4, 0), 1000);
      assert.equal(t.windowBytes(slot, 11, 4, 1), 300);
      assert.equal(t.windowBytes(slot, 11, 1, -1), 1300);
    }
    // EWMA of the complete seconds up to 10, read at 11: one sample of 1000 and 300.
    for (const dir of [0, 1] as const) {
      assert.equal(t.readEwma(ringless, 11, dir), t.readEwma(ringed, 11, dir));
      assertClose(t.readEwma(ringless, 11, dir), [1000, 300][dir]! * (1 - D), `dir ${dir}`);
    }
    assert.deepEqual(totalsOf(t, ringless), second10);
    assert.deepEqual(t.readHistory(ringless, 12), {
      sentBytes: [0, 1000, 0, 0],
      receivedBytes: [0, 300, 0, 0],
    });
    assert.deepEqual(t.readHistory(ringless, 13), {
      sentBytes: [1000, 0, 0, 0],
      receivedBytes: [300, 0, 0, 0],
    });
    assert.deepEqual(t.readHistory(ringless, 14).sentBytes, [0, 0, 0, 0], 'second 10 is too old');
    assertClose(
      t.readEwma(ringless, 14, 0),
      1000 * (1 - D) * D ** 3,
      'ewma decays over idle seconds',
    );
  }
});

test('a ringless slot takes a block on its next second and keeps both seconds exact', () => {
  const t = table(4);
  const slot = t.alloc('a', 0);
  t.add(slot, 10, 0, 100, 1, 80);
  t.add(slot, 11, 0, 40, 1, 20);
  t.add(slot, 11, 1, 5, 1, 0);
  assert.equal(t.ringBlocks, 1);
  assert.deepEqual(totalsOf(t, slot), [140, 5, 2, 1, 100, 0]);
  assert.deepEqual(t.readHistory(slot, 11), {
    sentBytes: [0, 0, 100, 40],
    receivedBytes: [0, 0, 0, 5],
  });
  assert.deepEqual(window(t, slot, 12, 2), [140, 5, 2, 1, 100, 0]);
  assert.deepEqual(window(t, slot, 12, 1), [40, 5, 1, 1, 20, 0]);
  assertClose(t.readEwma(slot, 12, 0), 100 * (1 - D) * D + 40 * (1 - D), 'sent ewma');
  assertClose(t.readEwma(slot, 12, 1), 5 * (1 - D), 'received ewma');
});

test('a ringless slot that comes back after a gap longer than the ring holds only the new second', () => {
  const t = table(4);
  const slot = t.alloc('a', 0);
  t.add(slot, 10, 0, 100, 1, 80);
  const later = 10 + 5 + 3;
  t.add(slot, later, 1, 30, 1, 10);
  assert.equal(t.ringBlocks, 1, 'totals span two seconds now');
  assert.deepEqual(totalsOf(t, slot), [100, 30, 1, 1, 80, 10]);
  assert.deepEqual(window(t, slot, later + 1, 4), [0, 30, 0, 1, 0, 10]);
  assert.deepEqual(t.readHistory(slot, later), {
    sentBytes: [0, 0, 0, 0],
    receivedBytes: [0, 0, 0, 30],
  });
  assertClose(t.readEwma(slot, later + 1, 0), 100 * (1 - D) * D ** (later - 10), 'sent ewma');
  assertClose(t.readEwma(slot, later + 1, 1), 30 * (1 - D), 'received ewma');

  // A slot with nothing counted yet stays ringless whatever the gap.
  const fresh = t.alloc('b', 0);
  t.add(fresh, 500, 0, 9, 1, 1);
  assert.equal(t.ringBlocks, 1);
  assert.deepEqual(window(t, fresh, 501, 1), [9, 0, 1, 0, 1, 0]);
});

test('merging ringless slots of the same second keeps the sum ringless', () => {
  const t = table(4);
  const src = t.alloc('src', 0);
  const dst = t.alloc('dst', 0);
  t.add(src, 10, 0, 100, 1, 50);
  t.add(dst, 10, 1, 7, 1, 3);
  t.merge(src, dst, 10);
  assert.equal(t.ringBlocks, 0);
  assert.deepEqual(totalsOf(t, dst), [100, 7, 1, 1, 50, 3]);
  assert.deepEqual(window(t, dst, 11, 1), [100, 7, 1, 1, 50, 3]);
  // Merged later: both advance to 13 and second 10 is still one bucket.
  const late = t.alloc('late', 0);
  t.add(late, 10, 0, 1, 1, 1);
  t.merge(late, dst, 13);
  assert.equal(t.ringBlocks, 0);
  assert.deepEqual(t.readHistory(dst, 13).sentBytes, [101, 0, 0, 0]);
  assertClose(t.readEwma(dst, 13, 0), 101 * (1 - D) * D ** 2, 'sum of the two ewmas');
  // Into an empty slot: the source's second becomes the destination's.
  const empty = t.alloc('empty', 12);
  t.merge(dst, empty, 13);
  assert.equal(t.ringBlocks, 0);
  assert.deepEqual(t.readHistory(empty, 13), {
    sentBytes: [101, 0, 0, 0],
    receivedBytes: [7, 0, 0, 0],
  });
});

test('merging ringless slots of different seconds gives the destination a ring', () => {
  const t = table(4);
  const src = t.alloc('src', 0);
  const dst = t.alloc('dst', 0);
  t.add(dst, 10, 0, 100, 1, 50);
  t.add(src, 12, 0, 20, 1, 10);
  t.merge(src, dst, 12);
  assert.equal(t.ringBlocks, 1);
  assert.deepEqual(t.readHistory(dst, 12).sentBytes, [0, 100, 0, 20]);
  assert.deepEqual(totalsOf(t, dst), [120, 0, 2, 0, 60, 0]);
  assert.deepEqual(window(t, dst, 13, 3), [120, 0, 2, 0, 60, 0]);
  assertClose(t.readEwma(dst, 13, 0), 100 * (1 - D) * D ** 2 + 20 * (1 - D), 'ewma');

  // A destination whose only second left the ring cannot take a new second without a ring.
  const stale = t.alloc('stale', 0);
  t.add(stale, 1, 0, 5, 1, 0);
  const fresh = t.alloc('fresh', 0);
  t.add(fresh, 12, 0, 6, 1, 0);
  t.merge(fresh, stale, 12);
  assert.equal(t.ringBlocks, 2);
  assert.deepEqual(totalsOf(t, stale), [11, 0, 2, 0, 0, 0]);
  assert.deepEqual(t.readHistory(stale, 12).sentBytes, [0, 0, 0, 6]);

  // A source whose second left the ring adds totals and EWMA only.
  const old = t.alloc('old', 0);
  t.add(old, 1, 0, 3, 1, 0);
  const target = t.alloc('target', 0);
  t.merge(old, target, 12);
  assert.equal(t.ringBlocks, 2, 'nothing to keep per second');
  assert.deepEqual(totalsOf(t, target), [3, 0, 1, 0, 0, 0]);
  assert.deepEqual(window(t, target, 13, 4), [0, 0, 0, 0, 0, 0]);
  assertClose(t.readEwma(target, 13, 0), 3 * (1 - D) * D ** 11, 'ewma of second 1');
});

test('merging ringed into ringless and ringless into ringed sums every second', () => {
  const t = table(4);
  const ringed = t.alloc('ringed', 0);
  t.add(ringed, 9, 0, 10, 1, 1);
  t.add(ringed, 10, 1, 20, 1, 2);
  const ringless = t.alloc('ringless', 0);
  t.add(ringless, 10, 0, 300, 3, 30);
  t.merge(ringed, ringless, 10);
  assert.equal(t.ringBlocks, 2);
  assert.deepEqual(t.readHistory(ringless, 10), {
    sentBytes: [0, 0, 10, 300],
    receivedBytes: [0, 0, 0, 20],
  });
  assert.deepEqual(totalsOf(t, ringless), [310, 20, 4, 1, 31, 2]);

  const other = t.alloc('other', 0);
  t.add(other, 11, 1, 4, 1, 0);
  const dst = t.alloc('dst', 0);
  t.add(dst, 8, 0, 1, 1, 1);
  t.add(dst, 11, 0, 2, 1, 1);
  t.merge(other, dst, 11);
  assert.equal(t.ringBlocks, 3);
  assert.deepEqual(t.readHistory(dst, 11), {
    sentBytes: [1, 0, 0, 2],
    receivedBytes: [0, 0, 0, 4],
  });
  assert.deepEqual(window(t, dst, 12, 4), [3, 4, 2, 1, 2, 0]);
});

test('a freed slot returns its block; the next ringed slot reuses it, zeroed', () => {
  const t = table(4);
  const slots: number[] = [];
  for (let i = 0; i < 64; i++) {
    const slot = t.alloc(`s${i}`, 0);
    t.add(slot, 1, 0, 1000 + i, 1, 1);
    t.add(slot, 2, 0, 2000 + i, 1, 1);
    slots.push(slot);
  }
  assert.equal(t.ringBlocks, 64);
  assert.equal(t.ringPoolBlocks, 64);
  t.free(slots[5]!);
  assert.equal(t.ringBlocks, 63);
  const again = t.alloc('again', 2);
  assert.deepEqual(t.readHistory(again, 2).sentBytes, [0, 0, 0, 0]);
  t.add(again, 2, 0, 7, 1, 1);
  t.add(again, 3, 1, 8, 1, 1);
  assert.equal(t.ringBlocks, 64);
  assert.equal(t.ringPoolBlocks, 64, 'the freed block was reused, the pool did not grow');
  assert.deepEqual(t.readHistory(again, 3), {
    sentBytes: [0, 0, 7, 0],
    receivedBytes: [0, 0, 0, 8],
  });
  assert.deepEqual(totalsOf(t, again), [7, 8, 1, 1, 1, 1]);
});

test('growing the block pool keeps the data of existing blocks', () => {
  const t = table(4, true);
  const slots: number[] = [];
  for (let i = 0; i < 300; i++) {
    const slot = t.alloc(`s${i}`, 0);
    t.add(slot, 7, 0, i, 1, 1);
    t.add(slot, 8, 1, 3 * i, 1, 1);
    slots.push(slot);
  }
  assert.equal(t.ringBlocks, 300);
  assert.equal(t.ringPoolBlocks, 512);
  for (let i = 0; i < 300; i++) {
    assert.deepEqual(t.readHistory(slots[i]!, 8), {
      sentBytes: [0, 0, i, 0],
      receivedBytes: [0, 0, 0, 3 * i],
    });
  }
});

test('the pool never holds more blocks than maxEntries', () => {
  const t = table(4, false, 100);
  for (let i = 0; i < 100; i++) {
    const slot = t.alloc(`s${i}`, 0);
    t.add(slot, 1, 0, 1, 1, 1);
    t.add(slot, 2, 0, 1, 1, 1);
  }
  assert.equal(t.ringBlocks, 100);
  assert.equal(t.ringPoolBlocks, 100);
});

test('a compact slot whose bucket passes 2^32-1 moves from its block to a Float64 ring', () => {
  const t = table(4, true);
  const slot = t.alloc('big', 0);
  t.add(slot, 10, 0, 5, 1, 1);
  t.add(slot, 11, 0, U32_LIMIT - 1, 1, 1);
  assert.equal(t.ringBlocks, 1);
  assert.equal(t.wideSlots, 0);
  t.add(slot, 11, 0, 3, 1, 1);
  assert.equal(t.wideSlots, 1);
  assert.equal(t.ringBlocks, 0, 'the block went back to the pool');
  assert.deepEqual(t.readHistory(slot, 11).sentBytes, [0, 0, 5, U32_LIMIT + 2]);
  t.add(slot, 12, 0, U32_LIMIT * 2, 1, 1);
  assert.deepEqual(window(t, slot, 13, 3), [5 + U32_LIMIT * 3 + 2, 0, 4, 0, 4, 0]);

  // Ringless counters are Float64 totals: no overflow until a second second needs a ring.
  const ringless = t.alloc('ringless', 0);
  t.add(ringless, 10, 1, U32_LIMIT * 3, 1, 1);
  assert.equal(t.wideSlots, 1);
  t.add(ringless, 11, 1, 1, 1, 1);
  assert.equal(t.wideSlots, 2);
  assert.deepEqual(t.readHistory(ringless, 11).receivedBytes, [0, 0, U32_LIMIT * 3, 1]);

  // Overflow through a merge of one second into a ringed slot.
  const dst = t.alloc('dst', 0);
  t.add(dst, 10, 0, U32_LIMIT - 10, 1, 1);
  t.add(dst, 11, 0, 1, 1, 1);
  const src = t.alloc('src', 0);
  t.add(src, 10, 0, 20, 1, 1);
  t.merge(src, dst, 11);
  assert.equal(t.wideSlots, 3);
  assert.deepEqual(t.readHistory(dst, 11).sentBytes, [0, 0, U32_LIMIT + 10, 1]);
  t.free(dst);
  assert.equal(t.wideSlots, 2);
});

test('100,000 connections each seen in one second allocate no ring block', () => {
  const t = table(15, true, 100_000);
  for (let i = 0; i < 100_000; i++) {
    const slot = t.alloc(`c${i}`, 50);
    t.add(slot, 51, 0, 60 + (i % 7), 1, 32);
  }
  assert.equal(t.size, 100_000);
  assert.equal(t.ringBlocks, 0);
  assert.equal(t.ringPoolBlocks, 0);
  assert.equal(t.windowBytes(99_999, 52, 15, 0), 60 + (99_999 % 7));
});

// ---------------------------------------------------------------------------------------------
// Differential test against a dense reference: every second kept in a Map, forever.

interface ModelSlot {
  head: number;
  totals: number[];
  seconds: Map<number, number[]>;
}

class DenseModel {
  readonly slots = new Map<number, ModelSlot>();
  constructor(readonly ringSeconds: number) {}

  get buckets(): number {
    return this.ringSeconds + 1;
  }

  alloc(slot: number, sec: number): void {
    this.slots.set(slot, { head: sec, totals: [0, 0, 0, 0, 0, 0], seconds: new Map() });
  }

  add(slot: number, sec: number, lanes: number[]): void {
    const s = this.slots.get(slot)!;
    s.head = Math.max(s.head, sec);
    const second = s.seconds.get(s.head) ?? [0, 0, 0, 0, 0, 0];
    for (let lane = 0; lane < LANES; lane++) {
      second[lane]! += lanes[lane]!;
      s.totals[lane]! += lanes[lane]!;
    }
    s.seconds.set(s.head, second);
  }

  merge(src: number, dst: number, nowSec: number): void {
    const a = this.slots.get(src)!;
    const b = this.slots.get(dst)!;
    a.head = Math.max(a.head, nowSec);
    b.head = Math.max(b.head, nowSec);
    for (const [sec, lanes] of a.seconds) {
      const second = b.seconds.get(sec) ?? [0, 0, 0, 0, 0, 0];
      for (let lane = 0; lane < LANES; lane++) second[lane]! += lanes[lane]!;
      b.seconds.set(sec, second);
    }
    for (let lane = 0; lane < LANES; lane++) b.totals[lane]! += a.totals[lane]!;
  }

  /** The value of second `sec` as the ring shows it: only seconds `head - buckets < s <= head`. */
  visible(s: ModelSlot, sec: number): number[] | undefined {
    if (sec > s.head || sec <= s.head - this.buckets) return undefined;
    return s.seconds.get(sec);
  }

  window(slot: number, nowSec: number, windowSeconds: number): number[] {
    const s = this.slots.get(slot)!;
    const out = [0, 0, 0, 0, 0, 0];
    for (let sec = nowSec - windowSeconds; sec < nowSec; sec++) {
      const lanes = this.visible(s, sec);
      if (lanes) for (let lane = 0; lane < LANES; lane++) out[lane]! += lanes[lane]!;
    }
    return out;
  }

  history(slot: number, nowSec: number): { sentBytes: number[]; receivedBytes: number[] } {
    const s = this.slots.get(slot)!;
    const sentBytes: number[] = [];
    const receivedBytes: number[] = [];
    for (let sec = nowSec - this.ringSeconds + 1; sec <= nowSec; sec++) {
      const lanes = this.visible(s, sec);
      sentBytes.push(lanes ? lanes[0]! : 0);
      receivedBytes.push(lanes ? lanes[1]! : 0);
    }
    return { sentBytes, receivedBytes };
  }

  /** Sum over complete seconds x <= last of (1-d) d^(last-x) bytes(x); last = max(now, head) - 1. */
  ewma(slot: number, nowSec: number, dir: Direction): number {
    const s = this.slots.get(slot)!;
    const last = Math.max(nowSec, s.head) - 1;
    let sum = 0;
    for (const [sec, lanes] of s.seconds) {
      if (sec <= last) sum += (1 - D) * D ** (last - sec) * lanes[dir]!;
    }
    return sum;
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function runDifferential(seed: number, ringSeconds: number, isCompact: boolean): void {
  const random = mulberry32(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const maxEntries = 40;
  const t = table(ringSeconds, isCompact, maxEntries);
  const model = new DenseModel(ringSeconds);
  const live: number[] = [];
  let sec = 1000;
  let keyCount = 0;
  let ops = 0;
  const where = (what: string): string =>
    `seed ${seed} ringSeconds ${ringSeconds} compact ${isCompact} op ${ops} sec ${sec}: ${what}`;

  const check = (slot: number): void => {
    const s = model.slots.get(slot)!;
    assert.equal(t.head[slot], s.head, where(`head of ${slot}`));
    assert.deepEqual(totalsOf(t, slot), s.totals, where(`totals of ${slot}`));
    for (const nowSec of [sec, sec + 1, sec + 1 + int(3 * ringSeconds)]) {
      const w = 1 + int(ringSeconds + 2);
      assert.deepEqual(
        window(t, slot, nowSec, w),
        model.window(slot, nowSec, w),
        where(`window ${slot} ${nowSec} ${w}`),
      );
      assert.deepEqual(
        t.readHistory(slot, nowSec),
        model.history(slot, nowSec),
        where(`history ${slot} ${nowSec}`),
      );
      const expected = model.window(slot, nowSec, w);
      assert.equal(
        t.windowBytes(slot, nowSec, w, -1),
        expected[0]! + expected[1]!,
        where('windowBytes'),
      );
      assert.equal(t.windowBytes(slot, nowSec, w, 0), expected[0], where('windowBytes sent'));
      assert.equal(t.windowBytes(slot, nowSec, w, 1), expected[1], where('windowBytes received'));
      for (const dir of [0, 1] as const) {
        assertClose(
          t.readEwma(slot, nowSec, dir),
          model.ewma(slot, nowSec, dir),
          where(`ewma ${slot} ${dir}`),
        );
      }
    }
  };

  for (let step = 0; step < 300; step++) {
    sec += random() < 0.08 ? 2 + int(3 * ringSeconds) : 1;
    const opsThisSecond = 1 + int(12);
    for (let k = 0; k < opsThisSecond; k++, ops++) {
      const r = random();
      if ((r < 0.15 || live.length < 2) && live.length < maxEntries) {
        const slot = t.alloc(`k${keyCount++}`, sec - int(3));
        model.alloc(slot, t.head[slot]!);
        live.push(slot);
      } else if (r < 0.75) {
        // Hot slots (the first few) get traffic most seconds, so they keep rings.
        const slot = live[random() < 0.5 ? int(Math.min(4, live.length)) : int(live.length)]!;
        const dir: Direction = random() < 0.5 ? 0 : 1;
        const huge = isCompact && random() < 0.03;
        const bytes = huge ? U32_LIMIT - 1 + int(1000) : int(5000);
        const packets = bytes === 0 ? 0 : 1 + int(5);
        const payloadBytes = int(bytes + 1);
        t.add(slot, sec, dir, bytes, packets, payloadBytes);
        model.add(slot, sec, lanesOf(dir, bytes, packets, payloadBytes));
      } else if (r < 0.85 && live.length >= 2) {
        const i = int(live.length);
        let j = int(live.length - 1);
        if (j >= i) j++;
        const src = live[i]!;
        const dst = live[j]!;
        t.merge(src, dst, sec);
        model.merge(src, dst, sec);
        check(dst);
        t.free(src);
        model.slots.delete(src);
        live.splice(i, 1);
      } else if (r < 0.95) {
        check(live[int(live.length)]!);
      } else {
        const i = int(live.length);
        t.free(live[i]!);
        model.slots.delete(live[i]!);
        live.splice(i, 1);
      }
    }
    for (const slot of live) check(slot);
    assert.equal(t.size, live.length, where('size'));
    assert.ok(t.ringBlocks + t.wideSlots <= live.length, where('at most one ring per live slot'));

    const count = 1 + int(5);
    const expectedVictims = [...live]
      .sort((a, b) => model.slots.get(a)!.head - model.slots.get(b)!.head || a - b)
      .slice(0, count)
      .sort((a, b) => a - b);
    const victims = t.leastRecentlyActive(count, () => false).sort((a, b) => a - b);
    assert.deepEqual(victims, expectedVictims, where('leastRecentlyActive'));
  }
}

test('every reader agrees with a dense per-second model over random adds, gaps, merges and frees', () => {
  for (const [seed, ringSeconds, isCompact] of [
    [1, 4, false],
    [2, 4, true],
    [3, 15, true],
    [4, 15, false],
    [5, 1, true],
    [6, 7, true],
  ] as const) {
    runDifferential(seed, ringSeconds, isCompact);
  }
});
