// main() on a FakeMonitor, not end to end (the real monitor runs in test/e2e/): NDJSON and text
// output (golden), --once, exit codes of every error class, EPIPE, and the terminal UI restoring
// the terminal.

import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClock } from '../clock.js';
import { AddonLoadError, CaptureError, PermissionError, UsageError } from '../errors.js';
import type { MonitorOptions, Snapshot } from '../monitor/types.js';
import {
  assertGolden,
  packageRootDir,
  scrubTimestamps,
  stripAnsi,
} from '../../test/golden/assert-golden.js';
import {
  FakeMonitor,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
  makeStats,
  makeUnknownEntry,
} from '../../test/helpers/fake-monitor.js';
import { isColorEnabled, main, toMonitorOptions, type CliDeps } from './main.js';
import { parseCliArgs } from './options.js';
import type { NdjsonRecord } from './ndjson.js';

class FakeStream extends EventEmitter {
  text = '';
  isTTY: boolean;
  columns = 100;
  rows = 16;
  failWith: string | undefined;
  constructor(isTTY = false) {
    super();
    this.isTTY = isTTY;
  }
  write(s: string): boolean {
    if (this.failWith) {
      const code = this.failWith;
      queueMicrotask(() => this.emit('error', Object.assign(new Error(`write ${code}`), { code })));
      return false;
    }
    this.text += s;
    return true;
  }
}

class FakeInput extends EventEmitter {
  isTTY = true;
  rawModes: boolean[] = [];
  setRawMode(mode: boolean): void {
    this.rawModes.push(mode);
  }
  resume(): void {}
  pause(): void {}
}

interface Harness {
  deps: Partial<CliDeps>;
  stdout: FakeStream;
  stderr: FakeStream;
  stdin: FakeInput;
  hooks: EventEmitter;
  clock: FakeClock;
  created: Promise<FakeMonitor>;
  givenOptions: () => MonitorOptions | undefined;
}

function harness(
  opts: { isTTY?: boolean; createError?: Error; env?: Record<string, string> } = {},
): Harness {
  const stdout = new FakeStream(opts.isTTY ?? false);
  const stderr = new FakeStream();
  const stdin = new FakeInput();
  const hooks = new EventEmitter();
  const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5));
  let given: MonitorOptions | undefined;
  let resolveCreated!: (m: FakeMonitor) => void;
  const created = new Promise<FakeMonitor>((r) => (resolveCreated = r));
  const deps: Partial<CliDeps> = {
    stdout,
    stderr,
    stdin,
    hooks: hooks as unknown as CliDeps['hooks'],
    clock,
    env: opts.env ?? {},
    version: '0.1.0-test',
    createMonitor: async (o) => {
      given = o;
      if (opts.createError) throw opts.createError;
      const m = new FakeMonitor(o);
      resolveCreated(m);
      return m;
    },
  };
  return { deps, stdout, stderr, stdin, hooks, clock, created, givenOptions: () => given };
}

const settle = () => new Promise((r) => setImmediate(r));

const NGINX = makeProcessInfo(1234, 'nginx', {
  user: 'www-data',
  uid: 33,
  cmdline: ['nginx: worker process'],
});
const CURL = makeProcessInfo(4321, 'curl', {
  user: 'alice',
  uid: 1000,
  cmdline: ['curl', '-O', 'http://198.18.0.2/big.iso'],
  containerId: 'f00dfacec0ffee0123456789',
  containerRuntime: 'containerd',
  container: {
    id: 'f00dfacec0ffee0123456789',
    runtime: 'containerd',
    name: '',
    image: 'registry.k8s.io/e2e-test-images/agnhost:2.47',
    composeProject: '',
    composeService: '',
    pod: {
      namespace: 'web',
      name: 'fetcher-5d9c7b8f4-q2x8z',
      uid: '01b4b887-7635-4346-9c20-58a294bbb034',
      container: 'fetch',
    },
  },
});

/** Three ticks with known cumulative totals. */
function ticks(): Snapshot[] {
  const t0 = Date.UTC(2026, 0, 2, 3, 4, 6);
  const cumulative: [number, number, number, number][] = [
    [1500, 300, 0, 0],
    [4000, 600, 100, 80_000],
    [4000, 650, 200, 200_000],
  ];
  return cumulative.map(([ns, nr, cs, cr], i) => {
    const processes = [
      makeProcessEntry(NGINX, { sentBytes: ns, receivedBytes: nr }, { connectionCount: 2 }),
    ];
    if (cs + cr > 0) processes.push(makeProcessEntry(CURL, { sentBytes: cs, receivedBytes: cr }));
    return makeSnapshot({
      time: t0 + i * 1000,
      intervalMs: 1000,
      elapsedMs: (i + 1) * 1000,
      remainingMs: 299_000 - i * 1000,
      processes,
      unknown: [makeUnknownEntry('udp', 5353, { sentBytes: 0, receivedBytes: 90 * (i + 1) })],
      stats: makeStats({
        kernelDroppedPackets: i,
        seen: { packets: 10 * (i + 1), bytes: 1000 * (i + 1) },
      }),
    });
  });
}

