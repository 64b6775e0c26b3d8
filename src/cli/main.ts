// Entry point of the pidflow command: parses the command line, creates the monitor through
// the public API, and runs the terminal UI, the text table or NDJSON output. Every OS input
// (streams, terminal, env, clock, signals, createMonitor) comes in through CliDeps.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock } from '../clock.js';
import { UsageError, isPidflowError } from '../errors.js';
import type { Monitor, MonitorEnd, MonitorOptions, Snapshot } from '../monitor/types.js';
import { runServe, type ServeIo } from '../serve/run-serve.js';
import type { HistoryServerOptions } from '../serve/server.js';
import { runTui, type ProcessHooks, type TuiInput, type TuiOutput } from '../tui/driver.js';
import { expandConfigFile } from './config-file.js';
import { runHistoryCommand } from './history-command.js';
import { TOKEN_ENV, loadServeSecrets, type ServeSecrets } from './serve-secrets.js';
import { isLoopbackHost } from '../serve/auth.js';
import { IntervalTracker, buildNdjsonRecord } from './ndjson.js';
import { DEFAULT_HISTORY_DB, parseCliArgs, type CliOptions, type OutputMode } from './options.js';
import { isEmptyFilter, type ProcessFilter } from '../present/process-filter.js';
import { formatTextTable } from './text-table.js';
import { stringifyAsciiJson } from '../text/ascii-json.js';
import { display, displayLines, toDisplayText, type DisplayText } from '../text/display-text.js';

/** A writable text stream (stdout, stderr, or a test double): it takes only display text. */
export interface CliOutput {
  write(text: DisplayText): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  readonly isTTY?: boolean | undefined;
  readonly columns?: number | undefined;
  readonly rows?: number | undefined;
}

/** Everything main() takes from the outside world; tests pass fakes. */
export interface CliDeps {
  createMonitor(options: MonitorOptions): Promise<Monitor>;
  stdout: CliOutput & Partial<TuiOutput>;
  /** Takes only display text: every name in a message went through src/text. */
  stderr: { write(text: DisplayText): unknown };
  stdin: TuiInput | undefined;
  env: Readonly<Record<string, string | undefined>>;
  clock: Clock;
  /** Signals and process-wide events (SIGTERM, uncaughtException...). */
  hooks: ProcessHooks;
  /** Version printed by --version and in the UI. */
  version: string;
}

/** Exit codes of the command. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME_ERROR = 1;
export const EXIT_USAGE = 2;

function packageVersion(): string {
  // Walk up from this file to the folder with package.json: works from src/ and dist/src/.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'pidflow' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // Not here: keep walking up.
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

async function loadCreateMonitor(options: MonitorOptions): Promise<Monitor> {
  // Loaded on first use so that --help and usage errors work without the native addon.
  const { createMonitor } = await import('../index.js');
  return createMonitor(options);
}

function defaultDeps(): CliDeps {
  return {
    createMonitor: loadCreateMonitor,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin.isTTY ? process.stdin : undefined,
    env: process.env,
    clock: systemClock,
    hooks: process as unknown as ProcessHooks,
    version: packageVersion(),
  };
}

/** The command line with its config file read again (SIGHUP); throws UsageError when it no longer parses. */
function reparse(argv: readonly string[], version: string): CliOptions {
  const parsed = parseCliArgs(expandConfigFile(argv).argv, version);
  if (parsed.kind === 'exit') throw new UsageError(parsed.stderr.replace(/^error: /, '').trim());
  return parsed.options;
}

/** Settings a reload cannot apply, as warnings saying so. */
function unreloadableChanges(
  before: CliOptions,
  after: CliOptions,
  configFile: string | undefined,
): string[] {
  const fields: (keyof CliOptions)[] = [
    'listen',
    'devices',
    'filter',
    'historyDb',
    'historyMaxBytes',
    'historyRetentionDays',
    'historyIntervalSeconds',
    'maxSeries',
    'seriesGraceSeconds',
    'intervalMs',
    'includeLoopback',
  ];
  const changed = fields.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(after[f]));
  return changed.length === 0
    ? []
    : [
        `${changed.join(', ')} changed in ${configFile ?? 'the configuration'}: restart pidflow to apply (a reload applies the token and TLS files only)`,
      ];
}

