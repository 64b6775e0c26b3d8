// End-to-end accuracy with servers as they really run (test/helpers/servers.py): pre-fork
// workers on one inherited listener, a process per connection, an SO_REUSEPORT group, sockets
// passed over SCM_RIGHTS, systemd-style socket activation and a thread per connection. Clients
// in a namespace of the test make short (a few ms) and long (2 s) connections; the truth is
// what each serving process itself counted, per pid. Each case runs two rounds, each with
// fresh server processes, under one monitor.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import type { MonitorOptions, Snapshot } from '../../src/index.js';
import { canCreateTestNets, createTestNet } from '../helpers/netns.js';
import type { TestNet } from '../helpers/netns.js';
import {
  SERVERS_SCRIPT,
  readServerTruth,
  runServerClients,
  startServer,
} from '../helpers/servers.js';
import type { ServerMode, ServerTruth } from '../helpers/servers.js';

const SKIP = canCreateTestNets()
  ? false
  : '[needs-root] needs root: creates network namespaces and captures';
const TEST_TIMEOUT_MS = 60_000;
const ROUNDS = 2;
/** Let capture open and the first /proc scan finish before traffic starts. */
const WARMUP_MS = 1000;
/** Let the last batch arrive and the retry buffer resolve after traffic ends. */
const SETTLE_MS = 2500;
/** Short connections per second and for how long; long connections (2 s each) alongside. */
const SHORT_PER_SECOND = 25;
const TRAFFIC_SECONDS = 2;
const LONG_CONNECTIONS = 2;
const REQUIRED_SHARE = 0.99;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Round {
  truth: Map<number, ServerTruth>;
  /** Processes that hold the socket but never read or write it (master, acceptor, activator). */
  idlePids: number[];
}

/** Payload bytes the monitor gave to `pid` (all its entries: a pid seen before and after exec). */
function payloadOf(snapshot: Snapshot, pid: number): { received: number; sent: number } {
  let received = 0;
  let sent = 0;
  for (const p of snapshot.processes) {
    if (p.process.pid !== pid) continue;
    received += p.total.receivedPayloadBytes;
    sent += p.total.sentPayloadBytes;
  }
  return { received, sent };
}

/** Share of the serving processes' own byte counts that the monitor put on the right pid. */
function rightShare(snapshot: Snapshot, truth: Map<number, ServerTruth>): number {
  let right = 0;
  let total = 0;
  for (const [pid, t] of truth) {
    const got = payloadOf(snapshot, pid);
    right += Math.min(got.received, t.receivedBytes) + Math.min(got.sent, t.sentBytes);
    total += t.receivedBytes + t.sentBytes;
  }
  return total === 0 ? 0 : right / total;
}

/** Payload bytes the monitor gave to `pid` beyond what it really moved. */
function excessOf(snapshot: Snapshot, pid: number, t: ServerTruth | undefined): number {
  const got = payloadOf(snapshot, pid);
  return (
    Math.max(0, got.received - (t?.receivedBytes ?? 0)) +
    Math.max(0, got.sent - (t?.sentBytes ?? 0))
  );
}

function describe(snapshot: Snapshot, rounds: readonly Round[]): string {
  const lines: string[] = [];
  rounds.forEach((round, i) => {
    for (const [pid, t] of round.truth) {
      const got = payloadOf(snapshot, pid);
      lines.push(
        `  round ${i + 1} pid ${pid}: truth received ${t.receivedBytes} sent ${t.sentBytes} (${t.connections} connections); monitor received ${got.received} sent ${got.sent}`,
      );
    }
    for (const pid of round.idlePids) {
      const got = payloadOf(snapshot, pid);
      lines.push(
        `  round ${i + 1} idle pid ${pid}: monitor received ${got.received} sent ${got.sent}`,
      );
    }
  });
  const u = snapshot.unknownTotals.total;
  const st = snapshot.stats;
  lines.push(
    `  unknown payload: received ${u.receivedPayloadBytes} sent ${u.sentPayloadBytes}; pending ${st.pending.packets} packets`,
  );
  return lines.join('\n');
}

