// The attributor with servers as they run: a listener shared by a pre-fork group or by a
// parent and its per-connection children, SO_REUSEPORT groups, and kernel read/write events
// (kind tcpIo) that name the process serving each connection.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { attributorHarness, flowTuple } from '../../test/helpers/attributor-harness.js';
import { FakeProcFs, ipv4TableLine as line } from '../../test/helpers/fake-procfs.js';
import type { Attributor } from './attributor.js';
import type { FakeClock } from '../clock.js';
import { TcpState } from './net-table.js';
import type { ConnectEvent } from './recent-connects.js';
import type { FlowCounters } from './types.js';

const HOST_NS = 4026531840;
const TCP = 6;
const SERVER = '198.18.0.1';
const CLIENT = '198.18.0.9';

function counters(): FlowCounters {
  return {
    packets: 1,
    bytes: 100,
    payloadBytes: 60,
    wireBytes: 114,
    firstMs: 1,
    lastMs: 2,
    tcpFlags: 0x10,
  };
}

function ioEvent(pid: number, clientPort: number, startTime = 1000 + pid): ConnectEvent {
  return {
    kind: 'tcpIo',
    pid,
    startTime,
    netns: HOST_NS,
    comm: 'server',
    protocol: TCP,
    localAddress: SERVER,
    localPort: 80,
    remoteAddress: CLIENT,
    remotePort: clientPort,
  };
}

/** A master (10) and two workers (11, 12) of the same program, all holding listener 700. */
function preforkFs(tcp = ''): FakeProcFs {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp: line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 700) + tcp,
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 10, comm: 'server', sockets: [700] });
  procFs.addProcess({ pid: 11, comm: 'server', ppid: 10, sockets: [700] });
  procFs.addProcess({ pid: 12, comm: 'server', ppid: 10, sockets: [700] });
  return procFs;
}

async function advance(clock: FakeClock, attributor: Attributor, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 10) {
    clock.advance(Math.min(10, ms - t));
    await attributor.whenIdle();
  }
}

test('pre-fork: a connection no table knows is never given to the master', async () => {
  const { attributor, clock, resolved } = attributorHarness(preforkFs(), [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 40000, SERVER, 80), counters());
  assert.equal(resolved.length, 0, 'parked');
  await advance(clock, attributor, 1000);
  assert.equal(resolved.length, 1);
  assert.equal(resolved[0]?.attribution.receiver, undefined);
  assert.equal(resolved[0]?.attribution.dstIsLocal, true);
  assert.equal(attributor.stats().retry.sharedListenerLookups >= 1, true);
  attributor.stop();
});

test('pre-fork: the worker that reads the connection gets it, at once when its event arrives', async () => {
  const { attributor, resolved } = attributorHarness(preforkFs(), [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 40000, SERVER, 80), counters());
  attributor.ingest(flowTuple(TCP, SERVER, 80, CLIENT, 40000), counters());
  assert.equal(resolved.length, 0);
  attributor.recordConnects([ioEvent(12, 40000)]);
  assert.equal(resolved.length, 2);
  const toServer = resolved.find((r) => r.flow.dstPort === 80);
  const fromServer = resolved.find((r) => r.flow.srcPort === 80);
  assert.equal(toServer?.attribution.receiver?.process.pid, 12);
  assert.equal(fromServer?.attribution.sender?.process.pid, 12);
  // The next batch comes from the remembered flow.
  attributor.ingest(flowTuple(TCP, CLIENT, 40000, SERVER, 80), counters());
  assert.equal(resolved[2]?.attribution.receiver?.process.pid, 12);
  assert.equal(attributor.stats().events.tcpIoUsed >= 1, true);
  attributor.stop();
});

test('fork per connection: the child that serves beats the parent the scan found the socket in', async () => {
  // The scan saw the accepted socket 701 in the parent only (before the child's fd table was read).
  const procFs = preforkFs(line(1, `${SERVER}:80`, `${CLIENT}:41000`, TcpState.established, 701));
  procFs.addProcess({ pid: 10, comm: 'server', sockets: [700, 701] });
  const { attributor, resolved } = attributorHarness(procFs, [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 41000, SERVER, 80), counters());
  assert.equal(resolved[0]?.attribution.receiver?.process.pid, 10);
  procFs.addProcess({ pid: 13, comm: 'server', ppid: 10 });
  attributor.recordConnects([ioEvent(13, 41000)]);
  attributor.ingest(flowTuple(TCP, CLIENT, 41000, SERVER, 80), counters());
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 13);
  assert.equal(resolved[1]?.attribution.receiver?.process.key, '13:1013');
  attributor.stop();
});

test('an exited serving child is still named from its event: pid and start time', async () => {
  const { attributor, resolved } = attributorHarness(preforkFs(), [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 42000, SERVER, 80), counters());
  attributor.recordConnects([ioEvent(99, 42000, 5555)]);
  assert.equal(resolved[0]?.attribution.receiver?.process.key, '99:5555');
  assert.equal(attributor.stats().events.exitedOwners, 1);
  attributor.stop();
});

test('SO_REUSEPORT: two listeners of two processes on one port are not a stand-in', async () => {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp:
      line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 700) +
      line(1, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 710),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 20, comm: 'a', sockets: [700] });
  procFs.addProcess({ pid: 21, comm: 'b', sockets: [710] });
  const { attributor, clock, resolved } = attributorHarness(procFs, [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 43000, SERVER, 80), counters());
  await advance(clock, attributor, 1000);
  assert.equal(resolved[0]?.attribution.receiver, undefined);
  attributor.recordConnects([ioEvent(21, 43001)]);
  attributor.ingest(flowTuple(TCP, CLIENT, 43001, SERVER, 80), counters());
  assert.equal(resolved[1]?.attribution.receiver?.process.pid, 21);
  attributor.stop();
});

test('a single-process server still gets connections nothing else knows, after the retries', async () => {
  const procFs = new FakeProcFs();
  procFs.addProcess({ pid: 1, comm: 'init', netns: HOST_NS });
  procFs.setNetFiles(1, {
    tcp: line(0, '0.0.0.0:80', '0.0.0.0:0', TcpState.listen, 700),
    fib_trie: `     |-- ${SERVER}\n        /32 host LOCAL\n`,
  });
  procFs.addProcess({ pid: 30, comm: 'web', sockets: [700] });
  const { attributor, clock, resolved } = attributorHarness(procFs, [SERVER]);
  await attributor.start();
  attributor.ingest(flowTuple(TCP, CLIENT, 44000, SERVER, 80), counters());
  await advance(clock, attributor, 1000);
  assert.equal(resolved[0]?.attribution.receiver?.process.pid, 30);
  assert.equal(attributor.stats().retry.listenerLookups >= 1, true);
  attributor.stop();
});