/** The agent's history database from --history-* (false for --history-db none). */
export function historyServerOptions(cli: CliOptions): HistoryServerOptions | false {
  const db = cli.historyDb ?? DEFAULT_HISTORY_DB;
  if (db === 'none') return false;
  return {
    path: db === 'memory' ? ':memory:' : db,
    ...(cli.historyMaxBytes === undefined ? {} : { maxBytes: cli.historyMaxBytes }),
    ...(cli.historyRetentionDays === undefined ? {} : { retentionDays: cli.historyRetentionDays }),
    ...(cli.historyIntervalSeconds === undefined
      ? {}
      : { intervalSeconds: cli.historyIntervalSeconds }),
  };
}

/** Options for createMonitor() from the command line. */
export function toMonitorOptions(
  cli: CliOptions,
  logger: MonitorOptions['logger'],
): MonitorOptions {
  const options: MonitorOptions = {
    includeLoopback: cli.includeLoopback,
    ...(cli.udpSendEvents ? {} : { udpSendEvents: false }),
    ...(cli.sockDiag ? {} : { sockDiag: false }),
    ...(cli.socketOwners ? {} : { socketOwners: false }),
    ...(cli.conntrack ? {} : { conntrack: false }),
    tickIntervalMs: cli.intervalMs,
    captureTimeoutMs: cli.timeoutMs,
    // The library keeps 15 s of history by default; a longer window needs a longer ring.
    ringSeconds: Math.max(15, cli.windowSeconds),
  };
  if (cli.devices.length > 0) options.devices = cli.devices;
  if (cli.readFile !== undefined) options.readFile = cli.readFile;
  if (cli.filter !== undefined) options.filter = cli.filter;
  if (cli.protocols !== undefined) options.protocols = cli.protocols;
  if (cli.syncIntervalMs !== undefined) options.syncIntervalMs = cli.syncIntervalMs;
  if (cli.exitedRetentionMs !== undefined) options.exitedRetentionMs = cli.exitedRetentionMs;
  if (cli.pcapFile !== undefined) {
    options.pcapFile =
      cli.pcapRotateBytes === undefined
        ? cli.pcapFile
        : {
            path: cli.pcapFile,
            rotateBytes: cli.pcapRotateBytes,
            ...(cli.pcapMaxFiles === undefined ? {} : { maxFiles: cli.pcapMaxFiles }),
          };
  }
  if (cli.cpuCores !== undefined || cli.memoryMB !== undefined) {
    options.limits = {
      ...(cli.cpuCores !== undefined ? { cpuCores: cli.cpuCores } : {}),
      ...(cli.memoryMB !== undefined ? { memoryMB: cli.memoryMB } : {}),
    };
  }
  if (logger !== undefined) options.logger = logger;
  return options;
}

/** True when colours are allowed: not --no-color, NO_COLOR unset or empty, TERM not dumb. */
export function isColorEnabled(
  cli: CliOptions,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  if (!cli.color) return false;
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  return env['TERM'] !== 'dumb';
}

function formatError(error: unknown, debug: boolean): DisplayText {
  const message = error instanceof Error ? error.message : String(error);
  let text = `error: ${message}\n`;
  if (debug && error instanceof Error && error.stack) {
    text += `${error.stack}\n`;
    if (error.cause instanceof Error && error.cause.stack)
      text += `caused by: ${error.cause.stack}\n`;
  } else if (!isPidflowError(error)) {
    text +=
      'This looks like a bug in pidflow: run again with --debug for the stack trace and report it.\n';
  }
  // Messages quote paths, devices and names: their lines are shown escaped like any name.
  return displayLines(text);
}

/**
 * Errors caused by a bad value on the command line: usage errors, and capture errors about
 * a --filter that does not compile or a device that does not exist. They exit 2.
 */
const USAGE_ERROR_CODES = new Set(['ERR_USAGE', 'ERR_CAPTURE_FILTER', 'ERR_CAPTURE_NO_DEVICE']);

function isEpipe(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === 'EPIPE';
}

/**
 * Runs the pidflow command with `argv` (without node and the script) and returns the exit
 * code: 0 done, 1 runtime error, 2 usage error. Never calls process.exit.
 * @example process.exitCode = await main(process.argv.slice(2));
 */
