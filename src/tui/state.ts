// State of the terminal UI and its pure transitions: what is shown (view, sort, units,
// filter, selection, help), the latest data from the monitor, and what each key does.

import type {
  ConnectionEntry,
  ContainerEntry,
  ProcessEntry,
  RemoteEntry,
  Snapshot,
  TrafficEntry,
} from '../monitor/types.js';
import { containerLabel, containerSearchText } from '../present/container-label.js';
import { BYTE_UNITS, type ByteUnit } from '../present/format.js';
import { matchesProcessFilter, type ProcessFilter } from '../present/process-filter.js';
import { isTypeableCharacter } from '../text/display-text.js';

export type ViewKind = 'processes' | 'connections' | 'remotes' | 'containers';
export type SortKey = 'sent' | 'received' | 'total' | 'pid' | 'name';
/** Whether the sort and the emphasis use rates over the window or totals since start. */
export type Measure = 'rates' | 'totals';

export const VIEWS: readonly ViewKind[] = ['processes', 'connections', 'remotes', 'containers'];
export const VIEW_TITLES: Record<ViewKind, string> = {
  processes: 'Processes',
  connections: 'Connections',
  remotes: 'Remote hosts',
  containers: 'Containers',
};

/** What the monitor last told us; frozen while paused. */
export interface TuiData {
  readonly snapshot: Snapshot | undefined;
  readonly connections: readonly ConnectionEntry[];
  readonly remotes: readonly RemoteEntry[];
  readonly containers: readonly ContainerEntry[];
  /** Set once the capture has ended (timeout, end of file). */
  readonly endMessage: string | undefined;
  /** Latest warning from the monitor. */
  readonly warning: string | undefined;
}

export interface TuiState {
  readonly version: string;
  readonly view: ViewKind;
  /** Process key whose connections are shown (Enter on a process), or undefined. */
  readonly drillProcessKey: string | undefined;
  readonly sortKey: SortKey;
  readonly sortDescending: boolean;
  readonly measure: Measure;
  readonly unit: ByteUnit;
  readonly paused: boolean;
  readonly filterText: string;
  readonly isEditingFilter: boolean;
  readonly isHelpVisible: boolean;
  readonly showCommandLine: boolean;
  /** Key of the selected row; the first row when undefined or gone. */
  readonly selectedKey: string | undefined;
  readonly color: boolean;
  /** --pid / --name from the command line. */
  readonly processFilter: ProcessFilter;
  readonly data: TuiData;
}

/** A keypress as node:readline reports it. */
export interface KeyPress {
  readonly name?: string | undefined;
  readonly sequence?: string | undefined;
  readonly ctrl?: boolean | undefined;
  readonly meta?: boolean | undefined;
  readonly shift?: boolean | undefined;
}

/** One table row, whatever the view. */
export interface Row {
  readonly key: string;
  readonly kind: 'process' | 'unknown' | 'connection' | 'remote' | 'container';
  readonly entry: TrafficEntry;
  readonly pid: number;
  /** Text used by the name sort and the typed filter. */
  readonly name: string;
  readonly searchText: string;
  readonly process: ProcessEntry | undefined;
}

/** Initial state. */
export function createTuiState(init: {
  version: string;
  color: boolean;
  processFilter: ProcessFilter;
}): TuiState {
  return {
    version: init.version,
    view: 'processes',
    drillProcessKey: undefined,
    sortKey: 'total',
    sortDescending: true,
    measure: 'rates',
    unit: 'auto',
    paused: false,
    filterText: '',
    isEditingFilter: false,
    isHelpVisible: false,
    showCommandLine: false,
    selectedKey: undefined,
    color: init.color,
    processFilter: init.processFilter,
    data: {
      snapshot: undefined,
      connections: [],
      remotes: [],
      containers: [],
      endMessage: undefined,
      warning: undefined,
    },
  };
}

/** The view whose data must be fetched with rank(): connections also for a drill-down. */
export function rankedViewOf(state: TuiState): ViewKind {
  return state.drillProcessKey !== undefined ? 'connections' : state.view;
}

function measureOf(entry: TrafficEntry, measure: Measure, which: SortKey): number {
  const sent = measure === 'rates' ? entry.rate.sentBytesPerSecond : entry.total.sentBytes;
  const received =
    measure === 'rates' ? entry.rate.receivedBytesPerSecond : entry.total.receivedBytes;
  return which === 'sent' ? sent : which === 'received' ? received : sent + received;
}

function compareRows(state: TuiState): (a: Row, b: Row) => number {
  const sign = state.sortDescending ? -1 : 1;
  return (a, b) => {
    let c: number;
    if (state.sortKey === 'pid') c = a.pid - b.pid;
    else if (state.sortKey === 'name') c = a.name.localeCompare(b.name);
    else
      c =
        measureOf(a.entry, state.measure, state.sortKey) -
        measureOf(b.entry, state.measure, state.sortKey);
    if (c === 0) {
      // Ties fall back to total bytes then key, so rows do not jump between refreshes.
      c = measureOf(a.entry, 'totals', 'total') - measureOf(b.entry, 'totals', 'total');
      if (c === 0) return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
      return -c;
    }
    return sign * c;
  };
}

