import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeProcessEntry, makeProcessInfo } from '../../test/helpers/fake-monitor.js';
import type { ProcessEntry } from '../monitor/types.js';
import { MonotonicCounters } from './monotonic-counters.js';
import { isAggregateEntry } from './process-deltas.js';
import { ProcessSeriesTable, type SeriesCounters } from './process-series.js';

function proc(
  pid: number,
  comm: string,
  sentBytes: number,
  receivedBytes: number,
  container?: string,
): ProcessEntry {
  return makeProcessEntry(
    makeProcessInfo(
      pid,
      comm,
      container === undefined ? {} : { containerId: container, containerRuntime: 'docker' },
    ),
    { sentBytes, receivedBytes },
  );
}

/** The accountant's aggregate of exited processes: not a `pid:startTime` key. */
function exitedAggregate(sentBytes: number, receivedBytes: number): ProcessEntry {
  return makeProcessEntry(
    makeProcessInfo(0, '(exited)', { key: 'exited' }),
    { sentBytes, receivedBytes },
    { exited: true },
  );
}

function find(series: SeriesCounters[], comm: string, container = ''): SeriesCounters | undefined {
  return series.find((s) => s.comm === comm && s.container === container);
}

test('sums processes with the same comm and container into one series', () => {
  const table = new ProcessSeriesTable();
  table.update(
    [proc(10, 'nginx', 1000, 5000), proc(11, 'nginx', 2000, 7000), proc(12, 'curl', 300, 400)],
    0,
  );
  const s = table.processSeries();
  assert.equal(find(s, 'nginx')?.sentBytes, 3000);
  assert.equal(find(s, 'nginx')?.receivedBytes, 12000);
  assert.equal(find(s, 'curl')?.sentBytes, 300);
  assert.deepEqual(
    s.map((x) => x.comm),
    ['curl', 'nginx'],
  );
});

test('a process folded into the exited aggregate keeps its series and is not counted twice', () => {
  const table = new ProcessSeriesTable();
  table.update([proc(10, 'nginx', 1000, 100), proc(11, 'nginx', 2000, 200)], 0);
  // pid 10 sends 500 more, then exits; the accountant folds its final 1500/100 into `exited`.
  table.update([proc(11, 'nginx', 2500, 200), exitedAggregate(1500, 100)], 1000);
  const s = table.processSeries();
  // nginx: 1000 + 2500 = 3500 seen under nginx; the last 500 of pid 10 happened after we
  // last saw it and show up under the aggregate: total across series = 1500 + 2500 = 4000.
  assert.equal(find(s, 'nginx')?.sentBytes, 3000 + 500);
  assert.equal(find(s, '(exited)')?.sentBytes, 500);
  assert.equal(find(s, '(exited)')?.receivedBytes, 0);
  const sum = s.reduce((a, x) => a + x.sentBytes, 0);
  assert.equal(sum, 1500 + 2500);
  // Later a new nginx process: the series keeps growing from where it was.
  table.update(
    [proc(12, 'nginx', 700, 0), proc(11, 'nginx', 2500, 200), exitedAggregate(1500, 100)],
    2000,
  );
  assert.equal(find(table.processSeries(), 'nginx')?.sentBytes, 3500 + 700);
  assert.equal(find(table.processSeries(), '(exited)')?.sentBytes, 500);
});

test('series never decrease, whatever the entries do', () => {
  const table = new ProcessSeriesTable();
  const steps: ProcessEntry[][] = [
    [proc(1, 'a', 100, 100), proc(2, 'a', 50, 0)],
    [proc(1, 'a', 90, 100)], // pid 2 gone without an aggregate (evicted), pid 1 went down
    [proc(1, 'a', 200, 150), exitedAggregate(10, 0)],
    [],
    [proc(3, 'a', 5, 5)],
  ];
  let previous = 0;
  for (const [i, entries] of steps.entries()) {
    table.update(entries, i * 1000);
    const now = find(table.processSeries(), 'a')?.sentBytes ?? 0;
    assert.ok(now >= previous, `step ${i}: ${now} < ${previous}`);
    previous = now;
  }
  // A live entry that went down resumes from its lower value: 90 -> 200 adds 110.
  assert.equal(previous, 100 + 50 + (200 - 90) + 5);
});