/** Run ROUNDS rounds of `mode` under one monitor capturing on the host side of the link. */
async function measure(
  net: TestNet,
  mode: ServerMode,
  options: MonitorOptions,
): Promise<{ snapshot: Snapshot; rounds: Round[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'pfe-srv-'));
  const monitor = await createMonitor({
    devices: [net.a.device],
    captureTimeoutMs: 60_000,
    syncIntervalMs: 1000,
    ...options,
  });
  const rounds: Round[] = [];
  try {
    monitor.start();
    await sleep(WARMUP_MS);
    for (let i = 0; i < ROUNDS; i++) {
      const results = join(dir, `round-${i}.txt`);
      const server = await startServer(net, undefined, mode, net.a.ipv4, results, 4);
      try {
        const clients = await runServerClients(net, net.b.ns, net.a.ipv4, server.port, {
          shortPerSecond: SHORT_PER_SECOND,
          seconds: TRAFFIC_SECONDS,
          longConnections: LONG_CONNECTIONS,
        });
        assert.equal(clients.failed, 0, `${mode}: ${clients.failed} connections failed`);
        assert.equal(clients.long, LONG_CONNECTIONS);
      } finally {
        await server.stop();
      }
      rounds.push({ truth: readServerTruth(results), idlePids: server.idlePids });
    }
    await sleep(SETTLE_MS);
    return { snapshot: monitor.snapshot(), rounds };
  } finally {
    await monitor.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Every round: ≥ 99% of the serving processes' bytes on the right pid, ≤ 1% on idle holders.
 * Returns the shares, rounded to 0.01%.
 */
function assertServedRight(snapshot: Snapshot, rounds: readonly Round[]): string[] {
  const shares: string[] = [];
  for (const [i, round] of rounds.entries()) {
    assert.ok(round.truth.size > 0, `round ${i + 1}: no process served anything`);
    let total = 0;
    for (const t of round.truth.values()) total += t.receivedBytes + t.sentBytes;
    const share = rightShare(snapshot, round.truth);
    shares.push(`${(share * 100).toFixed(2)}%`);
    assert.ok(
      share >= REQUIRED_SHARE,
      `round ${i + 1}: ${(share * 100).toFixed(2)}% of bytes on the right process\n${describe(snapshot, rounds)}`,
    );
    for (const pid of round.idlePids) {
      const got = payloadOf(snapshot, pid);
      assert.ok(
        got.received + got.sent <= total * (1 - REQUIRED_SHARE),
        `round ${i + 1}: idle pid ${pid} got bytes it never moved\n${describe(snapshot, rounds)}`,
      );
    }
  }
  return shares;
}

async function withNet(fn: (net: TestNet) => Promise<void>): Promise<void> {
  const net = await createTestNet({ prefix: 'pfe' });
  try {
    await fn(net);
  } finally {
    await net.destroy();
  }
}

const CASES: readonly { mode: ServerMode; title: string }[] = [
  {
    mode: 'prefork',
    title: 'pre-fork: each connection on the worker that accepted it, none on the master',
  },
  {
    mode: 'forkper',
    title: 'a process per connection: bytes on the child that served, none on the parent',
  },
  {
    mode: 'reuseport',
    title: 'SO_REUSEPORT group: each connection on the process whose socket accepted it',
  },
  {
    mode: 'scm',
    title: 'SCM_RIGHTS: bytes on the process the connection was passed to, none on the acceptor',
  },
  { mode: 'activation', title: 'socket activation: bytes on the service, none on the activator' },
];

for (const { mode, title } of CASES) {
  test(title, { skip: SKIP, timeout: TEST_TIMEOUT_MS }, async (t) => {
    await withNet(async (net) => {
      const { snapshot, rounds } = await measure(net, mode, {});
      t.diagnostic(`${mode}: right process ${assertServedRight(snapshot, rounds).join(', ')}`);
    });
  });
}

test(
  'threads: a thread per connection is one process; thread ids never show as processes',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    await withNet(async (net) => {
      const { snapshot, rounds } = await measure(net, 'threads', {});
      t.diagnostic(`threads: right process ${assertServedRight(snapshot, rounds).join(', ')}`);
      for (const round of rounds) {
        assert.equal(round.truth.size, 1, 'one serving process');
        for (const [pid, t] of round.truth) {
          assert.ok(t.threadIds.size > 1, 'connections were served by several threads');
          for (const tid of t.threadIds) {
            if (tid === pid) continue;
            const shown = snapshot.processes.some((p) => p.process.pid === tid);
            assert.equal(shown, false, `thread ${tid} of ${pid} shown as a process`);
          }
        }
      }
    });
  },
);

test(
  'without socket events a pre-fork master never gets its workers bytes, nor a worker another one',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    await withNet(async (net) => {
      const { snapshot, rounds } = await measure(net, 'prefork', { socketEvents: false });
      const shares = rounds.map((r) => `${(rightShare(snapshot, r.truth) * 100).toFixed(2)}%`);
      t.diagnostic(`prefork without events: right process ${shares.join(', ')}, rest unknown`);
      for (const [i, round] of rounds.entries()) {
        let total = 0;
        for (const t of round.truth.values()) total += t.receivedBytes + t.sentBytes;
        let wrong = 0;
        for (const [pid, t] of round.truth) wrong += excessOf(snapshot, pid, t);
        for (const pid of round.idlePids) wrong += excessOf(snapshot, pid, undefined);
        assert.ok(
          wrong <= total * (1 - REQUIRED_SHARE),
          `round ${i + 1}: ${wrong} of ${total} bytes on a process that did not move them\n${describe(snapshot, rounds)}`,
        );
      }
    });
  },
);

test('the server script is where the helpers look for it', () => {
  assert.match(readFileSync(SERVERS_SCRIPT, 'utf8'), /^#!\/usr\/bin\/env python3/);
});
