// Reads the history database into the columnar answer of GET /api/v1/history: picks the stored
// resolution, buckets rows into steps, ranks the series and fills in totals, unknown and other.

import { UsageError } from '../errors.js';
import {
  KIND_CONTAINER,
  KIND_PROCESS,
  KIND_REMOTE,
  KIND_TOTAL,
  KIND_UNKNOWN,
  type HistoryStore,
  type Tier,
} from './history-store.js';
import type {
  HistoryColumns,
  HistoryProcessInfo,
  HistoryQuery,
  HistoryResult,
  HistorySeries,
} from './types.js';
import { fromStoredName } from '../text/bytes.js';

/** Points returned when no step is given, at most. */
export const DEFAULT_MAX_POINTS = 360;
/** Points a query may ask for, at most. */
export const MAX_POINTS = 2000;
export const MAX_SERIES = 100;

/** The stored tier to read and the step, for a range. */
export function chooseStep(
  tiers: readonly Tier[],
  fromS: number,
  toS: number,
  nowS: number,
  stepSeconds: number | undefined,
): { tier: Tier; stepSeconds: number } {
  // Tiers that still hold `from` (the coarsest always qualifies).
  const covering = tiers.filter((t) => nowS - t.keepSeconds <= fromS);
  const usable = covering.length > 0 ? covering : [tiers[tiers.length - 1]!];
  const wanted = stepSeconds ?? Math.max(1, Math.ceil((toS - fromS) / DEFAULT_MAX_POINTS));
  // The coarsest usable tier not coarser than the wanted step (fewest rows to read), else the finest.
  let tier = usable[0]!;
  for (const t of usable) if (t.resolutionSeconds <= wanted) tier = t;
  const res = tier.resolutionSeconds;
  return { tier, stepSeconds: Math.max(res, Math.ceil(wanted / res) * res) };
}

function columns(n: number): HistoryColumns {
  return {
    sentBytes: new Array<number | null>(n).fill(0),
    receivedBytes: new Array<number | null>(n).fill(0),
  };
}

interface SampleRow {
  t: number;
  ref: number;
  sent: number;
  received: number;
  covered: number;
}

/** Run `q` against `store`. */
export function runHistoryQuery(
  store: HistoryStore,
  q: HistoryQuery,
  nowMs: number,
): HistoryResult {
  if (!(q.toMs > q.fromMs)) {
    throw new UsageError(
      `history range is empty: 'to' (${q.toMs}) must be after 'from' (${q.fromMs})`,
    );
  }
  const db = store.db;
  const nowS = Math.floor(nowMs / 1000);
  const { tier, stepSeconds } = chooseStep(
    store.tiers,
    Math.floor(q.fromMs / 1000),
    Math.ceil(q.toMs / 1000),
    nowS,
    q.stepSeconds,
  );
  const fromS = Math.floor(q.fromMs / 1000 / stepSeconds) * stepSeconds;
  const toS = Math.ceil(q.toMs / 1000 / stepSeconds) * stepSeconds;
  const n = (toS - fromS) / stepSeconds;
  if (n > MAX_POINTS) {
    throw new UsageError(
      `history query asks for ${n} points (range / step); the limit is ${MAX_POINTS}: use a larger 'step' or a shorter range`,
    );
  }
  const res = tier.resolutionSeconds;
  const index = (t: number): number => Math.floor((t - fromS) / stepSeconds);
  const rowsOf = db.prepare(
    'SELECT t, ref, sent, received, covered FROM samples WHERE res = ? AND kind = ? AND t >= ? AND t < ?',
  );

  const recorded = new Array<number>(n).fill(0);
  const totals = columns(n);
  for (const r of rowsOf.all(res, KIND_TOTAL, fromS, toS) as SampleRow[]) {
    const i = index(r.t);
    recorded[i]! += r.covered;
    totals.sentBytes[i]! += r.sent;
    totals.receivedBytes[i]! += r.received;
  }
  const unknown = columns(n);
  for (const r of rowsOf.all(res, KIND_UNKNOWN, fromS, toS) as SampleRow[]) {
    const i = index(r.t);
    unknown.sentBytes[i]! += r.sent;
    unknown.receivedBytes[i]! += r.received;
  }

  const kind =
    q.groupBy === 'process'
      ? KIND_PROCESS
      : q.groupBy === 'container'
        ? KIND_CONTAINER
        : KIND_REMOTE;
  // The refs a filter allows, as SQL over the identity tables.
  const filter = refFilter(q);
  const top = db
    .prepare(
      `SELECT ref, sum(sent) s, sum(received) r FROM samples
       WHERE res = ? AND kind = ? AND t >= ? AND t < ? AND ref != 0 ${filter.sql}
       GROUP BY ref ORDER BY s + r DESC, ref LIMIT ?`,
    )
    .all(res, kind, fromS, toS, ...filter.params, q.limit) as {
    ref: number;
    s: number;
    r: number;
  }[];

  const series: HistorySeries[] = [];
  const byRef = new Map<number, HistorySeries>();
  for (const t of top) {
    const s = describeRef(store, q.groupBy, t.ref);
    if (s === undefined) continue;
    const c = columns(n);
    const entry: HistorySeries = { ...s, sentBytesTotal: t.s, receivedBytesTotal: t.r, ...c };
    series.push(entry);
    byRef.set(t.ref, entry);
  }
  const attributed = columns(n);
  if (byRef.size > 0) {
    const refs = [...byRef.keys()];
    const rows = db
      .prepare(
        `SELECT t, ref, sent, received FROM samples WHERE res = ? AND kind = ? AND t >= ? AND t < ?
         AND ref IN (${refs.map(() => '?').join(',')})`,
      )
      .all(res, kind, fromS, toS, ...refs) as SampleRow[];
    for (const r of rows) {
      const s = byRef.get(r.ref)!;
      const i = index(r.t);
      s.sentBytes[i]! += r.sent;
      s.receivedBytes[i]! += r.received;
    }
  }
  for (const r of db
    .prepare(
      'SELECT t, sum(sent) sent, sum(received) received FROM samples WHERE res = ? AND kind = ? AND t >= ? AND t < ? GROUP BY t',
    )
    .all(res, kind, fromS, toS) as SampleRow[]) {
    const i = index(r.t);
    attributed.sentBytes[i]! += r.sent;
    attributed.receivedBytes[i]! += r.received;
  }
  const other = columns(n);
  for (let i = 0; i < n; i++) {
    let sent = attributed.sentBytes[i]!;
    let received = attributed.receivedBytes[i]!;
    for (const s of series) {
      sent -= s.sentBytes[i]!;
      received -= s.receivedBytes[i]!;
    }
    other.sentBytes[i] = Math.max(0, sent);
    other.receivedBytes[i] = Math.max(0, received);
  }
  const recordedSeconds = recorded.map((ms) => Math.min(stepSeconds, Math.round(ms / 1000)));
  // Steps nobody recorded are gaps: null, not zero.
  for (let i = 0; i < n; i++) {
    if (recorded[i] !== 0) continue;
    for (const c of [totals, unknown, other, ...series]) {
      c.sentBytes[i] = null;
      c.receivedBytes[i] = null;
    }
  }
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((fromS + i * stepSeconds) * 1000);
  return {
    from: fromS * 1000,
    to: toS * 1000,
    stepSeconds,
    resolutionSeconds: res,
    groupBy: q.groupBy,
    limit: q.limit,
    times,
    recordedSeconds,
    totals,
    unknown,
    series,
    other,
  };
}