function processRow(p: ProcessEntry): Row {
  const info = p.process;
  return {
    key: p.key,
    kind: 'process',
    entry: p,
    pid: info.pid,
    name: info.comm,
    searchText:
      `${info.pid} ${info.comm} ${info.user} ${info.cmdline.join(' ')} ${containerSearchText(info.container, info.containerId)}`.toLowerCase(),
    process: p,
  };
}

function connectionRow(c: ConnectionEntry): Row {
  return {
    key: c.key,
    kind: 'connection',
    entry: c,
    pid: c.process.pid,
    name: `${c.remoteAddress}:${c.remotePort}`,
    searchText:
      `${c.protocol} ${c.localAddress}:${c.localPort} ${c.remoteAddress}:${c.remotePort} ${c.process.pid} ${c.process.comm}`.toLowerCase(),
    process: undefined,
  };
}

/** Rows of the current view, filtered and sorted; the unknown row stays last. */
export function buildRows(state: TuiState): Row[] {
  const d = state.data;
  const filter = state.filterText.toLowerCase();
  let rows: Row[];
  let unknown: Row | undefined;
  if (state.drillProcessKey !== undefined) {
    rows = d.connections.filter((c) => c.process.key === state.drillProcessKey).map(connectionRow);
  } else if (state.view === 'processes') {
    rows = (d.snapshot?.processes ?? [])
      .filter((p) => matchesProcessFilter(p.process, state.processFilter))
      .map(processRow);
    const cliFiltered = state.processFilter.pids.length > 0 || state.processFilter.names.length > 0;
    if (d.snapshot !== undefined && !cliFiltered) {
      unknown = {
        key: '\0unknown',
        kind: 'unknown',
        entry: d.snapshot.unknownTotals,
        pid: 0,
        name: '(unknown)',
        searchText: '(unknown) unknown',
        process: undefined,
      };
    }
  } else if (state.view === 'connections') {
    rows = d.connections
      .filter((c) => matchesProcessFilter(c.process, state.processFilter))
      .map(connectionRow);
  } else if (state.view === 'remotes') {
    rows = d.remotes.map((r) => ({
      key: r.key,
      kind: 'remote' as const,
      entry: r,
      pid: 0,
      name: r.remoteAddress,
      searchText: r.remoteAddress.toLowerCase(),
      process: undefined,
    }));
  } else {
    rows = d.containers.map((c) => ({
      key: c.key,
      kind: 'container' as const,
      entry: c,
      pid: 0,
      name: c.containerId === '' ? '(host)' : containerLabel(c.container, c.containerId),
      searchText:
        `${c.containerId === '' ? '(host)' : c.containerId} ${c.containerRuntime ?? ''} ${containerSearchText(c.container, null)}`.toLowerCase(),
      process: undefined,
    }));
  }
  if (filter !== '') {
    rows = rows.filter((r) => r.searchText.includes(filter));
    if (unknown && !unknown.searchText.includes(filter)) unknown = undefined;
  }
  rows.sort(compareRows(state));
  if (unknown) rows.push(unknown);
  return rows;
}

/** Index of the selected row in `rows` (0 when the selected key is gone). */
export function selectedIndexOf(state: TuiState, rows: readonly Row[]): number {
  if (state.selectedKey === undefined) return 0;
  const i = rows.findIndex((r) => r.key === state.selectedKey);
  return i < 0 ? 0 : i;
}

/** What the driver must do after a key. */
export type KeyAction = 'none' | 'quit' | 'fetch';

const SORT_KEYS: Record<string, SortKey> = {
  s: 'sent',
  r: 'received',
  t: 'total',
  p: 'pid',
  n: 'name',
};

function withSort(state: TuiState, sortKey: SortKey): TuiState {
  if (state.sortKey === sortKey) return { ...state, sortDescending: !state.sortDescending };
  // Names and pids read best ascending, bytes descending.
  return { ...state, sortKey, sortDescending: sortKey !== 'name' && sortKey !== 'pid' };
}

function moveSelection(state: TuiState, delta: number): TuiState {
  const rows = buildRows(state);
  if (rows.length === 0) return state;
  const next = Math.max(0, Math.min(rows.length - 1, selectedIndexOf(state, rows) + delta));
  return { ...state, selectedKey: rows[next]!.key };
}

/**
 * Applies one key. `pageRows` is the number of table rows on screen (for PgUp/PgDn).
 * Returns the new state and whether the driver must quit or fetch data for a new view.
 */
