// Pure rendering of the terminal UI: render(state, size) returns the screen as lines (with
// ANSI styles when colours are on). The driver only diffs and writes them.

import type {
  ConnectionEntry,
  ContainerEntry,
  ProcessEntry,
  RemoteEntry,
} from '../monitor/types.js';
import { containerLabel } from '../present/container-label.js';
import {
  formatBytes,
  formatCount,
  formatDuration,
  formatPercent,
  formatRate,
} from '../present/format.js';
import {
  display,
  fitDisplay,
  joinDisplay,
  styleDisplay,
  toDisplayText,
  type DisplayText,
} from '../text/display-text.js';
import { sparkline } from './sparkline.js';
import {
  KEY_HELP,
  VIEW_TITLES,
  VIEWS,
  buildRows,
  selectedIndexOf,
  type Row,
  type TuiState,
} from './state.js';

/** Terminal size in character cells. */
export interface TerminalSize {
  readonly columns: number;
  readonly rows: number;
}

/** Smallest terminal the UI draws in; below it shows a message instead. */
export const MIN_COLUMNS = 40;
export const MIN_ROWS = 8;

const STYLE = {
  inverse: (s: DisplayText) => styleDisplay(7, s),
  bold: (s: DisplayText) => styleDisplay(1, s),
  yellow: (s: DisplayText) => styleDisplay(33, s),
  cyan: (s: DisplayText) => styleDisplay(36, s),
  dim: (s: DisplayText) => styleDisplay(2, s),
};

/** Cuts or pads display text to exactly `width` terminal cells (wide characters take two). */
const fit = fitDisplay;

/** Our own text (numbers, units, labels): made displayable like any other. */
const own = (text: string): DisplayText => toDisplayText(text);

const SHORT_VIEW_TITLES: Record<string, string> = {
  processes: 'Proc',
  connections: 'Conn',
  remotes: 'Hosts',
  containers: 'Cont',
};

interface Column {
  readonly title: string;
  readonly width: number;
  readonly align: 'left' | 'right';
  /** Higher is kept longer when the terminal is narrow. */
  readonly priority: number;
  /** The one column that takes the spare width (at least `width`). */
  readonly flexMax?: number;
  /** The cell's text: names in it went through toDisplayText. */
  readonly cell: (row: Row) => DisplayText;
  readonly isSparkline?: boolean;
  /** Columns of one group (sent and received) are dropped together. */
  readonly group?: string;
}

function endpoint(address: string, port: number): DisplayText {
  return own(address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);
}

function trafficColumns(state: TuiState, historyWidth: number): Column[] {
  const u = state.unit;
  const ratesFirst = state.measure === 'rates';
  // Fixed units can need more digits than auto units (e.g. 964506 KiB).
  const extra = u === 'auto' ? 0 : 3;
  const ratePriority = ratesFirst ? 8 : 5;
  const totalPriority = ratesFirst ? 5 : 8;
  return [
    {
      title: 'SENT/s',
      width: 11 + extra,
      align: 'right',
      priority: ratePriority,
      group: 'rates',
      cell: (r) => own(formatRate(r.entry.rate.sentBytesPerSecond, u)),
    },
    {
      title: 'RECV/s',
      width: 11 + extra,
      align: 'right',
      priority: ratePriority,
      group: 'rates',
      cell: (r) => own(formatRate(r.entry.rate.receivedBytesPerSecond, u)),
    },
    {
      title: 'SENT',
      width: 9 + extra,
      align: 'right',
      priority: totalPriority,
      group: 'totals',
      cell: (r) => own(formatBytes(r.entry.total.sentBytes, u)),
    },
    {
      title: 'RECV',
      width: 9 + extra,
      align: 'right',
      priority: totalPriority,
      group: 'totals',
      cell: (r) => own(formatBytes(r.entry.total.receivedBytes, u)),
    },
    {
      title: `LAST ${historyWidth}s`,
      width: historyWidth,
      align: 'left',
      priority: 1,
      isSparkline: true,
      cell: (r) => {
        const h = r.entry.history;
        const sum = h.sentBytes.map((v, i) => v + (h.receivedBytes[i] ?? 0));
        // The last value is the current, unfinished second: it would always look like a drop.
        return own(sparkline(sum.slice(0, -1), historyWidth));
      },
    },
  ];
}

function programText(state: TuiState, p: ProcessEntry): DisplayText {
  const info = p.process;
  const cmd = info.cmdline.join(' ');
  const text = toDisplayText(state.showCommandLine && cmd !== '' ? cmd : info.comm);
  return p.exited ? display`${text} (exited)` : text;
}

