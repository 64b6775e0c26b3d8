import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ProcessRow } from '../history/batch.js';
import { HistoryStore } from '../history/history-store.js';
import { parseTimeArg, runHistoryCommand } from './history-command.js';

const NOW = Date.UTC(2026, 11, 4, 5, 0, 0);
const T3 = Date.UTC(2026, 11, 4, 3, 0, 0) / 1000;

function row(
  pid: number,
  comm: string,
  sentBytes: number,
  extra: Partial<ProcessRow> = {},
): ProcessRow {
  return {
    key: `${pid}:7`,
    pid,
    startTime: 7,
    comm,
    user: 'www-data',
    uid: 33,
    containerId: null,
    containerRuntime: null,
    exe: '/bin/x',
    cmdline: [comm, '-q'],
    sentBytes,
    receivedBytes: 1,
    ...extra,
  };
}

function makeDb(dir: string): string {
  const path = join(dir, 'h.db');
  const store = HistoryStore.open({ path });
  // 03:00-03:10 UTC: nginx 1000 B per 10 s, an exited job in a container, a hostile name.
  for (let i = 0; i < 60; i++) {
    const processes = [row(10, 'nginx', 1000)];
    if (i < 6)
      processes.push(
        row(20, 'backup', 5000, { containerId: 'feedbeef00', containerRuntime: 'docker' }),
      );
    if (i === 0) processes.push(row(30, 'evil\u001b[2Jname\u202e', 10));
    let sent = 0;
    for (const p of processes) sent += p.sentBytes;
    store.write({
      startSeconds: T3 + i * 10,
      endMs: (T3 + i * 10 + 10) * 1000,
      coveredMs: 10_000,
      totalSent: sent + 7,
      totalReceived: processes.length,
      unknownSent: 7,
      unknownReceived: 0,
      processes,
      otherProcessSent: 0,
      otherProcessReceived: 0,
      containers: [],
      remotes: [],
      otherRemoteSent: 0,
      otherRemoteReceived: 0,
    });
  }
  store.close();
  return path;
}

function run(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const code = runHistoryCommand(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    now: () => NOW,
  });
  return { code, out, err };
}

test('pidflow history prints who used the network in a range, exited processes included', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-hcli-'));
  try {
    const db = makeDb(dir);
    const r = run(['--db', db, '--since', '2026-12-04T03:00Z', '--until', '2026-12-04T04:00Z']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /by process, from 10 s rows; agent recorded 600 of 3600 s/);
    assert.match(r.out, /\n\s*10\s+nginx\s+www-data\s+-\s+58\.6 KiB\s+60 B .*nginx -q\n/);
    assert.match(r.out, /\n\s*20\s+backup\s+www-data\s+feedbeef00\s+29\.3 KiB/);
    assert.match(r.out, /evil\\x1b\[2Jname\\u202e/, 'control characters are shown escaped');
    assert.ok(!r.out.includes(String.fromCharCode(27)), 'no raw ESC reaches the terminal');
    assert.match(r.out, /\(unknown\)\s+420 B/);

    const found = run([
      '--db',
      db,
      '--since',
      '2026-12-04T02:00Z',
      '--container',
      'feed',
      '--json',
    ]);
    assert.equal(found.code, 0, found.err);
    const json = JSON.parse(found.out) as { series: { process: { pid: number } }[] };
    assert.deepEqual(
      json.series.map((s) => s.process.pid),
      [20],
    );
    const byContainer = run([
      '--db',
      db,
      '--since',
      '2026-12-04T03:00Z',
      '--until',
      '2026-12-04T03:30Z',
      '--by',
      'container',
    ]);
    assert.match(byContainer.out, /\(other\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pidflow history errors say what to do', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-hcli-'));
  try {
    const missing = run(['--db', join(dir, 'none.db')]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.err,
      /^error: history database .*none\.db does not exist .*run pidflow serve/,
    );
    const bad = run(['--db', join(dir, 'none.db'), '--since', 'yesterday-ish']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /expected a time such as 03:00/);
    const order = run(['--since', '-1h', '--until', '-2h']);
    assert.equal(order.code, 2);
    assert.match(order.err, /--until .* must be after --since/);
    const filter = run(['--by', 'remote', '--name', 'x']);
    assert.match(filter.err, /filter processes: use them with --by process/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseTimeArg reads clock times, dates, durations ago and ISO times', () => {
  const now = new Date(2026, 11, 4, 5, 30).getTime(); // local 05:30
  assert.equal(parseTimeArg('03:00', now), new Date(2026, 11, 4, 3, 0).getTime());
  assert.equal(
    parseTimeArg('06:00', now),
    new Date(2026, 11, 3, 6, 0).getTime(),
    'latest in the past',
  );
  const since = parseTimeArg('23:00', now);
  assert.equal(parseTimeArg('01:00', now, since), new Date(2026, 11, 4, 1, 0).getTime());
  assert.equal(parseTimeArg('-2h', now), now - 7_200_000);
  assert.equal(parseTimeArg('90m', now), now - 5_400_000);
  assert.equal(parseTimeArg('2026-12-04', now), new Date(2026, 11, 4).getTime());
  assert.equal(parseTimeArg('2026-12-04T03:00Z', now), Date.UTC(2026, 11, 4, 3));
  assert.equal(parseTimeArg('now', now), now);
  assert.throws(() => parseTimeArg('25:00', now), /expected a time/);
});

test('pidflow history --json keeps a hostile name exact, in ASCII only (no raw ESC or bidi)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-hcli-'));
  try {
    const db = makeDb(dir);
    const r = run([
      '--db',
      db,
      '--since',
      '2026-12-04T03:00Z',
      '--until',
      '2026-12-04T03:01Z',
      '--json',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^[\x20-\x7e]*\n$/, 'one line of printable ASCII');
    assert.ok(r.out.includes('"evil\\u001b[2Jname\\u202e"'), r.out);
    const json = JSON.parse(r.out) as { series: { process: { pid: number; comm: string } }[] };
    const evil = json.series.find((s) => s.process.pid === 30);
    assert.equal(evil?.process.comm, 'evil\u001b[2Jname\u202e', 'the exact value round-trips');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
