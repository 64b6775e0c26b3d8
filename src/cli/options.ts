// Command-line parsing of the pidflow command (commander 14): turns argv into checked
// CliOptions, or into help/version text, or into a usage error (exit 2) before anything starts.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

/** How the command prints: the interactive terminal UI, a text table, or NDJSON. */
export type OutputMode = 'tui' | 'text' | 'json';

/** Checked command-line options. Durations are in ms, limits in their library units. */
export interface CliOptions {
  devices: string[];
  filter: string | undefined;
  protocols: ('tcp' | 'udp')[] | undefined;
  syncIntervalMs: number | undefined;
  /** Refresh interval (tick) in ms. */
  intervalMs: number;
  /** Window of the rates, seconds; for --once, the capture length. */
  windowSeconds: number;
  /** Capture timeout in ms; 0 disables it. */
  timeoutMs: number;
  pcapFile: string | undefined;
  /** --pcap-rotate: start a new pcap file when one would exceed this many bytes. */
  pcapRotateBytes: number | undefined;
  /** --pcap-files: keep at most this many pcap files, deleting the oldest. */
  pcapMaxFiles: number | undefined;
  readFile: string | undefined;
  cpuCores: number | undefined;
  memoryMB: number | undefined;
  includeLoopback: boolean;
  /** --no-udp-events: kernel tracking of TCP connects only, not of UDP sends. */
  udpSendEvents: boolean;
  /** --no-sock-diag: read socket tables from /proc/net text, not through sock_diag netlink. */
  sockDiag: boolean;
  /** --no-socket-owners: walk /proc/<pid>/fd for socket owners, not the kernel's BPF iterator. */
  socketOwners: boolean;
  /** --no-conntrack: do not undo NAT through conntrack lookups. */
  conntrack: boolean;
  pids: number[];
  names: string[];
  /** Explicit output choice, or undefined to pick by whether stdout is a terminal. */
  output: OutputMode | undefined;
  count: number | undefined;
  once: boolean;
  color: boolean;
  debug: boolean;
  /** Serve the HTTP agent (JSON API + /metrics) on this address instead of printing. */
  listen: { host: string; port: number } | undefined;
  /** The agent's history database: a file, ':memory:', or 'none' (off). */
  historyDb: string | undefined;
  historyMaxBytes: number | undefined;
  historyRetentionDays: number | undefined;
  historyIntervalSeconds: number | undefined;
  /** Named series per metric family of the agent. */
  maxSeries: number | undefined;
  /** Seconds before the series of a gone process or container disappear. */
  seriesGraceSeconds: number | undefined;
  /** Keep exited processes this long before folding them, ms. */
  exitedRetentionMs: number | undefined;
  /** File holding the agent's bearer token. */
  tokenFile: string | undefined;
  /** PEM certificate and key for HTTPS, and an optional client CA. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsClientCa: string | undefined;
}

/** Result of parsing: run with options, or exit now with a code and text to print. */
export type ParseResult =
  | { kind: 'run'; options: CliOptions }
  | { kind: 'exit'; code: number; stdout: string; stderr: string };

/** Where `pidflow serve` listens unless --listen says otherwise. */
export const DEFAULT_LISTEN = '127.0.0.1:9465';
/** Where `pidflow serve` keeps its history unless --history-db says otherwise. */
export const DEFAULT_HISTORY_DB = '/var/lib/pidflow/history.db';
/** Default refresh interval, ms. */
export const DEFAULT_INTERVAL_MS = 1000;
/** Default capture timeout, ms (5 minutes), so a forgotten capture ends by itself. */
export const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;
/** Default rate window, seconds. */
export const DEFAULT_WINDOW_SECONDS = 2;
/** Default capture length of --once, seconds. */
export const DEFAULT_ONCE_WINDOW_SECONDS = 5;
/** Longest window the library keeps history for. */
const MAX_WINDOW_SECONDS = 3600;

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses `500ms`, `2s`, `5m`, `1h` (or a bare number in `bareUnit`) into ms.
 * @throws InvalidArgumentError with the accepted forms.
 */
export function parseDuration(value: string, bareUnit: 'ms' | 's'): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!match) {
    throw new InvalidArgumentError(
      `expected a duration such as 500ms, 30s, 5m or 1h (a bare number is ${bareUnit === 'ms' ? 'milliseconds' : 'seconds'}).`,
    );
  }
  const ms = Number(match[1]) * DURATION_UNITS_MS[match[2] ?? bareUnit]!;
  return Math.round(ms);
}

