// The --pid and --name filters of the command line, shared by every output mode.

import type { ProcessInfo } from '../monitor/types.js';

/** Which processes to show; empty lists show all. */
export interface ProcessFilter {
  readonly pids: readonly number[];
  /** Case-insensitive substrings of the program name (comm) or executable path. */
  readonly names: readonly string[];
}

/** True when the filter shows every process. */
export function isEmptyFilter(filter: ProcessFilter): boolean {
  return filter.pids.length === 0 && filter.names.length === 0;
}

/**
 * True when `info` passes the filter: its pid is listed, or its name contains a listed name
 * (either list matching is enough).
 */
export function matchesProcessFilter(info: ProcessInfo, filter: ProcessFilter): boolean {
  if (isEmptyFilter(filter)) return true;
  if (filter.pids.includes(info.pid)) return true;
  const comm = info.comm.toLowerCase();
  const exe = info.exe.toLowerCase();
  return filter.names.some((name) => {
    const needle = name.toLowerCase();
    return comm.includes(needle) || exe.slice(exe.lastIndexOf('/') + 1).includes(needle);
  });
}