function columnsFor(state: TuiState, rows: readonly Row[], historyWidth: number): Column[] {
  const traffic = trafficColumns(state, historyWidth);
  const programMax = state.showCommandLine ? 400 : 32;
  if (state.drillProcessKey !== undefined || state.view === 'connections') {
    const conn = (r: Row) => r.entry as ConnectionEntry;
    const cols: Column[] = [
      { title: 'PROTO', width: 5, align: 'left', priority: 6, cell: (r) => own(conn(r).protocol) },
      {
        title: 'LOCAL',
        width: 21,
        align: 'left',
        priority: 3,
        cell: (r) => endpoint(conn(r).localAddress, conn(r).localPort),
      },
      {
        title: 'REMOTE',
        width: 21,
        align: 'left',
        priority: 10,
        flexMax: 47,
        cell: (r) => endpoint(conn(r).remoteAddress, conn(r).remotePort),
      },
    ];
    if (state.drillProcessKey === undefined) {
      cols.push(
        { title: 'PID', width: 7, align: 'right', priority: 7, cell: (r) => own(r.pid.toString()) },
        {
          title: 'PROGRAM',
          width: 12,
          align: 'left',
          priority: 6,
          cell: (r) => toDisplayText(conn(r).process.comm),
        },
      );
    }
    return [...cols, ...traffic];
  }
  if (state.view === 'remotes') {
    return [
      {
        title: 'REMOTE HOST',
        width: 15,
        align: 'left',
        priority: 10,
        flexMax: 39,
        cell: (r) => own((r.entry as RemoteEntry).remoteAddress),
      },
      {
        title: 'PROCS',
        width: 5,
        align: 'right',
        priority: 4,
        cell: (r) => own((r.entry as RemoteEntry).processCount.toString()),
      },
      ...traffic,
    ];
  }
  if (state.view === 'containers') {
    return [
      {
        title: 'CONTAINER',
        width: 12,
        align: 'left',
        priority: 10,
        flexMax: 64,
        cell: (r) => toDisplayText(r.name),
      },
      {
        title: 'RUNTIME',
        width: 10,
        align: 'left',
        priority: 3,
        cell: (r) => toDisplayText((r.entry as ContainerEntry).containerRuntime ?? ''),
      },
      {
        title: 'PROCS',
        width: 5,
        align: 'right',
        priority: 4,
        cell: (r) => own((r.entry as ContainerEntry).processCount.toString()),
      },
      {
        title: 'IMAGE',
        width: 16,
        align: 'left',
        priority: 1,
        cell: (r) => toDisplayText((r.entry as ContainerEntry).container?.image ?? ''),
      },
      ...traffic,
    ];
  }
  const hasContainer = rows.some((r) => r.process?.process.containerId != null);
  const cols: Column[] = [
    {
      title: 'PID',
      width: 7,
      align: 'right',
      priority: 9,
      cell: (r) => own(r.kind === 'unknown' ? '-' : r.pid.toString()),
    },
    {
      title: 'USER',
      width: 8,
      align: 'left',
      priority: 4,
      cell: (r) => toDisplayText(r.process ? r.process.process.user : '-'),
    },
    {
      title: 'PROGRAM',
      width: 12,
      align: 'left',
      priority: 10,
      flexMax: programMax,
      cell: (r) => (r.process ? programText(state, r.process) : own('(unknown traffic)')),
    },
  ];
  if (hasContainer) {
    cols.push({
      title: 'CONTAINER',
      width: 14,
      align: 'left',
      priority: 2,
      cell: (r) =>
        toDisplayText(
          containerLabel(r.process?.process.container, r.process?.process.containerId ?? null),
        ),
    });
  }
  return [...cols, ...traffic];
}

/** Drops the least important columns until the row fits, then widens the flexible one. */
function layoutColumns(columns: Column[], width: number): { columns: Column[]; widths: number[] } {
  const kept = [...columns];
  // One cell for the selection marker, one space between columns.
  const used = (cols: Column[]) => 1 + cols.reduce((n, c) => n + c.width, 0) + cols.length - 1;
  while (used(kept) > width && kept.length > 1) {
    let drop = -1;
    for (let i = 0; i < kept.length; i++) {
      if (kept[i]!.flexMax !== undefined) continue;
      if (drop < 0 || kept[i]!.priority < kept[drop]!.priority) drop = i;
    }
    if (drop < 0) break;
    const group = kept[drop]!.group;
    if (group === undefined) kept.splice(drop, 1);
    else for (let i = kept.length - 1; i >= 0; i--) if (kept[i]!.group === group) kept.splice(i, 1);
  }
  const spare = Math.max(0, width - used(kept));
  const widths = kept.map((c) =>
    c.flexMax !== undefined ? Math.min(c.flexMax, c.width + spare) : c.width,
  );
  const flex = kept.findIndex((c) => c.flexMax !== undefined);
  if (flex >= 0 && used(kept) > width)
    widths[flex] = Math.max(1, widths[flex]! - (used(kept) - width));
  return { columns: kept, widths };
}

