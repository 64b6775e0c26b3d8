// Command-line parsing: accepted forms, defaults, and every usage error (message + exit 2).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_INTERVAL_MS,
  DEFAULT_TIMEOUT_MS,
  parseByteSize,
  parseCliArgs,
  parseDuration,
  type CliOptions,
} from './options.js';

function run(argv: string[]): CliOptions {
  const r = parseCliArgs(argv, '9.9.9');
  assert.equal(r.kind, 'run', r.kind === 'exit' ? r.stderr : '');
  return (r as { options: CliOptions }).options;
}

function usageError(argv: string[]): string {
  const r = parseCliArgs(argv, '9.9.9');
  assert.equal(r.kind, 'exit', `expected a usage error for ${argv.join(' ')}`);
  if (r.kind !== 'exit') throw new Error('unreachable');
  assert.equal(r.code, 2, `exit code for ${argv.join(' ')}`);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^error: /);
  assert.match(r.stderr, /Run 'pidflow --help'/);
  return r.stderr;
}

test('defaults: all devices, 1 s interval, 5 min timeout, output picked later', () => {
  const o = run([]);
  assert.deepEqual(o.devices, []);
  assert.equal(o.intervalMs, DEFAULT_INTERVAL_MS);
  assert.equal(o.timeoutMs, DEFAULT_TIMEOUT_MS);
  assert.equal(o.output, undefined);
  assert.equal(o.color, true);
  assert.equal(o.once, false);
  assert.equal(o.protocols, undefined);
});

test('devices are positional; options map to their units', () => {
  const o = run([
    'eth0',
    'lo',
    '--filter',
    'port 443',
    '--tcp',
    '--sync-interval',
    '250',
    '--interval',
    '2s',
    '--window',
    '10',
    '--timeout',
    '1h',
    '--pcap',
    '/tmp/x.pcap',
    '--cpu-limit',
    '50%',
    '--mem-limit',
    '1G',
    '--include-loopback',
    '--pid',
    '1,2',
    '--pid',
    '3',
    '--name',
    'nginx',
    '--json',
    '--count',
    '4',
    '--no-color',
    '--debug',
  ]);
  assert.deepEqual(o.devices, ['eth0', 'lo']);
  assert.equal(o.filter, 'port 443');
  assert.deepEqual(o.protocols, ['tcp']);
  assert.equal(o.syncIntervalMs, 250);
  assert.equal(o.intervalMs, 2000);
  assert.equal(o.windowSeconds, 10);
  assert.equal(o.timeoutMs, 3_600_000);
  assert.equal(o.pcapFile, '/tmp/x.pcap');
  assert.equal(o.cpuCores, 0.5);
  assert.equal(o.memoryMB, 1024);
  assert.equal(o.includeLoopback, true);
  assert.deepEqual(o.pids, [1, 2, 3]);
  assert.deepEqual(o.names, ['nginx']);
  assert.equal(o.output, 'json');
  assert.equal(o.count, 4);
  assert.equal(o.color, false);
  assert.equal(o.debug, true);
});

test('--pcap-rotate takes bytes or K/M/G (1024-based); --pcap-files needs it', () => {
  const plain = run(['--pcap', 'p.pcap']);
  assert.equal(plain.pcapFile, 'p.pcap');
  assert.equal(plain.pcapRotateBytes, undefined);
  assert.equal(plain.pcapMaxFiles, undefined);
  const o = run(['--pcap', 'p.pcap', '--pcap-rotate', '100M', '--pcap-files', '10']);
  assert.equal(o.pcapFile, 'p.pcap');
  assert.equal(o.pcapRotateBytes, 100 * 1024 * 1024);
  assert.equal(o.pcapMaxFiles, 10);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '65536']).pcapRotateBytes, 65_536);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '64K']).pcapRotateBytes, 65_536);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '64k']).pcapRotateBytes, 65_536);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '2G']).pcapRotateBytes, 2 * 1024 ** 3);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '1.5M']).pcapRotateBytes, 1_572_864);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '10MiB']).pcapRotateBytes, 10_485_760);
  assert.equal(run(['--pcap', 'p', '--pcap-rotate', '10MB']).pcapRotateBytes, 10_485_760);
  assert.equal(parseByteSize(' 1G '), 1024 ** 3);
});

test('--tcp with --udp means both; --udp alone means UDP', () => {
  assert.equal(run(['--tcp', '--udp']).protocols, undefined);
  assert.deepEqual(run(['--udp']).protocols, ['udp']);
});

