// Small option checks shared by the accountant and the limits: unknown keys name the right
// spelling, numbers name their allowed range. Every failure is a UsageError.

import { closestName } from '../closest-name.js';
import { UsageError } from '../errors.js';

/**
 * Throw a UsageError for the first key of `options` not in `allowed`, naming the closest
 * allowed spelling. `what` names the options object in the message (e.g. `rank() options`).
 */
export function checkOptionKeys(options: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(options)) {
    if (allowed.includes(key)) continue;
    const guess = closestName(key, allowed);
    const hint = guess === undefined ? '' : `: did you mean '${guess}'?`;
    throw new UsageError(`unknown ${what} option '${key}'${hint} (allowed: ${allowed.join(', ')})`);
  }
}

/** Throw unless `value` is an integer in `min..max`. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    throw new UsageError(`${name} must be an integer ${range}, got ${String(value)}`);
  }
  return value;
}

/** Throw unless `value` is a finite number greater than 0. */
export function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${name} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

/** Throw unless `value` is one of `allowed`. */
export function checkOneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as T;
}
