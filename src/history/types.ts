// Public types of the history database: what a query asks for and the JSON shape it answers
// (the contract of GET /api/v1/history and `pidflow history --json`, docs/serve.md).

/** How history rows are grouped into series. */
export type HistoryGroupBy = 'process' | 'container' | 'remote';

/** A checked history query (see docs/serve.md for the HTTP parameters). */
export interface HistoryQuery {
  /** Start, ms since the epoch (inclusive). */
  fromMs: number;
  /** End, ms since the epoch (exclusive). */
  toMs: number;
  /** Seconds per point; undefined picks one (at most 360 points). */
  stepSeconds?: number | undefined;
  groupBy: HistoryGroupBy;
  /** Series returned at most (1..100). */
  limit: number;
  /** Only the series with this key. */
  key?: string | undefined;
  /** Process filters (groupBy 'process' only). */
  pid?: number | undefined;
  /** Substring of comm. */
  name?: string | undefined;
  /** User name or uid, exact. */
  user?: string | undefined;
  /** Prefix of the container id. */
  container?: string | undefined;
  /** Substring of the command line (arguments joined by spaces). */
  cmdline?: string | undefined;
}

/** Bytes per step in both directions; null where nothing was recorded. */
export interface HistoryColumns {
  sentBytes: (number | null)[];
  receivedBytes: (number | null)[];
}

/** A process as the history database knows it (last values seen). */
export interface HistoryProcessInfo {
  key: string;
  pid: number;
  startTime: number;
  comm: string;
  user: string;
  uid: number;
  containerId: string | null;
  containerRuntime: string | null;
  exe: string;
  cmdline: string[];
  /** First and last interval with traffic, ms since the epoch. */
  firstSeen: number;
  lastSeen: number;
}

/** One series of a history answer. */
export interface HistorySeries extends HistoryColumns {
  key: string;
  /** What to show: comm, container id ('' = the host) or remote address. Untrusted text. */
  name: string;
  sentBytesTotal: number;
  receivedBytesTotal: number;
  process?: HistoryProcessInfo;
  containerId?: string;
  containerRuntime?: string | null;
  remoteAddress?: string;
}

/** The answer of a history query (without the API envelope). */
export interface HistoryResult {
  from: number;
  to: number;
  stepSeconds: number;
  resolutionSeconds: number;
  groupBy: HistoryGroupBy;
  limit: number;
  /** Start of each step, ms since the epoch. */
  times: number[];
  /** Seconds of each step the agent recorded (0 = a gap). */
  recordedSeconds: number[];
  totals: HistoryColumns;
  unknown: HistoryColumns;
  series: HistorySeries[];
  other: HistoryColumns;
}
