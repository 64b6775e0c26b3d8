import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { IntervalBatch, ProcessRow } from './batch.js';
import { chooseStep } from './history-query.js';
import { HistoryStore, tiersFor } from './history-store.js';

const T0 = 1_700_000_000; // seconds; a multiple of 10, not of 30, 60 or 3600

function proc(pid: number, comm: string, extra: Partial<ProcessRow> = {}): ProcessRow {
  return {
    key: `${pid}:1000`,
    pid,
    startTime: 1000,
    comm,
    user: 'root',
    uid: 0,
    containerId: null,
    containerRuntime: null,
    exe: `/usr/bin/${comm}`,
    cmdline: [`/usr/bin/${comm}`, '--flag'],
    sentBytes: 0,
    receivedBytes: 0,
    ...extra,
  };
}

function batch(startSeconds: number, processes: ProcessRow[], unknownSent = 0): IntervalBatch {
  let sent = unknownSent;
  let received = 0;
  for (const p of processes) {
    sent += p.sentBytes;
    received += p.receivedBytes;
  }
  return {
    startSeconds,
    endMs: (startSeconds + 10) * 1000,
    coveredMs: 10_000,
    totalSent: sent,
    totalReceived: received,
    unknownSent,
    unknownReceived: 0,
    processes,
    otherProcessSent: 0,
    otherProcessReceived: 0,
    containers: [],
    remotes: [
      { remoteAddress: '198.18.0.2', sentBytes: sent - unknownSent, receivedBytes: received },
    ],
    otherRemoteSent: 0,
    otherRemoteReceived: 0,
  };
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-history-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('stores intervals and answers per-step bytes, series, unknown and other that add up', () => {
  withDir((dir) => {
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    // 6 intervals of 10 s; nginx 1000 B sent each; curl only in the first 3; 50 B unknown each.
    for (let i = 0; i < 6; i++) {
      const ps = [proc(10, 'nginx', { sentBytes: 1000, receivedBytes: 10 })];
      if (i < 3) ps.push(proc(20, 'curl', { sentBytes: 300, receivedBytes: 5 }));
      store.write(batch(T0 + i * 10, ps, 50));
    }
    const r = store.query(
      { fromMs: T0 * 1000, toMs: (T0 + 60) * 1000, stepSeconds: 30, groupBy: 'process', limit: 1 },
      (T0 + 70) * 1000,
    );
    assert.equal(r.resolutionSeconds, 10);
    assert.equal(r.stepSeconds, 30);
    const from = (T0 - (T0 % 30)) * 1000;
    assert.deepEqual(r.times, [from, from + 30_000, from + 60_000]);
    const sum = (xs: (number | null)[]): number => xs.reduce<number>((a, b) => a + (b ?? 0), 0);
    assert.equal(sum(r.totals.sentBytes), 6 * 1050 + 3 * 300);
    assert.equal(sum(r.unknown.sentBytes), 300);
    assert.equal(r.series.length, 1);
    assert.equal(r.series[0]!.name, 'nginx');
    assert.equal(r.series[0]!.sentBytesTotal, 6000);
    assert.deepEqual(r.series[0]!.process?.cmdline, ['/usr/bin/nginx', '--flag']);
    assert.equal(sum(r.other.sentBytes), 900, 'curl is in other');
    for (let i = 0; i < r.times.length; i++) {
      if (r.recordedSeconds[i] === 0) continue;
      assert.equal(
        r.totals.sentBytes[i],
        r.unknown.sentBytes[i]! + r.other.sentBytes[i]! + r.series[0]!.sentBytes[i]!,
      );
    }
    store.close();
  });
});

test('a step nobody recorded is a gap (null, recordedSeconds 0), not zero traffic', () => {
  withDir((dir) => {
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    const base = T0 - (T0 % 60);
    store.write(batch(base, [proc(10, 'nginx', { sentBytes: 100 })]));
    store.write(batch(base + 120, [proc(10, 'nginx', { sentBytes: 100 })]));
    const r = store.query(
      {
        fromMs: base * 1000,
        toMs: (base + 180) * 1000,
        stepSeconds: 60,
        groupBy: 'process',
        limit: 5,
      },
      (base + 200) * 1000,
    );
    assert.deepEqual(r.recordedSeconds, [10, 0, 10]);
    assert.deepEqual(r.totals.sentBytes, [100, null, 100]);
    assert.deepEqual(r.series[0]!.sentBytes, [100, null, 100]);
    store.close();
  });
});

test('exited processes are found by name, pid, user, container and command line', () => {
  withDir((dir) => {
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    store.write(
      batch(T0, [
        proc(10, 'nginx', { sentBytes: 100 }),
        proc(11, 'curl', {
          sentBytes: 50,
          user: 'alice',
          uid: 1000,
          cmdline: ['curl', 'http://198.18.0.9/x'],
        }),
        proc(12, 'redis', { sentBytes: 70, containerId: 'abcdef0123', containerRuntime: 'docker' }),
      ]),
    );
    store.close();
    const ro = HistoryStore.open({ path: join(dir, 'h.db'), readonly: true });
    const q = { fromMs: T0 * 1000, toMs: (T0 + 10) * 1000, groupBy: 'process' as const, limit: 10 };
    const now = (T0 + 3600) * 1000;
    const names = (extra: object): string[] =>
      ro.query({ ...q, ...extra }, now).series.map((s) => s.name);
    assert.deepEqual(names({ name: 'ngi' }), ['nginx']);
    assert.deepEqual(names({ pid: 11 }), ['curl']);
    assert.deepEqual(names({ user: 'alice' }), ['curl']);
    assert.deepEqual(names({ user: '1000' }), ['curl']);
    assert.deepEqual(names({ container: 'abcd' }), ['redis']);
    assert.deepEqual(names({ cmdline: '198.18.0.9/x' }), ['curl']);
    assert.deepEqual(names({ key: '12:1000' }), ['redis']);
    assert.deepEqual(names({ name: 'nothing' }), []);
    const byRemote = ro.query({ ...q, groupBy: 'remote' }, now);
    assert.equal(byRemote.series[0]!.remoteAddress, '198.18.0.2');
    assert.equal(byRemote.series[0]!.sentBytesTotal, 220);
    ro.close();
  });
});

test('coarser tiers hold the same bytes, and old ranges are read from them', () => {
  withDir((dir) => {
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    const base = T0 - (T0 % 3600);
    for (let i = 0; i < 12; i++)
      store.write(batch(base + i * 10, [proc(10, 'nginx', { sentBytes: 7 })]));
    // Two days later the 10 s rows are past their age: the 1 min tier answers.
    const now = (base + 2 * 86_400) * 1000;
    const r = store.query(
      { fromMs: base * 1000, toMs: (base + 120) * 1000, groupBy: 'process', limit: 1 },
      now,
    );
    assert.equal(r.resolutionSeconds, 60);
    assert.deepEqual(r.series[0]!.sentBytes, [42, 42]);
    store.maintain(now, true);
    const fine = store.db.prepare('SELECT count(*) n FROM samples WHERE res = 10').get() as {
      n: number;
    };
    assert.equal(fine.n, 0, '10 s rows past 24 h are deleted');
    const coarse = store.query(
      {
        fromMs: base * 1000,
        toMs: (base + 3600) * 1000,
        stepSeconds: 3600,
        groupBy: 'process',
        limit: 1,
      },
      now,
    );
    assert.equal(coarse.resolutionSeconds, 3600);
    assert.deepEqual(coarse.series[0]!.sentBytes, [84]);
    assert.equal(store.integrityCheck(), 'ok');
    store.close();
  });
});

test('the file is kept under its size bound by deleting the oldest fine rows first', () => {
  withDir((dir) => {
    const path = join(dir, 'h.db');
    const store = HistoryStore.open({ path, maxBytes: 512 * 1024 });
    const ps = Array.from({ length: 200 }, (_, i) =>
      proc(100 + i, `p${i}`, { sentBytes: 1000 + i }),
    );
    for (let i = 0; i < 200; i++) store.write(batch(T0 + i * 10, ps));
    assert.ok(store.sizes().usedBytes > 512 * 1024, 'the test fills more than the bound');
    store.maintain((T0 + 2000) * 1000, true);
    assert.ok(store.sizes().usedBytes <= 512 * 1024, `used ${store.sizes().usedBytes}`);
    assert.ok(statSync(path).size <= 1024 * 1024, `file ${statSync(path).size}`);
    const newest = store.db.prepare('SELECT max(t) t FROM samples WHERE res = 10').get() as {
      t: number;
    };
    assert.equal(newest.t, T0 + 1990, 'the newest rows stay');
    assert.equal(store.integrityCheck(), 'ok');
    store.close();
  });
});

test('a read-only file fails to write with a message that says what to do, and writes resume after', () => {
  withDir((dir) => {
    const path = join(dir, 'h.db');
    const store = HistoryStore.open({ path });
    store.write(batch(T0, [proc(10, 'nginx', { sentBytes: 1 })]));
    store.db.pragma('query_only = 1');
    assert.throws(() => store.write(batch(T0 + 10, [proc(10, 'nginx', { sentBytes: 1 })])), {
      code: 'ERR_HISTORY',
      message: /history database .*h\.db: .*(readonly|read-only|SQLITE_READONLY)/i,
    });
    store.db.pragma('query_only = 0');
    store.write(batch(T0 + 20, [proc(10, 'nginx', { sentBytes: 1 })]));
    assert.equal(store.integrityCheck(), 'ok');
    store.close();
  });
});

test('bad arguments are refused with the reason', () => {
  assert.throws(() => HistoryStore.open({ path: ':memory:', intervalSeconds: 7 }), {
    code: 'ERR_HISTORY',
    message: /dividing 60/,
  });
  withDir((dir) => {
    assert.throws(() => HistoryStore.open({ path: join(dir, 'none.db'), readonly: true }), {
      code: 'ERR_HISTORY',
      message: /does not exist .*run pidflow serve/,
    });
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    assert.throws(
      () => store.query({ fromMs: 2000, toMs: 1000, groupBy: 'process', limit: 1 }, 3000),
      { code: 'ERR_USAGE', message: /must be after 'from'/ },
    );
    assert.throws(
      () =>
        store.query(
          { fromMs: 0, toMs: 86_400_000, stepSeconds: 10, groupBy: 'process', limit: 1 },
          86_400_000,
        ),
      { code: 'ERR_USAGE', message: /8640 points .*limit is 2000/ },
    );
    store.close();
  });
});

test('chooseStep reads the coarsest tier that still holds the range start', () => {
  const tiers = tiersFor(10, 90);
  const now = 100 * 86_400;
  assert.deepEqual(chooseStep(tiers, now - 3600, now, now, undefined), {
    tier: tiers[0],
    stepSeconds: 10,
  });
  assert.equal(chooseStep(tiers, now - 86_400, now, now, undefined).stepSeconds, 240);
  assert.equal(chooseStep(tiers, now - 86_400, now, now, undefined).tier.resolutionSeconds, 60);
  assert.equal(chooseStep(tiers, now - 30 * 86_400, now, now, 10).tier.resolutionSeconds, 3600);
  assert.equal(chooseStep(tiers, now - 600, now, now, 25).stepSeconds, 30);
});

test('names keep their exact bytes in the history, undecodable ones and controls included', () => {
  withDir((dir) => {
    const comm = 'ev\x1b]0;t\x07\udcff'; // an OSC sequence and the byte 0xff
    const cmdline = ['a\udcfe\ud83d\udc0d', 'b\nc', ''];
    const store = HistoryStore.open({ path: join(dir, 'h.db') });
    store.write(
      batch(T0, [
        proc(20, comm, { sentBytes: 10, user: 'u\udcc3', exe: '/tmp/\udce9', cmdline }),
        proc(21, 'plain', { sentBytes: 5 }),
      ]),
    );
    store.close();
    const ro = HistoryStore.open({ path: join(dir, 'h.db'), readonly: true });
    const q = { fromMs: T0 * 1000, toMs: (T0 + 10) * 1000, groupBy: 'process' as const, limit: 10 };
    const series = ro.query(q, (T0 + 3600) * 1000).series;
    const hostile = series.find((s) => s.process?.pid === 20)!;
    assert.equal(hostile.name, comm);
    assert.equal(hostile.process!.comm, comm);
    assert.equal(hostile.process!.user, 'u\udcc3');
    assert.equal(hostile.process!.exe, '/tmp/\udce9');
    assert.deepEqual(hostile.process!.cmdline, cmdline);
    assert.equal(series.find((s) => s.process?.pid === 21)!.process!.comm, 'plain');
    ro.close();
  });
});
