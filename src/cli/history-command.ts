// `pidflow history`: reads the agent's history database (read-only, while an agent writes it)
// and prints who used the network over a time range, as a text table or the API's JSON.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { HistoryStore } from '../history/history-store.js';
import type { HistoryGroupBy, HistoryQuery, HistoryResult } from '../history/types.js';
import { stringifyAsciiJson } from '../text/ascii-json.js';
import { displayLines, toDisplayText } from '../text/display-text.js';
import { formatBytes } from '../present/format.js';
import { DEFAULT_HISTORY_DB } from './options.js';

/** Where the command writes. */
export interface HistoryIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** ms since the epoch. */
  now(): number;
}

const UNITS_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};
const TIME_FORMS =
  'a time such as 03:00, 03:00:30, 2026-12-04, 2026-12-04T03:00, an ISO time with a zone, -2h or 90m (ago), or now';

/**
 * Parse a --since/--until value into ms since the epoch (local time unless it names a zone).
 * `HH:MM` is the latest such time at or before `nowMs` (or, with `after`, the first after it).
 */
export function parseTimeArg(value: string, nowMs: number, after?: number): number {
  const v = value.trim();
  if (v === 'now') return nowMs;
  const ago = /^-?(\d+(?:\.\d+)?)(s|m|min|h|d)$/.exec(v);
  if (ago) return nowMs - Math.round(Number(ago[1]) * UNITS_MS[ago[2]!]!);
  if (/^\d{12,14}$/.test(v)) return Number(v);
  const clock = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(v);
  if (clock) {
    const [h, m, s] = [Number(clock[1]), Number(clock[2]), Number(clock[3] ?? 0)];
    if (h > 23 || m > 59 || s > 59) throw new InvalidArgumentError(`expected ${TIME_FORMS}.`);
    const base = new Date(after ?? nowMs);
    base.setHours(h, m, s, 0);
    let t = base.getTime();
    if (after !== undefined) {
      if (t <= after) t = new Date(base.getTime()).setDate(base.getDate() + 1);
    } else if (t > nowMs) {
      t = new Date(base.getTime()).setDate(base.getDate() - 1);
    }
    return t;
  }
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    // A date without a zone is local time (Date parses a bare date as UTC: add the time).
    const text = /^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00` : v.replace(' ', 'T');
    const t = Date.parse(text);
    if (Number.isFinite(t)) return t;
  }
  throw new InvalidArgumentError(`expected ${TIME_FORMS}, got '${value}'.`);
}

interface RawHistoryOptions {
  db: string;
  since?: string;
  until?: string;
  by: HistoryGroupBy;
  step?: number;
  limit: number;
  key?: string;
  pid?: number;
  name?: string;
  user?: string;
  container?: string;
  cmdline?: string;
  json?: boolean;
}

function intArg(what: string, min: number, max: number) {
  return (value: string): number => {
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) {
      throw new InvalidArgumentError(`expected ${what}, a whole number from ${min} to ${max}.`);
    }
    return n;
  };
}

function program(): Command {
  return new Command('pidflow history')
    .description(
      "Who used the network over a time range, from the agent's history database (no capture; works while the agent writes it).",
    )
    .option('--db <path>', 'history database of the agent', DEFAULT_HISTORY_DB)
    .option('--since <time>', `start (${TIME_FORMS})`, '-1h')
    .option('--until <time>', 'end (same forms)', 'now')
    .addOption(
      new Option('--by <group>', 'group by')
        .choices(['process', 'container', 'remote'])
        .default('process'),
    )
    .option(
      '--step <seconds>',
      'seconds per point in --json (default: chosen)',
      intArg('seconds', 1, 604_800),
    )
    .option('--limit <n>', 'rows shown', intArg('a count', 1, 100), 20)
    .option('--key <key>', 'only this series (pid:starttime, container id or address)')
    .option('--pid <pid>', 'only processes with this pid', intArg('a pid', 1, 4_194_304))
    .option('--name <text>', 'only processes whose name contains this')
    .option('--user <user>', 'only processes of this user name or uid')
    .option('--container <id>', 'only processes of containers whose id starts with this')
    .option('--cmdline <text>', 'only processes whose command line contains this')
    .option('--json', 'print the JSON of GET /api/v1/history')
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
Examples:
  pidflow history --since 03:00 --until 04:00 --by container
  pidflow history --since -2h --name curl
  pidflow history --since 2026-12-04 --until 2026-12-05 --by remote --json`,
    )
    .allowExcessArguments(false);
}