test('--json --count 3 prints three NDJSON lines with exact interval bytes, then exits 0', async () => {
  const h = harness();
  const done = main(['--json', '--count', '3', '--include-loopback', 'lo'], h.deps);
  const m = await h.created;
  await settle();
  for (const s of ticks()) m.tick(s);
  assert.equal(await done, 0);
  assert.equal(h.stderr.text, '');
  assert.equal(m.startCalls, 1);
  assert.ok(m.stopCalls >= 1, 'the monitor is stopped');
  assert.equal(m.listenerCount, 0, 'no listener left behind');
  const lines = h.stdout.text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  const records = lines.map((l) => JSON.parse(l) as NdjsonRecord);
  const sum = (pid: number, field: 'intervalSentBytes' | 'intervalReceivedBytes') =>
    records.reduce((n, r) => n + (r.processes.find((p) => p.pid === pid)?.[field] ?? 0), 0);
  assert.equal(sum(1234, 'intervalSentBytes'), 4000);
  assert.equal(sum(1234, 'intervalReceivedBytes'), 650);
  assert.equal(sum(4321, 'intervalSentBytes'), 200);
  assert.equal(sum(4321, 'intervalReceivedBytes'), 200_000);
  assert.equal(records[1]!.processes[0]!.pid, 4321, 'ordered by interval bytes');
  assert.equal(records[2]!.unknown.receivedBytes, 270);
  assert.deepEqual(h.givenOptions(), {
    includeLoopback: true,
    tickIntervalMs: 1000,
    captureTimeoutMs: 300_000,
    ringSeconds: 15,
    devices: ['lo'],
    logger: h.givenOptions()!.logger!,
  });
  assertGolden('ndjson.txt', scrubTimestamps(h.stdout.text));
});

test('text output prints one table per interval (golden)', async () => {
  const h = harness();
  const done = main(['--text', '--count', '3'], h.deps);
  const m = await h.created;
  await settle();
  for (const s of ticks()) m.tick(s);
  assert.equal(await done, 0);
  assert.match(h.stdout.text, /1234 +www-data .* nginx: worker process\n/);
  assert.match(h.stdout.text, /\(unknown: no owning socket found\)/);
  assertGolden('text-table.txt', scrubTimestamps(h.stdout.text));
});

test('stdout that is not a terminal gets the text table', async () => {
  const h = harness({ isTTY: false });
  const done = main(['--count', '1'], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[0]!);
  assert.equal(await done, 0);
  assert.match(h.stdout.text, /PID +USER +SENT\/s +RECV\/s +SENT +RECV +PROGRAM/);
});

test('--pid and --name filter the processes of the output', async () => {
  const h = harness();
  const done = main(['--json', '--count', '3', '--name', 'CUR'], h.deps);
  const m = await h.created;
  await settle();
  for (const s of ticks()) m.tick(s);
  assert.equal(await done, 0);
  const pids = h.stdout.text
    .trimEnd()
    .split('\n')
    .flatMap((l) => (JSON.parse(l) as NdjsonRecord).processes.map((p) => p.pid));
  assert.deepEqual(pids, [4321, 4321]);
});

test('--once --window 5 waits 5 s of the clock, prints one ranking and exits', async () => {
  const h = harness();
  const done = main(['--once', '--window', '5', '--json'], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[2]!);
  assert.equal(h.stdout.text, '', 'nothing before the window ends');
  h.clock.advance(5000);
  assert.equal(await done, 0);
  const lines = h.stdout.text.trimEnd().split('\n');
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!) as NdjsonRecord;
  assert.equal(record.processes[0]!.pid, 4321);
  assert.equal(
    record.processes[0]!.intervalReceivedBytes,
    200_000,
    'the whole capture is the interval',
  );
  assert.deepEqual(m.snapshotWindows, [5]);
});

test('a capture timeout prints what came after the last tick and exits 0', async () => {
  const h = harness();
  const done = main(['--json'], h.deps);
  const m = await h.created;
  await settle();
  const [a, , c] = ticks();
  m.tick(a!);
  // The last snapshot is current but was never ticked: the end must print it.
  m.tick({ ...c!, time: c!.time });
  const late = { ...c!, time: c!.time + 500 };
  (m as unknown as { current: Snapshot }).current = late;
  m.end('timeout');
  assert.equal(await done, 0);
  const records = h.stdout.text
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l) as NdjsonRecord);
  assert.equal(records.length, 3);
});

