// Plain text output (--text, or stdout not a terminal): one table per interval, built from
// the same record as the NDJSON line so both outputs always agree.

import { containerLabel } from '../present/container-label.js';
import {
  display,
  displayWidth,
  joinDisplay,
  padDisplay,
  toDisplayText,
  trimDisplayEnd,
  type DisplayText,
} from '../text/display-text.js';
import { formatBytes, formatRate } from '../present/format.js';
import type { NdjsonRecord } from './ndjson.js';

/** Widest container label in the text table, in cells (names are up to 253 characters each). */
const MAX_CONTAINER_CELLS = 48;

/**
 * The command line, or `[name]` when it is empty (kernel threads, zombies), as ps shows them.
 * Shown escaped: a line feed in a name can never start a row of its own.
 */
function programOf(p: { name: string; cmdline: string[] }): DisplayText {
  const cmd = p.cmdline.join(' ').trim();
  return cmd === '' ? display`[${toDisplayText(p.name)}]` : toDisplayText(cmd);
}

const own = (text: string): DisplayText => toDisplayText(text);

/**
 * Formats one interval as a text table: a summary line, then processes by interval bytes
 * (rates over the interval, totals since first seen), then the unknown traffic row.
 * @param title what the numbers cover, e.g. `interval 1.0s` or `last 5s`
 */
export function formatTextTable(
  record: NdjsonRecord,
  title: string,
  showUnknown = true,
): DisplayText {
  const hasContainer = record.processes.some((p) => p.container !== null);
  const head = ['PID', 'USER', 'SENT/s', 'RECV/s', 'SENT', 'RECV'].map(own);
  if (hasContainer) head.push(own('CONTAINER'));
  head.push(own('PROGRAM'));
  const rows: DisplayText[][] = [head];
  for (const p of record.processes) {
    const row = [
      own(p.pid.toString()),
      toDisplayText(p.user),
      own(formatRate(p.sentBytesPerSecond)),
      own(formatRate(p.receivedBytesPerSecond)),
      own(formatBytes(p.sentBytes)),
      own(formatBytes(p.receivedBytes)),
    ];
    if (hasContainer) {
      const label =
        p.container === null ? '-' : containerLabel(p.containerInfo ?? undefined, p.container);
      // Escaped (names are chosen by the containers' owners) and cut to fit.
      row.push(toDisplayText(label, MAX_CONTAINER_CELLS));
    }
    row.push(p.exited ? display`${programOf(p)} (exited)` : programOf(p));
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
    ].map(own);
    if (hasContainer) row.push(own('-'));
    row.push(own('(unknown: no owning socket found)'));
    rows.push(row);
  }
  // Widths in terminal cells, so that CJK and emoji names keep the columns aligned.
  const widths = head.map((_, i) =>
    i === head.length - 1 ? 0 : Math.max(...rows.map((r) => (r[i] ? displayWidth(r[i]) : 0))),
  );
  const rightAligned = new Set([0, 2, 3, 4, 5]);
  const lines = rows.map((r) =>
    trimDisplayEnd(
      joinDisplay(
        r.map((cell, i) =>
          i === r.length - 1
            ? cell
            : padDisplay(cell, widths[i]!, rightAligned.has(i) ? 'right' : 'left'),
        ),
        '  ',
      ),
    ),
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
  const devices =
    joinDisplay(
      record.devices.map((d) => toDisplayText(d)),
      ',',
    ) || own('-');
  const summary = display`${own(record.time)}  ${own(title)}  devices ${devices}  sent ${own(
    formatRate(sent),
  )}  received ${own(formatRate(received))}  drops kernel ${
    record.stats.kernelDroppedPackets
  } queue ${record.stats.queueDroppedPackets}`;
  if (record.processes.length === 0 && lines.length === 1) {
    return display`${summary}\n(no traffic yet)\n\n`;
  }
  return display`${summary}\n${joinDisplay(lines, '\n')}\n\n`;
}