/** SQL restricting `ref` to what the query's key and process filters allow. */
function refFilter(q: HistoryQuery): { sql: string; params: (string | number)[] } {
  const parts: string[] = [];
  const params: (string | number)[] = [];
  if (q.groupBy === 'process') {
    if (q.key !== undefined) {
      parts.push('key = ?');
      params.push(q.key);
    }
    if (q.pid !== undefined) {
      parts.push('pid = ?');
      params.push(q.pid);
    }
    if (q.name !== undefined) {
      parts.push('instr(comm, ?) > 0');
      params.push(q.name);
    }
    if (q.user !== undefined) {
      parts.push('(user = ? OR CAST(uid AS TEXT) = ?)');
      params.push(q.user, q.user);
    }
    if (q.container !== undefined) {
      parts.push('substr(container_id, 1, ?) = ?');
      params.push(q.container.length, q.container);
    }
    if (q.cmdline !== undefined) {
      parts.push("instr(replace(cmdline, char(0), ' '), ?) > 0");
      params.push(q.cmdline);
    }
    if (parts.length === 0) return { sql: '', params };
    return { sql: `AND ref IN (SELECT id FROM processes WHERE ${parts.join(' AND ')})`, params };
  }
  if (q.key === undefined) return { sql: '', params };
  const kind = q.groupBy === 'container' ? KIND_CONTAINER : KIND_REMOTE;
  return {
    sql: 'AND ref IN (SELECT id FROM names WHERE kind = ? AND name = ?)',
    params: [kind, q.key],
  };
}

interface ProcessDbRow {
  key: string;
  pid: number;
  start_time: number;
  comm: string | Uint8Array;
  user: string | Uint8Array;
  uid: number;
  container_id: string | null;
  container_runtime: string | null;
  exe: string | Uint8Array;
  cmdline: string | Uint8Array;
  first_seen: number;
  last_seen: number;
}

/** Key, name and identity of one ref; undefined when its identity row is gone. */
function describeRef(
  store: HistoryStore,
  groupBy: HistoryQuery['groupBy'],
  ref: number,
): Omit<HistorySeries, keyof HistoryColumns | 'sentBytesTotal' | 'receivedBytesTotal'> | undefined {
  if (groupBy === 'process') {
    const p = store.db.prepare('SELECT * FROM processes WHERE id = ?').get(ref) as
      ProcessDbRow | undefined;
    if (p === undefined) return undefined;
    const cmdline = fromStoredName(p.cmdline);
    const process: HistoryProcessInfo = {
      key: p.key,
      pid: p.pid,
      startTime: p.start_time,
      comm: fromStoredName(p.comm),
      user: fromStoredName(p.user),
      uid: p.uid,
      containerId: p.container_id,
      containerRuntime: p.container_runtime,
      exe: fromStoredName(p.exe),
      cmdline: cmdline === '' ? [] : cmdline.split('\0'),
      firstSeen: p.first_seen,
      lastSeen: p.last_seen,
    };
    return { key: p.key, name: process.comm, process };
  }
  const row = store.db.prepare('SELECT name, extra FROM names WHERE id = ?').get(ref) as
    { name: string; extra: string | null } | undefined;
  if (row === undefined) return undefined;
  if (groupBy === 'container') {
    return { key: row.name, name: row.name, containerId: row.name, containerRuntime: row.extra };
  }
  return { key: row.name, name: row.name, remoteAddress: row.name };
}