function headerLines(state: TuiState, size: TerminalSize): DisplayText[] {
  const s = state.data.snapshot;
  const color = state.color;
  const devices = s
    ? joinDisplay(
        s.devices.map((d) => toDisplayText(d)),
        ', ',
      ) || own('-')
    : own('…');
  let timing = 'starting…';
  if (s) {
    const remaining =
      state.data.endMessage !== undefined
        ? 'capture ended'
        : s.remainingMs === null
          ? 'no timeout'
          : `stops in ${formatDuration(s.remainingMs)}`;
    timing = `up ${formatDuration(s.elapsedMs)} · ${remaining}`;
  }
  const paused = own(state.paused ? ' PAUSED ' : '');
  const left = display` pidflow ${toDisplayText(state.version)} │ ${devices} │ ${own(timing)}`;
  const titleWidth = size.columns - paused.length;
  let title = fit(left, titleWidth);
  if (color)
    title = display`${STYLE.inverse(title)}${paused ? STYLE.yellow(STYLE.bold(paused)) : own('')}`;
  else title = display`${title}${paused}`;

  let totalsLine = 'waiting for the first interval…';
  if (s) {
    const t = s.totals;
    const packetsPerSecond =
      (t.window.sentPackets + t.window.receivedPackets) / Math.max(1, s.windowSeconds);
    const unknownBytes = s.unknownTotals.total.sentBytes + s.unknownTotals.total.receivedBytes;
    const allBytes = t.total.sentBytes + t.total.receivedBytes;
    totalsLine =
      `sent ${formatRate(t.rate.sentBytesPerSecond, state.unit)}  ` +
      `received ${formatRate(t.rate.receivedBytesPerSecond, state.unit)}  ` +
      `packets ${formatCount(packetsPerSecond)}/s  ` +
      `drops kernel ${formatCount(s.stats.kernelDroppedPackets)} queue ${formatCount(s.stats.queueDropped.packets)}  ` +
      `unknown ${formatPercent(unknownBytes, allBytes)}`;
    if (totalsLine.length > size.columns) {
      totalsLine =
        `sent ${formatRate(t.rate.sentBytesPerSecond, state.unit)} ` +
        `recv ${formatRate(t.rate.receivedBytesPerSecond, state.unit)} ` +
        `${formatCount(packetsPerSecond)} pkt/s ` +
        `drops ${formatCount(s.stats.kernelDroppedPackets)}/${formatCount(s.stats.queueDropped.packets)} ` +
        `unk ${formatPercent(unknownBytes, allBytes)}`;
    }
  }
  const arrow = state.sortDescending ? '↓' : '↑';
  const window = s ? `${s.windowSeconds}s` : '';
  const mode = state.measure === 'rates' ? `rates/${window}` : 'totals';
  const status = `sort ${state.sortKey}${arrow} · ${mode} · ${state.unit}`;
  const tabsOf = (titles: Record<string, string>) =>
    VIEWS.map((v, i) => {
      const label = `${i + 1} ${titles[v]}`;
      return v === state.view && state.drillProcessKey === undefined ? `[${label}]` : ` ${label} `;
    }).join('');
  let tabLine = `${tabsOf(VIEW_TITLES)}  ${status}`;
  // Narrow terminals get short view names so that the sort and units stay visible.
  if (tabLine.length > size.columns) tabLine = `${tabsOf(SHORT_VIEW_TITLES)} ${status}`;
  return [title, fit(own(totalsLine), size.columns), fit(own(tabLine), size.columns)];
}

function footerLine(state: TuiState, size: TerminalSize, rowCount: number): DisplayText {
  // The typed (or pasted) filter is shown escaped like any name.
  const typed = toDisplayText(state.filterText);
  if (state.isEditingFilter)
    return fit(display`/${typed}█  (Enter keeps, Esc clears)`, size.columns);
  const notice = state.data.endMessage ?? state.data.warning;
  if (notice !== undefined) {
    const quits = own(state.data.endMessage ? ' · q quits' : '');
    const text = fit(display`${toDisplayText(notice)}${quits}`, size.columns);
    return state.color ? STYLE.yellow(text) : text;
  }
  const filter = state.filterText !== '' ? display`filter "${typed}" (Esc clears) · ` : own('');
  const hints = own(
    state.drillProcessKey !== undefined
      ? 'Esc back · q quit · ? help'
      : 'q quit · ? help · ←→ view · s/r/t/p/n sort · Enter connections · / filter · Space pause',
  );
  const text = fit(display`${filter}${rowCount} rows · ${hints}`, size.columns);
  return state.color ? STYLE.dim(text) : text;
}

