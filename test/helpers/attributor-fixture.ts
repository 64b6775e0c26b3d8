// The set-up the attributor tests on a fake /proc share (src/attribute/attributor.test.ts,
// attributor-retry.test.ts, attributor-scans.test.ts): flows written as 'address:port', one
// host namespace with its tables, and an attributor that records what it resolves.

import assert from 'node:assert/strict';

import { Attributor } from '../../src/attribute/attributor.js';
import type { AttributorOptions } from '../../src/attribute/attributor.js';
import type { ProcFs } from '../../src/attribute/procfs.js';
import type { Attribution, FlowCounters, FlowTuple } from '../../src/attribute/types.js';
import { FakeClock } from '../../src/clock.js';
import { FakeProcFs } from './fake-procfs.js';

/** Network namespace inode of the fake host (hostFs). */
export const HOST_NS = 4026531840;
const ACK = 0x10;

/** A flow tuple from 'address:port' ends (IPv6 addresses too: the last colon splits). */
export function flow(protocol: number, src: string, dst: string): FlowTuple {
  const [srcAddress = '', srcPort = '0'] = src.split(/:(?=\d+$)/);
  const [dstAddress = '', dstPort = '0'] = dst.split(/:(?=\d+$)/);
  return {
    key: `${protocol}|${src}|${dst}`,
    ipVersion: srcAddress.includes(':') ? 6 : 4,
    protocol,
    srcAddress,
    srcPort: Number(srcPort),
    dstAddress,
    dstPort: Number(dstPort),
  };
}

/** One batch's counters of a flow (an ACK segment by default). */
export function counters(packets = 1, bytes = 100, tcpFlags = ACK): FlowCounters {
  return {
    packets,
    bytes,
    payloadBytes: bytes - 40,
    wireBytes: bytes + 14,
    firstMs: 1,
    lastMs: 2,
    tcpFlags,
  };
}

/** What the attributor reported, with a copy of the counters it reported. */
export interface Resolved {
  flow: FlowTuple;
  counters: FlowCounters;
  attribution: Attribution;
}

/** An attributor on `procFs` and a fake clock whose local addresses are `local`. */
export function setup(
  procFs: ProcFs,
  local: string[],
  options: Partial<AttributorOptions> = {},
): { attributor: Attributor; clock: FakeClock; resolved: Resolved[] } {
  const clock = new FakeClock();
  const resolved: Resolved[] = [];
  const attributor = new Attributor({
    procFs,
    clock,
    localAddresses: new Set(local),
    onResolved: (f, c, attribution) => resolved.push({ flow: f, counters: { ...c }, attribution }),
    ...options,
  });
  return { attributor, clock, resolved };
}

/** Advance the fake clock step by step, letting each scan that fires finish. */
export async function advance(clock: FakeClock, attributor: Attributor, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(Math.min(10, ms - t));
    await attributor.whenIdle();
  }
}

/** The one resolution (asserts there was exactly one). */
export function only(resolved: Resolved[]): Attribution {
  assert.equal(resolved.length, 1, 'exactly one resolution');
  return resolved[0]!.attribution;
}

/** A fake /proc with one process (pid 1) in the host namespace, whose address is 198.18.0.1. */
export function hostFs(tcp: string, udp = ''): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp,
    udp,
    fib_trie: '     |-- 198.18.0.1\n        /32 host LOCAL\n',
  });
  return procFs;
}
