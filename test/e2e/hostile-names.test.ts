// Names are data, end to end (root): real processes name themselves with terminal control
// sequences, bidi overrides, wide characters and invalid UTF-8 (prctl PR_SET_NAME and exec
// argv), send UDP on loopback, and every output of pidflow shows them safely: the TUI in tmux
// (pane captured with its escape sequences), --text, NDJSON, /metrics (promtool) and the JSON
// API (byte-exact round trip).

import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { encodeBytes } from '../../src/text/bytes.js';
import { packageRootDir } from '../golden/assert-golden.js';

const ROOT = packageRootDir();
const BIN = join(ROOT, 'bin', 'pidflow.js');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const TMUX_SOCKET = `pfhostile-${process.pid}`;
const TEST_TIMEOUT_MS = 120_000;
/** Most bytes of /proc/<pid>/cmdline pidflow reads (READ_LIMITS_BYTES.cmdline). */
const CMDLINE_LIMIT_BYTES = 4096;

function has(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

const SKIP =
  process.getuid?.() !== 0
    ? 'needs root to capture on lo (CI runs as root)'
    : !existsSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'))
      ? 'needs the compiled CLI: run `npx tsc -p tsconfig.json` first'
      : !has(PYTHON, ['-c', 'import ctypes']) || !has('tmux', ['-V'])
        ? 'needs python3 and tmux (bash scripts/setup-test.sh installs them)'
        : !has('promtool', ['--version'])
          ? 'needs promtool (Debian package prometheus; bash scripts/setup-test.sh installs it)'
          : false;

// Stage 1 re-executes Python with a hostile argv (bytes); stage 2 renames itself with prctl,
// says "ready", then sends 20 datagrams/s to the test's receiver for at most its life time.
const HOSTILE_PY = `
import ctypes, os, socket, sys, time
if os.environ.get('PFH_STAGE') != '2':
    os.environ['PFH_STAGE'] = '2'
    argv = [bytes.fromhex(a) for a in os.environ['PFH_ARGV'].split(',')]
    os.execv(sys.executable, [argv[0], b'-c', os.environ['PFH_SCRIPT'].encode()] + argv[1:])
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(15, ctypes.c_char_p(bytes.fromhex(os.environ['PFH_COMM'])), 0, 0, 0) != 0:
    sys.exit('prctl failed')
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.1', 0))
print('ready', flush=True)
end = time.time() + float(os.environ['PFH_LIFE_S'])
port = int(os.environ['PFH_PORT'])
sent = 0
while time.time() < end and sent < 3000:
    s.sendto(b'h' * 300, ('127.0.0.1', port))
    sent += 1
    time.sleep(0.05)
`;

interface Hostile {
  comm: Buffer;
  argv: Buffer[];
  child?: ChildProcess;
}

const b = (...parts: (string | number[])[]): Buffer =>
  Buffer.concat(
    parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))),
  );

const HOSTILES: Hostile[] = [
  {
    // OSC window title, BEL, and a byte that is not UTF-8.
    comm: b('\x1b]0;PWNED\x07', [0xff]),
    argv: [
      b('evil\n4242 root 9.99 GiB/s 9.99 GiB/s 1 B 1 B forged\x1b[2J'),
      b([0xff, 0xfe], '\x1b]0;PWNED2\x07'),
      // Longer than the bound: the command line is cut at CMDLINE_LIMIT_BYTES.
      b('A'.repeat(6000)),
    ],
  },
  {
    // Red colour, a line feed and a right-to-left override (UTF-8 E2 80 AE).
    comm: b('\x1b[31mRED\n', [0xe2, 0x80, 0xae], 'x'),
    argv: [
      // CJK, an emoji and a zero-width space.
      Buffer.from('数据🐍\u200b', 'utf8'),
      b('\x1b[?1049l', [0xc2, 0x9b], '31m\r\t'),
    ],
  },
];

