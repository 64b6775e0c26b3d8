// A real Attributor over a fake /proc and a fake clock, recording what it resolves: the set-up
// the attributor tests with kernel events share (src/attribute/attributor-*.test.ts).

import assert from 'node:assert/strict';

import { flowKey } from '../../src/attribute/flow-key.js';
import { Attributor } from '../../src/attribute/attributor.js';
import type { AttributorOptions } from '../../src/attribute/attributor.js';
import type { Attribution, FlowTuple } from '../../src/attribute/types.js';
import { FakeClock } from '../../src/clock.js';
import type { FakeProcFs } from './fake-procfs.js';

/** An IPv4 flow tuple with its key as the flow table builds it. */
export function flowTuple(
  protocol: number,
  srcAddress: string,
  srcPort: number,
  dstAddress: string,
  dstPort: number,
): FlowTuple {
  return {
    key: flowKey(protocol, srcAddress, srcPort, dstAddress, dstPort),
    ipVersion: 4,
    protocol,
    srcAddress,
    srcPort,
    dstAddress,
    dstPort,
  };
}

/** An attributor whose local addresses are `localAddresses`; `resolved` lists its answers in order. */
export function attributorHarness(
  procFs: FakeProcFs,
  localAddresses: readonly string[],
  options: Partial<AttributorOptions> = {},
): {
  attributor: Attributor;
  clock: FakeClock;
  resolved: { flow: FlowTuple; attribution: Attribution }[];
} {
  const clock = new FakeClock();
  const resolved: { flow: FlowTuple; attribution: Attribution }[] = [];
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(localAddresses),
    onResolved: (f, _c, attribution) => resolved.push({ flow: f, attribution }),
    ...options,
  });
  return { attributor, clock, resolved };
}

/**
 * The one resolution of `flow` (asserts it was resolved exactly once). Checking that an end is
 * unknown proves something only after this: `resolved[0]?.attribution.sender === undefined`
 * also holds when nothing was resolved at all.
 */
export function resolutionOf(
  resolved: readonly { flow: FlowTuple; attribution: Attribution }[],
  flow: FlowTuple,
): Attribution {
  const mine = resolved.filter((r) => r.flow.key === flow.key);
  assert.equal(
    mine.length,
    1,
    `flow ${flow.srcAddress}:${flow.srcPort} > ${flow.dstAddress}:${flow.dstPort} was resolved ${mine.length} times, expected once`,
  );
  return mine[0]!.attribution;
}
