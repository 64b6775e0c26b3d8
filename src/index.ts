// The library's public surface: an explicit list; everything else stays internal.
export * from './errors.js';
export type * from './monitor/types.js';
