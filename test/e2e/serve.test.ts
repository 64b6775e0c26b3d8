// The HTTP agent on the real monitor (root): a known child sends a known number of UDP datagrams
// on loopback; /api/v1/processes/<pid> and /metrics must report exactly those IP-level bytes
// (payload + 20-byte IPv4 header + 8-byte UDP header).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { createMonitor } from '../../src/index.js';
import { startServer } from '../../src/serve/server.js';

const IS_ROOT = process.getuid?.() === 0;
const UDP_IPV4_HEADER_BYTES = 28;
const DATAGRAMS = 25;
const PAYLOAD_BYTES = 600;
const TEST_TIMEOUT_MS = 30_000;
const POLL_LIMIT = 100;
const COMM = 'pfsrvsend';

const SENDER = `
process.title = ${JSON.stringify(COMM)};
const s = require('node:dgram').createSocket('udp4');
const port = Number(process.argv[1]);
s.bind(0, '127.0.0.1', () => {
  process.stdout.write('ready\\n');
  process.stdin.once('data', () => {
    let sent = 0;
    const t = setInterval(() => {
      if (sent >= ${DATAGRAMS}) { clearInterval(t); process.stdout.write('sent\\n'); return; }
      s.send(Buffer.alloc(${PAYLOAD_BYTES}, 0x61), port, '127.0.0.1');
      sent++;
    }, 5);
  });
});
setTimeout(() => process.exit(0), ${TEST_TIMEOUT_MS}).unref();
setInterval(() => {}, 1000);
`;

function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`child did not print '${text}' within ${timeoutMs} ms`)),
      timeoutMs,
    );
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      if (buffer.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

test(
  'serves the exact bytes of a known child as JSON and as Prometheus counters',
  {
    skip: IS_ROOT ? false : '[needs-root] needs root to capture on lo (CI runs as root)',
    timeout: TEST_TIMEOUT_MS,
  },
  async () => {
    const receiver = createSocket('udp4');
    let child: ChildProcess | undefined;
    let monitor: Awaited<ReturnType<typeof createMonitor>> | undefined;
    let server: Awaited<ReturnType<typeof startServer>> | undefined;
    try {
      receiver.on('message', () => {});
      await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
      const port = receiver.address().port;
      monitor = await createMonitor({
        devices: ['lo'],
        filter: `udp and port ${port}`,
        tickIntervalMs: 200,
        captureTimeoutMs: TEST_TIMEOUT_MS,
      });
      server = await startServer(monitor, { host: '127.0.0.1', port: 0 });
      monitor.start();
      child = spawn(process.execPath, ['-e', SENDER, String(port)], {
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      await waitForOutput(child, 'ready', 10_000);
      child.stdin!.write('go\n');
      await waitForOutput(child, 'sent', 10_000);
      const expected = DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES);
      let sentBytes = -1;
      for (let i = 0; i < POLL_LIMIT && sentBytes !== expected; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const res = await fetch(`${server.url}/api/v1/processes/${child.pid}`);
        if (res.status !== 200) continue;
        const body = (await res.json()) as {
          process: { total: { sentBytes: number; sentPackets: number } };
        };
        sentBytes = body.process.total.sentBytes;
      }
      assert.equal(sentBytes, expected);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const line = metrics
        .split('\n')
        .find((l) => l.startsWith(`pidflow_process_sent_bytes_total{comm="${COMM}",`));
      assert.ok(line, `no series for comm ${COMM} in:\n${metrics}`);
      assert.equal(Number(line.split(' ').at(-1)), expected);
      const packets = metrics
        .split('\n')
        .find((l) => l.startsWith(`pidflow_process_sent_packets_total{comm="${COMM}",`));
      assert.equal(Number(packets?.split(' ').at(-1)), DATAGRAMS);
      assert.match(metrics, /^pidflow_up 1$/m);
    } finally {
      if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
      await server?.close();
      await monitor?.stop();
      receiver.close();
    }
  },
);