test('beyond maxSeries new comm/container pairs go to comm="other" and are counted', () => {
  const table = new ProcessSeriesTable({ maxSeries: 2 });
  table.update(
    [proc(1, 'a', 10, 0), proc(2, 'b', 20, 0), proc(3, 'c', 30, 0), proc(4, 'd', 40, 0)],
    0,
  );
  const s = table.processSeries();
  assert.deepEqual(
    s.map((x) => [x.comm, x.container, x.sentBytes]),
    [
      ['a', '', 10],
      ['b', '', 20],
      ['other', 'other', 70],
    ],
  );
  assert.equal(table.foldedEntries, 2);
});

test('the series of a process gone for the grace period disappears and makes room', () => {
  const table = new ProcessSeriesTable({ maxSeries: 1, idleEvictMs: 60_000 });
  table.update([proc(1, 'a', 10, 0)], 0);
  table.update([], 30_000);
  table.update([proc(2, 'b', 5, 0)], 30_000);
  assert.equal(find(table.processSeries(), 'other', 'other')?.sentBytes, 5);
  table.update([], 120_000);
  table.update([proc(3, 'c', 7, 0)], 120_000);
  assert.equal(find(table.processSeries(), 'c')?.sentBytes, 7);
  assert.equal(find(table.processSeries(), 'a'), undefined);
  assert.equal(table.seriesCounts().expired, 2, "a's process and container series expired");
});

test('series disappear after the grace period even when the table is not full', () => {
  const table = new ProcessSeriesTable({ maxSeries: 100, idleEvictMs: 60_000 });
  table.update([proc(1, 'a', 10, 0, 'c0ffee'), proc(2, 'b', 10, 0)], 0);
  assert.equal(table.seriesCounts().process, 2);
  table.update([proc(2, 'b', 20, 0)], 59_999);
  assert.notEqual(find(table.processSeries(), 'a', 'c0ffee'), undefined, 'within the grace period');
  table.update([proc(2, 'b', 30, 0)], 60_000);
  assert.equal(find(table.processSeries(), 'a', 'c0ffee'), undefined);
  assert.deepEqual(
    table.containerSeries().map((c) => c.container),
    [''],
  );
  assert.equal(table.seriesCounts().process, 1);
});

test('the number of series never exceeds the budget (plus other)', () => {
  const table = new ProcessSeriesTable({ maxSeries: 50, idleEvictMs: 1000 });
  for (let round = 0; round < 20; round++) {
    const entries = Array.from({ length: 40 }, (_, i) =>
      proc(round * 100 + i, `c${round}-${i}`, 10, 0, `ct${i % 7}-${round}`),
    );
    table.update(entries, round * 500);
    const counts = table.seriesCounts();
    assert.ok(counts.process <= 51, `round ${round}: ${counts.process}`);
    assert.ok(counts.container <= 51);
    assert.equal(table.processSeries().length, counts.process);
  }
});

test('container series sum the processes of each container, the host as ""', () => {
  const table = new ProcessSeriesTable();
  table.update(
    [proc(1, 'a', 10, 1, 'c0ffee'), proc(2, 'b', 20, 2, 'c0ffee'), proc(3, 'c', 40, 4)],
    0,
  );
  const c = table.containerSeries();
  assert.deepEqual(
    c.map((x) => [x.container, x.sentBytes, x.receivedBytes]),
    [
      ['', 40, 4],
      ['c0ffee', 30, 3],
    ],
  );
});

test('recognises aggregate entries by their key', () => {
  assert.equal(isAggregateEntry(proc(5, 'x', 0, 0)), false);
  assert.equal(isAggregateEntry(exitedAggregate(0, 0)), true);
});

test('MonotonicCounters absorb decreases into an offset', () => {
  const m = new MonotonicCounters();
  assert.equal(m.value('k', 10), 10);
  assert.equal(m.value('k', 4), 10);
  assert.equal(m.value('k', 6), 12);
  assert.equal(m.value('other', 1), 1);
});