test('a closed stdout pipe (EPIPE) exits quietly with 0', async () => {
  const h = harness();
  h.stdout.failWith = 'EPIPE';
  const done = main(['--json'], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[0]!);
  assert.equal(await done, 0);
  assert.equal(h.stderr.text, '');
  assert.ok(m.stopCalls >= 1);
});

test('another stdout error is a runtime error (exit 1)', async () => {
  const h = harness();
  h.stdout.failWith = 'ENOSPC';
  const done = main(['--json'], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[0]!);
  assert.equal(await done, 1);
  assert.match(h.stderr.text, /^error: write ENOSPC\n/);
});

const CREATE_ERRORS: [string, Error, number, RegExp][] = [
  [
    'a bad option',
    new UsageError('unknown option snaplenn: did you mean snaplen?'),
    2,
    /^error: unknown option snaplenn/,
  ],
  [
    'bad filter',
    new CaptureError(
      'invalid capture filter "port": can\'t parse filter expression: syntax error',
      {
        code: 'ERR_CAPTURE_FILTER',
      },
    ),
    2,
    /^error: invalid capture filter "port"/,
  ],
  [
    'a capture failure',
    new CaptureError('capture on eth0 failed: the device went down'),
    1,
    /^error: capture on eth0 failed/,
  ],
  [
    'no such device',
    new CaptureError('no such device eth9: available devices are lo, eth0', {
      code: 'ERR_CAPTURE_NO_DEVICE',
    }),
    2,
    /^error: no such device eth9: available devices are lo, eth0\n$/,
  ],
  [
    'not root',
    new PermissionError('capture on lo needs CAP_NET_RAW and CAP_NET_ADMIN: run as root'),
    1,
    /^error: capture on lo needs CAP_NET_RAW/,
  ],
  [
    'addon missing',
    new AddonLoadError('the native addon was not found: run npm run build:native'),
    1,
    /^error: the native addon was not found/,
  ],
  [
    'a bug',
    new TypeError('x is not a function'),
    1,
    /^error: x is not a function\nThis looks like a bug in pidflow: run again with --debug/,
  ],
];

for (const [what, error, code, message] of CREATE_ERRORS) {
  test(`createMonitor failing with ${what} exits ${code} with error: on stderr`, async () => {
    const h = harness({ createError: error });
    assert.equal(await main(['--json'], h.deps), code);
    assert.match(h.stderr.text, message);
    assert.equal(h.stdout.text, '');
  });
}

test('--debug adds the stack trace to runtime errors', async () => {
  const h = harness({ createError: new CaptureError('capture failed on lo') });
  assert.equal(await main(['--json', '--debug'], h.deps), 1);
  assert.match(
    h.stderr.text,
    /^error: capture failed on lo\nCaptureError: capture failed on lo\n {4}at /,
  );
});

test('a monitor that fails while running exits 1 with its message', async () => {
  const h = harness();
  const done = main(['--json'], h.deps);
  const m = await h.created;
  await settle();
  m.end('error', new CaptureError('lo went down: the device was removed'));
  assert.equal(await done, 1);
  assert.equal(h.stderr.text, 'error: lo went down: the device was removed\n');
});

test('usage errors exit 2 before the monitor is created', async () => {
  const h = harness();
  assert.equal(await main(['--interval', 'x'], h.deps), 2);
  assert.equal(h.givenOptions(), undefined);
  assert.match(h.stderr.text, /^error: option '--interval <duration>' argument 'x' is invalid/);
});

test('--version prints the package version', async () => {
  const h = harness();
  const { version: _ignored, ...withoutVersion } = h.deps;
  assert.equal(await main(['--version'], withoutVersion), 0);
  const pkg = JSON.parse(readFileSync(join(packageRootDir(), 'package.json'), 'utf8')) as {
    version: string;
  };
  assert.equal(h.stdout.text, `${pkg.version}\n`);
});

test('the terminal UI enters and leaves the alternate screen and raw mode on q', async () => {
  const h = harness({ isTTY: true });
  const done = main(['lo'], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[1]!);
  assert.match(stripAnsi(h.stdout.text), /curl/);
  h.stdin.emit('keypress', 'q', { name: 'q', sequence: 'q' });
  assert.equal(await done, 0);
  assert.ok(h.stdout.text.startsWith('\x1b[?1049h'), 'enters the alternate screen');
  assert.ok(
    h.stdout.text.endsWith('\x1b[0m\x1b[?25h\x1b[?1049l'),
    'restores the cursor and screen last',
  );
  assert.deepEqual(h.stdin.rawModes, [true, false]);
  assert.equal(h.hooks.eventNames().length, 0, 'signal handlers removed');
  assert.equal(m.listenerCount, 0);
});

