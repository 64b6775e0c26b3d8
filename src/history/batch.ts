// The rows of one history interval as the agent hands them to the writer thread: plain data
// (structured-cloneable), with the identity of every process that moved bytes in it.

/** One process's bytes in an interval, with what the history keeps of its identity. */
export interface ProcessRow {
  key: string;
  pid: number;
  startTime: number;
  comm: string;
  user: string;
  uid: number;
  containerId: string | null;
  containerRuntime: string | null;
  exe: string;
  cmdline: string[];
  sentBytes: number;
  receivedBytes: number;
}

export interface ContainerRow {
  /** '' for processes in no container (the host). */
  containerId: string;
  containerRuntime: string | null;
  sentBytes: number;
  receivedBytes: number;
}

export interface RemoteRow {
  remoteAddress: string;
  sentBytes: number;
  receivedBytes: number;
}

/** One interval of history. */
export interface IntervalBatch {
  /** Start of the interval, seconds since the epoch (a multiple of the interval). */
  startSeconds: number;
  /** Wall-clock time of the last tick in it, ms. */
  endMs: number;
  /** Milliseconds of the interval covered by ticks (less than the interval after a start). */
  coveredMs: number;
  totalSent: number;
  totalReceived: number;
  unknownSent: number;
  unknownReceived: number;
  processes: ProcessRow[];
  /** Processes beyond the per-interval row limit, and exited/evicted aggregates. */
  otherProcessSent: number;
  otherProcessReceived: number;
  containers: ContainerRow[];
  remotes: RemoteRow[];
  otherRemoteSent: number;
  otherRemoteReceived: number;
}

/** Rows an interval turns into (one per entry, before the tiers multiply them). */
export function batchRows(b: IntervalBatch): number {
  return 4 + b.processes.length + b.containers.length + b.remotes.length;
}
