// render() and the key handling of the terminal UI: golden frames, sizes, and what each key does.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertGolden, stripAnsi } from '../../test/golden/assert-golden.js';
import {
  makeConnectionEntry,
  makeContainerEntry,
  makeProcessEntry,
  makeProcessInfo,
  makeRemoteEntry,
  makeSnapshot,
  makeStats,
  makeUnknownEntry,
} from '../../test/helpers/fake-monitor.js';
import type { ContainerInfo } from '../monitor/types.js';
import { MIN_COLUMNS, MIN_ROWS, render } from './render.js';
import { buildRows, createTuiState, handleKey, type KeyPress, type TuiState } from './state.js';

const NGINX = makeProcessInfo(1234, 'nginx', {
  user: 'www-data',
  uid: 33,
  cmdline: ['nginx: worker process'],
});
const SHOP_WEB: ContainerInfo = {
  id: 'f00dfacec0ffee0123456789',
  runtime: 'docker',
  name: 'shop-web-1',
  image: 'registry.example/shop-web:3.1',
  composeProject: 'shop',
  composeService: 'web',
  pod: null,
};
const CURL = makeProcessInfo(4321, 'curl', {
  user: 'alice',
  cmdline: ['curl', '-O', 'http://198.18.0.2/big.iso'],
  containerId: 'f00dfacec0ffee0123456789',
  containerRuntime: 'docker',
  container: SHOP_WEB,
});
const SSHD = makeProcessInfo(777, 'sshd', { cmdline: ['sshd: alice [priv]'] });

function baseState(extra: Partial<TuiState> = {}): TuiState {
  const s0 = createTuiState({
    version: '0.1.0',
    color: false,
    processFilter: { pids: [], names: [] },
  });
  const snapshot = makeSnapshot({
    elapsedMs: 83_000,
    remainingMs: 217_000,
    devices: ['eth0', 'lo'],
    processes: [
      makeProcessEntry(NGINX, {
        sentBytes: 123_456_789,
        receivedBytes: 2_345_678,
        sentHistory: [0, 100, 2000, 50_000, 900_000, 1_200_000],
        receivedHistory: [0, 10, 20, 30, 400, 40_000],
      }),
      makeProcessEntry(CURL, {
        sentBytes: 45_000,
        receivedBytes: 987_654_321,
        sentHistory: [500, 600],
        receivedHistory: [3_000_000, 3_500_000],
      }),
      makeProcessEntry(SSHD, {
        sentBytes: 9000,
        receivedBytes: 7000,
        sentHistory: [10, 0, 0],
        receivedHistory: [0, 0, 0],
      }),
    ],
    unknown: [
      makeUnknownEntry('udp', 5353, {
        sentBytes: 0,
        receivedBytes: 4200,
        receivedHistory: [0, 200],
      }),
    ],
    stats: makeStats({ kernelDroppedPackets: 12, queueDropped: { packets: 3, bytes: 300 } }),
  });
  const connections = [
    makeConnectionEntry(
      NGINX,
      { local: ['198.18.0.1', 443], remote: ['198.18.0.7', 51234] },
      { sentBytes: 120_000_000, receivedBytes: 2_000_000, sentHistory: [1_200_000] },
    ),
    makeConnectionEntry(
      NGINX,
      { local: ['fd42:6e66::1', 443], remote: ['fd42:6e66::9', 40000] },
      { sentBytes: 3_456_789, receivedBytes: 345_678, sentHistory: [1000] },
    ),
    makeConnectionEntry(
      CURL,
      { local: ['198.18.0.1', 40312], remote: ['198.18.0.2', 80] },
      { sentBytes: 45_000, receivedBytes: 987_654_321, receivedHistory: [3_500_000] },
    ),
    makeConnectionEntry(
      SSHD,
      { protocol: 'tcp', local: ['198.18.0.1', 22], remote: ['198.18.0.3', 50022] },
      { sentBytes: 9000, receivedBytes: 7000 },
    ),
  ];
  const remotes = [
    makeRemoteEntry('198.18.0.2', 1, {
      sentBytes: 45_000,
      receivedBytes: 987_654_321,
      receivedHistory: [3_500_000],
    }),
    makeRemoteEntry('198.18.0.7', 1, {
      sentBytes: 120_000_000,
      receivedBytes: 2_000_000,
      sentHistory: [1_200_000],
    }),
    makeRemoteEntry('fd42:6e66::9', 2, { sentBytes: 3_456_789, receivedBytes: 345_678 }),
  ];
  const containers = [
    makeContainerEntry('', null, 2, {
      sentBytes: 123_465_789,
      receivedBytes: 2_352_678,
      sentHistory: [1_200_000],
    }),
    makeContainerEntry(
      'f00dfacec0ffee0123456789',
      'docker',
      1,
      { sentBytes: 45_000, receivedBytes: 987_654_321, receivedHistory: [3_500_000] },
      SHOP_WEB,
    ),
  ];
  return { ...s0, data: { ...s0.data, snapshot, connections, remotes, containers }, ...extra };
}