test('the terminal UI restores the terminal on SIGTERM and on a monitor error', async () => {
  let h = harness({ isTTY: true });
  let done = main([], h.deps);
  await h.created;
  await settle();
  h.hooks.emit('SIGTERM');
  assert.equal(await done, 143);
  assert.ok(h.stdout.text.endsWith('\x1b[?1049l'));

  h = harness({ isTTY: true });
  done = main([], h.deps);
  const m = await h.created;
  await settle();
  m.end('error', new CaptureError('capture on lo failed: device removed'));
  assert.equal(await done, 1);
  assert.ok(h.stdout.text.endsWith('\x1b[?1049l'));
  assert.equal(h.stderr.text, 'error: capture on lo failed: device removed\n');
  assert.deepEqual(h.stdin.rawModes, [true, false]);
});

test('the terminal UI restores the terminal on an uncaught exception', async () => {
  const h = harness({ isTTY: true });
  const done = main([], h.deps);
  await h.created;
  await settle();
  h.hooks.emit('uncaughtException', new Error('boom'));
  assert.equal(await done, 1);
  assert.ok(h.stdout.text.endsWith('\x1b[?1049l'));
  assert.match(h.stderr.text, /^error: boom\n/);
});

test('NO_COLOR turns colours off in the terminal UI', async () => {
  const h = harness({ isTTY: true, env: { NO_COLOR: '1' } });
  const done = main([], h.deps);
  const m = await h.created;
  await settle();
  m.tick(ticks()[1]!);
  h.stdin.emit('keypress', 'q', { name: 'q', sequence: 'q' });
  assert.equal(await done, 0);
  for (const code of ['\x1b[7m', '\x1b[33m', '\x1b[36m']) assert.ok(!h.stdout.text.includes(code));
});

test('every command-line option reaches createMonitor in library units', () => {
  const parsed = parseCliArgs(
    [
      'eth0',
      '--filter',
      'port 53',
      '--udp',
      '--sync-interval',
      '250',
      '--interval',
      '2s',
      '--window',
      '30',
      '--timeout',
      '0',
      '--pcap',
      '/tmp/p.pcap',
      '--read',
      'in.pcap',
      '--cpu-limit',
      '0.5',
      '--mem-limit',
      '128M',
      '--include-loopback',
    ],
    '1.0.0',
  );
  assert.equal(parsed.kind, 'run');
  if (parsed.kind !== 'run') return;
  assert.deepEqual(toMonitorOptions(parsed.options, undefined), {
    devices: ['eth0'],
    filter: 'port 53',
    protocols: ['udp'],
    syncIntervalMs: 250,
    tickIntervalMs: 2000,
    ringSeconds: 30,
    captureTimeoutMs: 0,
    pcapFile: '/tmp/p.pcap',
    readFile: 'in.pcap',
    limits: { cpuCores: 0.5, memoryMB: 128 },
    includeLoopback: true,
  });
});

test('--pcap-rotate and --pcap-files reach createMonitor as pcapFile rotateBytes and maxFiles', () => {
  const toOptions = (argv: string[]) => {
    const parsed = parseCliArgs(argv, '1.0.0');
    assert.equal(parsed.kind, 'run');
    if (parsed.kind !== 'run') throw new Error('parse failed');
    return toMonitorOptions(parsed.options, undefined).pcapFile;
  };
  assert.equal(toOptions(['--pcap', '/tmp/p.pcap']), '/tmp/p.pcap');
  assert.deepEqual(toOptions(['--pcap', '/tmp/p.pcap', '--pcap-rotate', '1M']), {
    path: '/tmp/p.pcap',
    rotateBytes: 1_048_576,
  });
  assert.deepEqual(
    toOptions(['--pcap', '/tmp/p.pcap', '--pcap-rotate', '64K', '--pcap-files', '3']),
    { path: '/tmp/p.pcap', rotateBytes: 65_536, maxFiles: 3 },
  );
  assert.equal(toOptions([]), undefined);
});

test('colours follow --no-color, NO_COLOR (non-empty) and TERM=dumb', () => {
  const parsed = parseCliArgs([], '1.0.0');
  const noColor = parseCliArgs(['--no-color'], '1.0.0');
  if (parsed.kind !== 'run' || noColor.kind !== 'run') throw new Error('parse failed');
  assert.equal(isColorEnabled(parsed.options, {}), true);
  assert.equal(isColorEnabled(parsed.options, { NO_COLOR: '1' }), false);
  assert.equal(isColorEnabled(parsed.options, { NO_COLOR: '' }), true);
  assert.equal(isColorEnabled(parsed.options, { TERM: 'dumb' }), false);
  assert.equal(isColorEnabled(noColor.options, {}), false);
});
