// Exponentially weighted moving average over per-second byte counts: the smoothing behind
// ProcessEntry.ewma. Pure math, no state.

/**
 * Weight kept per second by an EWMA with the given half-life: after `halfLifeSeconds` seconds
 * an old sample counts half. Update rule per complete second `x`: `e = e * d + x * (1 - d)`.
 * @example ewmaDecayPerSecond(5) // 0.8705...
 */
export function ewmaDecayPerSecond(halfLifeSeconds: number): number {
  return Math.pow(0.5, 1 / halfLifeSeconds);
}
