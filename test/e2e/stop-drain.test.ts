// Stop drains the kernel ring (root): with TPACKET_V3 the kernel hands a ring block over only
// when it fills or its timeout retires it, so a stop that does not wait for the last block
// loses up to one batch interval of traffic. Here every datagram sent before stop() must be
// counted, with no sleep between the last send and stop(), while both cores are busy
// (test/helpers/cpu-load.ts), in several rounds: at the capture level (exact packets and
// bytes) and at the monitor level (exact bytes on the sending child's pid).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { test } from 'node:test';

import { openCapture } from '../../src/capture/open-capture.js';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { startCpuLoad } from '../helpers/cpu-load.js';
import { needsRoot } from '../helpers/skip-reasons.js';

const SKIP = needsRoot('raw capture on lo');
const TEST_TIMEOUT_MS = 90_000;
const LOAD_LIMIT_MS = 80_000;
const CAPTURE_ROUNDS = 6;
const MONITOR_ROUNDS = 3;
const DATAGRAMS = 400;
const PAYLOAD_BYTES = 300;
const UDP_IPV4_HEADER_BYTES = 28;
const WAIT_LIMIT_MS = 10_000;

function bind(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  s.on('message', () => {});
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}

async function sendAll(s: dgram.Socket, count: number, port: number): Promise<void> {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x62);
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve, reject) =>
      s.send(payload, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
    );
  }
}

test(
  'stop() drains the ring: every datagram sent before it is captured, no sleep, both cores busy',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const load = startCpuLoad(2, LOAD_LIMIT_MS);
    const a = await bind();
    const b = await bind();
    const pa = a.address().port;
    const pb = b.address().port;
    try {
      for (let round = 0; round < CAPTURE_ROUNDS; round++) {
        // Default batch interval (100 ms): the block timeout a stop has to wait out.
        const source = openCapture({
          devices: ['lo'],
          filter: `udp and src port ${pa} and dst port ${pb}`,
        });
        let records = 0;
        source.setBatchHandler(({ count }) => {
          records += count;
        });
        source.start();
        const count = DATAGRAMS + round * 37; // a different last block fill every round
        await sendAll(a, count, pb);
        const stopStarted = performance.now();
        await source.stop();
        const stopMs = performance.now() - stopStarted;
        const dev = source.stats().devices[0];
        t.diagnostic(
          `round ${round}: ${count} sent, ${records} delivered, stop took ${stopMs.toFixed(0)} ms (load: ${load.tool})`,
        );
        assert.equal(records, count, `round ${round}: datagrams delivered before the end`);
        assert.equal(dev?.capturedPackets, count);
        assert.equal(dev?.capturedBytes, count * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES + 14));
        assert.equal(dev?.kernelDroppedPackets, 0);
      }
    } finally {
      a.close();
      b.close();
      await load.stop();
    }
  },
);

const SENDER = `
const s = require('node:dgram').createSocket('udp4');
const port = Number(process.argv[1]);
const payload = Buffer.alloc(${PAYLOAD_BYTES}, 0x63);
function burst(n, done) {
  let sent = 0;
  const next = (e) => { if (e) throw e; if (++sent >= n) return done(); s.send(payload, port, '127.0.0.1', next); };
  s.send(payload, port, '127.0.0.1', next);
}
s.bind(0, '127.0.0.1', () => {
  process.stdout.write('ready\\n');
  process.stdin.on('data', (d) => {
    const n = Number(String(d).trim());
    burst(n, () => process.stdout.write('sent ' + n + '\\n'));
  });
});
setTimeout(() => process.exit(0), ${TEST_TIMEOUT_MS}).unref();
`;

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.stdout!.off('data', onData);
      reject(new Error(`sender did not print '${text}' within ${WAIT_LIMIT_MS} ms`));
    }, WAIT_LIMIT_MS);
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString();
      if (buffer.includes(text)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
  });
}

function sentBytesOf(monitor: Monitor, pid: number): number {
  const entry = monitor.snapshot().processes.find((p) => p.process.pid === pid);
  return entry?.total.sentBytes ?? 0;
}

test(
  "the monitor's final totals hold every byte a known child sent right before stop(), both cores busy",
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async (t) => {
    const load = startCpuLoad(2, LOAD_LIMIT_MS);
    const receiver = await bind();
    const port = receiver.address().port;
    try {
      for (let round = 0; round < MONITOR_ROUNDS; round++) {
        const child = spawn(process.execPath, ['-e', SENDER, String(port)], {
          stdio: ['pipe', 'pipe', 'inherit'],
        });
        const pid = child.pid!;
        let monitor: Monitor | undefined;
        try {
          await waitForLine(child, 'ready');
          monitor = await createMonitor({
            devices: ['lo'],
            filter: `udp and dst port ${port}`,
            tickIntervalMs: 200,
            captureTimeoutMs: TEST_TIMEOUT_MS,
          });
          monitor.start();
          // One datagram first, until the monitor knows the child's socket: the burst then
          // tests the capture's stop, not how fast a new socket is attributed.
          const one = PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES;
          const deadline = Date.now() + WAIT_LIMIT_MS;
          child.stdin!.write('1\n');
          await waitForLine(child, 'sent 1');
          while (sentBytesOf(monitor, pid) < one && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 20));
          }
          assert.equal(sentBytesOf(monitor, pid), one, 'the first datagram is on the child');
          const count = DATAGRAMS + round * 53;
          child.stdin!.write(`${count}\n`);
          await waitForLine(child, `sent ${count}`);
          await monitor.stop();
          const sent = sentBytesOf(monitor, pid);
          t.diagnostic(`round ${round}: ${count + 1} datagrams sent, ${sent / one} on pid ${pid}`);
          assert.equal(sent, (count + 1) * one, `round ${round}: bytes on the sender's pid`);
        } finally {
          await monitor?.stop();
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      }
    } finally {
      receiver.close();
      await load.stop();
    }
  },
);
