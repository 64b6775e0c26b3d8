// The pidflow command end to end with the real monitor (root): a known child process sends a
// known number of UDP datagrams on loopback, and `pidflow --json --count 3` must report its pid
// with exactly those IP-level bytes (payload + 20-byte IPv4 header + 8-byte UDP header).

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRootDir } from '../golden/assert-golden.js';
import type { NdjsonRecord } from '../../src/cli/ndjson.js';

const ROOT = packageRootDir();
const BIN = join(ROOT, 'bin', 'pidflow.js');
const IS_ROOT = process.getuid?.() === 0;
const HAS_BUILD = existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'));
const SKIP = !IS_ROOT
  ? '[needs-root] needs root to capture on lo (CI runs as root)'
  : !HAS_BUILD
    ? '[needs-build] needs the compiled CLI: run `npx tsc -p tsconfig.json` first'
    : false;

/** IPv4 header (no options) plus UDP header, bytes. */
const UDP_IPV4_HEADER_BYTES = 28;
const DATAGRAMS = 20;
const PAYLOAD_BYTES = 700;
const REPLY_BYTES = 300;
const TEST_TIMEOUT_MS = 30_000;

/** A child that binds a UDP socket, waits for "go" on stdin, then sends `count` datagrams. */
const SENDER = `
process.title = process.env.PFTUI_TITLE;
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
const count = Number(process.env.PFTUI_COUNT), size = Number(process.env.PFTUI_SIZE);
const port = Number(process.env.PFTUI_PORT), gapMs = Number(process.env.PFTUI_GAP_MS);
let sent = 0;
s.on('message', () => {});
s.bind(0, '127.0.0.1', () => {
  process.stdout.write('ready\\n');
  const go = () => {
    const t = setInterval(() => {
      if (sent >= count) { clearInterval(t); process.stdout.write('sent ' + sent + '\\n'); return; }
      s.send(Buffer.alloc(size, 0x61), port, '127.0.0.1');
      sent++;
    }, gapMs);
  };
  if (process.env.PFTUI_WAIT_GO === '1') process.stdin.once('data', go); else go();
});
setTimeout(() => process.exit(0), Number(process.env.PFTUI_LIFE_MS)).unref();
setInterval(() => {}, 1000);
`;

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms: ${buffer}`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(line);
      }
    };
    child.stdout!.on('data', onData);
  });
}

test(
  'pidflow --json --count 3 reports a known child with its exact bytes',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const receiver = createSocket('udp4');
    const children: ChildProcess[] = [];
    try {
      // The test process answers each datagram with REPLY_BYTES, so the child also receives a known amount.
      receiver.on('message', (_msg, rinfo) =>
        receiver.send(Buffer.alloc(REPLY_BYTES, 0x62), rinfo.port, rinfo.address),
      );
      await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
      const sender = spawn(process.execPath, ['-e', SENDER], {
        env: {
          ...process.env,
          PFTUI_TITLE: 'pftui-json',
          PFTUI_COUNT: String(DATAGRAMS),
          PFTUI_SIZE: String(PAYLOAD_BYTES),
          PFTUI_PORT: String(receiver.address().port),
          PFTUI_GAP_MS: '10',
          PFTUI_WAIT_GO: '1',
          PFTUI_LIFE_MS: String(TEST_TIMEOUT_MS),
        },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      children.push(sender);
      await waitForLine(sender, /^ready$/, 10_000);

      const pidflow = spawn(
        process.execPath,
        [BIN, '--json', '--count', '3', '--include-loopback', 'lo'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(pidflow);
      let stdout = '';
      let stderr = '';
      pidflow.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      pidflow.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const exited = new Promise<number | null>((r) => pidflow.on('exit', (code) => r(code)));

      // Send only once the capture runs (its first line is out), so every packet is captured.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`pidflow printed nothing in 10 s; stderr: ${stderr}`)),
          10_000,
        );
        const check = () => {
          if (stdout.includes('\n')) {
            clearTimeout(timer);
            pidflow.stdout.off('data', check);
            resolve();
          }
        };
        pidflow.stdout.on('data', check);
        check();
      });
      sender.stdin!.write('go\n');

      assert.equal(await exited, 0, `exit code; stderr: ${stderr}`);
      const records = stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as NdjsonRecord);
      assert.equal(records.length, 3);
      for (const r of records) {
        assert.equal(r.version, 1);
        assert.deepEqual(r.devices, ['lo']);
        assert.ok(!Number.isNaN(Date.parse(r.time)));
      }
      const last = records[2]!.processes.find((p) => p.pid === sender.pid);
      assert.ok(
        last,
        `pid ${sender.pid} in the last line: ${JSON.stringify(records[2]!.processes.map((p) => [p.pid, p.name]))}`,
      );
      assert.equal(last.name, 'pftui-json');
      assert.equal(last.sentPackets, DATAGRAMS);
      assert.equal(last.sentBytes, DATAGRAMS * (PAYLOAD_BYTES + UDP_IPV4_HEADER_BYTES));
      assert.equal(last.receivedPackets, DATAGRAMS);
      assert.equal(last.receivedBytes, DATAGRAMS * (REPLY_BYTES + UDP_IPV4_HEADER_BYTES));
      // Interval bytes sum to the cumulative totals.
      let sentSum = 0;
      let receivedSum = 0;
      for (const r of records) {
        const p = r.processes.find((e) => e.pid === sender.pid);
        sentSum += p?.intervalSentBytes ?? 0;
        receivedSum += p?.intervalReceivedBytes ?? 0;
      }
      assert.equal(sentSum, last.sentBytes);
      assert.equal(receivedSum, last.receivedBytes);
    } finally {
      for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
      receiver.close();
    }
  },
);

test(
  'pidflow rejects a bad option with exit 2 before capturing',
  { skip: HAS_BUILD ? false : '[needs-build] needs the compiled CLI', timeout: 10_000 },
  async () => {
    const child = spawn(process.execPath, [BIN, '--timeout', 'soon'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 2);
    assert.match(stderr, /^error: option '--timeout <duration>' argument 'soon' is invalid/);
  },
);

test(
  'pidflow --json | head -1 exits quietly with 0 (EPIPE)',
  { skip: SKIP, timeout: 20_000 },
  async () => {
    const child = spawn(
      'bash',
      [
        '-c',
        `set -o pipefail; node ${JSON.stringify(BIN)} --json --interval 200ms --include-loopback lo | head -1`,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    try {
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(code, 0, `pipeline exit code (pidflow's, with pipefail); stderr: ${stderr}`);
      assert.equal(stderr, '');
      assert.equal((JSON.parse(stdout.trim()) as NdjsonRecord).version, 1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  },
);