export async function main(
  argv: readonly string[],
  overrides: Partial<CliDeps> = {},
): Promise<number> {
  const deps: CliDeps = { ...defaultDeps(), ...overrides };
  const originalArgv = [...argv];
  if (argv[0] === 'history') {
    return runHistoryCommand(argv.slice(1), {
      stdout: deps.stdout,
      stderr: deps.stderr,
      now: () => deps.clock.now(),
    });
  }
  let configFile: string | undefined;
  try {
    const expanded = expandConfigFile(argv);
    argv = expanded.argv;
    configFile = expanded.configFile;
  } catch (error) {
    deps.stderr.write(formatError(error, false));
    return EXIT_USAGE;
  }
  const parsed = parseCliArgs(argv, deps.version);
  if (parsed.kind === 'exit') {
    if (parsed.stdout) deps.stdout.write(displayLines(parsed.stdout));
    if (parsed.stderr) deps.stderr.write(displayLines(parsed.stderr));
    return parsed.code;
  }
  const cli = parsed.options;
  const mode: OutputMode =
    cli.output ?? (cli.listen !== undefined ? 'json' : deps.stdout.isTTY ? 'tui' : 'text');
  const filter: ProcessFilter = { pids: cli.pids, names: cli.names };
  // One log line per message: a line feed inside one is shown escaped, never a new line.
  const toStderr = (prefix: string) => (message: string) =>
    deps.stderr.write(display`${toDisplayText(prefix + message)}\n`);
  const logger: MonitorOptions['logger'] =
    mode === 'tui'
      ? undefined
      : cli.debug
        ? {
            debug: toStderr('debug: '),
            info: toStderr('info: '),
            warn: toStderr('warning: '),
            error: toStderr('error: '),
          }
        : { warn: toStderr('warning: ') };

  let secrets: ServeSecrets | undefined;
  if (cli.listen !== undefined) {
    try {
      secrets = loadServeSecrets(cli, deps.env);
      if (secrets.token === undefined && !isLoopbackHost(cli.listen.host)) {
        throw new UsageError(
          `--listen ${cli.listen.host} is not a loopback address: the API shows every process's command line, so it needs a token. ` +
            `Create one (\`head -c 32 /dev/urandom | base64 > /etc/pidflow/token; chmod 600 /etc/pidflow/token\`) and add --token-file /etc/pidflow/token, or set ${TOKEN_ENV}.`,
        );
      }
    } catch (error) {
      deps.stderr.write(formatError(error, cli.debug));
      return EXIT_USAGE;
    }
    for (const w of secrets.warnings) deps.stderr.write(displayLines(`warning: ${w}\n`));
  }

  let monitor: Monitor;
  try {
    monitor = await deps.createMonitor(toMonitorOptions(cli, logger));
  } catch (error) {
    deps.stderr.write(formatError(error, cli.debug));
    return isPidflowError(error) && USAGE_ERROR_CODES.has(error.code)
      ? EXIT_USAGE
      : EXIT_RUNTIME_ERROR;
  }

  try {
    if (cli.listen !== undefined) {
      return await runServe(
        monitor,
        {
          host: cli.listen.host,
          port: cli.listen.port,
          history: historyServerOptions(cli),
          ...(cli.maxSeries === undefined ? {} : { maxSeries: cli.maxSeries }),
          ...(cli.seriesGraceSeconds === undefined
            ? {}
            : { seriesGraceSeconds: cli.seriesGraceSeconds }),
          ...(secrets?.token === undefined ? {} : { token: secrets.token }),
          ...(secrets?.tls === undefined ? {} : { tls: secrets.tls }),
          onEvent: (line: string) => void deps.stderr.write(display`${toDisplayText(line)}\n`),
          clock: deps.clock,
          version: deps.version,
        },
        {
          stdout: deps.stdout,
          stderr: deps.stderr,
          signals: deps.hooks as unknown as NonNullable<ServeIo['signals']>,
          reload: () => {
            // The config file (if any) is read again; the command line still wins over it.
            const now = configFile === undefined ? cli : reparse(originalArgv, deps.version);
            const next = loadServeSecrets(now, deps.env);
            const warnings = [...next.warnings, ...unreloadableChanges(cli, now, configFile)];
            return {
              token: next.token,
              tls: next.tls,
              warnings: warnings.map((w) => displayLines(w)),
            };
          },
        },
      );
    }
    monitor.start();
    if (mode === 'tui') {
      const result = await runTui(monitor, deps.stdout as TuiOutput, deps.stdin, {
        version: deps.version,
        color: isColorEnabled(cli, deps.env),
        windowSeconds: cli.windowSeconds,
        processFilter: filter,
        hooks: deps.hooks,
      });
      if (result.error) {
        deps.stderr.write(formatError(result.error, cli.debug));
        return EXIT_RUNTIME_ERROR;
      }
      return result.code;
    }
    return await runStream(monitor, cli, mode, filter, deps);
  } catch (error) {
    deps.stderr.write(formatError(error, cli.debug));
    return EXIT_RUNTIME_ERROR;
  } finally {
    await monitor.stop().catch(() => undefined);
  }
}