function intervalArg(min: number, max: number) {
  return (value: string): number => {
    const ms = parseDuration(value, 'ms');
    if (ms < min || ms > max) {
      throw new InvalidArgumentError(`must be between ${min}ms and ${max / 1000}s.`);
    }
    return ms;
  };
}

function timeoutArg(value: string): number {
  return parseDuration(value, 's');
}

function positiveIntArg(what: string, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`expected ${what}, a whole number from 1 to ${max}.`);
    }
    return Number(value);
  };
}

function pidArg(value: string, previous: number[] | undefined): number[] {
  const out = [...(previous ?? [])];
  for (const part of value.split(',')) {
    if (!/^\d+$/.test(part.trim()) || Number(part) < 1 || Number(part) > 4_194_304) {
      throw new InvalidArgumentError(`expected a process id (1 to 4194304), got '${part}'.`);
    }
    out.push(Number(part));
  }
  return out;
}

function nameArg(value: string, previous: string[] | undefined): string[] {
  if (value.trim() === '') throw new InvalidArgumentError('expected a program name, got nothing.');
  return [...(previous ?? []), value];
}

function cpuArg(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(%)?$/.exec(value.trim());
  const cores = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(cores >= 0.01 && cores <= 1024)) {
    throw new InvalidArgumentError(
      'expected CPU cores such as 0.5 or a percentage of one core such as 50%.',
    );
  }
  return cores;
}

function memArg(value: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMG]i?B?|[kmg])?$/.exec(value.trim());
  if (!match) {
    throw new InvalidArgumentError('expected a memory size such as 256 (MiB), 256M or 1G.');
  }
  const unit = (match[2] ?? 'M').charAt(0).toUpperCase();
  const mb = Number(match[1]) * (unit === 'K' ? 1 / 1024 : unit === 'G' ? 1024 : 1);
  if (mb < 16) throw new InvalidArgumentError('must be at least 16M: pidflow needs room to run.');
  return mb;
}

/** Smallest --pcap-rotate: the library's smallest pcapFile.rotateBytes. */
const MIN_PCAP_ROTATE_BYTES = 65_536;
const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/**
 * Parses a file size for --pcap-rotate: bytes, or K/M/G (1024-based, optional `iB`/`B`).
 * @throws InvalidArgumentError with the accepted form.
 */
export function parseByteSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(?:([KMG])(?:i?B)?)?$/i.exec(value.trim());
  const bytes = match
    ? Math.floor(Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toUpperCase()]!)
    : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new InvalidArgumentError(
      'expected a file size in bytes, or with a K, M or G suffix (1024-based), such as 100M or 1G.',
    );
  }
  if (bytes < MIN_PCAP_ROTATE_BYTES) {
    throw new InvalidArgumentError(`must be at least 64K (${MIN_PCAP_ROTATE_BYTES} bytes).`);
  }
  return bytes;
}

function nonEmpty(what: string) {
  return (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError(`expected ${what}, got nothing.`);
    return value;
  };
}

