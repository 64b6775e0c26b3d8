// A PacketSource driven by test code: push batches by hand, set the stats, end it on cue.
import type {
  CaptureStats,
  DeviceStats,
  PacketSource,
  RecordBatch,
  SourceEnd,
} from '../../src/capture/packet-source.js';
import type { PacketDescription } from './record-builder.js';
import { buildBatch } from './record-builder.js';

/** Zeroed counters for one device, with overrides. */
export function deviceStats(device: string, overrides: Partial<DeviceStats> = {}): DeviceStats {
  return {
    device,
    linkType: 1,
    kernelReceivedPackets: 0,
    kernelDroppedPackets: 0,
    interfaceDroppedPackets: 0,
    capturedPackets: 0,
    capturedBytes: 0,
    deliveredPackets: 0,
    queueDroppedPackets: 0,
    nonIpPackets: 0,
    malformedPackets: 0,
    malformedByKind: {},
    ...overrides,
  };
}

export class FakePacketSource implements PacketSource {
  readonly kind: 'live' | 'file';
  readonly devices: readonly string[];
  readonly done: Promise<SourceEnd>;
  started = false;
  stopCalls = 0;
  /** Returned by stats(); replace it to simulate counters. */
  currentStats: CaptureStats;

  private handler: ((batch: RecordBatch) => void) | undefined;
  private resolveDone!: (end: SourceEnd) => void;
  private ended = false;

  constructor(devices: readonly string[] = ['eth0'], kind: 'live' | 'file' = 'live') {
    this.devices = devices;
    this.kind = kind;
    this.currentStats = { devices: devices.map((d) => deviceStats(d)), pcap: undefined };
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  setBatchHandler(handler: (batch: RecordBatch) => void): void {
    this.handler = handler;
  }

  start(): void {
    this.started = true;
  }

  stats(): CaptureStats {
    return this.currentStats;
  }

  async stop(): Promise<void> {
    this.stopCalls++;
    this.end({ reason: 'stopped' });
    await this.done;
  }

  /** Deliver a batch (built from descriptions, or given) to the handler, synchronously. */
  push(batch: RecordBatch | readonly PacketDescription[]): void {
    if (!this.started) throw new Error('FakePacketSource.push() before start()');
    if (this.ended) throw new Error('FakePacketSource.push() after the source ended');
    const b = Array.isArray(batch) ? buildBatch(batch) : (batch as RecordBatch);
    this.handler?.(b);
  }

  /** End the source (end-of-file, error...) as the real one would. */
  end(end: SourceEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.resolveDone(end);
  }
}
