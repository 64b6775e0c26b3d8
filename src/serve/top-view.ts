// GET /api/v1/top: the page's "Now" table in one bounded answer. Ranks every entry of a kind,
// keeps those matching a filter (the TUI's substring search), returns the top N in a compact
// form with sparklines, and folds the rest into one "other" row.

import { containerLabel, containerSearchText } from '../present/container-label.js';
import type { GroupBy, RankEntry, Snapshot, SortBy, TrafficEntry } from '../monitor/types.js';
import type { JsonObject } from './json-view.js';

/** Sort orders of the table: the monitor's three, plus by name. */
export type TopSort = SortBy | 'name';

/** Rows returned at most. */
export const MAX_TOP_LIMIT = 100;

/** Options of {@link topView}. */
export interface TopViewOptions {
  groupBy: GroupBy;
  sortBy: TopSort;
  /** Lower-case substring; '' keeps everything. */
  filter: string;
  limit: number;
  windowSeconds: number;
}

interface Row {
  entry: RankEntry;
  name: string;
  search: string;
}

function rateSum(e: TrafficEntry): number {
  return e.rate.sentBytesPerSecond + e.rate.receivedBytesPerSecond;
}

function describe(e: RankEntry): { name: string; search: string } {
  switch (e.kind) {
    case 'process': {
      const p = e.process;
      const container = containerLabel(p.container, p.containerId);
      return {
        name: p.comm,
        search: `${p.comm} ${p.pid} ${p.user} ${p.cmdline.join(' ')} ${containerSearchText(p.container, p.containerId)} ${container}`,
      };
    }
    case 'connection': {
      const name = `${e.protocol} ${e.localAddress}:${e.localPort} → ${e.remoteAddress}:${e.remotePort}`;
      return { name, search: `${name} ${e.process.comm} ${e.process.pid}` };
    }
    case 'remote':
      return { name: e.remoteAddress, search: e.remoteAddress };
    case 'container': {
      const name = e.containerId === '' ? '(host)' : containerLabel(e.container, e.containerId);
      return {
        name,
        search: `${name} ${e.containerRuntime ?? ''} ${containerSearchText(e.container, e.containerId)}`,
      };
    }
  }
}

function compare(sortBy: TopSort): (a: Row, b: Row) => number {
  const tie = (a: Row, b: Row): number => (a.entry.key < b.entry.key ? -1 : 1);
  switch (sortBy) {
    case 'name':
      return (a, b) => (a.name === b.name ? tie(a, b) : a.name < b.name ? -1 : 1);
    case 'sent':
      return (a, b) =>
        b.entry.rate.sentBytesPerSecond - a.entry.rate.sentBytesPerSecond || tie(a, b);
    case 'received':
      return (a, b) =>
        b.entry.rate.receivedBytesPerSecond - a.entry.rate.receivedBytesPerSecond || tie(a, b);
    case 'total':
      return (a, b) => rateSum(b.entry) - rateSum(a.entry) || tie(a, b);
  }
}

/** The last `n` values of a per-second ring (the sparkline). */
function tail(values: readonly number[], n: number): number[] {
  return values.slice(Math.max(0, values.length - n));
}

/** Seconds of each sparkline. */
export const SPARK_SECONDS = 60;

function rowView(r: Row): JsonObject {
  const e = r.entry;
  const view: JsonObject = {
    key: e.key,
    kind: e.kind,
    name: r.name,
    sentBytesPerSecond: e.rate.sentBytesPerSecond,
    receivedBytesPerSecond: e.rate.receivedBytesPerSecond,
    sentBytes: e.total.sentBytes,
    receivedBytes: e.total.receivedBytes,
    spark: {
      sentBytes: tail(e.history.sentBytes, SPARK_SECONDS),
      receivedBytes: tail(e.history.receivedBytes, SPARK_SECONDS),
    },
  };
  if (e.kind === 'process') {
    view.pid = e.process.pid;
    view.user = e.process.user;
    view.container = containerLabel(e.process.container, e.process.containerId);
    view.exited = e.exited;
    view.connectionCount = e.connectionCount;
  } else if (e.kind === 'connection') {
    view.pid = e.process.pid;
    view.comm = e.process.comm;
  } else {
    view.processCount = e.processCount;
  }
  return view;
}

function sums(entries: readonly TrafficEntry[]): JsonObject {
  let sent = 0;
  let received = 0;
  let sentBytes = 0;
  let receivedBytes = 0;
  for (const e of entries) {
    sent += e.rate.sentBytesPerSecond;
    received += e.rate.receivedBytesPerSecond;
    sentBytes += e.total.sentBytes;
    receivedBytes += e.total.receivedBytes;
  }
  return {
    count: entries.length,
    sentBytesPerSecond: sent,
    receivedBytesPerSecond: received,
    sentBytes,
    receivedBytes,
  };
}

/**
 * The answer of /api/v1/top from every ranked entry of one kind and a snapshot over the same
 * window (for the totals and the unknown share). At most `limit` rows plus one "other" row.
 */
export function topView(
  entries: readonly RankEntry[],
  snapshot: Snapshot,
  o: TopViewOptions,
): JsonObject {
  let rows: Row[] = entries.map((entry) => ({ entry, ...describe(entry) }));
  if (o.filter !== '') rows = rows.filter((r) => r.search.toLowerCase().includes(o.filter));
  rows.sort(compare(o.sortBy));
  const shown = rows.slice(0, o.limit);
  const rest = rows.slice(o.limit).map((r) => r.entry);
  const t = snapshot.totals;
  const u = snapshot.unknownTotals;
  const windowTotal = t.window.sentBytes + t.window.receivedBytes;
  const windowUnknown = u.window.sentBytes + u.window.receivedBytes;
  return {
    groupBy: o.groupBy,
    sortBy: o.sortBy,
    filter: o.filter,
    windowSeconds: o.windowSeconds,
    limit: o.limit,
    matched: rows.length,
    entries: shown.map(rowView),
    other: sums(rest),
    totals: {
      sentBytesPerSecond: t.rate.sentBytesPerSecond,
      receivedBytesPerSecond: t.rate.receivedBytesPerSecond,
      sentBytes: t.total.sentBytes,
      receivedBytes: t.total.receivedBytes,
      spark: {
        sentBytes: tail(t.history.sentBytes, SPARK_SECONDS),
        receivedBytes: tail(t.history.receivedBytes, SPARK_SECONDS),
      },
    },
    unknown: {
      sentBytesPerSecond: u.rate.sentBytesPerSecond,
      receivedBytesPerSecond: u.rate.receivedBytesPerSecond,
      sentBytes: u.total.sentBytes,
      receivedBytes: u.total.receivedBytes,
      /** Share of the window's bytes nobody could be found for (0..1). */
      share: windowTotal > 0 ? windowUnknown / windowTotal : 0,
    },
    devices: [...snapshot.devices],
  };
}
