// End-to-end test of UDP send tracking (BPF on the raw tracepoint sock_send_length): short-lived
// UDP senders on the host, each sends a few datagrams to a server in a network namespace and
// exits at once (the DNS client pattern: the socket is gone before any /proc scan). A live
// monitor (real capture, real BPF) must put their bytes on their own pids.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { openSocketEvents } from '../../src/capture/socket-events.js';
import type { SocketEvent, SocketEventsHandle } from '../../src/capture/socket-events.js';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';
import type { TestNet } from '../helpers/netns.js';

const SKIP = canCreateTestNets()
  ? false
  : '[needs-root] needs root: loads a BPF program and creates namespaces';
const TEST_TIMEOUT_MS = 90_000;
const SENDERS_V4 = 16;
const SENDERS_V6 = 8;
const DATAGRAMS_PER_SENDER = 3;
const CHILD_BOUND_MS = 10_000;
const WAIT_LIMIT_MS = 15_000;

/** Wait for `check` with a deadline (never a fixed sleep before an exact count). */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_LIMIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether this kernel runs the UDP program (the TCP one may load without it). */
function udpTrackingError(): string | false {
  let handle: SocketEventsHandle | undefined;
  try {
    handle = openSocketEvents({ onEvents: () => {} });
    return handle.udp === true ? false : (handle.udpWarning ?? 'UDP tracking is off');
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    handle?.stop();
  }
}

/**
 * A python3 sender: one unbound UDP socket, `count` datagrams of `bytes` to host:port, then
 * exit without closing anything (the kernel frees the socket at exit).
 */
function senderArgs(
  family: 4 | 6,
  host: string,
  port: number,
  count: number,
  bytes: number,
): string[] {
  const af = family === 4 ? 'AF_INET' : 'AF_INET6';
  return [
    '-c',
    `import socket;s=socket.socket(socket.${af},socket.SOCK_DGRAM)\n` +
      `for _ in range(${count}): s.sendto(b'u'*${bytes},(${JSON.stringify(host)},${port}))`,
  ];
}

/** Start a UDP sink in the namespace; it only receives. */
function startSink(net: TestNet, host: string, port: number): ChildProcess {
  const family = host.includes(':') ? 'udp6' : 'udp4';
  return net.spawnIn(
    net.b.ns,
    process.execPath,
    [
      '-e',
      `const s=require('node:dgram').createSocket('${family}');s.on('message',()=>{});` +
        `s.bind(${port},${JSON.stringify(host)},()=>process.stdout.write('ready\\n'));` +
        `setTimeout(()=>process.exit(0),${TEST_TIMEOUT_MS});`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
}

async function waitReady(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the UDP sink did not start')), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`the UDP sink exited with ${String(code)}`)));
  });
}

/** Run one sender to its end; returns its pid. */
async function runSender(args: string[]): Promise<number> {
  const child = spawn('python3', args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const pid = child.pid;
  assert.ok(pid !== undefined, 'python3 did not start');
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_BOUND_MS);
  try {
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 0, `sender ${pid} failed`);
  } finally {
    clearTimeout(timer);
  }
  return pid;
}

test(
  'a live monitor puts the bytes of short-lived UDP senders on their pids (IPv4 and IPv6)',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const why = udpTrackingError();
    if (why !== false) {
      t.skip(`[no-udp-send-events] UDP send tracking cannot load here: ${why}`);
      return;
    }
    const net = await createTestNet({ prefix: 'pfu', v6: true });
    let monitor: Monitor | undefined;
    try {
      const v6 = net.b.ipv6;
      assert.ok(v6 !== undefined);
      const port = 20000 + Math.floor(Math.random() * 10000);
      const sinks = [startSink(net, net.b.ipv4, port), startSink(net, v6, port)];
      for (const sink of sinks) await waitReady(sink);
      monitor = await createMonitor({
        devices: [net.a.device],
        filter: `udp port ${port}`,
        captureTimeoutMs: 60_000,
        // Scans far apart: only the send events can know the senders' sockets.
        syncIntervalMs: 10_000,
      });
      monitor.start();
      // pid -> IP bytes the sender put on the wire (payload + UDP header + IP header).
      const truth = new Map<number, number>();
      for (let i = 0; i < SENDERS_V4 + SENDERS_V6; i++) {
        const isV4 = i < SENDERS_V4;
        const payload = 200 + i * 10;
        const pid = await runSender(
          senderArgs(isV4 ? 4 : 6, isV4 ? net.b.ipv4 : v6, port, DATAGRAMS_PER_SENDER, payload),
        );
        truth.set(pid, DATAGRAMS_PER_SENDER * (payload + 8 + (isV4 ? 20 : 40)));
      }
      // Every datagram has reached the monitor; stop for the final totals.
      const datagrams = (SENDERS_V4 + SENDERS_V6) * DATAGRAMS_PER_SENDER;
      await until(`${datagrams} datagrams seen`, () => monitor!.stats().seen.packets >= datagrams);
      await monitor.stop();
      const snapshot = monitor.snapshot();
      assert.equal(snapshot.stats.seen.packets, datagrams);
      const stats = snapshot.stats.socketEvents;
      assert.ok(stats !== undefined, 'socket events did not open');
      assert.equal(stats.udp, true);
      assert.ok(stats.udpReceived >= truth.size, `udp events ${stats.udpReceived}`);
      let right = 0;
      let total = 0;
      for (const [pid, bytes] of truth) {
        total += bytes;
        const entry = snapshot.processes.find((p) => p.process.pid === pid);
        // Bytes counted on the right pid, never more than it sent.
        right += Math.min(entry?.total.sentBytes ?? 0, bytes);
        if (entry !== undefined) {
          assert.ok(
            entry.total.sentBytes <= bytes,
            `pid ${pid}: ${entry.total.sentBytes} bytes > ${bytes} sent`,
          );
        }
      }
      t.diagnostic(`right pid for ${right} of ${total} bytes, ${stats.udpReceived} UDP events`);
      assert.ok(right >= 0.95 * total, `right pid for ${right} of ${total} bytes`);
    } finally {
      await monitor?.stop();
      await net.destroy();
    }
  },
);

test(
  'a flood from one socket costs one event, not one per datagram',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const why = udpTrackingError();
    if (why !== false) {
      t.skip(`[no-udp-send-events] UDP send tracking cannot load here: ${why}`);
      return;
    }
    const events: SocketEvent[] = [];
    const handle = openSocketEvents({ onEvents: (batch) => events.push(...batch) });
    try {
      // 20,000 datagrams to a loopback port nobody listens on (discarded by the kernel).
      const pid = await runSender(senderArgs(4, '127.0.0.1', 9, 20_000, 16));
      // A marker sender after it: the BPF ring buffer is one ordered queue, so once the
      // marker's event is in, every event of the flood is too.
      const marker = await runSender(senderArgs(4, '127.0.0.1', 9, 1, 16));
      await until(`the marker's send event (pid ${marker})`, () =>
        events.some((e) => e.pid === marker && e.protocol === 17),
      );
      const mine = events.filter((e) => e.pid === pid && e.protocol === 17);
      assert.equal(mine.length, 1, `events of pid ${pid}: ${mine.length}`);
      assert.equal(mine[0]?.comm, 'python3');
      assert.equal(mine[0]?.localAddress, '0.0.0.0');
      assert.ok((mine[0]?.localPort ?? 0) > 0);
      assert.equal(handle.stats().dropped, 0);
    } finally {
      handle.stop();
    }
  },
);