const EXAMPLES = `
Examples:
  sudo pidflow                          terminal UI on every interface that is up
  sudo pidflow eth0 wlan0               only these devices
  sudo pidflow --include-loopback lo    traffic between local processes
  sudo pidflow --json --count 10        10 NDJSON lines, one per second
  sudo pidflow --once --window 5        capture 5 s, print one ranking, exit
  sudo pidflow --text --name nginx      text table of the nginx processes
  sudo pidflow --filter 'port 443' --tcp --timeout 1h
  sudo pidflow --read capture.pcap --json    replay a pcap file
  sudo pidflow serve                    HTTP agent on 127.0.0.1:9465 (JSON API, /metrics)
  sudo pidflow --listen [::1]:9465 --history-db /srv/pidflow/history.db
  pidflow history --since 03:00 --until 04:00 --by container
                                        who used the network last night (reads the database)
  sudo pidflow serve --pcap /var/tmp/p.pcap --pcap-rotate 100M --pcap-files 10
                                        also keep the newest ~1G of packets on disk

Output: the terminal UI when stdout is a terminal, a text table otherwise (--text, --json
force a choice; --count and --once imply text unless --json is given). In the UI press ?
for the keys. Interval bytes in --json are exact differences of cumulative totals: see
docs/ndjson.md.

Exit codes: 0 done (also on timeout, end of file, q, or a closed output pipe), 1 runtime
error, 2 bad command line.
`;

/** Parses `host:port`, `[v6]:port` or a bare `port` (on 127.0.0.1) for --listen. */
export function listenArg(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value.trim());
  const bare = /^\d{1,5}$/.test(value.trim());
  const host = bare ? '127.0.0.1' : (match?.[1] ?? match?.[2]);
  const port = Number(bare ? value.trim() : match?.[3]);
  if (host === undefined || !Number.isInteger(port) || port > 65_535) {
    throw new InvalidArgumentError(
      'give host:port, [ipv6]:port or a port, e.g. 127.0.0.1:9465 (port 0 picks a free one).',
    );
  }
  return { host, port };
}