export function handleKey(
  state: TuiState,
  key: KeyPress,
  pageRows: number,
): { state: TuiState; action: KeyAction } {
  const name = key.name ?? '';
  const ch = key.sequence ?? '';
  if (key.ctrl && name === 'c') return { state, action: 'quit' };

  if (state.isEditingFilter) {
    if (name === 'return' || name === 'enter')
      return { state: { ...state, isEditingFilter: false }, action: 'none' };
    if (name === 'escape')
      return { state: { ...state, isEditingFilter: false, filterText: '' }, action: 'none' };
    if (name === 'backspace')
      return {
        state: { ...state, filterText: Array.from(state.filterText).slice(0, -1).join('') },
        action: 'none',
      };
    if (key.ctrl && name === 'u') return { state: { ...state, filterText: '' }, action: 'none' };
    // Only printable characters: a pasted escape sequence or control character never gets in.
    if (isTypeableCharacter(ch) && !key.ctrl && !key.meta && state.filterText.length < 64) {
      return {
        state: { ...state, filterText: state.filterText + ch, selectedKey: undefined },
        action: 'none',
      };
    }
    return { state, action: 'none' };
  }

  if (state.isHelpVisible) {
    if (ch === 'q') return { state, action: 'quit' };
    return { state: { ...state, isHelpVisible: false }, action: 'none' };
  }

  switch (name) {
    case 'up':
      return { state: moveSelection(state, -1), action: 'none' };
    case 'down':
      return { state: moveSelection(state, 1), action: 'none' };
    case 'pageup':
      return { state: moveSelection(state, -Math.max(1, pageRows - 1)), action: 'none' };
    case 'pagedown':
      return { state: moveSelection(state, Math.max(1, pageRows - 1)), action: 'none' };
    case 'home':
      return { state: moveSelection(state, -Infinity), action: 'none' };
    case 'end':
      return { state: moveSelection(state, Infinity), action: 'none' };
    case 'return':
    case 'enter': {
      if (state.drillProcessKey !== undefined || state.view !== 'processes')
        return { state, action: 'none' };
      const rows = buildRows(state);
      const row = rows[selectedIndexOf(state, rows)];
      if (row?.kind !== 'process') return { state, action: 'none' };
      return {
        state: { ...state, drillProcessKey: row.key, selectedKey: undefined, filterText: '' },
        action: 'fetch',
      };
    }
    case 'escape':
    case 'backspace':
      if (state.drillProcessKey !== undefined) {
        return {
          state: { ...state, drillProcessKey: undefined, selectedKey: state.drillProcessKey },
          action: 'fetch',
        };
      }
      if (state.filterText !== '') return { state: { ...state, filterText: '' }, action: 'none' };
      return { state, action: 'none' };
    case 'tab':
    case 'right':
    case 'left': {
      const back = name === 'left' || (name === 'tab' && key.shift === true);
      const i = VIEWS.indexOf(state.view);
      const view = VIEWS[(i + (back ? VIEWS.length - 1 : 1)) % VIEWS.length]!;
      return { state: switchView(state, view), action: 'fetch' };
    }
    default:
      break;
  }

  switch (ch) {
    case 'q':
      return { state, action: 'quit' };
    case '?':
    case 'h':
      return { state: { ...state, isHelpVisible: true }, action: 'none' };
    case '/':
      return { state: { ...state, isEditingFilter: true }, action: 'none' };
    case '1':
    case '2':
    case '3':
    case '4':
      return { state: switchView(state, VIEWS[Number(ch) - 1]!), action: 'fetch' };
    case 'v': {
      const i = VIEWS.indexOf(state.view);
      return { state: switchView(state, VIEWS[(i + 1) % VIEWS.length]!), action: 'fetch' };
    }
    case 'm':
      return {
        state: { ...state, measure: state.measure === 'rates' ? 'totals' : 'rates' },
        action: 'none',
      };
    case 'u': {
      const i = BYTE_UNITS.indexOf(state.unit);
      return {
        state: { ...state, unit: BYTE_UNITS[(i + 1) % BYTE_UNITS.length]! },
        action: 'none',
      };
    }
    case ' ':
      return {
        state: { ...state, paused: !state.paused },
        action: state.paused ? 'fetch' : 'none',
      };
    case 'c':
      return { state: { ...state, showCommandLine: !state.showCommandLine }, action: 'none' };
    default:
      break;
  }
  const sortKey = SORT_KEYS[ch];
  if (sortKey !== undefined) return { state: withSort(state, sortKey), action: 'none' };
  return { state, action: 'none' };
}

function switchView(state: TuiState, view: ViewKind): TuiState {
  return { ...state, view, drillProcessKey: undefined, selectedKey: undefined };
}

/** Every key, as the help overlay and docs/cli.md list them. */
export const KEY_HELP: readonly [string, string][] = [
  ['↑ ↓ PgUp PgDn Home End', 'select a row'],
  ['Enter', 'connections of the selected process'],
  ['Esc Backspace', 'back to the list (or clear the filter)'],
  ['← → Tab v, 1-4', 'view: processes, connections, remote hosts, containers'],
  ['s r t', 'sort by sent, received, total (again: reverse)'],
  ['p n', 'sort by pid, name'],
  ['m', 'toggle rates (over the window) and totals (since start)'],
  ['u', 'units: auto, B, KiB, MiB, GiB'],
  ['c', 'show the full command line'],
  ['/', 'type a filter (Enter keeps it, Esc clears it)'],
  ['Space', 'pause the display (capture continues)'],
  ['? h', 'this help'],
  ['q Ctrl-C', 'quit'],
];
