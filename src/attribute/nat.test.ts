import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NativeConntrackEntry } from '../capture/addon.js';
import { flowKey } from './flow-key.js';
import { NatTranslations, translatedView } from './nat.js';
import type { ConntrackReader } from './nat.js';
import type { FlowTuple } from './types.js';

function flow(src: string, sport: number, dst: string, dport: number, protocol = 6): FlowTuple {
  return {
    key: flowKey(protocol, src, sport, dst, dport),
    ipVersion: src.includes(':') ? 6 : 4,
    protocol,
    srcAddress: src,
    srcPort: sport,
    dstAddress: dst,
    dstPort: dport,
  };
}

// A container 198.19.7.2:40000 uploading to 198.18.5.2:5001, MASQUERADEd to 198.18.5.1:40000
// (conntrack: original = as the container sent it, reply = as the server answers).
const MASQ: NativeConntrackEntry = [
  '198.19.7.2',
  40000,
  '198.18.5.2',
  5001,
  '198.18.5.2',
  5001,
  '198.18.5.1',
  40000,
];
// A client 198.18.5.2:50000 reaching a published port 198.18.5.1:8080, DNAT'd to 198.19.7.3:80.
const DNAT: NativeConntrackEntry = [
  '198.18.5.2',
  50000,
  '198.18.5.1',
  8080,
  '198.19.7.3',
  80,
  '198.18.5.2',
  50000,
];

/** A conntrack table of the given entries, found by either tuple, as the kernel does. */
function fakeReader(entries: NativeConntrackEntry[], calls: string[] = []): ConntrackReader {
  return {
    get: (_v, _p, src, sport, dst, dport) => {
      calls.push(`${src}:${sport}>${dst}:${dport}`);
      for (const e of entries) {
        if (e[0] === src && e[1] === sport && e[2] === dst && e[3] === dport) return e;
        if (e[4] === src && e[5] === sport && e[6] === dst && e[7] === dport) return e;
      }
      return null;
    },
    close: () => undefined,
  };
}

test('MASQUERADE: every copy of an upload (before and after NAT) names the same untranslated flow', () => {
  const before = translatedView(flow('198.19.7.2', 40000, '198.18.5.2', 5001), MASQ);
  const after = translatedView(flow('198.18.5.1', 40000, '198.18.5.2', 5001), MASQ);
  assert.ok(before !== null && after !== null);
  assert.equal(before.key, after.key);
  // The sender is the container's socket; the receiver (the server) sees the host's address.
  assert.equal(after.srcAddress, '198.19.7.2');
  assert.equal(after.receiverView.srcAddress, '198.18.5.1');
  assert.equal(after.receiverView.dstAddress, '198.18.5.2');
  // The answers: sent by the server to the host's address, received by the container's socket.
  const reply = translatedView(flow('198.18.5.2', 5001, '198.18.5.1', 40000), MASQ);
  const replyInside = translatedView(flow('198.18.5.2', 5001, '198.19.7.2', 40000), MASQ);
  assert.ok(reply !== null && replyInside !== null);
  assert.equal(reply.key, replyInside.key);
  assert.notEqual(reply.key, before.key);
  assert.equal(reply.dstAddress, '198.18.5.1');
  assert.equal(reply.receiverView.dstAddress, '198.19.7.2');
  assert.equal(reply.receiverView.dstPort, 40000);
});

test('DNAT: a published port goes to the container socket behind it, both ways', () => {
  const inbound = translatedView(flow('198.18.5.2', 50000, '198.18.5.1', 8080), DNAT);
  assert.ok(inbound !== null);
  assert.equal(inbound.dstAddress, '198.18.5.1'); // the client's own view
  assert.equal(inbound.receiverView.dstAddress, '198.19.7.3');
  assert.equal(inbound.receiverView.dstPort, 80);
  const answer = translatedView(flow('198.19.7.3', 80, '198.18.5.2', 50000), DNAT);
  assert.ok(answer !== null);
  assert.equal(answer.srcAddress, '198.19.7.3');
  assert.equal(answer.receiverView.srcAddress, '198.18.5.1');
  assert.equal(answer.receiverView.srcPort, 8080);
});

