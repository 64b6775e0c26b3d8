// Sparklines for the terminal UI: one block character per second of history.

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/**
 * Draws the last `width` values, scaled to their own maximum; a zero is a blank, any
 * non-zero value at least the lowest block, so a trickle stays visible.
 * @example sparkline([0, 1, 8], 3) === ' ▁█'
 */
export function sparkline(values: readonly number[], width: number): string {
  if (width <= 0) return '';
  const last = values.slice(Math.max(0, values.length - width));
  let max = 0;
  for (const v of last) if (v > max) max = v;
  let out = ' '.repeat(width - last.length);
  for (const v of last) {
    if (!(v > 0) || max <= 0) out += ' ';
    else out += BLOCKS[Math.min(7, Math.max(0, Math.ceil((v / max) * 8) - 1))]!;
  }
  return out;
}
