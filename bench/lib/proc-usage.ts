// CPU time and peak memory of a process from /proc/<pid>/stat and /proc/<pid>/status.

import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux for all arches we run on). */
const USER_HZ = 100;

/** Resource use of one process so far. */
export interface ProcUsage {
  /** utime + stime, seconds (all threads). */
  cpuSeconds: number;
  /** Peak resident set size (VmHWM), bytes. */
  peakRssBytes: number;
  /** Current resident set size (VmRSS), bytes. */
  rssBytes: number;
}

/** Read the usage of `pid`; undefined when the process is gone. */
export function readProcUsage(pid: number): ProcUsage | undefined {
  let stat: string;
  let status: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  // The comm field (2) may contain spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11] ?? 0);
  const stime = Number(fields[12] ?? 0);
  const kib = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return {
    cpuSeconds: (utime + stime) / USER_HZ,
    peakRssBytes: kib('VmHWM') * 1024,
    rssBytes: kib('VmRSS') * 1024,
  };
}