test('an entry that translates nothing gives no view', () => {
  const plain: NativeConntrackEntry = [
    '198.18.0.1',
    1,
    '198.18.0.2',
    2,
    '198.18.0.2',
    2,
    '198.18.0.1',
    1,
  ];
  assert.equal(translatedView(flow('198.18.0.1', 1, '198.18.0.2', 2), plain), null);
});

test('one lookup per flow: answers are cached, counted as hits and misses', () => {
  const calls: string[] = [];
  let now = 0;
  const nat = new NatTranslations({ reader: fakeReader([MASQ], calls), monotonicMs: () => now });
  const f = flow('198.18.5.1', 40000, '198.18.5.2', 5001);
  assert.equal(nat.resolve(f)?.srcAddress, '198.19.7.2');
  // The tuple after NAT is neither of the entry's: found with its reverse (two requests).
  assert.deepEqual(calls, ['198.18.5.1:40000>198.18.5.2:5001', '198.18.5.2:5001>198.18.5.1:40000']);
  assert.equal(nat.resolve(f)?.srcAddress, '198.19.7.2');
  assert.equal(calls.length, 2);
  const untracked = flow('198.18.9.9', 1, '198.18.9.8', 2);
  assert.equal(nat.resolve(untracked), null);
  assert.equal(nat.resolve(untracked), null);
  now += 10_000; // a flow without an entry is asked again later
  assert.equal(nat.resolve(untracked), null);
  const st = nat.stats();
  assert.equal(st.cacheHits, 2);
  assert.equal(st.cacheMisses, 3);
  assert.equal(st.translatedFlows, 1);
  assert.equal(st.untrackedFlows, 2);
  assert.equal(st.available, true);
});

test('no permission: degraded mode, one warning with the fix, no further lookups', () => {
  const warnings: string[] = [];
  let calls = 0;
  const reader: ConntrackReader = {
    get: () => {
      calls++;
      throw Object.assign(new Error('conntrack lookup: Operation not permitted'), {
        code: 'EPERM',
      });
    },
    close: () => undefined,
  };
  const nat = new NatTranslations({
    reader,
    monotonicMs: () => 0,
    onUnavailable: (m) => warnings.push(m),
  });
  assert.equal(nat.resolve(flow('198.18.0.1', 1, '198.18.0.2', 2)), null);
  assert.equal(nat.resolve(flow('198.18.0.1', 3, '198.18.0.2', 4)), null);
  assert.equal(calls, 1);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /conntrack cannot be read \(conntrack lookup: Operation not permitted\).*CAP_NET_ADMIN/,
  );
  assert.equal(nat.stats().available, false);
});

test('no reader at all (module missing, socket refused): degraded from the start, one warning', () => {
  const warnings: string[] = [];
  const nat = new NatTranslations({
    reader: undefined,
    unavailableReason: 'socket(NETLINK_NETFILTER): Protocol not supported',
    monotonicMs: () => 0,
    onUnavailable: (m) => warnings.push(m),
  });
  assert.equal(nat.resolve(flow('198.18.0.1', 1, '198.18.0.2', 2)), null);
  assert.equal(warnings.length, 1);
  assert.equal(nat.stats().unavailableReason, 'socket(NETLINK_NETFILTER): Protocol not supported');
});

test('a timed-out lookup is counted, not a degraded mode', () => {
  const reader: ConntrackReader = {
    get: () => {
      throw Object.assign(new Error('conntrack reply: Resource temporarily unavailable'), {
        code: 'EAGAIN',
      });
    },
    close: () => undefined,
  };
  const nat = new NatTranslations({ reader, monotonicMs: () => 0 });
  assert.equal(nat.resolve(flow('198.18.0.1', 1, '198.18.0.2', 2)), null);
  assert.equal(nat.stats().failedLookups, 1);
  assert.equal(nat.stats().available, true);
});

test('a full cache evicts the oldest answer and warns once', () => {
  const warnings: string[] = [];
  const nat = new NatTranslations({
    reader: fakeReader([]),
    limit: 2,
    monotonicMs: () => 0,
    onOverflow: (m) => warnings.push(m),
  });
  for (let port = 1; port <= 5; port++) nat.resolve(flow('198.18.0.1', port, '198.18.0.2', 80));
  assert.equal(nat.stats().cached, 2);
  assert.equal(nat.stats().cacheEvictions, 3);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /NAT translation cache is full \(2 flows\)/);
});
