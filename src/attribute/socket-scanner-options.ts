// Options of the SocketScanner (socket-scanner.ts) and what one scan returns, apart so that its
// callers (the attributor, the scan cycle) can import the types without the class.

import type { ContainerNameSource } from './process-info.js';
import type { ProcFs } from './procfs.js';
import type { SocketOwnerSource } from './kernel-owners.js';
import type { SocketIndex } from './socket-index.js';
import type { SocketTableReader } from './sock-diag.js';

/** Tunables of the scanner. */
export interface SocketScannerOptions {
  procFs: ProcFs;
  localAddresses: { has(address: string): boolean };
  /** Monotonic ms, to cut the scan into slices. */
  monotonicMs: () => number;
  /** Give the event loop a turn between slices. */
  yieldToEventLoop: () => Promise<void>;
  /** Longest synchronous slice, ms. */
  sliceMs: number;
  /**
   * CPU time used so far, ms (the process's, as process.cpuUsage() counts it): the CPU of each
   * stretch is measured too, which preemption on a loaded host does not inflate. Optional.
   */
  cpuMs?: (() => number) | undefined;
  /**
   * Every Nth scan re-reads every stat and fd directory: a consistency check of the incremental
   * scans (what it corrects is counted in ownerCorrections).
   */
  fullScanEvery: number;
  /**
   * Settled processes are checked in this many rotating groups, one group per scan: stat
   * re-read (a renamed process, a reused pid) and fd count compared with the last walk (a socket
   * handed over). 1: every process every scan. @default 10
   */
  refreshGroups?: number | undefined;
  /** Processes cached at most. */
  maxProcesses: number;
  /** Namespace of the capture; undefined: read /proc/self/ns/net (else pid 1's). */
  hostNetns: number | undefined;
  /** Names of containers (runtime state files); undefined: processes carry ids only. */
  containerNames?: ContainerNameSource | undefined;
  /** Binary socket tables (sock_diag); undefined: parse /proc/net text for every namespace. */
  socketTables?: SocketTableReader | undefined;
  /**
   * Socket owners from the kernel (a BPF iterator, kernel-owners.ts): no fd directory is walked
   * while it works; undefined or unavailable: walk /proc/<pid>/fd.
   */
  socketOwners?: SocketOwnerSource | undefined;
}

/** What one scan found and how much it cost. */
export interface ScanResult {
  readonly index: SocketIndex;
  /** Process keys alive after this scan. */
  readonly alive: Set<string>;
  readonly processes: number;
  readonly namespaces: number;
  readonly sockets: number;
  /** Processes that vanished mid-scan or refused access. */
  readonly skippedProcesses: number;
  readonly deniedProcesses: number;
  /** Processes not tracked because maxProcesses was reached. */
  readonly droppedProcesses: number;
  /** fd directories read (the costly part; an incremental scan reads few). */
  readonly fdDirsRead: number;
  readonly malformedLines: number;
  /** Namespaces whose tables came through sock_diag (the rest: /proc/net text). */
  readonly netlinkNamespaces: number;
  /**
   * Sockets whose owner a full scan found elsewhere than the incremental scans had it (since
   * the scanner started): a handoff not yet seen by the rotating check, or a miss.
   */
  readonly ownerCorrections: number;
  /** The scan found nothing changed and kept the previous index. */
  readonly isUnchanged: boolean;
  /** Socket owners came from the kernel's list (kernel-owners.ts), not fd directory walks. */
  readonly ownersFromKernel: boolean;
  /** Longest synchronous stretch of the scan, ms. */
  readonly maxBlockMs: number;
  /** CPU used in the longest (by CPU) synchronous stretch, ms; 0 without `cpuMs`. */
  readonly maxBlockCpuMs: number;
}
