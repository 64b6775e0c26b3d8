// render() with names chosen by an attacker: every view, the drill-down, the filter prompt and
// the help draw only our own styles, and every line keeps exactly the terminal's width.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  makeConnectionEntry,
  makeContainerEntry,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
} from '../../test/helpers/fake-monitor.js';
import type { ContainerInfo } from '../monitor/types.js';
import { displayWidth } from '../text/display-text.js';
import { render } from './render.js';
import { createTuiState, handleKey, type TuiState } from './state.js';

const HOSTILE = [
  '\x1b[2J\x1b]0;owned\x07',
  'a\nb\rc\td\x00',
  'evil\u202etxt\u2066',
  '\u009b31m\u0085',
  'z\u200bw\u200dj\ufeff',
  '数据库服务器🐍🐍',
  'e\u0301' + '\u0300'.repeat(30),
  'bad\udcff\udcc3',
];

// Our own SGR styles and nothing else that starts a sequence or controls the terminal.
const OWN_SGR = /\x1b\[(?:0|1|2|7|33|36)m/g; // eslint-disable-line no-control-regex
const ACTIVE =
  /[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\u2028\u2029\ud800-\udfff]/u; // eslint-disable-line no-control-regex

/** Container names as their owners could set them (docker --name, labels, pod annotations). */
function hostileContainer(name: string, i: number): ContainerInfo {
  return {
    id: 'c0ffee'.repeat(10) + 'abcd',
    runtime: 'containerd',
    name,
    image: `${name}:latest`,
    composeProject: name,
    composeService: name,
    // Every other one is a pod: the label is namespace/pod/container.
    pod: i % 4 === 0 ? { namespace: name, name, uid: name, container: name } : null,
  };
}

function hostileState(color: boolean): TuiState {
  const infos = HOSTILE.map((name, i) =>
    makeProcessInfo(100 + i, name.slice(0, 15), {
      user: name,
      cmdline: [name, `--arg=${name}`],
      containerId: i % 2 === 0 ? 'c0ffee'.repeat(10) + 'abcd' : null,
      containerRuntime: i % 2 === 0 ? 'docker' : null,
      ...(i % 2 === 0 ? { container: hostileContainer(name, i) } : {}),
    }),
  );
  const snapshot = makeSnapshot({
    devices: ['lo', 'eth\x1b[31m0'],
    processes: infos.map((info, i) =>
      makeProcessEntry(info, { sentBytes: 1000 * (i + 1), receivedBytes: 10, sentHistory: [1, 2] }),
    ),
  });
  const s0 = createTuiState({ version: '0.1.0', color, processFilter: { pids: [], names: [] } });
  return {
    ...s0,
    data: {
      ...s0.data,
      snapshot,
      warning: 'warning: cannot read /proc/1/comm of \x1b[2J',
      connections: infos.map((info, i) =>
        makeConnectionEntry(
          info,
          { local: ['127.0.0.1', 4000 + i], remote: ['127.0.0.1', 5000 + i] },
          { sentBytes: 500, receivedBytes: 5 },
        ),
      ),
      containers: HOSTILE.map((name, i) =>
        makeContainerEntry(
          name,
          name,
          1,
          { sentBytes: 5, receivedBytes: 5 },
          hostileContainer(name, i),
        ),
      ),
    },
  };
}

/** No active character, no line wider than the terminal, and the rate columns aligned. */
function assertSafe(lines: readonly string[], columns: number, what: string): void {
  const rateColumns = new Set<number>();
  for (const [i, line] of lines.entries()) {
    const bare = line.replace(OWN_SGR, '');
    const where = `${what}, line ${i}: ${JSON.stringify(line)}`;
    assert.doesNotMatch(bare, ACTIVE, where);
    assert.ok(displayWidth(bare as never) <= columns, `${where} is wider than ${columns}`);
    // Header and status lines are full width; table rows end at their last column.
    if (i < 3 || i === lines.length - 1) assert.equal(displayWidth(bare as never), columns, where);
    const rate = bare.indexOf(' B/s');
    if (i > 3 && rate >= 0) rateColumns.add(displayWidth(bare.slice(0, rate) as never));
  }
  assert.ok(rateColumns.size <= 1, `${what}: rate columns at ${[...rateColumns].join(', ')}`);
}

for (const color of [false, true]) {
  test(`hostile names never reach the terminal and keep columns aligned (colour ${color})`, () => {
    for (const columns of [40, 80, 133, 200]) {
      const size = { columns, rows: 30 };
      let state = hostileState(color);
      assertSafe(render(state, size), columns, 'processes');
      state = { ...state, showCommandLine: true };
      assertSafe(render(state, size), columns, 'command lines');
      for (const view of ['connections', 'remotes', 'containers'] as const) {
        assertSafe(render({ ...state, view }, size), columns, view);
      }
      const drill = { ...state, drillProcessKey: state.data.snapshot!.processes[0]!.key };
      assertSafe(render(drill, size), columns, 'drill-down');
      assertSafe(render({ ...state, isHelpVisible: true }, size), columns, 'help');
    }
  });
}

test('pasting control characters into the filter prompt types only the printable ones', () => {
  let state = { ...hostileState(false), isEditingFilter: true };
  // What readline reports for a paste of "a\x1b[2J\u202eb\x07\u009bc数".
  const keys = [
    { sequence: 'a', name: 'a' },
    { sequence: '\x1b[2J', name: undefined },
    { sequence: '\u202e' },
    { sequence: 'b', name: 'b' },
    { sequence: '\x07', name: 'g', ctrl: true },
    { sequence: '\u009b' },
    { sequence: 'c', name: 'c' },
    { sequence: '数' },
    { sequence: '🐍' },
    { sequence: '\u0301' },
  ];
  for (const key of keys) state = handleKey(state, key, 10).state;
  assert.equal(state.filterText, 'abc数🐍');
  assertSafe(render(state, { columns: 80, rows: 20 }), 80, 'prompt');
  // A filter text that got in some other way is still shown escaped.
  state = { ...state, filterText: 'x\x1b]0;t\x07' };
  const footer = render(state, { columns: 80, rows: 20 }).at(-1)!;
  assert.match(footer, /\/x\\x1b\]0;t\\x07█/);
});
