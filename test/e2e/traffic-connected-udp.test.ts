// The traffic worker's connected UDP receiver (udp-server with connectTo), used by the flood
// benchmark so that nethogs can attribute the flood: checked against datagrams sent here and
// against the kernel's own socket table.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';
import { startUdpClient, startUdpServer } from '../helpers/traffic.js';

const NOT_ROOT = canCreateTestNets()
  ? false
  : '[needs-root] needs root to create network namespaces';
const PEER_PORT = 40000;
const PAYLOAD_BYTES = 64;
const REPLY_BYTES = 10;

/** /proc/net/udp prints IPv4 addresses as a host-order 32-bit hex word (little-endian here). */
function procNetUdpHex(address: string, port: number): string {
  const word = address
    .split('.')
    .map((octet) => Number(octet).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');
  return `${word}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

test(
  'a connected udp-server receives and answers only its peer, and /proc/net/udp shows the peer',
  { skip: NOT_ROOT, timeout: 60_000 },
  async () => {
    const net = await createTestNet({ prefix: 'pff', v6: false });
    const workers: { release(): void }[] = [];
    try {
      assert.ok(net.b.ns !== undefined);
      const receiver = await startUdpServer(net, undefined, {
        address: net.a.ipv4,
        ports: 1,
        replyBytes: REPLY_BYTES,
        datagrams: 0,
        durationMs: 6000,
        lingerMs: 10_000,
        connectTo: { address: net.b.ipv4, port: PEER_PORT },
      });
      workers.push(receiver);
      const port = receiver.ports[0] ?? 0;
      assert.ok(port > 0);
      // The kernel's view: local endpoint, the peer as remote endpoint, state 01 (established).
      const line = readFileSync('/proc/net/udp', 'utf8')
        .split('\n')
        .find((l) => l.includes(` ${procNetUdpHex(net.a.ipv4, port)} `));
      assert.ok(line !== undefined, `receiver socket on port ${port} missing in /proc/net/udp`);
      const fields = line.trim().split(/\s+/);
      assert.equal(fields[2], procNetUdpHex(net.b.ipv4, PEER_PORT));
      assert.equal(fields[3], '01');

      // A stranger (another source port) first: a connected socket must not receive it.
      const stranger = startUdpClient(net, net.b.ns, {
        address: net.a.ipv4,
        bindAddress: net.b.ipv4,
        ports: [port],
        connected: false,
        sockets: 1,
        datagrams: 50,
        payloadBytes: PAYLOAD_BYTES,
        ratePerSecond: 1000,
        durationMs: 5000,
        replyWaitMs: 500,
      });
      workers.push(stranger);
      const strangerReport = await stranger.report;
      assert.equal(strangerReport.sockets[0]?.sentDatagrams, 50);
      assert.equal(strangerReport.sockets[0]?.receivedDatagrams, 0, 'stranger got answers');
      const peer = startUdpClient(net, net.b.ns, {
        address: net.a.ipv4,
        bindAddress: net.b.ipv4,
        bindPort: PEER_PORT,
        ports: [port],
        connected: true,
        sockets: 1,
        datagrams: 100,
        payloadBytes: PAYLOAD_BYTES,
        ratePerSecond: 1000,
        durationMs: 5000,
        replyWaitMs: 1000,
      });
      workers.push(peer);
      const peerReport = await peer.report;
      assert.equal(peerReport.sockets[0]?.localPort, PEER_PORT);
      assert.equal(peerReport.sockets[0]?.sentDatagrams, 100);
      assert.equal(peerReport.sockets[0]?.receivedPayloadBytes, 100 * REPLY_BYTES);

      const report = await receiver.report;
      assert.equal(report.sockets.length, 1);
      const socket = report.sockets[0];
      assert.equal(socket?.remoteAddress, net.b.ipv4);
      assert.equal(socket?.remotePort, PEER_PORT);
      assert.equal(socket?.receivedDatagrams, 100);
      assert.equal(socket?.receivedPayloadBytes, 100 * PAYLOAD_BYTES);
      assert.equal(socket?.sentDatagrams, 100);
    } finally {
      for (const w of workers) w.release();
      await net.destroy();
    }
  },
);