function press(state: TuiState, ...keys: (string | KeyPress)[]): TuiState {
  let s = state;
  for (const k of keys) {
    const key: KeyPress =
      typeof k === 'string' ? (k.length === 1 ? { name: k, sequence: k } : { name: k }) : k;
    s = handleKey(s, key, 10).state;
  }
  return s;
}

const frame = (state: TuiState, columns: number, rows: number) =>
  `--- ${columns}x${rows}\n` +
  render(state, { columns, rows })
    .map((l) => `|${stripAnsi(l)}`)
    .join('\n') +
  '\n';

test('draws the frames of every view (golden)', () => {
  const s = baseState();
  const frames = [
    frame(s, 110, 12),
    frame(s, 72, 10),
    frame(s, 50, 9),
    frame(press(s, '2'), 110, 10),
    frame(press(s, '3'), 90, 9),
    frame(press(s, '4'), 90, 8),
    frame(press(s, 'down', 'return'), 100, 9),
    frame(press(s, 'c', 'm', 'u', 'u'), 110, 9),
    frame(press(s, '/', 'c', 'u'), 90, 9),
    frame(press(s, ' '), 90, 8),
    frame(press(s, '?'), 90, 20),
    frame(s, 39, 8),
    frame(s, 80, 7),
    frame(baseState({ data: { ...baseState().data, snapshot: undefined } }), 60, 8),
    frame(
      baseState({
        data: {
          ...baseState().data,
          endMessage: 'capture ended: the --timeout was reached (numbers are final)',
        },
      }),
      100,
      8,
    ),
  ];
  assertGolden('tui-frames.txt', frames.join('\n'));
});

test('every frame has exactly `rows` lines none wider than `columns`', () => {
  const states = [
    baseState(),
    press(baseState(), '2'),
    press(baseState(), '3'),
    press(baseState(), '4'),
    press(baseState(), '?'),
    press(baseState(), 'c'),
    press(baseState(), 'return'),
  ];
  for (const s of states) {
    for (const columns of [1, 10, 39, 40, 41, 55, 80, 120, 250]) {
      for (const rows of [1, 5, 7, 8, 9, 24, 60]) {
        const lines = render(s, { columns, rows });
        assert.equal(lines.length, rows, `${columns}x${rows}`);
        for (const line of lines) {
          assert.ok(
            Array.from(stripAnsi(line)).length <= columns,
            `${columns}x${rows}: ${JSON.stringify(line)}`,
          );
        }
      }
    }
  }
});

test('a terminal smaller than the minimum shows a clear message', () => {
  const text = render(baseState(), { columns: MIN_COLUMNS - 1, rows: MIN_ROWS + 5 }).join('\n');
  assert.match(text, /Terminal too small \(39x13\)/);
  assert.match(text, /--text/);
});

test('narrow terminals drop columns instead of wrapping, keeping pid, program and rates', () => {
  const head = (columns: number) => stripAnsi(render(baseState(), { columns, rows: 10 })[3]!);
  assert.match(head(120), /PID +USER +PROGRAM +CONTAINER +SENT\/s +RECV\/s +SENT +RECV +LAST 8s/);
  assert.doesNotMatch(head(72), /LAST|CONTAINER/);
  assert.match(head(50), /^ +PID PROGRAM +SENT\/s +RECV\/s$/);
});

const order = (s: TuiState) => buildRows(s).map((r) => r.pid);

test('sort keys change the order; the same key again reverses it; unknown stays last', () => {
  const s = baseState();
  assert.deepEqual(order(s), [4321, 1234, 777, 0], 'total rate, descending');
  assert.deepEqual(order(press(s, 's')), [1234, 4321, 777, 0]);
  assert.deepEqual(order(press(s, 'r')), [4321, 1234, 777, 0]);
  assert.deepEqual(order(press(s, 'p')), [777, 1234, 4321, 0]);
  assert.deepEqual(order(press(s, 'p', 'p')), [4321, 1234, 777, 0]);
  assert.deepEqual(order(press(s, 'n')), [4321, 1234, 777, 0], 'curl, nginx, sshd');
  assert.deepEqual(order(press(s, 'm', 's')), [1234, 4321, 777, 0], 'totals: sent');
});

test('views switch with 1-4, arrows and Tab, and the header changes', () => {
  const s = baseState();
  assert.equal(press(s, '2').view, 'connections');
  assert.equal(press(s, 'right', 'right').view, 'remotes');
  assert.equal(press(s, 'left').view, 'containers');
  assert.equal(press(s, { name: 'tab', shift: true }).view, 'containers');
  assert.equal(press(s, 'tab').view, 'connections');
  assert.equal(press(s, 'v', 'v', 'v', 'v').view, 'processes');
  assert.match(
    stripAnsi(render(press(s, '3'), { columns: 100, rows: 10 })[3]!),
    /REMOTE HOST +PROCS/,
  );
  assert.match(
    stripAnsi(render(press(s, '4'), { columns: 100, rows: 10 })[3]!),
    /CONTAINER +RUNTIME +PROCS/,
  );
  assert.equal(handleKey(s, { name: '2', sequence: '2' }, 10).action, 'fetch');
});

