// The owner lookup alone, with an empty socket index and fake kernel events: which end an event
// may answer for, and when a flow waits for a scan.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { flowKey } from './flow-key.js';
import { OwnerLookup } from './owner-lookup.js';
import type { EventOwners } from './owner-lookup.js';
import { placeholderProcess } from './process-info.js';
import { FakeProcFs } from '../../test/helpers/fake-procfs.js';
import type { FlowTuple, Owner } from './types.js';

const LOCAL = '198.18.0.1';
const REMOTE = '198.18.5.5';
const client: Owner = { process: placeholderProcess('42:1', 42, 'client'), socketInode: 0 };

function tuple(
  protocol: number,
  src: string,
  sport: number,
  dst: string,
  dport: number,
): FlowTuple {
  return {
    key: flowKey(protocol, src, sport, dst, dport),
    ipVersion: 4,
    protocol,
    srcAddress: src,
    srcPort: sport,
    dstAddress: dst,
    dstPort: dport,
  };
}

/** Events that know `client` as the connector of LOCAL:40000 and the UDP sender on port 5353. */
function events(asked: string[]): EventOwners {
  return {
    ioOwner: () => undefined,
    connectOwner: (_p, address, port) => {
      asked.push(`connect ${address}:${port}`);
      return address === LOCAL && port === 40000 ? client : undefined;
    },
    udpOwner: (_p, address, port) => {
      asked.push(`udp ${address}:${port}`);
      return port === 5353 ? client : undefined;
    },
  };
}

function lookupWith(asked: string[]): OwnerLookup {
  return new OwnerLookup({
    procFs: new FakeProcFs(),
    events: events(asked),
    virtualLinks: { isVirtual: () => false },
    monotonicMs: () => 0,
    localAddresses: new Set([LOCAL]),
  });
}

test('a TCP end named by its connect event is the sender; the lookup is provisional', () => {
  const owners = lookupWith([]);
  const result = owners.lookup(tuple(6, LOCAL, 40000, REMOTE, 443), false);
  assert.equal(result.attribution.sender, client);
  assert.equal(result.attribution.receiver, undefined);
  assert.equal(result.attribution.dstIsLocal, false);
  assert.equal(result.isComplete, true);
  assert.equal(result.isProvisional, true);
});

test('a UDP send event answers only for a local address', () => {
  const asked: string[] = [];
  const owners = lookupWith(asked);
  const forwarded = owners.lookup(tuple(17, '198.18.9.9', 5353, REMOTE, 53), false);
  assert.equal(forwarded.attribution.sender, undefined);
  assert.deepEqual(asked, []);
  const local = owners.lookup(tuple(17, LOCAL, 5353, REMOTE, 53), false);
  assert.equal(local.attribution.sender, client);
  assert.equal(local.usedUdpEvent, true);
});

test('a flow with no local end waits for one scan, and is complete at its final lookup', () => {
  const owners = lookupWith([]);
  const flow = tuple(6, REMOTE, 40000, '198.18.6.6', 80);
  const first = owners.lookup(flow, false);
  assert.deepEqual([first.isComplete, first.awaitsScan], [false, true]);
  const final = owners.lookup(flow, true);
  assert.deepEqual([final.isComplete, final.awaitsScan], [true, false]);
  assert.equal(owners.generation, 0);
});
