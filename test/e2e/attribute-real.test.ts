// Attribution against the real /proc: child processes we start (one on the host's loopback,
// one inside a network namespace we create) must map to their own pids and namespace inodes.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { Attributor } from '../../src/attribute/attributor.js';
import type { Attribution, FlowCounters, FlowTuple } from '../../src/attribute/types.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';

const TIME_LIMIT_MS = 30_000;
const CHILD_LIFETIME_MS = 25_000;
const LINE_TIMEOUT_MS = 10_000;

// Host child: a loopback server and a client connected to it; prints both ports.
const LOOPBACK_CHILD = `
const net = require('node:net');
const server = net.createServer((c) => c.on('data', () => {}));
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const client = net.connect(port, '127.0.0.1', () => {
    console.log(JSON.stringify({ port, clientPort: client.localPort }));
  });
});
setTimeout(() => process.exit(0), ${CHILD_LIFETIME_MS});
`;

// Namespace child: a dual-stack TCP listener on `::` (IPv4 peers show as ::ffff:a.b.c.d in
// tcp6) and an unconnected UDP socket; prints both ports, then one line per accepted connection.
const NAMESPACE_CHILD = `
const net = require('node:net');
const dgram = require('node:dgram');
const udp = dgram.createSocket('udp4');
const server = net.createServer((c) => {
  console.log(JSON.stringify({ accepted: c.remotePort }));
  c.on('data', () => {});
});
udp.bind(0, '0.0.0.0', () => {
  server.listen({ port: 0, host: '::', ipv6Only: false }, () =>
    console.log(JSON.stringify({ port: server.address().port, udpPort: udp.address().port })),
  );
});
setTimeout(() => process.exit(0), ${CHILD_LIFETIME_MS});
`;

function lines(child: ChildProcess): () => Promise<Record<string, number>> {
  assert.ok(child.stdout);
  const reader = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  reader.on('line', (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  return () =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('child printed nothing in time')),
        LINE_TIMEOUT_MS,
      );
      const take = (line: string): void => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as Record<string, number>);
      };
      const queued = queue.shift();
      if (queued !== undefined) take(queued);
      else waiters.push(take);
    });
}

function tcpFlow(
  src: string,
  srcPort: number,
  dst: string,
  dstPort: number,
  protocol = 6,
): FlowTuple {
  return {
    key: `${protocol}|${src}|${srcPort}|${dst}|${dstPort}`,
    ipVersion: src.includes(':') ? 6 : 4,
    protocol,
    srcAddress: src,
    srcPort,
    dstAddress: dst,
    dstPort,
  };
}

const ONE_PACKET: FlowCounters = {
  packets: 1,
  bytes: 60,
  payloadBytes: 0,
  wireBytes: 74,
  firstMs: 0,
  lastMs: 0,
  tcpFlags: 0x10,
};

test(
  'maps real sockets on loopback and in a namespace to the pids and namespace we created',
  {
    timeout: TIME_LIMIT_MS,
    skip: canCreateTestNets() ? false : '[needs-root] needs root to create network namespaces',
  },
  async () => {
    const net = await createTestNet({ prefix: 'pfa', v6: true });
    let hostChild: ChildProcess | undefined;
    const sockets: Socket[] = [];
    const resolved: Attribution[] = [];
    const localAddresses = new Set<string>();
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) localAddresses.add(info.address);
    }
    const attributor = new Attributor({
      localAddresses,
      onResolved: (_flow, _counters, attribution) => resolved.push(attribution),
    });
    try {
      hostChild = spawn(process.execPath, ['-e', LOOPBACK_CHILD], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const hostLoop = await lines(hostChild)();
      const nsChild = net.spawnIn(net.b.ns, process.execPath, ['-e', NAMESPACE_CHILD]);
      const nextNsLine = lines(nsChild);
      const { port: nsPort = 0, udpPort = 0 } = await nextNsLine();
      // We connect from the host, over IPv4 and IPv6: our own process owns the client ends.
      const open = async (address: string): Promise<number> => {
        const conn = connect(nsPort, address);
        sockets.push(conn);
        await new Promise<void>((resolve, reject) => {
          conn.once('connect', resolve);
          conn.once('error', reject);
        });
        const port = conn.localPort ?? 0;
        assert.equal((await nextNsLine()).accepted, port);
        return port;
      };
      const ourPort = await open(net.b.ipv4);
      const ourPort6 = await open(net.b.ipv6!);

      await attributor.start();
      const ask = (flow: FlowTuple): Attribution => {
        resolved.length = 0;
        attributor.ingest(flow, ONE_PACKET);
        if (resolved.length === 0) attributor.flush();
        assert.equal(resolved.length, 1);
        return resolved[0]!;
      };
      const hostNetns = statSync('/proc/self/ns/net').ino;
      const childNetns = statSync(`/run/netns/${net.b.ns}`).ino;

      let a = ask(tcpFlow('127.0.0.1', hostLoop.clientPort!, '127.0.0.1', hostLoop.port!));
      assert.equal(a.sender?.process.pid, hostChild.pid);
      assert.equal(a.receiver?.process.pid, hostChild.pid);
      assert.equal(a.sender?.process.netns, hostNetns);
      assert.notEqual(a.sender?.socketInode, a.receiver?.socketInode);

      a = ask(tcpFlow(net.a.ipv4, ourPort, net.b.ipv4, nsPort));
      assert.equal(a.sender?.process.pid, process.pid);
      assert.equal(a.receiver?.process.pid, nsChild.pid);
      assert.equal(a.receiver?.process.netns, childNetns);
      assert.notEqual(childNetns, hostNetns);

      a = ask(tcpFlow(net.b.ipv6!, nsPort, net.a.ipv6!, ourPort6));
      assert.equal(a.sender?.process.pid, nsChild.pid);
      assert.equal(a.receiver?.process.pid, process.pid);

      a = ask(tcpFlow('198.18.0.250', 53, net.b.ipv4, udpPort, 17));
      assert.equal(a.receiver?.process.pid, nsChild.pid);
      assert.equal(a.receiver?.process.netns, childNetns);

      // A new connection's SYN reaches the namespace's wildcard listener.
      a = ask(tcpFlow('198.18.0.250', 40000, net.b.ipv4, nsPort));
      assert.equal(a.receiver?.process.pid, nsChild.pid);
      assert.equal(a.sender, undefined);

      const stats = attributor.stats();
      assert.ok(stats.scans.namespaces >= 2, `${stats.scans.namespaces} namespaces`);
    } finally {
      attributor.stop();
      for (const socket of sockets) socket.destroy();
      if (hostChild?.pid !== undefined && hostChild.exitCode === null) {
        process.kill(hostChild.pid, 'SIGKILL');
      }
      await net.destroy();
    }
  },
);