/** Run `pidflow history <args>`; returns the exit code (0, 1 runtime error, 2 usage). */
export function runHistoryCommand(argv: readonly string[], io: HistoryIo): number {
  let out = '';
  let err = '';
  const cmd = program()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void (out += s),
      writeErr: (s) => void (err += s),
    });
  let raw: RawHistoryOptions;
  let query: HistoryQuery;
  const now = io.now();
  try {
    cmd.parse([...argv], { from: 'user' });
    raw = cmd.opts<RawHistoryOptions>();
    const fromMs = parseTimeArg(raw.since ?? '-1h', now);
    const toMs = raw.until === undefined ? now : parseTimeArg(raw.until, now, fromMs);
    if (toMs <= fromMs) {
      throw new InvalidArgumentError(
        `--until (${new Date(toMs).toISOString()}) must be after --since (${new Date(fromMs).toISOString()}).`,
      );
    }
    if (
      raw.by !== 'process' &&
      [raw.pid, raw.name, raw.user, raw.container, raw.cmdline].some((x) => x !== undefined)
    ) {
      throw new InvalidArgumentError(
        '--pid, --name, --user, --container and --cmdline filter processes: use them with --by process.',
      );
    }
    query = {
      fromMs,
      toMs,
      stepSeconds: raw.step,
      groupBy: raw.by,
      limit: raw.limit,
      key: raw.key,
      pid: raw.pid,
      name: raw.name,
      user: raw.user,
      container: raw.container,
      cmdline: raw.cmdline,
    };
  } catch (error) {
    io.stdout.write(out);
    if (error instanceof CommanderError && err !== '') {
      io.stderr.write(err);
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof CommanderError && error.exitCode === 0) return 0;
    io.stderr.write(
      `error: ${(error as Error).message}\nRun 'pidflow history --help' for the forms.\n`,
    );
    return 2;
  }
  let store: HistoryStore | undefined;
  try {
    store = HistoryStore.open({ path: raw.db, readonly: true });
    const result = store.query(query, now);
    if (raw.json) {
      // Names from history are untrusted: exact values, ASCII only (docs/names.md).
      io.stdout.write(`${stringifyAsciiJson({ version: 1, time: now, ...result })}\n`);
    } else {
      io.stdout.write(formatHistoryTable(result));
    }
    return 0;
  } catch (error) {
    io.stderr.write(`error: ${displayLines((error as Error).message)}\n`);
    return (error as { code?: string }).code === 'ERR_USAGE' ? 2 : 1;
  } finally {
    store?.close();
  }
}

function sum(xs: readonly (number | null)[]): number {
  let total = 0;
  for (const x of xs) total += x ?? 0;
  return total;
}

function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

function zone(ms: number): string {
  const off = -new Date(ms).getTimezoneOffset();
  const a = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}

/** The text table of a history answer: one row per series over the whole range. */
export function formatHistoryTable(r: HistoryResult): string {
  const recorded = r.recordedSeconds.reduce((a, b) => a + b, 0);
  const span = (r.to - r.from) / 1000;
  const lines = [
    `${localTime(r.from)} .. ${localTime(r.to)} (${zone(r.from)}), by ${r.groupBy}, from ${r.resolutionSeconds} s rows; agent recorded ${recorded} of ${span} s`,
  ];
  const head =
    r.groupBy === 'process'
      ? ['PID', 'NAME', 'USER', 'CONTAINER', 'SENT', 'RECEIVED', 'LAST SEEN', 'COMMAND']
      : [r.groupBy === 'container' ? 'CONTAINER' : 'REMOTE', 'SENT', 'RECEIVED'];
  const rows: string[][] = [head];
  for (const s of r.series) {
    const bytes = [formatBytes(s.sentBytesTotal), formatBytes(s.receivedBytesTotal)];
    if (r.groupBy === 'process' && s.process !== undefined) {
      const p = s.process;
      rows.push([
        String(p.pid),
        toDisplayText(p.comm, 16),
        toDisplayText(p.user, 16),
        p.containerId === null ? '-' : toDisplayText(p.containerId, 12),
        ...bytes,
        localTime(p.lastSeen),
        toDisplayText(p.cmdline.join(' ') || `[${p.comm}]`, 80),
      ]);
    } else {
      rows.push([
        r.groupBy === 'container' && s.name === '' ? '(host)' : toDisplayText(s.name, 45),
        ...bytes,
      ]);
    }
  }
  const pad = r.groupBy === 'process' ? 4 : 0;
  const extra = (label: string, sent: number, received: number): string[] => {
    const row = new Array<string>(pad).fill('');
    row[0] = label;
    return [...row, formatBytes(sent), formatBytes(received)];
  };
  rows.push(extra('(other)', sum(r.other.sentBytes), sum(r.other.receivedBytes)));
  rows.push(extra('(unknown)', sum(r.unknown.sentBytes), sum(r.unknown.receivedBytes)));
  rows.push(extra('total', sum(r.totals.sentBytes), sum(r.totals.receivedBytes)));
  const widths = head.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  const rightAligned = new Set(['PID', 'SENT', 'RECEIVED']);
  for (const row of rows) {
    lines.push(
      row
        .map((cell, i) => {
          const last = i === row.length - 1;
          if (rightAligned.has(head[i]!)) return cell.padStart(widths[i]!);
          return last ? cell : cell.padEnd(widths[i]!);
        })
        .join('  ')
        .trimEnd(),
    );
  }
  if (r.series.length === 0) lines.push('(no traffic recorded in this range)');
  return `${lines.join('\n')}\n`;
}
