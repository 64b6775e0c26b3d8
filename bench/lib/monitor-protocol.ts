// Messages from the monitor child (monitor-child.ts) to its parent (monitor-process.ts).

/** Totals of one process since the monitor first saw it. */
export interface ProcessTotals {
  pid: number;
  comm: string;
  netns: number;
  sentBytes: number;
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
}

export type ChildMessage =
  | { type: 'ready'; pid: number; devices: string[] }
  | {
      type: 'snapshot';
      processes: ProcessTotals[];
      totalBytes: number;
      unknownBytes: number;
      kernelDroppedPackets: number;
      queueDroppedPackets: number;
      seenPackets: number;
    }
  | { type: 'stopped'; warnings: string[] }
  | { type: 'ended'; reason: string; error: string }
  | { type: 'error'; message: string };
