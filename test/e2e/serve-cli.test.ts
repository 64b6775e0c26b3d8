// `pidflow serve` end to end with the real monitor (root): the agent listens where it says,
// answers /healthz and /metrics with the bytes a known child sent on loopback, and ends with
// exit 0 on SIGTERM.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
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
/** A comm no other process on the host has (15 characters at most). */
const COMM = `pfsc${process.pid % 100000}`;
/**
 * Renames itself, then on a port number on stdin sends DATAGRAMS datagrams of PAYLOAD_BYTES,
 * 20 ms apart, and stays until killed (bounded).
 */
const SENDER = `
process.title = ${JSON.stringify(COMM)};
process.stdin.once('data', (d) => {
  const s = require('node:dgram').createSocket('udp4');
  s.bind(0, '127.0.0.1', () => {
    let sent = 0;
    const t = setInterval(() => {
      if (sent++ >= ${DATAGRAMS}) return clearInterval(t);
      s.send(Buffer.alloc(${PAYLOAD_BYTES}, 0x62), Number(String(d).trim()), '127.0.0.1');
    }, 20);
  });
});
setTimeout(() => process.exit(0), 40000);
`;
/** IPv4 header plus UDP header. */
const HEADER_BYTES = 28;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test(
  'pidflow serve listens, exports the bytes of a known sender, and stops on SIGTERM',
  { skip: SKIP, timeout: 40_000 },
  async () => {
    // The sender starts before the agent: the agent reads a process's name once per pid and
    // start time, and must never see the sender before its rename (comm still 'node').
    const sender = spawn(process.execPath, ['-e', SENDER], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 100; i++) {
      const comm = readFileSync(`/proc/${sender.pid!}/comm`, 'utf8').trim();
      if (comm === COMM) break;
      await sleep(20);
    }
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
    const sink = createSocket('udp4');
    sink.on('message', () => {});
    try {
      let url: string | undefined;
      for (let i = 0; i < 100 && url === undefined; i++) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
        if (url === undefined) await sleep(100);
      }
      assert.ok(url, `the agent prints where it listens:\n${stdout}\n${stderr}`);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);

      // The known sender: a child with a name of its own (so its comm series is its alone,
      // unlike `node`, which every node process on the host shares) that sends only these
      // datagrams. Its pid and its comm series must carry exactly these bytes.
      await new Promise<void>((resolve) => sink.bind(0, '127.0.0.1', resolve));
      sender.stdin!.end(`${sink.address().port}\n`);
      const senderPid = sender.pid!;
      const expected = DATAGRAMS * (PAYLOAD_BYTES + HEADER_BYTES);
      let sent = 0;
      let series: number | undefined;
      for (let i = 0; i < 100 && (sent !== expected || series !== expected); i++) {
        await sleep(200);
        const res = await fetch(`${url}/api/v1/processes/${senderPid}`);
        if (res.status === 200) {
          const body = (await res.json()) as { process: { total: { sentBytes: number } } };
          sent = body.process.total.sentBytes;
        }
        const metrics = await (await fetch(`${url}/metrics`)).text();
        const line = metrics
          .split('\n')
          .find((l) => l.startsWith(`pidflow_process_sent_bytes_total{comm="${COMM}",`));
        series = line === undefined ? undefined : Number(line.split(' ').at(-1));
      }
      assert.equal(sent, expected, 'sent bytes of the sender pid, IP level');
      assert.equal(series, expected, `pidflow_process_sent_bytes_total{comm="${COMM}"}`);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.match(metrics, /^pidflow_up 1$/m);
    } finally {
      if (sender.exitCode === null) sender.kill('SIGKILL');
      sink.close();
      agent.kill('SIGTERM');
    }
    assert.equal(await exited, 0, `exit code after SIGTERM; stderr:\n${stderr}`);
  },
);