function buildProgram(version: string): Command {
  const program = new Command('pidflow');
  program
    .description('Which process is using the network, and how much: per-process traffic.')
    .usage('[options] [devices...]')
    .argument('[devices...]', 'devices to capture (default: every interface that is up)')
    .option(
      '--filter <bpf>',
      "BPF filter expression, pcap-filter(7), e.g. 'port 443'",
      nonEmpty('a BPF expression'),
    )
    .option('--tcp', 'account TCP only (with --udp: both)')
    .option('--udp', 'account UDP only (with --tcp: both)')
    .option('--include-loopback', 'include loopback devices in the default device choice')
    .option(
      '--no-udp-events',
      'track TCP connects in the kernel but not UDP sends (saves ~0.7 µs per UDP send host-wide; short-lived UDP senders may then show as unknown)',
    )
    .option(
      '--no-sock-diag',
      'read socket tables from /proc/net text instead of sock_diag netlink (costs more CPU on hosts with many sockets)',
    )
    .option(
      '--no-socket-owners',
      'find socket owners by walking /proc/<pid>/fd instead of the kernel BPF iterator (costs more CPU on hosts with many processes)',
    )
    .option(
      '--no-conntrack',
      'do not read NAT translations from conntrack (NATed container traffic may then show as unknown)',
    )
    .option(
      '--read <file>',
      'replay a pcap file instead of capturing live',
      nonEmpty('a file name'),
    )
    .option(
      '--pcap <file>',
      'also write the captured packets to this pcap file',
      nonEmpty('a file name'),
    )
    .option(
      '--pcap-rotate <size>',
      'with --pcap: start <file>.1, <file>.2, ... when a file would exceed size (bytes, or 100M, 1G; at least 64K)',
      parseByteSize,
    )
    .option(
      '--pcap-files <n>',
      'with --pcap-rotate: keep only the n newest pcap files, deleting older ones (bounds disk use)',
      positiveIntArg('a number of files', 1_000_000),
    )
    .addOption(
      new Option('--interval <duration>', 'refresh interval: 500ms, 2s (bare number: ms)')
        .argParser(intervalArg(100, 3_600_000))
        .default(DEFAULT_INTERVAL_MS, '1s'),
    )
    .addOption(
      new Option(
        '--window <seconds>',
        `rate window; with --once, how long to capture (default ${DEFAULT_ONCE_WINDOW_SECONDS})`,
      ).argParser(positiveIntArg('seconds', MAX_WINDOW_SECONDS)),
    )
    .addOption(
      new Option(
        '--timeout <duration>',
        'stop capturing after 30s, 5m, 1h (bare number: s); 0 = never',
      )
        .argParser(timeoutArg)
        .default(DEFAULT_TIMEOUT_MS, '5m'),
    )
    .option(
      '--sync-interval <duration>',
      'socket table rescan interval (bare number: ms)',
      intervalArg(10, 60_000),
    )
    .option('--pid <pid>', 'show only this process (repeat or comma-separate for several)', pidArg)
    .option('--name <name>', 'show only programs whose name contains this (repeatable)', nameArg)
    .option('--json', 'print NDJSON, one object per interval (docs/ndjson.md)')
    .option('--text', 'print a text table per interval')
    .option('--count <n>', 'stop after n intervals (text and JSON)', positiveIntArg('a count', 1e9))
    .option('--once', 'capture for --window seconds, print one ranking and exit')
    .option(
      '--cpu-limit <cores>',
      'limit pidflow to this CPU share (0.5 or 50%) via a cgroup',
      cpuArg,
    )
    .option('--mem-limit <size>', 'limit pidflow memory (256M, 1G) via a cgroup', memArg)
    .option(
      '--listen <host:port>',
      'run as an HTTP agent: JSON API and Prometheus /metrics (e.g. 127.0.0.1:9465, [::1]:9465); no timeout unless --timeout',
      listenArg,
    )
    .option(
      '--config <file>',
      'with --listen: read options from this JSON file ({"listen": "...", "token-file": "..."}); read again on SIGHUP; the command line wins',
    )
    .option(
      '--max-series <n>',
      'with --listen: named Prometheus series per metric family at most (default 500; beyond: comm="other")',
      positiveIntArg('a count', 10_000),
    )
    .option(
      '--series-grace <duration>',
      'with --listen: series of processes and containers gone this long disappear from /metrics (default 10m)',
      timeoutArg,
    )
    .option(
      '--exited-retention <duration>',
      'keep an exited process under its own name this long before folding it into (exited) (default 60s)',
      timeoutArg,
    )
    .option(
      '--token-file <file>',
      'with --listen: require this bearer token (needed on non-loopback addresses; or set PIDFLOW_TOKEN)',
      nonEmpty('a file'),
    )
    .option(
      '--tls-cert <file>',
      'with --listen: serve HTTPS with this PEM certificate (reloaded on SIGHUP)',
      nonEmpty('a file'),
    )
    .option('--tls-key <file>', 'with --tls-cert: its PEM private key', nonEmpty('a file'))
    .option(
      '--tls-client-ca <file>',
      'with --tls-cert: require client certificates signed by this CA',
      nonEmpty('a file'),
    )
    .option(
      '--history-db <path>',
      `with --listen: history database file (default ${DEFAULT_HISTORY_DB}; 'memory' keeps it in memory, 'none' disables it)`,
      nonEmpty('a file path, memory or none'),
    )
    .option(
      '--history-max-size <size>',
      'with --listen: bound of the history file (default 1G)',
      parseByteSize,
    )
    .option(
      '--history-retention <days>',
      'with --listen: days of history kept at 1 h resolution (default 90)',
      positiveIntArg('days', 3650),
    )
    .option(
      '--history-interval <seconds>',
      'with --listen: seconds per history row for a new database (1..60 dividing 60; default 10)',
      positiveIntArg('seconds', 60),
    )
    .option('--no-color', 'no colours in the terminal UI (also when NO_COLOR is set)')
    .option('--debug', 'print stack traces and library debug messages on stderr')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help')
    .addHelpText('after', EXAMPLES)
    .showSuggestionAfterError(true)
    .allowExcessArguments(false);
  return program;
}

