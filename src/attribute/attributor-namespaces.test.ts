// Flows whose ends live in network namespaces no scan has seen yet (a container started a
// moment ago, routed clients): they wait for one scan instead of being taken as remote, and
// both ends then go to their processes (issue 8, part 3).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributorHarness, flowTuple } from '../../test/helpers/attributor-harness.js';
import { FakeProcFs, ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import { TcpState } from './net-table.js';
import type { FlowCounters } from './types.js';

const HOST_NS = 4026531840;
const CLIENT_NS = 4026532001;
const SERVER_NS = 4026532002;
const CLIENT = '198.18.1.2';
const SERVER = '198.18.2.2';
const TCP = 6;

function counters(): FlowCounters {
  return {
    packets: 1,
    bytes: 100,
    payloadBytes: 48,
    wireBytes: 114,
    firstMs: 1,
    lastMs: 2,
    tcpFlags: 0x10,
  };
}

function hostOnly(): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, { fib_trie: '     |-- 198.18.1.1\n        /32 host LOCAL\n' });
  return procFs;
}

/** A client and a server, each in a namespace of its own, appear after the first scan. */
function addRoutedPair(procFs: FakeProcFs): void {
  procFs.addProcess({ pid: 50, comm: 'client', netns: CLIENT_NS, sockets: [5001] });
  procFs.setNetFiles(50, {
    tcp: line(0, `${CLIENT}:40000`, `${SERVER}:80`, TcpState.established, 5001),
    fib_trie: `     |-- ${CLIENT}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 60, comm: 'server', netns: SERVER_NS, sockets: [6001] });
  procFs.setNetFiles(60, {
    tcp: line(0, `${SERVER}:80`, `${CLIENT}:40000`, TcpState.established, 6001),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
}

test('a flow between two namespaces no scan has seen waits for a scan; both ends then get it', async () => {
  const procFs = hostOnly();
  const { attributor, resolved } = attributorHarness(procFs, ['198.18.1.1']);
  await attributor.start();
  addRoutedPair(procFs);
  attributor.ingest(flowTuple(TCP, CLIENT, 40000, SERVER, 80), counters());
  assert.equal(resolved.length, 0, 'not taken as remote traffic before a scan');
  assert.equal(attributor.stats().retry.pendingFlows, 1);
  await attributor.scanNow();
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 50);
  assert.equal(resolved[0]?.attribution.receiver?.process.pid, 60);
  attributor.stop();
});

test('traffic between two remote hosts waits for one scan only, then is unknown', async () => {
  const procFs = hostOnly();
  const { attributor, resolved } = attributorHarness(procFs, ['198.18.1.1'], { retryScans: 5 });
  await attributor.start();
  attributor.ingest(flowTuple(TCP, '203.0.113.1', 40000, '203.0.113.2', 80), counters());
  assert.equal(resolved.length, 0);
  await attributor.scanNow();
  assert.equal(resolved.length, 1, 'one scan newer than the flow settles it, not retryScans');
  assert.equal(resolved[0]?.attribution.sender, undefined);
  assert.equal(resolved[0]?.attribution.receiver, undefined);
  attributor.stop();
});

test('captured on a veth: a host process talking to a namespace no scan has seen yet waits for it', async () => {
  const procFs = hostOnly();
  procFs.addProcess({ pid: 40, comm: 'hostclient', netns: HOST_NS, sockets: [4001, 4002] });
  procFs.setNetFiles(1, {
    tcp:
      line(0, '198.18.1.1:41000', `${SERVER}:80`, TcpState.established, 4001) +
      line(1, '198.18.1.1:41001', '203.0.113.9:443', TcpState.established, 4002),
    fib_trie: '     |-- 198.18.1.1\n        /32 host LOCAL\n',
  });
  procFs.setLink('/sys/class/net/pfveth', '../../devices/virtual/net/pfveth');
  procFs.setFile('/sys/class/net/pfveth/ifindex', '7\n');
  procFs.setLink('/sys/class/net/eth0', '../../devices/pci0000:00/0000:00:03.0/net/eth0');
  procFs.setFile('/sys/class/net/eth0/ifindex', '2\n');
  const { attributor, resolved } = attributorHarness(procFs, ['198.18.1.1']);
  await attributor.start();
  procFs.addProcess({ pid: 60, comm: 'server', netns: SERVER_NS, sockets: [6001] });
  procFs.setNetFiles(60, {
    tcp: line(0, `${SERVER}:80`, '198.18.1.1:41000', TcpState.established, 6001),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  const onVeth = { ...flowTuple(TCP, '198.18.1.1', 41000, SERVER, 80), device: 7 };
  attributor.ingest(onVeth, counters());
  assert.equal(resolved.length, 0, 'the far end may be a namespace of this host');
  await attributor.scanNow();
  assert.equal(resolved[0]?.attribution.sender?.process.pid, 40);
  assert.equal(resolved[0]?.attribution.receiver?.process.pid, 60);
  // On a physical interface the same situation is ordinary traffic to a remote host: no wait.
  const onEth = { ...flowTuple(TCP, '198.18.1.1', 41001, '203.0.113.9', 443), device: 2 };
  attributor.ingest(onEth, counters());
  assert.equal(resolved.length, 2);
  assert.equal(resolved[1]?.attribution.sender?.process.pid, 40);
  assert.equal(resolved[1]?.attribution.receiver, undefined);
  attributor.stop();
});
