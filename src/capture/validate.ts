// Argument checks for openCapture/openPcapFile: every value is checked here, with a message
// naming the option, the value and the allowed range, before the addon sees it.
import { closestName } from '../closest-name.js';
import { UsageError } from '../errors.js';

/** Throw UsageError for keys not in `known`, suggesting the closest known spelling. */
export function checkKnownKeys(what: string, value: object, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    throw new UsageError(
      `unknown ${what} option "${key}"${near !== undefined ? `: did you mean "${near}"?` : ''} (known: ${known.join(', ')})`,
    );
  }
}

/** An integer option within [min, max], or the default when undefined. */
export function intOption(
  name: string,
  value: unknown,
  defaultValue: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return defaultValue;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `${name} must be an integer from ${min} to ${max}, got ${describe(value)}`,
    );
  }
  return value;
}

export function boolOption(name: string, value: unknown, defaultValue: boolean): boolean {
  if (value === undefined) return defaultValue;
  if (typeof value !== 'boolean') {
    throw new UsageError(`${name} must be true or false, got ${describe(value)}`);
  }
  return value;
}

export function stringOption(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new UsageError(`${name} must be a string, got ${describe(value)}`);
  }
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
    return String(value);
  }
  if (value === undefined) return 'undefined';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