function helpLines(state: TuiState, size: TerminalSize, height: number): DisplayText[] {
  const keyWidth = Math.max(...KEY_HELP.map(([k]) => k.length));
  const keys = own(' Keys');
  const lines = [
    state.color ? STYLE.bold(fit(keys, size.columns)) : fit(keys, size.columns),
    ...KEY_HELP.map(([k, what]) => fit(own(`  ${k.padEnd(keyWidth)}  ${what}`), size.columns)),
    own(''),
    fit(own('  Press any key to close this help.'), size.columns),
  ];
  return lines.slice(0, height);
}

/** Greedy word wrap for short messages. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

function tooSmall(size: TerminalSize): DisplayText[] {
  const message = wrap(
    `Terminal too small (${size.columns}x${size.rows}): pidflow needs at least ${MIN_COLUMNS}x${MIN_ROWS}. ` +
      'Enlarge the window, or use --text. q quits.',
    Math.max(1, size.columns),
  );
  const lines: DisplayText[] = [];
  for (let i = 0; i < Math.max(1, size.rows); i++)
    lines.push(fit(own(message[i] ?? ''), size.columns));
  return lines;
}

/**
 * Draws the whole screen for `state` at `size`: exactly `size.rows` lines, none wider than
 * `size.columns` cells once the ANSI styles are removed.
 */
export function render(state: TuiState, size: TerminalSize): DisplayText[] {
  if (size.columns < MIN_COLUMNS || size.rows < MIN_ROWS) return tooSmall(size);
  const lines = headerLines(state, size);
  const rows = buildRows(state);
  const bodyHeight = size.rows - lines.length - 1;
  if (state.isHelpVisible) {
    lines.push(...helpLines(state, size, bodyHeight));
  } else {
    if (state.drillProcessKey !== undefined) {
      const p = state.data.snapshot?.processes.find((e) => e.key === state.drillProcessKey);
      const who = p
        ? display`${p.process.pid} ${toDisplayText(p.process.comm)} (${toDisplayText(p.process.user)})  ${toDisplayText(p.process.cmdline.join(' '))}`
        : display`${toDisplayText(state.drillProcessKey)} (gone)`;
      const text = fit(display`Connections of ${who}`, size.columns);
      lines.push(state.color ? STYLE.bold(text) : text);
    }
    const historyLength = rows.reduce((n, r) => Math.max(n, r.entry.history.sentBytes.length), 0);
    const historyWidth = Math.max(8, Math.min(20, historyLength || 15));
    const { columns, widths } = layoutColumns(columnsFor(state, rows, historyWidth), size.columns);
    const titles = columns.map((c, i) => fit(own(c.title), widths[i]!, c.align));
    const head = display` ${joinDisplay(titles, ' ')}`;
    lines.push(state.color ? STYLE.bold(fit(head, size.columns)) : fit(head, size.columns));
    const tableHeight = size.rows - lines.length - 1;
    const selected = selectedIndexOf(state, rows);
    const first = Math.max(0, Math.min(selected - tableHeight + 1, rows.length - tableHeight));
    const start = Math.max(0, Math.min(first, selected));
    if (rows.length === 0) {
      const empty =
        state.data.snapshot === undefined
          ? own('  waiting for traffic…')
          : state.filterText !== ''
            ? display`  nothing matches "${toDisplayText(state.filterText)}"`
            : own('  no traffic yet');
      lines.push(fit(empty, size.columns));
    }
    for (let i = start; i < rows.length && lines.length < size.rows - 1; i++) {
      const row = rows[i]!;
      const isSelected = i === selected;
      const cells = columns.map((c, j) => {
        const text = fit(c.cell(row), widths[j]!, c.align);
        return c.isSparkline && state.color ? STYLE.cyan(text) : text;
      });
      const line = display`${own(isSelected ? '>' : ' ')}${joinDisplay(cells, ' ')}`;
      lines.push(isSelected && state.color ? STYLE.inverse(line) : line);
    }
  }
  while (lines.length < size.rows - 1) lines.push(own(''));
  lines.push(footerLine(state, size, rows.length));
  return lines;
}
