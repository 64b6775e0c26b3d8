// PacketSource over one native capture handle: live devices (LiveSource) or a pcap file
// (FileSource) share this class; batches arrive from the addon's capture threads on the
// event loop, one call per batch.
import type {
  CaptureStats,
  DeviceStats,
  PacketSource,
  RecordBatch,
  SourceEnd,
} from './packet-source.js';
import type { NativeCaptureHandle, NativeMessageHandler, NativeStats } from './addon.js';
import { NativeMessage } from './addon.js';
import { CaptureError, StateError } from '../errors.js';
import { RECORD_SIZE } from '../decode/record.js';

/** A problem that degrades a capture without stopping it (one device among several). */
export interface CaptureWarning {
  /** Device name (or pcap file path). */
  readonly device: string;
  readonly message: string;
}

/**
 * Called for every warning with its message (and the structured warning); the default
 * ignores them (they stay in `warnings`).
 */
export type WarningHandler = (message: string, warning: CaptureWarning) => void;

/** Records handed to the handler; a thrown error ends the source with reason `error`. */
type BatchHandler = (batch: RecordBatch) => void;

/**
 * Internal glue between the addon's message callback and PacketSource. Construct with
 * `createNativeSource`, which opens the handle with this object's message handler.
 */
export class NativeSource implements PacketSource {
  readonly kind: 'live' | 'file';
  readonly devices: readonly string[];
  readonly done: Promise<SourceEnd>;
  /** Warnings so far (open-time warnings first). */
  readonly warnings: CaptureWarning[] = [];

  private handle: NativeCaptureHandle | undefined;
  private handler: BatchHandler = () => {};
  private resolveDone!: (end: SourceEnd) => void;
  private state: 'open' | 'started' | 'ended' = 'open';
  private stopRequested = false;
  private handlerError: unknown;
  private deviceErrors: string[] = [];
  private lastStats: CaptureStats | undefined;
  private readonly onWarning: WarningHandler;

  constructor(kind: 'live' | 'file', devices: readonly string[], onWarning?: WarningHandler) {
    this.kind = kind;
    this.devices = devices;
    this.onWarning = onWarning ?? (() => {});
    this.done = new Promise<SourceEnd>((resolve) => {
      this.resolveDone = resolve;
    });
  }

  /** The callback to pass to the addon's open(). */
  readonly onMessage: NativeMessageHandler = (type, deviceIndex, buffer, count, text) => {
    if (type === NativeMessage.batch) {
      if (buffer === null || this.handlerError !== undefined) return;
      try {
        this.handler({ view: new DataView(buffer, 0, count * RECORD_SIZE), count });
      } catch (error) {
        // A consumer bug must not vanish into the addon: end the source with it.
        this.handlerError = error;
        setImmediate(() => void this.stop());
      }
    } else if (type === NativeMessage.deviceEnd) {
      const device = this.devices[deviceIndex] ?? `#${deviceIndex}`;
      const message = `capture on ${device} stopped: ${text ?? 'unknown error'}`;
      this.deviceErrors.push(message);
      this.warn({ device, message });
    } else if (type === NativeMessage.sourceEnd) {
      this.finish(text ?? 'stopped');
    }
  };

  /** Attach the opened handle (after open() returned). */
  attach(handle: NativeCaptureHandle): void {
    this.handle = handle;
  }

  warn(warning: CaptureWarning): void {
    this.warnings.push(warning);
    this.onWarning(warning.message, warning);
  }

  setBatchHandler(handler: (batch: RecordBatch) => void): void {
    this.handler = handler;
  }

  start(): void {
    if (this.state !== 'open' || this.stopRequested) {
      throw new StateError(
        `start() on a ${this.kind} source that is already ${this.stopRequested || this.state === 'ended' ? 'stopped' : 'started'}: open a new source instead`,
      );
    }
    this.state = 'started';
    this.handle?.start();
  }

  stats(): CaptureStats {
    if (this.handle === undefined) return this.lastStats ?? { devices: [], pcap: undefined };
    return toCaptureStats(this.handle.stats());
  }

  async stop(): Promise<void> {
    if (this.stopRequested) {
      await this.done;
      return;
    }
    this.stopRequested = true;
    if (this.state === 'open') {
      // Never started: no threads, no end message will come.
      this.handle?.stop();
      this.finish('stopped');
      return;
    }
    // Joins the threads; their last batches and the end message are already queued.
    this.handle?.stop();
    await this.done;
  }

  private finish(reason: string): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    if (this.handle !== undefined) {
      const handle = this.handle;
      // Free the pcap handles and the pcap file now that every batch is delivered.
      handle.stop();
      this.lastStats = toCaptureStats(handle.stats());
    }
    if (this.handlerError !== undefined) {
      const error =
        this.handlerError instanceof Error
          ? this.handlerError
          : new Error(String(this.handlerError));
      this.resolveDone({ reason: 'error', error });
    } else if (reason === 'end-of-file') {
      this.resolveDone({ reason: 'end-of-file' });
    } else if (reason === 'error') {
      const detail = this.deviceErrors.length > 0 ? this.deviceErrors.join('; ') : 'no device left';
      this.resolveDone({
        reason: 'error',
        error: new CaptureError(`every capture device stopped: ${detail}`),
      });
    } else {
      this.resolveDone({ reason: 'stopped' });
    }
  }
}

/** Native counters -> the public CaptureStats shape. */
export function toCaptureStats(stats: NativeStats): CaptureStats {
  const devices: DeviceStats[] = stats.devices.map((d) => ({
    device: d.device,
    linkType: d.linkType,
    kernelReceivedPackets: d.kernelReceivedPackets,
    kernelDroppedPackets: d.kernelDroppedPackets,
    interfaceDroppedPackets: d.interfaceDroppedPackets,
    capturedPackets: d.capturedPackets,
    capturedBytes: d.capturedBytes,
    deliveredPackets: d.deliveredPackets,
    queueDroppedPackets: d.queueDroppedPackets,
    nonIpPackets: d.nonIpPackets,
    malformedPackets: d.malformedPackets,
    malformedByKind: { ...d.malformedByKind },
  }));
  const p = stats.pcap;
  return {
    devices,
    pcap:
      p === undefined
        ? undefined
        : {
            path: p.path,
            writtenPackets: p.writtenPackets,
            writtenBytes: p.writtenBytes,
            files: p.files,
            removedFiles: p.removedFiles,
            removeFailures: p.removeFailures,
            error: p.error,
            removeError: p.removeError,
          },
  };
}