/** What /proc/<pid>/cmdline holds for a hostile process, as pidflow reads it (bounded). */
function expectedCmdline(h: Hostile): Buffer[] {
  const whole = Buffer.concat(
    [h.argv[0]!, Buffer.from('-c'), Buffer.from(HOSTILE_PY), ...h.argv.slice(1)].map((a) =>
      Buffer.concat([a, Buffer.of(0)]),
    ),
  );
  const read = whole.subarray(0, CMDLINE_LIMIT_BYTES);
  const text = read.at(-1) === 0 ? read.subarray(0, -1) : read;
  const args: Buffer[] = [];
  let from = 0;
  for (let i = 0; i <= text.length; i++) {
    if (i === text.length || text[i] === 0) {
      args.push(text.subarray(from, i));
      from = i + 1;
    }
  }
  return args;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Anything that acts on a terminal: C0 (but the line feed), DEL, C1 as UTF-8, and bidi controls.
// eslint-disable-next-line no-control-regex
const ACTIVE_TEXT = /[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u202a-\u202e\u2066-\u2069\u200b]/;

async function startHostiles(port: number): Promise<void> {
  for (const h of HOSTILES) {
    const child = spawn(PYTHON, ['-c', HOSTILE_PY], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        PFH_STAGE: '1',
        PFH_SCRIPT: HOSTILE_PY,
        PFH_ARGV: h.argv.map((a) => a.toString('hex')).join(','),
        PFH_COMM: h.comm.toString('hex'),
        PFH_PORT: String(port),
        PFH_LIFE_S: String(TEST_TIMEOUT_MS / 1000),
      },
    });
    h.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('hostile process did not start')), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', (code) => reject(new Error(`hostile process exited with ${code}`)));
    });
  }
}

/** Runs the pidflow CLI to its end (bounded by --count), returning stdout as bytes. */
function runCli(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('latin1')));
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out), stderr, code });
    });
  });
}

function pidOf(h: Hostile): number {
  return h.child!.pid!;
}

function assertRoundTrip(what: string, h: Hostile, comm: string, cmdline: string[]): void {
  assert.deepEqual(encodeBytes(comm), h.comm, `${what}: comm of ${pidOf(h)}`);
  assert.deepEqual(
    cmdline.map((a) => encodeBytes(a).toString('hex')),
    expectedCmdline(h).map((a) => a.toString('hex')),
    `${what}: cmdline of ${pidOf(h)}`,
  );
}

