// End-to-end test of the kernel connect tracker (src/capture/socket-events.ts, BPF on
// inet_sock_set_state and sock_send_length): a child we start makes N short TCP connections;
// every one must come back as a connect event and a write event with the child's pid and the
// ports the child itself reports.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import { test } from 'node:test';
import { openSocketEvents } from '../../src/capture/socket-events.js';
import type { SocketEvent, SocketEventsHandle } from '../../src/capture/socket-events.js';
import { createMonitor } from '../../src/index.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';

const SKIP = canCreateTestNets()
  ? false
  : '[needs-root] needs root: loads a BPF program and creates namespaces';
const TEST_TIMEOUT_MS = 60_000;
/** Connections per child; each lives a few ms. */
const CONNECTIONS = 50;
const CHILD_BOUND_MS = 20_000;
const SETTLE_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Node code for a child: `count` sequential connections to host:port, each writes `bytes`
 * and closes; prints the local address and port of each as one JSON line at the end.
 */
function clientCode(host: string, port: number, count: number, bytes: number): string {
  return `
const net = require('node:net');
const out = [];
const deadline = Date.now() + ${CHILD_BOUND_MS};
function next(i) {
  if (i >= ${count} || Date.now() > deadline) { process.stdout.write(JSON.stringify(out) + '\\n'); return; }
  const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} }, () => {
    out.push({ address: s.localAddress, port: s.localPort });
    s.end(Buffer.alloc(${bytes}, 120));
  });
  s.on('close', () => next(i + 1));
  s.on('error', () => {});
}
next(0);`;
}

interface LocalEnd {
  address: string;
  port: number;
}

/** Run a child (optionally through `ip netns exec`) and collect what it prints. */
async function runClient(child: ChildProcess): Promise<{ pid: number; ends: LocalEnd[] }> {
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const pid = child.pid;
  assert.ok(pid !== undefined, 'child did not start');
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_BOUND_MS + 5000);
  try {
    await new Promise<void>((resolve) => child.on('exit', () => resolve()));
  } finally {
    clearTimeout(timer);
  }
  return { pid, ends: JSON.parse(stdout.trim()) as LocalEnd[] };
}

async function listen(host: string): Promise<Server> {
  const server = createServer((socket) => {
    socket.resume();
    socket.on('error', () => {});
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return server;
}

function assertEventsMatch(
  events: readonly SocketEvent[],
  pid: number,
  ends: readonly LocalEnd[],
  remoteAddress: string,
  remotePort: number,
): void {
  assert.equal(ends.length, CONNECTIONS, 'the child did not make all its connections');
  const mine = events.filter((e) => e.pid === pid && e.kind === 'connect');
  assert.equal(mine.length, CONNECTIONS, `connect events with pid ${pid}: ${mine.length}`);
  // The child writes on each connection: one read/write event each, with the same pid.
  const io = events.filter((e) => e.pid === pid && e.kind === 'tcpIo');
  assert.equal(io.length, CONNECTIONS, `read/write events with pid ${pid}: ${io.length}`);
  for (const end of ends) {
    const found = mine.find((e) => e.localPort === end.port);
    assert.ok(found !== undefined, `no event for local port ${end.port}`);
    const wrote = io.find((e) => e.localPort === end.port);
    assert.ok(wrote !== undefined, `no read/write event for local port ${end.port}`);
    assert.equal(wrote.startTime, found.startTime);
    assert.ok((found.startTime ?? 0) > 0 && (found.netns ?? 0) > 0, 'start time and netns');
    assert.equal(found.localAddress, end.address);
    assert.equal(found.remoteAddress, remoteAddress);
    assert.equal(found.remotePort, remotePort);
    assert.equal(found.protocol, 6);
    assert.equal(found.comm, 'node');
  }
}

test(
  'reports every short TCP connect on loopback with the child pid and its ports (IPv4 and IPv6)',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const events: SocketEvent[] = [];
    let handle: SocketEventsHandle | undefined;
    const servers: Server[] = [];
    const children: ChildProcess[] = [];
    try {
      handle = openSocketEvents({ onEvents: (batch) => events.push(...batch) });
      for (const host of ['127.0.0.1', '::1']) {
        const server = await listen(host);
        servers.push(server);
        const port = (server.address() as AddressInfo).port;
        const child = spawn(process.execPath, ['-e', clientCode(host, port, CONNECTIONS, 1000)], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(child);
        const { pid, ends } = await runClient(child);
        await sleep(SETTLE_MS);
        assertEventsMatch(events, pid, ends, host, port);
      }
      assert.ok(handle.stats().events >= 2 * CONNECTIONS);
      assert.equal(handle.stats().dropped, 0);
    } finally {
      handle?.stop();
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
      for (const s of servers) s.close();
    }
  },
);

test(
  'reports connects made inside another network namespace',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const net = await createTestNet({ prefix: 'pfbpf' });
    const events: SocketEvent[] = [];
    let handle: SocketEventsHandle | undefined;
    let server: Server | undefined;
    try {
      handle = openSocketEvents({ onEvents: (batch) => events.push(...batch) });
      server = await listen(net.a.ipv4);
      const port = (server.address() as AddressInfo).port;
      const child = net.spawnIn(
        net.b.ns,
        process.execPath,
        ['-e', clientCode(net.a.ipv4, port, CONNECTIONS, 1000)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const { pid, ends } = await runClient(child);
      await sleep(SETTLE_MS);
      assert.ok(ends.every((e) => e.address === net.b.ipv4));
      assertEventsMatch(events, pid, ends, net.a.ipv4, port);
    } finally {
      handle?.stop();
      server?.close();
      await net.destroy();
    }
  },
);

test(
  'a live monitor on loopback attributes short connections through connect events',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const bytesPerConnection = 4000;
    const server = await listen('127.0.0.1');
    const port = (server.address() as AddressInfo).port;
    const monitor = await createMonitor({
      devices: ['lo'],
      filter: `tcp port ${port}`,
      captureTimeoutMs: 30_000,
      // Scans far apart: only the events can know the client sockets.
      syncIntervalMs: 10_000,
    });
    let child: ChildProcess | undefined;
    try {
      monitor.start();
      await sleep(SETTLE_MS);
      child = spawn(
        process.execPath,
        ['-e', clientCode('127.0.0.1', port, CONNECTIONS, bytesPerConnection)],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const { pid, ends } = await runClient(child);
      assert.equal(ends.length, CONNECTIONS);
      await sleep(SETTLE_MS * 3);
      const snapshot = monitor.snapshot();
      const stats = snapshot.stats.socketEvents;
      assert.ok(stats !== undefined, 'socket events did not open');
      assert.ok(stats.received >= CONNECTIONS, `received ${stats.received}`);
      assert.ok(stats.used > 0, 'no flow was attributed from an event');
      const entry = snapshot.processes.find((p) => p.process.pid === pid);
      assert.ok(entry !== undefined, `the client pid ${pid} has no entry`);
      // IP bytes include headers: at least the payload the child wrote.
      assert.ok(
        entry.total.sentBytes >= CONNECTIONS * bytesPerConnection,
        `client sent ${entry.total.sentBytes} IP bytes, wrote ${CONNECTIONS * bytesPerConnection}`,
      );
    } finally {
      if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
      await monitor.stop();
      server.close();
    }
  },
);
