// Stacked area charts of per-step rates with uPlot: each band is drawn filled from zero, the
// highest stack first, so later (lower) bands cover the earlier ones. The legend and the click
// use the unstacked values.

import uPlot from 'uplot';
import { COLORS, formatDateTime, formatRate, shown } from './dom.js';

/** One series of a stacked chart: a name and bytes per second at each time (null = no data). */
export interface StackSeries {
  label: string;
  rates: (number | null)[];
  color?: string;
}

/**
 * A chart in `parent`; `onPick(i)` gets the index of the series clicked, `onHover(i, idx)` the
 * series and time index under the pointer (undefined outside every band).
 */
export function stackedChart(
  parent: HTMLElement,
  timesMs: readonly number[],
  series: readonly StackSeries[],
  onPick: (index: number) => void,
  onHover: (index: number | undefined, timeIndex: number | undefined) => void,
): uPlot {
  const n = timesMs.length;
  const stacks: number[][] = [];
  let below = new Array<number>(n).fill(0);
  for (const s of series) {
    const row = below.map((b, i) => b + (s.rates[i] ?? 0));
    stacks.push(row);
    below = row;
  }
  // Highest stack first: drawn first, covered by the lower ones.
  const order = series.map((_, i) => series.length - 1 - i);
  const data: uPlot.AlignedData = [timesMs.map((t) => t / 1000), ...order.map((i) => stacks[i]!)];
  const width = Math.max(280, parent.clientWidth - 16);
  const chart = new uPlot(
    {
      width,
      height: width < 600 ? 220 : 320,
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] } },
      axes: [{}, { values: (_u, ticks) => ticks.map((v) => formatRate(v)), size: 80 }],
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '–' : formatDateTime(v * 1000)) },
        ...order.map((i) => {
          const s = series[i]!;
          const color = s.color ?? COLORS[i % COLORS.length]!;
          return {
            label: shown(s.label), // uPlot sets it as text; shown like every name
            stroke: color,
            fill: color,
            width: 1,
            points: { show: false },
            value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) =>
              idx === null ? '–' : formatRate(s.rates[idx] ?? 0),
          };
        }),
      ],
    },
    data,
    parent,
  );
  /** The band under the pointer: the series whose stack segment holds the pointer's value. */
  const bandAt = (): [number | undefined, number | undefined] => {
    const idx = chart.cursor.idx;
    const top = chart.cursor.top;
    if (idx === null || idx === undefined || top === undefined || top < 0)
      return [undefined, undefined];
    const value = chart.posToVal(top, 'y');
    for (let i = 0; i < stacks.length; i++) {
      const low = i === 0 ? 0 : stacks[i - 1]![idx]!;
      const high = stacks[i]![idx]!;
      if (high > low && value >= low && value <= high) return [i, idx];
    }
    return [undefined, idx];
  };
  chart.over.addEventListener('mousemove', () => {
    const [i, idx] = bandAt();
    onHover(i, idx);
  });
  chart.over.addEventListener('mouseleave', () => onHover(undefined, undefined));
  // A press and release at the same place picks the band. Not 'click': Chrome dropped some
  // clicks on uPlot's overlay near its right edge (uPlot handles mousedown/mouseup itself).
  let down: [number, number] | undefined;
  chart.over.addEventListener('pointerdown', (e) => (down = [e.clientX, e.clientY]));
  chart.over.addEventListener('pointerup', (e) => {
    const isClick =
      down !== undefined && Math.abs(e.clientX - down[0]) < 5 && Math.abs(e.clientY - down[1]) < 5;
    down = undefined;
    if (!isClick) return;
    const [i] = bandAt();
    if (i !== undefined) onPick(i);
  });
  return chart;
}

/**
 * Bytes per step -> bytes per second over the seconds the agent recorded in each step (a step
 * the agent was down for part of, or the step still running, is not diluted).
 */
export function toRates(
  bytes: readonly (number | null)[],
  recordedSeconds: readonly number[],
  stepSeconds: number,
): (number | null)[] {
  return bytes.map((b, i) => {
    const seconds = recordedSeconds[i] ?? stepSeconds;
    return b === null || seconds <= 0 ? null : b / seconds;
  });
}