test(
  'hostile process names and command lines are shown safely in every output',
  { skip: SKIP, timeout: TEST_TIMEOUT_MS },
  async () => {
    const receiver: Socket = createSocket('udp4');
    receiver.on('message', () => undefined);
    let agent: ChildProcess | undefined;
    let tmuxStarted = false;
    const tmux = (...args: string[]): string =>
      execFileSync('tmux', ['-L', TMUX_SOCKET, ...args], { encoding: 'latin1', timeout: 5000 });
    try {
      await new Promise<void>((r) => receiver.bind(0, '127.0.0.1', r));
      await startHostiles(receiver.address().port);
      const common = ['--include-loopback', '--interval', '500ms', 'lo'];

      // NDJSON: ASCII only, valid JSON, and the exact bytes of every name.
      const json = await runCli(['--json', '--count', '4', ...common]);
      assert.equal(json.code, 0, json.stderr);
      assert.ok(
        json.stdout.every((byte) => byte === 0x0a || (byte >= 0x20 && byte < 0x7f)),
        'NDJSON is printable ASCII',
      );
      const records = json.stdout
        .toString('latin1')
        .trim()
        .split('\n')
        .map(
          (line) =>
            JSON.parse(line) as { processes: { pid: number; name: string; cmdline: string[] }[] },
        );
      for (const h of HOSTILES) {
        const p = records.flatMap((r) => r.processes).find((x) => x.pid === pidOf(h));
        assert.ok(p, `NDJSON lists ${pidOf(h)}`);
        assertRoundTrip('NDJSON', h, p.name, p.cmdline);
      }

      // --text: one line per row whatever the names, nothing active, names visibly escaped.
      const text = await runCli(['--text', '--count', '3', ...common]);
      assert.equal(text.code, 0, text.stderr);
      const textOut = text.stdout.toString('utf8');
      assert.doesNotMatch(textOut, ACTIVE_TEXT);
      for (const line of textOut.split('\n')) {
        if (line === '') continue;
        assert.match(
          line,
          /^(\d{4}-\d\d-\d\dT|\s*PID |\s*(\d+|-)\s|\(no traffic yet\))/,
          `a summary, header or row: ${line}`,
        );
        assert.doesNotMatch(line, /^\s*4242 /, 'no forged row');
      }
      assert.ok(textOut.includes('evil\\n4242 root'), 'the line feed is shown as \\n');
      assert.ok(textOut.includes('\\x1b]0;PWNED2\\x07'), 'the escape sequence is shown escaped');
      assert.ok(textOut.includes('\\xff\\xfe'), 'bytes that are not UTF-8 are shown as \\xNN');
      assert.ok(textOut.includes('数据🐍\\u200b'), 'wide characters kept, zero-width escaped');

      // The agent: JSON API byte-exact, /metrics clean for promtool, log lines escaped.
      agent = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', ...common], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let agentOut = '';
      agent.stdout!.on('data', (d: Buffer) => (agentOut += d.toString('latin1')));
      agent.stderr!.on('data', (d: Buffer) => (agentOut += d.toString('latin1')));
      let url: string | undefined;
      for (let i = 0; i < 100 && url === undefined; i++) {
        url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(agentOut)?.[1];
        if (url === undefined) await sleep(100);
      }
      assert.ok(url, `the agent prints where it listens:\n${agentOut}`);
      for (const h of HOSTILES) {
        let body: { process?: { process?: { comm: string; cmdline: string[] } } } = {};
        for (let i = 0; i < 50 && body.process?.process === undefined; i++) {
          const res = await fetch(`${url}/api/v1/processes/${pidOf(h)}`);
          const raw = Buffer.from(await res.arrayBuffer());
          if (res.status === 200) {
            assert.ok(
              raw.every((byte) => byte < 0x80),
              'the JSON API answers in ASCII',
            );
            body = JSON.parse(raw.toString('latin1')) as typeof body;
          } else await sleep(200);
        }
        assert.ok(body.process?.process, `the API knows ${pidOf(h)}`);
        assertRoundTrip('JSON API', h, body.process.process.comm, body.process.process.cmdline);
      }
      const metrics = await (await fetch(`${url}/metrics`)).text();
      assert.ok(
        metrics.includes('comm="\x1b]0;PWNED\x07\ufffd"'),
        'comm label, exposition-escaped',
      );
      assert.ok(metrics.includes('comm="\x1b[31mRED\\n\u202ex"'), 'line feed escaped as \\n');
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: metrics });
      assert.equal(
        promtool.status,
        0,
        `promtool check metrics: ${promtool.stdout.toString()}${promtool.stderr.toString()}`,
      );
      agent.kill('SIGTERM');
      await new Promise((r) => agent!.once('exit', r));
      assert.doesNotMatch(agentOut, ACTIVE_TEXT, 'agent log lines');
      agent = undefined;

      // The TUI in tmux: the names are on screen, escaped; none of their sequences took effect.
      tmux('new-session', '-d', '-s', 'main', '-x', '160', '-y', '30', 'bash --norc --noprofile');
      tmuxStarted = true;
      tmux('set-option', '-t', 'main', 'set-titles', 'on');
      const keys = (...k: string[]): void => void tmux('send-keys', '-t', 'main', ...k);
      const plain = (): string =>
        execFileSync('tmux', ['-L', TMUX_SOCKET, 'capture-pane', '-p', '-t', 'main'], {
          encoding: 'utf8',
        });
      const withEscapes = (): string =>
        execFileSync('tmux', ['-L', TMUX_SOCKET, 'capture-pane', '-e', '-p', '-t', 'main'], {
          encoding: 'utf8',
        });
      const waitPlain = async (
        what: string,
        predicate: (s: string) => boolean,
      ): Promise<string> => {
        let s = '';
        for (const end = Date.now() + 20_000; Date.now() < end; await sleep(200)) {
          s = plain();
          if (predicate(s)) return s;
        }
        assert.fail(`timed out waiting for ${what}; screen:\n${s}`);
      };
      const assertPaneClean = (what: string): void => {
        const pane = withEscapes();
        // Only our own styles: reset, bold, dim, inverse, yellow, cyan (never red 31).
        const sequences = pane.match(/\x1b[^a-zA-Z]*[a-zA-Z]/g) ?? []; // eslint-disable-line no-control-regex
        for (const seq of sequences) {
          assert.match(seq, /^\x1b\[[0-9;]*m$/, `${what}: only SGR sequences in the pane`); // eslint-disable-line no-control-regex
          for (const code of seq.slice(2, -1).split(';'))
            assert.ok(
              ['', '0', '1', '2', '7', '22', '27', '33', '36', '39', '49'].includes(code),
              `${what}: SGR ${seq}`,
            );
        }
        assert.doesNotMatch(pane.replace(/\x1b\[[0-9;]*m/g, ''), ACTIVE_TEXT, what); // eslint-disable-line no-control-regex
        const title = tmux('display', '-p', '-t', 'main', '#{pane_title}');
        assert.doesNotMatch(title, /PWNED/, `${what}: the pane title is untouched`);
        assert.equal(
          tmux('display', '-p', '-t', 'main', '#{alternate_on}').trim(),
          '1',
          `${what}: still in the alternate screen`,
        );
      };
      keys(
        `cd ${JSON.stringify(ROOT)} && node bin/pidflow.js --include-loopback lo --interval 500`,
        'Enter',
      );
      const [p1, p2] = HOSTILES.map(pidOf) as [number, number];
      let s = await waitPlain(
        'both hostile processes',
        (x) => x.includes(` ${p1} `) && x.includes(` ${p2} `),
      );
      assert.ok(s.includes('\\x1b]0;PWNED\\x07\\xff'), `comm shown escaped:\n${s}`);
      assert.ok(s.includes('\\x1b[31mRED\\n\\u202ex'), `comm shown escaped:\n${s}`);
      assertPaneClean('processes view');
      keys('c');
      s = await waitPlain('command lines', (x) => x.includes('evil\\n4242 root'));
      assert.ok(s.includes('数据🐍\\u200b'), `wide characters kept:\n${s}`);
      assertPaneClean('command lines');
      keys('2');
      await waitPlain('connections view', (x) => x.includes('[2 Connections]'));
      assertPaneClean('connections view');
      keys('1');
      // A filter pasted with control characters: only its printable characters are typed.
      keys('/');
      tmux('send-keys', '-t', 'main', '-l', `\x1b]0;PWNED3\x07${p1}\u202e`);
      s = await waitPlain('filter prompt', (x) => x.includes(`PWNED3${p1}█`));
      assert.doesNotMatch(s, /\\x1b|\\u202e/, 'the controls were not typed at all');
      assertPaneClean('filter prompt');
      // A lone Esc is told from an escape sequence by a pause (readline).
      keys('Escape');
      await sleep(300);
      keys('/');
      tmux('send-keys', '-t', 'main', '-l', String(p1));
      keys('Enter');
      await waitPlain('filtered list', (x) => x.includes(` ${p1} `) && !x.includes(` ${p2} `));
      keys('Enter');
      s = await waitPlain('detail view', (x) =>
        x.includes(`Connections of ${p1} \\x1b]0;PWNED\\x07\\xff`),
      );
      assertPaneClean('detail view');
      keys('Escape');
      await sleep(300);
      keys('?');
      await waitPlain('help', (x) => x.includes('Press any key to close this help.'));
      assertPaneClean('help');
      keys('q', 'q');
    } finally {
      agent?.kill('SIGTERM');
      for (const h of HOSTILES) h.child?.kill('SIGTERM');
      receiver.close();
      if (tmuxStarted) {
        try {
          execFileSync('tmux', ['-L', TMUX_SOCKET, 'kill-server'], { stdio: 'ignore' });
        } catch {
          // Already gone.
        }
      }
    }
  },
);