interface RawOptions {
  filter?: string;
  tcp?: boolean;
  udp?: boolean;
  includeLoopback?: boolean;
  udpEvents?: boolean;
  sockDiag?: boolean;
  socketOwners?: boolean;
  conntrack?: boolean;
  read?: string;
  pcap?: string;
  pcapRotate?: number;
  pcapFiles?: number;
  interval: number;
  window?: number;
  timeout: number;
  syncInterval?: number;
  pid?: number[];
  name?: string[];
  json?: boolean;
  text?: boolean;
  count?: number;
  once?: boolean;
  cpuLimit?: number;
  memLimit?: number;
  color: boolean;
  debug?: boolean;
  listen?: { host: string; port: number };
  historyDb?: string;
  historyMaxSize?: number;
  historyRetention?: number;
  historyInterval?: number;
  maxSeries?: number;
  seriesGrace?: number;
  exitedRetention?: number;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
}

const HINT = "Run 'pidflow --help' for the options and examples.\n";

function usage(message: string): ParseResult {
  return { kind: 'exit', code: 2, stdout: '', stderr: `error: ${message}\n${HINT}` };
}

/**
 * Parses the command line (without `node` and the script path).
 * @example parseCliArgs(['--json', '--count', '3', 'lo'], '0.1.0')
 */
