// A child process for the kill -9 tests: writes large history intervals in a tight loop (each
// one transaction of `rows` process rows) and prints "wrote <i>" after each commit.
// argv: <db path> <first interval start, seconds> <rows per interval>

import type { ProcessRow } from '../../src/history/batch.js';
import { HistoryStore } from '../../src/history/history-store.js';

const [path, startText, rowsText] = process.argv.slice(2);
const start = Number(startText);
const rows = Number(rowsText);
const store = HistoryStore.open({ path: path! });
const processes: ProcessRow[] = Array.from({ length: rows }, (_, i) => ({
  key: `${1000 + i}:1`,
  pid: 1000 + i,
  startTime: 1,
  comm: `p${i}`,
  user: 'root',
  uid: 0,
  containerId: null,
  containerRuntime: null,
  exe: '/bin/p',
  cmdline: ['/bin/p', String(i)],
  sentBytes: 100,
  receivedBytes: 1,
}));
// Continue after the newest interval already there (the previous run was killed).
const last = store.db
  .prepare('SELECT max(t) t FROM samples WHERE res = ? AND kind = 0')
  .get(store.intervalSeconds) as { t: number | null };
let t = last.t === null ? start : last.t + store.intervalSeconds;
for (let i = 0; i < 100_000; i++, t += store.intervalSeconds) {
  store.write({
    startSeconds: t,
    endMs: t * 1000,
    coveredMs: store.intervalSeconds * 1000,
    totalSent: rows * 100,
    totalReceived: rows,
    unknownSent: 0,
    unknownReceived: 0,
    processes,
    otherProcessSent: 0,
    otherProcessReceived: 0,
    containers: [],
    remotes: [],
    otherRemoteSent: 0,
    otherRemoteReceived: 0,
  });
  process.stdout.write(`wrote ${t}\n`);
}
store.close();
