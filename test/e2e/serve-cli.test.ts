// `pidflow serve` end to end with the real monitor (root): the agent listens where it says,
// answers /healthz and /metrics with the bytes a known child sent on loopback, and ends with
// exit 0 on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRootDir } from '../golden/assert-golden.js';

const ROOT = packageRootDir();
const BIN = join(ROOT, 'bin', 'pidflow.js');
const IS_ROOT = process.getuid?.() === 0;
const SKIP = !IS_ROOT
  ? '[needs-root] needs root to capture on lo (CI runs as root)'
  : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))
    ? '[needs-build] needs the compiled CLI: run `npx tsc -p tsconfig.json` first'
    : false;

const DATAGRAMS = 10;
const PAYLOAD_BYTES = 500;
/** IPv4 header plus UDP header. */
const HEADER_BYTES = 28;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(
  'pidflow serve listens, exports the bytes of a known sender, and stops on SIGTERM',
  { skip: SKIP, timeout: 40_000 },
  async () => {
    const agent = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--history-db',
        'memory',
        '--include-loopback',
        '--interval',
        '200ms',
        'lo',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    agent.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    agent.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) =>
      agent.on('exit', (code) => resolve(code)),
    );
    const sender = createSocket('udp4');
    try {
      let url: string | undefined;
      for (let i = 0; i < 100 && url === undefined; i++) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
        if (url === undefined) await sleep(100);
      }
      assert.ok(url, `the agent prints where it listens:\n${stdout}\n${stderr}`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);

      // This test process is the known sender: its pid must carry exactly these bytes.
      await new Promise<void>((resolve) => sender.bind(0, '127.0.0.1', resolve));
      const sink = createSocket('udp4');
      await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
      await sleep(1500); // let a rescan see both sockets
      for (let i = 0; i < DATAGRAMS; i++) {
        sender.send(Buffer.alloc(PAYLOAD_BYTES, 0x62), sink.address().port, '127.0.0.1');
        await sleep(20);
      }
      const expected = DATAGRAMS * (PAYLOAD_BYTES + HEADER_BYTES);
      let sent = 0;
      for (let i = 0; i < 50 && sent < expected; i++) {
        await sleep(200);
        // Only the UDP connection: the test's own HTTP requests to the agent count too.
        const body = (await (await fetch(`${url}/api/v1/processes/${process.pid}`)).json()) as {
          connections?: { protocol: string; localPort: number; total: { sentBytes: number } }[];
        };
        const udp = body.connections?.find(
          (c) => c.protocol === 'udp' && c.localPort === sender.address().port,
        );
        sent = udp?.total.sentBytes ?? 0;
      }
      sink.close();
      assert.equal(sent, expected, 'sent bytes of this process, IP level');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^pidflow_up 1$/m);
      assert.match(metrics, /^pidflow_process_sent_bytes_total\{comm="node",container=""\} \d+$/m);
    } finally {
      sender.close();
      agent.kill('SIGTERM');
    }
    assert.equal(await exited, 0, `exit code after SIGTERM; stderr:\n${stderr}`);
  },
);
