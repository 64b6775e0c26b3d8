// The "History" view: a stacked chart of the top talkers over a chosen range, read from the
// agent's history database (/api/v1/history); a click on a band or a name selects it.

import type uPlot from 'uplot';
import { getJson } from './api.js';
import { selectInNow } from './now.js';
import { stackedChart, toRates, type StackSeries } from './chart.js';
import {
  COLORS,
  el,
  formatBytes,
  formatDateTime,
  formatRate,
  timeZoneName,
  setText,
} from './dom.js';

/** The columns and series of a history answer (docs/history.md). */
export interface HistoryAnswer {
  from: number;
  to: number;
  stepSeconds: number;
  times: number[];
  recordedSeconds: number[];
  series: {
    key: string;
    name: string;
    sentBytes: (number | null)[];
    receivedBytes: (number | null)[];
    sentBytesTotal: number;
    receivedBytesTotal: number;
    process?: {
      pid: number;
      comm: string;
      user: string;
      uid: number;
      cmdline: string[];
      containerId: string | null;
      firstSeen: number;
      lastSeen: number;
    };
    remoteAddress?: string;
    containerId?: string;
  }[];
  other: { sentBytes: (number | null)[]; receivedBytes: (number | null)[] };
}

const RANGES: [string, number][] = [
  ['15 min', 900],
  ['1 h', 3600],
  ['6 h', 21_600],
  ['24 h', 86_400],
  ['7 days', 604_800],
];
const state = { seconds: 900, groupBy: 'process' };
const LIMIT = 8;

/** Sum of two nullable columns. */
export function addColumns(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
): (number | null)[] {
  return a.map((v, i) => (v === null && b[i] === null ? null : (v ?? 0) + (b[i] ?? 0)));
}

let chart: uPlot | undefined;

/** Build the view; `select(pid)` opens a process. */
export function showHistory(main: HTMLElement): () => Promise<void> {
  const buttons = RANGES.map(([label, seconds]) => {
    const b = el('button', { type: 'button', text: label, 'data-seconds': String(seconds) });
    if (seconds === state.seconds) b.classList.add('active');
    return b;
  });
  const group = el('select', { 'aria-label': 'group by', id: 'history-group' });
  for (const [value, label] of [
    ['process', 'Processes'],
    ['container', 'Containers'],
    ['remote', 'Remote hosts'],
  ]) {
    group.append(el('option', { value: value!, text: label! }));
  }
  group.value = state.groupBy;
  const box = el('div', { class: 'chart', id: 'history-chart' });
  const legend = el('ul', { class: 'legend-list', id: 'history-legend' });
  const hover = el('p', {
    class: 'muted',
    id: 'history-hover',
    text: 'Point at a band to see it; click to open the process.',
  });
  const note = el('p', { class: 'muted' });
  main.replaceChildren(
    el('h2', { text: 'History' }),
    el('div', { class: 'controls' }, ...buttons, group),
    box,
    hover,
    legend,
    note,
  );
  const load = async (): Promise<void> => {
    const params = new URLSearchParams({
      seconds: String(state.seconds),
      groupBy: state.groupBy,
      limit: String(LIMIT),
    });
    const a = await getJson<HistoryAnswer>(`/api/v1/history?${params.toString()}`);
    chart?.destroy();
    const series: StackSeries[] = a.series.map((s, i) => ({
      label: s.process === undefined ? s.name || '(host)' : `${s.name} (${s.process.pid})`,
      rates: toRates(addColumns(s.sentBytes, s.receivedBytes), a.recordedSeconds, a.stepSeconds),
      color: COLORS[i % COLORS.length]!,
    }));
    series.push({
      label: 'other',
      rates: toRates(
        addColumns(a.other.sentBytes, a.other.receivedBytes),
        a.recordedSeconds,
        a.stepSeconds,
      ),
      color: '#bab0ac',
    });
    const pick = (i: number): void => {
      const s = a.series[i];
      if (s === undefined) return;
      if (s.process !== undefined) location.hash = `#process/${s.process.pid}`;
      else if (s.remoteAddress !== undefined) selectInNow('remote', s.remoteAddress);
      else if (s.containerId !== undefined && s.containerId !== '') {
        selectInNow('container', s.containerId);
      }
    };
    box.replaceChildren();
    const onHover = (i: number | undefined, idx: number | undefined): void => {
      const s = i === undefined ? undefined : series[i];
      setText(
        hover,
        s === undefined || idx === undefined
          ? 'Point at a band to see it; click to open the process.'
          : `${s.label}: ${formatRate(s.rates[idx] ?? 0)} at ${formatDateTime(a.times[idx]!)}`,
      );
    };
    chart = stackedChart(box, a.times, series, pick, onHover);
    legend.replaceChildren(
      ...a.series.map((s, i) => {
        const swatch = el('span', { class: 'swatch' });
        swatch.style.background = COLORS[i % COLORS.length]!;
        const name = el('button', { type: 'button', text: series[i]!.label });
        name.addEventListener('click', () => pick(i));
        return el(
          'li',
          {},
          swatch,
          name,
          ` ${formatBytes(s.sentBytesTotal + s.receivedBytesTotal)}`,
        );
      }),
    );
    setText(
      note,
      `${formatDateTime(a.from)} – ${formatDateTime(a.to)} · one point per ${a.stepSeconds} s · times in ${timeZoneName()} · sent + received, stacked`,
    );
  };
  for (const b of buttons) {
    b.addEventListener('click', () => {
      state.seconds = Number(b.getAttribute('data-seconds'));
      for (const other of buttons) other.classList.toggle('active', other === b);
      void load();
    });
  }
  group.addEventListener('change', () => {
    state.groupBy = group.value;
    void load();
  });
  return load;
}
