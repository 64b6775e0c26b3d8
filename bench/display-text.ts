// Display-text micro-benchmark (no privileges): the cost of showing names safely. Times one TUI
// redraw (render() of 50 process rows at 160x60) with plain ASCII names (the baseline, which
// takes the fast path) and with hostile names (escapes, CJK, emoji, combining marks, invalid
// bytes), and toDisplayText() per name. Prints medians of RUNS runs and ratios to the baseline.

import { makeProcessEntry, makeProcessInfo, makeSnapshot } from '../test/helpers/fake-monitor.js';
import { toDisplayText } from '../src/text/display-text.js';
import { render } from '../src/tui/render.js';
import { createTuiState, type TuiState } from '../src/tui/state.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 9);
const FRAMES = 200;
const ROWS = 50;

const PLAIN = (i: number): string => `worker-${i}`;
const HOSTILE = (i: number): string =>
  ['\x1b]0;t\x07', '数据库服务', '🐍py\u200b', 'e\u0301\u0300x', 'a\n\udcffb', 'evil\u202etxt'][
    i % 6
  ]! + String(i);

function stateWith(name: (i: number) => string): TuiState {
  const processes = Array.from({ length: ROWS }, (_, i) =>
    makeProcessEntry(
      makeProcessInfo(1000 + i, name(i).slice(0, 15), {
        user: name(i),
        cmdline: [`/usr/bin/${name(i)}`, '--serve', name(i)],
      }),
      { sentBytes: 1000 * i, receivedBytes: 50 * i, sentHistory: [1, 2, 3, 4, 5, 6, 7, 8] },
    ),
  );
  const s0 = createTuiState({
    version: '0.1.0',
    color: true,
    processFilter: { pids: [], names: [] },
  });
  return {
    ...s0,
    showCommandLine: true,
    data: { ...s0.data, snapshot: makeSnapshot({ processes }) },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function msPerFrame(state: TuiState): number {
  const size = { columns: 160, rows: 60 };
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let f = 0; f < FRAMES; f++) render(state, size);
    times.push(Number(process.hrtime.bigint() - start) / 1e6 / FRAMES);
  }
  return median(times);
}

function nsPerName(name: (i: number) => string): number {
  const names = Array.from({ length: 1000 }, (_, i) => name(i) + ' --flag /some/path');
  const times: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const start = process.hrtime.bigint();
    for (let k = 0; k < 100; k++) for (const n of names) toDisplayText(n);
    times.push(Number(process.hrtime.bigint() - start) / (100 * names.length));
  }
  return median(times);
}

msPerFrame(stateWith(PLAIN)); // warm up
const plainFrame = msPerFrame(stateWith(PLAIN));
const hostileFrame = msPerFrame(stateWith(HOSTILE));
const plainName = nsPerName(PLAIN);
const hostileName = nsPerName(HOSTILE);
console.log(`render 50 rows, plain names:   ${plainFrame.toFixed(3)} ms/frame (baseline)`);
console.log(
  `render 50 rows, hostile names: ${hostileFrame.toFixed(3)} ms/frame (x${(hostileFrame / plainFrame).toFixed(2)})`,
);
console.log(`toDisplayText, plain name:     ${plainName.toFixed(0)} ns (baseline)`);
console.log(
  `toDisplayText, hostile name:   ${hostileName.toFixed(0)} ns (x${(hostileName / plainName).toFixed(2)})`,
);