/** Text and NDJSON output: one record per tick, or one ranking with --once. */
function runStream(
  monitor: Monitor,
  cli: CliOptions,
  mode: 'text' | 'json',
  filter: ProcessFilter,
  deps: CliDeps,
): Promise<number> {
  return new Promise<number>((resolve) => {
    const tracker = new IntervalTracker();
    let written = 0;
    let lastTime: number | undefined;
    let isDone = false;
    let onceTimer: { cancel(): void } | undefined;

    const finish = (code: number, error?: unknown): void => {
      if (isDone) return;
      isDone = true;
      monitor.off('tick', onTick);
      deps.stdout.off('error', onStdoutError);
      deps.hooks.off('SIGINT', onSignal);
      deps.hooks.off('SIGTERM', onSignal);
      onceTimer?.cancel();
      if (error !== undefined) deps.stderr.write(formatError(error, cli.debug));
      resolve(code);
    };

    const emit = (snapshot: Snapshot, title: string): void => {
      const record = buildNdjsonRecord(snapshot, tracker, filter);
      lastTime = snapshot.time;
      try {
        deps.stdout.write(
          mode === 'json'
            ? display`${stringifyAsciiJson(record)}\n`
            : formatTextTable(record, title, isEmptyFilter(filter)),
        );
      } catch (error) {
        // A synchronous EPIPE (e.g. a closed pipe on some stream kinds) ends the output quietly.
        if (isEpipe(error)) finish(EXIT_OK);
        else throw error;
      }
    };

    const onStdoutError = (error: Error): void => {
      // `pidflow --json | head -1`: the reader left; that is a normal way to stop.
      finish(isEpipe(error) ? EXIT_OK : EXIT_RUNTIME_ERROR, isEpipe(error) ? undefined : error);
    };
    const onSignal = (): void => finish(EXIT_OK);

    const onTick = (snapshot: Snapshot): void => {
      if (isDone) return;
      try {
        emit(snapshot, `interval ${(snapshot.intervalMs / 1000).toFixed(1)}s`);
        written++;
        if (cli.count !== undefined && written >= cli.count) finish(EXIT_OK);
      } catch (error) {
        finish(EXIT_RUNTIME_ERROR, error);
      }
    };

    const emitOnce = (): void => {
      if (isDone) return;
      try {
        const s = monitor.snapshot(cli.windowSeconds);
        // One ranking: the interval is the whole capture, so interval bytes = totals.
        emit({ ...s, intervalMs: s.elapsedMs }, `last ${(s.elapsedMs / 1000).toFixed(1)}s`);
        finish(EXIT_OK);
      } catch (error) {
        finish(EXIT_RUNTIME_ERROR, error);
      }
    };

    deps.stdout.on('error', onStdoutError);
    deps.hooks.on('SIGINT', onSignal);
    deps.hooks.on('SIGTERM', onSignal);
    if (cli.once) {
      onceTimer = deps.clock.setTimeout(emitOnce, cli.windowSeconds * 1000);
    } else {
      monitor.on('tick', onTick);
    }

    void monitor.done.then((end: MonitorEnd) => {
      if (isDone) return;
      if (end.reason === 'error') {
        finish(EXIT_RUNTIME_ERROR, end.error ?? new Error('the capture failed'));
        return;
      }
      if (cli.once) {
        emitOnce();
        return;
      }
      // Timeout or end of file: print what came in after the last tick so sums stay exact.
      try {
        const s = monitor.snapshot(cli.windowSeconds);
        if (s.time !== lastTime) emit(s, 'final');
      } catch {
        // The monitor may refuse a snapshot once stopped; the last tick stands.
      }
      finish(EXIT_OK);
    });
  });
}
