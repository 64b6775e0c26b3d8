// Inputs of the accountant (what the monitor hands it per flow) and the public output shapes it
// produces, which are declared once in src/monitor/types.ts.

// The output shapes are the public contract in monitor/types.ts; importing types only (erased at
// compile time) keeps the runtime dependency pointing upstream.
export type * from '../monitor/types.js';

/** Options of {@link Accountant}. Every count is a positive integer. */
export interface AccountantOptions {
  /** Seconds of per-second history per entry; windows are 1..ringSeconds. @default 15 */
  ringSeconds?: number;
  /** Keep an exited process's own entry this long before folding it into `exited`, ms. @default 60000 */
  exitedRetentionMs?: number;
  /** Processes tracked at most (besides the `exited` and `evicted` aggregates). @default 10000 */
  maxProcesses?: number;
  /** Connections tracked at most. @default 100000 */
  maxConnections?: number;
  /** Remote hosts tracked at most. @default 10000 */
  maxRemotes?: number;
  /** Containers tracked at most (the host counts as one). @default 1000 */
  maxContainers?: number;
  /** Unknown (protocol, local port) groups tracked at most. @default 1024 */
  maxUnknown?: number;
  /** Half-life of the EWMA rates, seconds. @default 5 */
  ewmaHalfLifeSeconds?: number;
}

/** Entry counts and eviction counters of an {@link Accountant}. */
export interface AccountantStats {
  readonly processes: number;
  readonly connections: number;
  readonly remotes: number;
  readonly containers: number;
  readonly unknown: number;
  readonly evicted: {
    readonly processes: number;
    readonly connections: number;
    readonly remotes: number;
    readonly containers: number;
    readonly unknown: number;
  };
}