test('--timeout accepts 30s, 5m, 1h, bare seconds and 0 for none', () => {
  assert.equal(run(['--timeout', '30s']).timeoutMs, 30_000);
  assert.equal(run(['--timeout', '5m']).timeoutMs, 300_000);
  assert.equal(run(['--timeout', '90']).timeoutMs, 90_000);
  assert.equal(run(['--timeout', '0']).timeoutMs, 0);
  assert.equal(run(['--interval', '500']).intervalMs, 500);
  assert.equal(run(['--interval', '500ms']).intervalMs, 500);
  assert.equal(parseDuration('1.5s', 'ms'), 1500);
});

test('--once and --count imply text; --json wins; --once captures 5 s by default', () => {
  assert.equal(run(['--once']).output, 'text');
  assert.equal(run(['--once']).windowSeconds, 5);
  assert.equal(run(['--count', '2']).output, 'text');
  assert.equal(run(['--once', '--json']).output, 'json');
  assert.equal(run(['--text']).output, 'text');
});

test('--help prints usage with examples and exits 0; --version prints the version', () => {
  const help = parseCliArgs(['--help'], '9.9.9');
  assert.equal(help.kind, 'exit');
  if (help.kind !== 'exit') return;
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: pidflow \[options\] \[devices\.\.\.\]/);
  assert.match(help.stdout, /Examples:/);
  assert.match(help.stdout, /--once --window 5/);
  for (const flag of [
    '--filter',
    '--tcp',
    '--udp',
    '--sync-interval',
    '--interval',
    '--window',
    '--timeout',
    '--pcap',
    '--pcap-rotate',
    '--pcap-files',
    '--read',
    '--cpu-limit',
    '--mem-limit',
    '--include-loopback',
    '--pid',
    '--name',
    '--json',
    '--text',
    '--count',
    '--once',
    '--no-color',
    '--debug',
    '--version',
  ]) {
    assert.ok(help.stdout.includes(flag), `help lists ${flag}`);
  }
  assert.deepEqual(parseCliArgs(['--version'], '9.9.9'), {
    kind: 'exit',
    code: 0,
    stdout: '9.9.9\n',
    stderr: '',
  });
  assert.deepEqual(parseCliArgs(['-V'], '9.9.9'), {
    kind: 'exit',
    code: 0,
    stdout: '9.9.9\n',
    stderr: '',
  });
});

const USAGE_ERRORS: [string[], RegExp][] = [
  [['--bogus'], /unknown option '--bogus'/],
  [['--fitler', 'x'], /unknown option '--fitler'\n\(Did you mean --filter\?\)/],
  [['--filter'], /option '--filter <bpf>' argument missing/],
  [['--filter', ' '], /expected a BPF expression/],
  [
    ['--interval', 'fast'],
    /expected a duration such as 500ms, 30s, 5m or 1h \(a bare number is milliseconds\)/,
  ],
  [['--interval', '50'], /must be between 100ms and 3600s/],
  [['--interval', '2h'], /must be between 100ms and 3600s/],
  [['--sync-interval', '-1'], /expected a duration/],
  [['--timeout', 'soon'], /expected a duration .* \(a bare number is seconds\)/],
  [['--timeout', '-5'], /expected a duration/],
  [['--window', '0'], /expected seconds, a whole number from 1 to 3600/],
  [['--window', '1.5'], /expected seconds/],
  [['--window', '3601'], /expected seconds/],
  [['--count', '0'], /expected a count/],
  [['--count', 'ten'], /expected a count/],
  [['--pid', 'abc'], /expected a process id \(1 to 4194304\), got 'abc'/],
  [['--pid', '1,,2'], /expected a process id/],
  [['--pid', '0'], /expected a process id/],
  [['--name', ''], /expected a program name/],
  [['--cpu-limit', 'lots'], /expected CPU cores such as 0.5/],
  [['--cpu-limit', '0'], /expected CPU cores/],
  [['--mem-limit', 'big'], /expected a memory size such as 256 \(MiB\), 256M or 1G/],
  [['--mem-limit', '4M'], /must be at least 16M/],
  [['--read', ''], /expected a file name/],
  [['--pcap', ''], /expected a file name/],
  [
    ['--pcap', 'p.pcap', '--pcap-rotate', 'big'],
    /option '--pcap-rotate <size>' argument 'big' is invalid\. expected a file size in bytes, or with a K, M or G suffix \(1024-based\), such as 100M or 1G\./,
  ],
  [['--pcap', 'p.pcap', '--pcap-rotate', '10M5'], /expected a file size in bytes/],
  [['--pcap', 'p.pcap', '--pcap-rotate', '-1M'], /expected a file size in bytes/],
  [['--pcap', 'p.pcap', '--pcap-rotate', '1T'], /expected a file size in bytes/],
  [['--pcap', 'p.pcap', '--pcap-rotate', '1000'], /must be at least 64K \(65536 bytes\)/],
  [['--pcap-rotate', '100M'], /--pcap-rotate rotates the file of --pcap: add --pcap <file>/],
  [
    ['--pcap', 'p.pcap', '--pcap-files', '3'],
    /--pcap-files limits the files that --pcap writes when --pcap-rotate starts new ones: add --pcap <file> --pcap-rotate <size>/,
  ],
  [['--pcap-rotate', '1M', '--pcap-files', '3'], /add --pcap <file>/],
  [
    ['--pcap', 'p.pcap', '--pcap-rotate', '1M', '--pcap-files', '0'],
    /expected a number of files, a whole number from 1 to 1000000/,
  ],
  [
    ['--pcap', 'p.pcap', '--pcap-rotate', '1M', '--pcap-files', 'all'],
    /expected a number of files/,
  ],
  [['--json', '--text'], /--json and --text exclude each other/],
  [['--once', '--count', '3'], /--once prints one ranking; drop --count/],
  [
    ['--once', '--window', '60', '--timeout', '30s'],
    /--timeout 30s ends the capture before --window 60s/,
  ],
  [['eth0;rm'], /'eth0;rm' is not a device name: use names from 'ip link'/],
];