/** Runs the command to its end (at most `timeoutMs`) and returns its exit code and output. */
async function runPidflow(
  args: string[],
  prefix: string[] = [],
  timeoutMs = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [cmd, ...rest] = [...prefix, process.execPath, BIN, ...args];
  const child = spawn(cmd!, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

test(
  'a device that does not exist exits 2 and lists the available devices',
  { skip: SKIP, timeout: 20_000 },
  async () => {
    const r = await runPidflow(['--json', '--count', '1', 'pftuinodev0']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: .*pftuinodev0.*available devices: .*\blo\b/);
  },
);

test(
  'a BPF filter that does not compile exits 2 and says so',
  { skip: SKIP, timeout: 20_000 },
  async () => {
    const r = await runPidflow(['--json', '--count', '1', '--filter', 'port', 'lo']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: .*filter.*"port".*syntax error/);
  },
);

test(
  'without capture privileges it exits 1 and says how to get them',
  { skip: SKIP, timeout: 20_000 },
  async () => {
    // setpriv (util-linux) drops to the nobody user: the same as running without sudo.
    const r = await runPidflow(
      ['--json', '--count', '1', 'lo'],
      ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'],
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: capture on lo needs CAP_NET_RAW and CAP_NET_ADMIN: run as root/,
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
  },
);

test(
  '--once --window 1 prints one text ranking and exits 0',
  { skip: SKIP, timeout: 20_000 },
  async () => {
    const r = await runPidflow(['--once', '--window', '1', '--include-loopback', 'lo']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\S+Z {2}last 1\.\ds {2}devices lo {2}sent /);
    assert.equal(r.stdout.match(/devices lo/g)?.length, 1, 'exactly one table');
  },
);
