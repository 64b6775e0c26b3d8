// Number formatting shared by the text output and the terminal UI: byte sizes and rates in
// binary units (B, KiB, MiB, GiB, TiB), durations, packet counts and percentages.

/** Units a size can be shown in: 'auto' picks the largest that keeps the number >= 1. */
export type ByteUnit = 'auto' | 'B' | 'KiB' | 'MiB' | 'GiB';

/** The order in which the unit key cycles through units. */
export const BYTE_UNITS: readonly ByteUnit[] = ['auto', 'B', 'KiB', 'MiB', 'GiB'];

const UNIT_SCALE: readonly [string, number][] = [
  ['B', 1],
  ['KiB', 1024],
  ['MiB', 1024 ** 2],
  ['GiB', 1024 ** 3],
  ['TiB', 1024 ** 4],
];

function scaleOf(unit: string): number {
  return UNIT_SCALE.find(([name]) => name === unit)?.[1] ?? 1;
}

/** Three significant digits at most, so that every size fits in 9 columns. */
function shortNumber(value: number): string {
  if (value >= 100) return Math.round(value).toString();
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/**
 * Formats a byte count, e.g. `0 B`, `999 B`, `1.00 KiB`, `12.3 MiB`.
 * Auto units switch up at 1000 of the current unit so that the text stays short.
 * @example formatBytes(1536) === '1.50 KiB'; formatBytes(1536, 'B') === '1536 B'
 */
export function formatBytes(bytes: number, unit: ByteUnit = 'auto'): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '-';
  if (unit === 'B') return `${Math.round(bytes)} B`;
  if (unit !== 'auto') return `${shortNumber(bytes / scaleOf(unit))} ${unit}`;
  if (bytes < 1000) return `${Math.round(bytes)} B`;
  for (let i = 1; i < UNIT_SCALE.length; i++) {
    const [name, scale] = UNIT_SCALE[i]!;
    const value = bytes / scale;
    if (value < 999.5 || i === UNIT_SCALE.length - 1) return `${shortNumber(value)} ${name}`;
  }
  return `${Math.round(bytes)} B`;
}

/** Formats a rate in bytes per second, e.g. `1.50 KiB/s`. */
export function formatRate(bytesPerSecond: number, unit: ByteUnit = 'auto'): string {
  return `${formatBytes(bytesPerSecond, unit)}/s`;
}

/** Formats a count with k/M/G suffixes, e.g. `999`, `1.2k`, `35M`. */
export function formatCount(count: number): string {
  if (!Number.isFinite(count) || count < 0) return '-';
  if (count < 1000) return Math.round(count).toString();
  const suffixes: readonly [string, number][] = [
    ['k', 1e3],
    ['M', 1e6],
    ['G', 1e9],
  ];
  for (let i = 0; i < suffixes.length; i++) {
    const [suffix, scale] = suffixes[i]!;
    const value = count / scale;
    if (value < 999.5 || i === suffixes.length - 1) {
      return `${value >= 10 ? Math.round(value) : value.toFixed(1)}${suffix}`;
    }
  }
  return Math.round(count).toString();
}

/** Formats a duration as `1:05` (m:ss) or `2:03:04` (h:mm:ss). */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const ss = seconds.toString().padStart(2, '0');
  if (hours > 0) return `${hours}:${minutes.toString().padStart(2, '0')}:${ss}`;
  return `${minutes}:${ss}`;
}

/** Formats a share as a percentage, e.g. `0%`, `<0.1%`, `0.4%`, `12%`. */
export function formatPercent(part: number, whole: number): string {
  if (!(whole > 0) || !(part > 0)) return '0%';
  const pct = (100 * part) / whole;
  if (pct < 0.1) return '<0.1%';
  if (pct < 10) return `${pct.toFixed(1)}%`;
  return `${Math.round(pct)}%`;
}
