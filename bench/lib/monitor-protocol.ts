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

/** Where the monitor's memory is at one moment (process.memoryUsage()), bytes. */
export interface MemoryBreakdown {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  /** C++ memory tied to JS objects: typed arrays, Buffers, the addon's external memory. */
  external: number;
  arrayBuffers: number;
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
      /** IP bytes counted once (device copies merged) and the copies left out. */
      seenBytes: number;
      duplicateBytes: number;
      /** Conntrack lookups and the time they took, ms (absent with conntrack off). */
      natLookups: number;
      natLookupMs: number;
      natTranslatedFlows: number;
      /** Flows the attributor parked and resolved, and those the full retry buffer turned away. */
      retryResolvedFlows: number;
      retryDroppedFlows: number;
      /** The monitor process's process.memoryUsage() when it answered, bytes. */
      memory: MemoryBreakdown;
    }
  | { type: 'stopped'; warnings: string[] }
  | { type: 'ended'; reason: string; error: string }
  | { type: 'error'; message: string };