test('Enter on the selected process shows its connections; Esc and Backspace go back', () => {
  const s = press(baseState(), 'down');
  assert.equal(buildRows(s)[1]!.pid, 1234);
  const drilled = press(s, 'return');
  assert.equal(drilled.drillProcessKey, NGINX.key);
  assert.deepEqual(
    buildRows(drilled).map((r) => r.name),
    ['198.18.0.7:51234', 'fd42:6e66::9:40000'],
  );
  assert.match(
    render(drilled, { columns: 100, rows: 10 }).join('\n'),
    /Connections of 1234 nginx \(www-data\)/,
  );
  assert.equal(press(drilled, 'escape').drillProcessKey, undefined);
  assert.equal(press(drilled, 'backspace').selectedKey, NGINX.key, 'back on the same process');
  assert.equal(
    press(baseState(), 'end', 'return').drillProcessKey,
    undefined,
    'not on the unknown row',
  );
});

test('/ types a filter; Enter keeps it; Esc clears it', () => {
  const typed = press(baseState(), '/', 'n', 'g', 'i');
  assert.equal(typed.isEditingFilter, true);
  assert.deepEqual(order(typed), [1234]);
  assert.equal(press(typed, 'q').filterText, 'ngiq', 'q is text while typing');
  const kept = press(typed, 'return');
  assert.equal(kept.isEditingFilter, false);
  assert.deepEqual(order(kept), [1234]);
  assert.deepEqual(order(press(kept, 'escape')), [4321, 1234, 777, 0]);
  // Container names are searchable: compose project, image, name.
  assert.deepEqual(order(press(baseState(), '/', 's', 'h', 'o', 'p')), [4321]);
  assert.deepEqual(order(press(typed, 'backspace', 'backspace', 'backspace', 'u', 'n', 'k')), [0]);
  assert.equal(press(typed, 'escape').filterText, '');
});

test('--pid/--name filters hide other processes and the unknown row', () => {
  const s = baseState({ processFilter: { pids: [777], names: ['curl'] } });
  assert.deepEqual(order(s), [4321, 777]);
});

test('selection moves with arrows, pages and Home/End, and survives re-sorting', () => {
  const s = baseState();
  assert.equal(press(s, 'down', 'down').selectedKey, SSHD.key);
  assert.equal(press(s, 'down', 'down', 'down', 'down', 'down').selectedKey, '\0unknown');
  assert.equal(press(s, 'end', 'up').selectedKey, SSHD.key);
  assert.equal(press(s, 'pagedown').selectedKey, '\0unknown');
  assert.equal(press(s, 'pagedown', 'home').selectedKey, CURL.key);
  const sorted = press(s, 'down', 'p');
  assert.equal(sorted.selectedKey, NGINX.key);
  assert.match(render(sorted, { columns: 90, rows: 10 })[5]!, /^>\s+1234/);
});

test('help opens with ? or h, lists every key, and closes with any key', () => {
  for (const k of ['?', 'h']) {
    const s = press(baseState(), k);
    assert.equal(s.isHelpVisible, true);
    const text = render(s, { columns: 100, rows: 24 }).join('\n');
    for (const key of [
      'Enter',
      'Esc',
      'Tab',
      's r t',
      'p n',
      'm',
      'u',
      'c',
      '/',
      'Space',
      'q Ctrl-C',
    ]) {
      assert.ok(text.includes(key), `help lists ${key}`);
    }
    assert.equal(press(s, 'x').isHelpVisible, false);
  }
});

test('q and Ctrl-C quit; Space pauses; u cycles units; c shows command lines', () => {
  assert.equal(handleKey(baseState(), { name: 'q', sequence: 'q' }, 10).action, 'quit');
  assert.equal(
    handleKey(baseState(), { name: 'c', ctrl: true, sequence: '\x03' }, 10).action,
    'quit',
  );
  assert.equal(handleKey(press(baseState(), '/'), { name: 'c', ctrl: true }, 10).action, 'quit');
  assert.equal(press(baseState(), ' ').paused, true);
  assert.equal(press(baseState(), ' ', ' ').paused, false);
  assert.deepEqual(
    ['u', 'u', 'u', 'u', 'u'].map(
      (_, i) => press(baseState(), ...Array<string>(i + 1).fill('u')).unit,
    ),
    ['B', 'KiB', 'MiB', 'GiB', 'auto'],
  );
  assert.match(
    render(press(baseState(), 'c'), { columns: 120, rows: 10 }).join('\n'),
    /curl -O http:\/\/198\.18\.0\.2\/big\.iso/,
  );
});

test('colours are used only when enabled', () => {
  const plain = render(baseState(), { columns: 100, rows: 10 }).join('');
  assert.ok(!plain.includes('\x1b['));
  const coloured = render(baseState({ color: true }), { columns: 100, rows: 10 }).join('');
  assert.ok(coloured.includes('\x1b[7m'));
});
