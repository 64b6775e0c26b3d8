// FlowIndex: lookups by tuple and by reversed tuple, replacement, deletion with backward shift
// under growth and heavy collisions, checked against a Map keyed by flowKey() as the reference.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flowKey } from '../attribute/flow-key.js';
import type { FlowTuple } from '../attribute/types.js';
import { FlowIndex } from './flow-index.js';

function tuple(
  protocol: number,
  srcAddress: string,
  srcPort: number,
  dstAddress: string,
  dstPort: number,
): FlowTuple {
  return {
    key: flowKey(protocol, srcAddress, srcPort, dstAddress, dstPort),
    ipVersion: srcAddress.includes(':') ? 6 : 4,
    protocol,
    srcAddress,
    srcPort,
    dstAddress,
    dstPort,
  };
}

function reversed(t: FlowTuple): FlowTuple {
  return tuple(t.protocol, t.dstAddress, t.dstPort, t.srcAddress, t.srcPort);
}

test('finds an entry by its tuple and, from the other end, by the reversed tuple', () => {
  const filed: FlowTuple[] = [];
  const index = new FlowIndex(10, (v) => filed[v]);
  const a = tuple(6, '198.18.0.1', 40000, '198.18.0.2', 80);
  filed[3] = a;
  index.set(a, false, 3);
  assert.equal(index.get(a, false), 3);
  // A different object with the same fields finds it too.
  assert.equal(index.get(tuple(6, '198.18.0.1', 40000, '198.18.0.2', 80), false), 3);
  assert.equal(index.get(reversed(a), true), 3);
  assert.equal(index.get(reversed(a), false), -1);
  assert.equal(index.get(tuple(17, '198.18.0.1', 40000, '198.18.0.2', 80), false), -1);
  assert.equal(index.get(tuple(6, '198.18.0.1', 40001, '198.18.0.2', 80), false), -1);
  index.set(a, false, 4);
  filed[4] = a;
  assert.equal(index.get(a, false), 4);
  assert.equal(index.size, 1);
  index.delete(a, false);
  assert.equal(index.get(a, false), -1);
  assert.equal(index.size, 0);
});

test('agrees with a Map keyed by flowKey over random sets and deletes, through growth', () => {
  let seed = 7;
  const random = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const filed: FlowTuple[] = [];
  const max = 5000;
  const index = new FlowIndex(max, (v) => filed[v]);
  const reference = new Map<string, number>();
  const live = new Map<string, FlowTuple>();
  for (let step = 0; step < 40_000; step++) {
    // Few addresses and ports: many equal hashes of neighbours, long probe runs.
    const t = tuple(
      random(2) === 0 ? 6 : 17,
      `198.18.0.${random(4)}`,
      random(60),
      random(3) === 0 ? `fd42:6e66::${random(3)}` : `198.18.1.${random(4)}`,
      random(40),
    );
    if (live.has(t.key) && random(2) === 0) {
      index.delete(live.get(t.key)!, false);
      reference.delete(t.key);
      live.delete(t.key);
    } else if (live.has(t.key) || reference.size < max) {
      const value = step;
      filed[value] = t;
      index.set(t, false, value);
      reference.set(t.key, value);
      live.set(t.key, t);
    }
    if (step % 1000 === 0) {
      assert.equal(index.size, reference.size);
      for (const [key, value] of reference) {
        const f = live.get(key)!;
        assert.equal(index.get(f, false), value, key);
        assert.equal(index.get(reversed(f), true), value, key);
      }
    }
  }
  assert.ok(reference.size > 1000, `only ${reference.size} entries at the end`);
});