for (const [argv, message] of USAGE_ERRORS) {
  test(`rejects ${JSON.stringify(argv)} with exit 2 and a message`, () => {
    assert.match(usageError(argv), message);
  });
}

test('--listen runs the agent: host:port, [v6]:port or a port; no timeout unless asked', () => {
  const o = run(['--listen', '127.0.0.1:9465']);
  assert.deepEqual(o.listen, { host: '127.0.0.1', port: 9465 });
  assert.equal(o.timeoutMs, 0);
  assert.deepEqual(run(['--listen', '[::1]:0']).listen, { host: '::1', port: 0 });
  assert.deepEqual(run(['--listen', '9000']).listen, { host: '127.0.0.1', port: 9000 });
  assert.equal(run(['--listen', '9000', '--timeout', '1h']).timeoutMs, 3_600_000);
  const h = run(['--listen', '9000', '--history-db', '/tmp/h.db', '--history-max-size', '200M']);
  assert.equal(h.historyDb, '/tmp/h.db');
  assert.equal(h.historyMaxBytes, 200 * 1024 * 1024);
  assert.equal(run(['--listen', '9000', '--history-retention', '30']).historyRetentionDays, 30);
});

test('--listen usage errors say what to do', () => {
  assert.match(usageError(['--listen', 'nowhere']), /give host:port, \[ipv6\]:port or a port/);
  assert.match(usageError(['--listen', '1.2.3.4:70000']), /give host:port/);
  assert.match(
    usageError(['--listen', '9000', '--json']),
    /--listen runs the HTTP agent: drop --json/,
  );
  assert.match(usageError(['--history-db', 'x.db']), /--history-db goes with the agent/);
  assert.match(
    usageError(['serve', '--history-interval', '7']),
    /--history-interval 7 does not divide a minute/,
  );
});

test('pidflow serve is the agent on 127.0.0.1:9465 unless --listen says otherwise', () => {
  assert.deepEqual(run(['serve']).listen, { host: '127.0.0.1', port: 9465 });
  assert.equal(run(['serve']).timeoutMs, 0);
  assert.deepEqual(run(['serve', '--listen', '0']).listen, { host: '127.0.0.1', port: 0 });
  const o = run(['serve', 'eth0', '--history-db', 'memory']);
  assert.deepEqual(o.devices, ['eth0']);
  assert.equal(o.historyDb, 'memory');
});

test('--no-sock-diag reads socket tables from /proc/net text; sock_diag is the default', () => {
  const on = parseCliArgs(['--json'], '0.1.0');
  const off = parseCliArgs(['--json', '--no-sock-diag'], '0.1.0');
  assert.ok(on.kind === 'run' && off.kind === 'run');
  assert.equal(on.options.sockDiag, true);
  assert.equal(off.options.sockDiag, false);
});

test('--no-conntrack turns NAT lookups off; they are on by default', () => {
  const on = parseCliArgs(['--json'], '0.1.0');
  const off = parseCliArgs(['--json', '--no-conntrack'], '0.1.0');
  assert.ok(on.kind === 'run' && off.kind === 'run');
  assert.equal(on.options.conntrack, true);
  assert.equal(off.options.conntrack, false);
});

test('--no-udp-events keeps kernel tracking to TCP connects; UDP sends are tracked by default', () => {
  const on = parseCliArgs(['--json'], '0.1.0');
  const off = parseCliArgs(['--json', '--no-udp-events'], '0.1.0');
  assert.ok(on.kind === 'run' && off.kind === 'run');
  assert.equal(on.options.udpSendEvents, true);
  assert.equal(off.options.udpSendEvents, false);
});
