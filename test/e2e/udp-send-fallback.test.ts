// pidflow on a kernel without the raw tracepoint sock_send_length (before Linux 6.3), forced on
// any kernel: the real addon's UDP send program is pointed at a tracepoint that does not exist
// (option udpTracepoint of openSocketEvents), so attaching it fails exactly as it does there.
// The monitor must warn with the reason and the fix, keep the TCP connect events, and still
// put a long-lived UDP sender's bytes on its pid through /proc scans.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { test } from 'node:test';

import { loadAddon, type NativeAddon } from '../../src/capture/addon.js';
import { createMonitor } from '../../src/index.js';
import type { Monitor } from '../../src/index.js';
import { needsRoot } from '../helpers/skip-reasons.js';

const SKIP = needsRoot('loads BPF programs, captures on lo');
const TEST_TIMEOUT_MS = 60_000;
const WAIT_LIMIT_MS = 15_000;
const MISSING_TRACEPOINT = 'pidflow_test_no_such_tracepoint';
const DATAGRAMS = 40;
const PAYLOAD_BYTES = 200;
const UDP_IPV4_HEADER_BYTES = 28;

/** The real addon, except that the UDP send program attaches to a tracepoint that is missing. */
function addonWithoutSendTracepoint(): NativeAddon {
  const real = loadAddon();
  const open = real.openSocketEvents;
  assert.ok(open !== undefined && real.hasSocketEvents === true, 'addon built without libbpf');
  return {
    ...real,
    openSocketEvents: (options, onBatch) =>
      open.call(real, { ...options, udpTracepoint: MISSING_TRACEPOINT }, onBatch),
  };
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_LIMIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const UDP_SENDER = `
const s = require('node:dgram').createSocket('udp4');
s.bind(0, '127.0.0.1', () => {
  let sent = 0;
  const next = () => { if (sent++ === ${DATAGRAMS}) return process.stdout.write('sent\\n'); s.send(Buffer.alloc(${PAYLOAD_BYTES}, 0x75), Number(process.argv[1]), '127.0.0.1', next); };
  next();
});
setTimeout(() => process.exit(0), ${TEST_TIMEOUT_MS}).unref();
`;

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`child never printed '${text}'`)),
      WAIT_LIMIT_MS,
    );
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

test(
  'without sock_send_length (forced): a warning with the reason and the fix, TCP events go on, a UDP sender is still attributed by scans',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const warnings: string[] = [];
    const receiver = dgram.createSocket('udp4');
    receiver.on('message', () => {});
    await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
    const udpPort = receiver.address().port;
    const server = net.createServer((c) => c.resume().on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const tcpPort = (server.address() as net.AddressInfo).port;
    let monitor: Monitor | undefined;
    let sender: ChildProcess | undefined;
    try {
      monitor = await createMonitor(
        {
          devices: ['lo'],
          filter: `port ${udpPort} or port ${tcpPort}`,
          tickIntervalMs: 200,
          syncIntervalMs: 200,
          captureTimeoutMs: TEST_TIMEOUT_MS,
          logger: { warn: (m) => warnings.push(m) },
        },
        { addon: addonWithoutSendTracepoint() },
      );
      monitor.start();
      const events = monitor.stats().socketEvents;
      assert.ok(events !== undefined, 'socket events are on (TCP connect tracking)');
      assert.equal(events.udp, false, 'UDP send tracking is off');
      const warning = warnings.find((w) => w.startsWith('socket events track TCP only'));
      assert.ok(warning, `no fallback warning among: ${JSON.stringify(warnings)}`);
      assert.match(warning, new RegExp(`raw tracepoint ${MISSING_TRACEPOINT} failed`));
      assert.match(warning, /sock_send_length \(Linux 6\.3\+\)/);

      // TCP connect events still arrive.
      const before = events.received;
      const client = net.connect(tcpPort, '127.0.0.1');
      await new Promise<void>((r) => client.once('connect', () => r()));
      client.end('x');
      await until(
        'a TCP connect event',
        () => (monitor!.stats().socketEvents?.received ?? 0) > before,
      );
      assert.equal(monitor.stats().socketEvents?.udpReceived, 0);

      // A UDP sender that stays alive is attributed by /proc scans: every byte on its pid.
      sender = spawn(process.execPath, ['-e', UDP_SENDER, String(udpPort)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const pid = sender.pid!;
      await waitForLine(sender, 'sent');
      const expected = DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES);
      const sentBytes = (): number =>
        monitor!.snapshot().processes.find((p) => p.process.pid === pid)?.total.sentBytes ?? 0;
      await until(`${expected} bytes on pid ${pid}`, () => sentBytes() >= expected);
      await monitor.stop();
      assert.equal(sentBytes(), expected);
      assert.equal(monitor.stats().socketEvents?.udpUsed ?? 0, 0, 'no UDP event was used');
    } finally {
      if (sender !== undefined && sender.exitCode === null) sender.kill('SIGKILL');
      await monitor?.stop();
      receiver.close();
      server.close();
    }
  },
);
