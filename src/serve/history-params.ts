// The query parameters of GET /api/v1/history, checked into a HistoryQuery (docs/serve.md).

import { MAX_SERIES } from '../history/history-query.js';
import type { HistoryGroupBy, HistoryQuery } from '../history/types.js';
import { HttpError, type Query } from './query.js';

const GROUPS: readonly HistoryGroupBy[] = ['process', 'container', 'remote'];
const DEFAULT_RANGE_MS = 3_600_000;
/** Milliseconds since the epoch up to the year 2286: anything larger is a typo. */
const MAX_TIME_MS = 9_999_999_999_999;
const MAX_TEXT_CHARS = 256;

/** Check the history parameters of one request; `nowMs` fills in the defaults. */
export function historyQueryFromParams(q: Query, nowMs: number, maxRangeMs: number): HistoryQuery {
  q.allow(
    'from',
    'to',
    'seconds',
    'step',
    'groupBy',
    'limit',
    'key',
    'pid',
    'name',
    'user',
    'container',
    'cmdline',
  );
  if (q.has('seconds') && q.has('from')) {
    throw new HttpError(400, 'ERR_BAD_PARAMETER', "give 'from' or 'seconds', not both");
  }
  const toMs = q.integer('to', 1, MAX_TIME_MS, nowMs);
  const seconds = q.integer('seconds', 1, Math.floor(maxRangeMs / 1000), 0);
  const fromMs = q.integer(
    'from',
    0,
    MAX_TIME_MS,
    seconds > 0 ? nowMs - seconds * 1000 : toMs - DEFAULT_RANGE_MS,
  );
  if (fromMs >= toMs) {
    throw new HttpError(
      400,
      'ERR_BAD_PARAMETER',
      `'from' (${fromMs}) must be before 'to' (${toMs})`,
    );
  }
  if (toMs - fromMs > maxRangeMs) {
    throw new HttpError(
      400,
      'ERR_BAD_PARAMETER',
      `the range 'to' - 'from' is ${Math.ceil((toMs - fromMs) / 86_400_000)} days; at most ${maxRangeMs / 86_400_000} days`,
    );
  }
  const step = q.integer('step', 1, 86_400 * 7, 0);
  const groupBy = q.oneOf('groupBy', GROUPS, 'process');
  const query: HistoryQuery = {
    fromMs,
    toMs,
    stepSeconds: step === 0 ? undefined : step,
    groupBy,
    limit: q.integer('limit', 1, MAX_SERIES, 10),
    key: q.text('key', MAX_TEXT_CHARS),
  };
  const processFilters = ['pid', 'name', 'user', 'container', 'cmdline'].filter((n) => q.has(n));
  if (processFilters.length > 0 && groupBy !== 'process') {
    throw new HttpError(
      400,
      'ERR_BAD_PARAMETER',
      `${processFilters.join(', ')} filter processes: use them with groupBy=process`,
    );
  }
  const pid = q.integer('pid', 1, 4_194_304, 0);
  if (pid !== 0) query.pid = pid;
  query.name = q.text('name', MAX_TEXT_CHARS);
  query.user = q.text('user', MAX_TEXT_CHARS);
  query.container = q.text('container', MAX_TEXT_CHARS);
  query.cmdline = q.text('cmdline', MAX_TEXT_CHARS);
  return query;
}
