// Plain text output (--text, or stdout not a terminal): one table per interval, built from
// the same record as the NDJSON line so both outputs always agree.

import { containerLabel } from './container-label.js';
import { formatBytes, formatRate } from './format.js';
import type { NdjsonRecord } from './ndjson.js';
import { toDisplayText } from '../text/display-text.js';

/** Widest container label in the text table, in cells (names are up to 253 characters each). */
const MAX_CONTAINER_CELLS = 48;

function pad(text: string, width: number, alignRight: boolean): string {
  if (text.length >= width) return text;
  return alignRight ? text.padStart(width) : text.padEnd(width);
}

/** The command line, or `[name]` when it is empty (kernel threads, zombies), as ps shows them. */
function programOf(p: { name: string; cmdline: string[] }): string {
  const cmd = p.cmdline.join(' ').trim();
  return cmd === '' ? `[${p.name}]` : cmd;
}

/**
 * Formats one interval as a text table: a summary line, then processes by interval bytes
 * (rates over the interval, totals since first seen), then the unknown traffic row.
 * @param title what the numbers cover, e.g. `interval 1.0s` or `last 5s`
 */
export function formatTextTable(record: NdjsonRecord, title: string, showUnknown = true): string {
  const hasContainer = record.processes.some((p) => p.container !== null);
  const head = ['PID', 'USER', 'SENT/s', 'RECV/s', 'SENT', 'RECV'];
  if (hasContainer) head.push('CONTAINER');
  head.push('PROGRAM');
  const rows: string[][] = [head];
  for (const p of record.processes) {
    const row = [
      p.pid.toString(),
      p.user,
      formatRate(p.sentBytesPerSecond),
      formatRate(p.receivedBytesPerSecond),
      formatBytes(p.sentBytes),
      formatBytes(p.receivedBytes),
    ];
    if (hasContainer) {
      const label =
        p.container === null ? '-' : containerLabel(p.containerInfo ?? undefined, p.container);
      // Escaped like in the terminal UI (names are chosen by the containers' owners), cut to fit.
      row.push(toDisplayText(label, MAX_CONTAINER_CELLS));
    }
    row.push(programOf(p) + (p.exited ? ' (exited)' : ''));
    rows.push(row);
  }
  const u = record.unknown;
  if (showUnknown && (u.sentBytes > 0 || u.receivedBytes > 0)) {
    const row = [
      '-',
      '-',
      formatRate(u.sentBytesPerSecond),
      formatRate(u.receivedBytesPerSecond),
      formatBytes(u.sentBytes),
      formatBytes(u.receivedBytes),
    ];
    if (hasContainer) row.push('-');
    row.push('(unknown: no owning socket found)');
    rows.push(row);
  }
  const widths = head.map((_, i) =>
    i === head.length - 1 ? 0 : Math.max(...rows.map((r) => (r[i] ?? '').length)),
  );
  const rightAligned = new Set([0, 2, 3, 4, 5]);
  const lines = rows.map((r) =>
    r
      .map((cell, i) => (i === r.length - 1 ? cell : pad(cell, widths[i]!, rightAligned.has(i))))
      .join('  ')
      .trimEnd(),
  );
  let sent = 0;
  let received = 0;
  for (const p of record.processes) {
    sent += p.sentBytesPerSecond;
    received += p.receivedBytesPerSecond;
  }
  if (showUnknown) {
    sent += u.sentBytesPerSecond;
    received += u.receivedBytesPerSecond;
  }
  const summary =
    `${record.time}  ${title}  devices ${record.devices.join(',') || '-'}  ` +
    `sent ${formatRate(sent)}  received ${formatRate(received)}  ` +
    `drops kernel ${record.stats.kernelDroppedPackets} queue ${record.stats.queueDroppedPackets}`;
  if (record.processes.length === 0 && lines.length === 1) {
    return `${summary}\n(no traffic yet)\n\n`;
  }
  return `${summary}\n${lines.join('\n')}\n\n`;
}