export function parseCliArgs(argv: readonly string[], version: string): ParseResult {
  const tokenArg = argv.find((a) => a === '--token' || a.startsWith('--token='));
  if (tokenArg !== undefined) {
    return usage(
      'a token on the command line can be read by every user (ps): put it in a file and pass --token-file FILE, or set PIDFLOW_TOKEN.',
    );
  }
  // `pidflow serve [options]` is the agent: the same as --listen, on 127.0.0.1:9465 by default.
  if (argv[0] === 'serve') {
    const rest = argv.slice(1);
    const hasListen = rest.some((a) => a === '--listen' || a.startsWith('--listen='));
    argv = hasListen ? rest : ['--listen', DEFAULT_LISTEN, ...rest];
  }
  let out = '';
  let err = '';
  const program = buildProgram(version)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void (out += s),
      writeErr: (s) => void (err += s),
      outputError: (s, write) => write(s),
    });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return { kind: 'exit', code: 0, stdout: out, stderr: err };
      return { kind: 'exit', code: 2, stdout: out, stderr: `${err.trimEnd()}\n${HINT}` };
    }
    throw error;
  }
  const raw = program.opts<RawOptions>();
  const devices = program.processedArgs[0] as string[] | undefined;

  if (raw.json && raw.text) return usage('--json and --text exclude each other: pick one.');
  if (raw.listen !== undefined && (raw.json || raw.text || raw.once || raw.count !== undefined)) {
    return usage(
      '--listen runs the HTTP agent: drop --json, --text, --once and --count (the agent serves JSON at /api/v1).',
    );
  }
  if (raw.pcapRotate !== undefined && raw.pcap === undefined) {
    return usage('--pcap-rotate rotates the file of --pcap: add --pcap <file>.');
  }
  if (raw.pcapFiles !== undefined && (raw.pcap === undefined || raw.pcapRotate === undefined)) {
    return usage(
      '--pcap-files limits the files that --pcap writes when --pcap-rotate starts new ones: ' +
        'add --pcap <file> --pcap-rotate <size> (e.g. --pcap-rotate 100M --pcap-files 10 keeps about 1G).',
    );
  }
  for (const [given, flag] of [
    [raw.maxSeries, '--max-series'],
    [raw.seriesGrace, '--series-grace'],
    [raw.tokenFile, '--token-file'],
    [raw.tlsCert, '--tls-cert'],
    [raw.tlsKey, '--tls-key'],
    [raw.tlsClientCa, '--tls-client-ca'],
    [raw.historyDb, '--history-db'],
    [raw.historyMaxSize, '--history-max-size'],
    [raw.historyRetention, '--history-retention'],
    [raw.historyInterval, '--history-interval'],
  ] as const) {
    if (given !== undefined && raw.listen === undefined) {
      return usage(
        `${flag} goes with the agent: use 'pidflow serve' or add --listen 127.0.0.1:9465.`,
      );
    }
  }
  if ((raw.tlsCert === undefined) !== (raw.tlsKey === undefined)) {
    return usage('--tls-cert and --tls-key go together: give the certificate and its key.');
  }
  if (raw.tlsClientCa !== undefined && raw.tlsCert === undefined) {
    return usage('--tls-client-ca needs HTTPS: add --tls-cert and --tls-key.');
  }
  if (raw.historyInterval !== undefined && 60 % raw.historyInterval !== 0) {
    return usage(
      `--history-interval ${raw.historyInterval} does not divide a minute: use 1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60.`,
    );
  }
  // An agent runs for weeks: no capture timeout unless one is asked for.
  const timeoutMs =
    raw.listen !== undefined && program.getOptionValueSource('timeout') === 'default'
      ? 0
      : raw.timeout;
  if (raw.once && raw.count !== undefined) {
    return usage(
      '--once prints one ranking; drop --count, or drop --once to print --count intervals.',
    );
  }
  for (const device of devices ?? []) {
    if (!/^[\w.:@-]{1,64}$/.test(device)) {
      return usage(
        `'${device}' is not a device name: use names from 'ip link' (e.g. eth0, lo, any).`,
      );
    }
  }
  const protocols: ('tcp' | 'udp')[] | undefined =
    raw.tcp && !raw.udp ? ['tcp'] : raw.udp && !raw.tcp ? ['udp'] : undefined;
  const windowSeconds =
    raw.window ?? (raw.once ? DEFAULT_ONCE_WINDOW_SECONDS : DEFAULT_WINDOW_SECONDS);
  if (raw.once && timeoutMs !== 0 && timeoutMs < windowSeconds * 1000) {
    return usage(
      `--timeout ${raw.timeout / 1000}s ends the capture before --window ${windowSeconds}s: raise --timeout or lower --window.`,
    );
  }
  const output: OutputMode | undefined = raw.json
    ? 'json'
    : raw.text || raw.once || raw.count !== undefined
      ? 'text'
      : undefined;

  return {
    kind: 'run',
    options: {
      devices: devices ?? [],
      filter: raw.filter,
      protocols,
      syncIntervalMs: raw.syncInterval,
      intervalMs: raw.interval,
      windowSeconds,
      timeoutMs,
      pcapFile: raw.pcap,
      pcapRotateBytes: raw.pcapRotate,
      pcapMaxFiles: raw.pcapFiles,
      readFile: raw.read,
      cpuCores: raw.cpuLimit,
      memoryMB: raw.memLimit,
      includeLoopback: raw.includeLoopback ?? false,
      udpSendEvents: raw.udpEvents !== false,
      sockDiag: raw.sockDiag !== false,
      socketOwners: raw.socketOwners !== false,
      conntrack: raw.conntrack !== false,
      pids: raw.pid ?? [],
      names: raw.name ?? [],
      output,
      count: raw.count,
      once: raw.once ?? false,
      color: raw.color,
      debug: raw.debug ?? false,
      listen: raw.listen,
      historyDb: raw.historyDb,
      historyMaxBytes: raw.historyMaxSize,
      historyRetentionDays: raw.historyRetention,
      historyIntervalSeconds: raw.historyInterval,
      maxSeries: raw.maxSeries,
      seriesGraceSeconds:
        raw.seriesGrace === undefined ? undefined : Math.max(1, Math.round(raw.seriesGrace / 1000)),
      exitedRetentionMs: raw.exitedRetention,
      tokenFile: raw.tokenFile,
      tlsCert: raw.tlsCert,
      tlsKey: raw.tlsKey,
      tlsClientCa: raw.tlsClientCa,
    },
  };
}
