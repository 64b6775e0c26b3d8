// A NativeAddon for error-path tests: devices, open failures and batches are scripted.
import type {
  NativeAddon,
  NativeCaptureHandle,
  NativeDeviceInfo,
  NativeMessageHandler,
  NativeOpenOptions,
  NativeOpenResult,
  NativeStats,
} from '../../src/capture/addon.js';
import { NativeMessage } from '../../src/capture/addon.js';
import { RECORD_SIZE, RECORD_VERSION } from '../../src/decode/record.js';

export interface FakeAddonOptions {
  /** What listDevices() returns. @default lo and eth0 */
  readonly devices?: NativeDeviceInfo[];
  /** Per device name: how open() fails (`ok` when absent). */
  readonly failures?: Record<string, Pick<NativeOpenResult, 'error' | 'errorKind'>>;
  /** Per device name: a pcap_activate warning. */
  readonly warnings?: Record<string, string>;
  readonly recordVersion?: number;
  readonly recordSize?: number;
}

export class FakeHandle implements NativeCaptureHandle {
  startCalls = 0;
  stopCalls = 0;
  constructor(
    readonly options: NativeOpenOptions,
    readonly onMessage: NativeMessageHandler,
    private readonly results: NativeOpenResult[],
  ) {}
  start(): void {
    this.startCalls++;
  }
  stop(): void {
    this.stopCalls++;
    if (this.stopCalls === 1 && this.startCalls > 0) {
      setImmediate(() => this.onMessage(NativeMessage.sourceEnd, -1, null, 0, 'stopped'));
    }
  }
  stats(): NativeStats {
    return { devices: [] };
  }
  openResults(): NativeOpenResult[] {
    return this.results;
  }
  /** Deliver a batch as the addon would (the buffer is detached afterwards: copy it). */
  deliver(deviceIndex: number, bytes: Uint8Array): void {
    const ab = bytes.slice().buffer;
    this.onMessage(NativeMessage.batch, deviceIndex, ab, bytes.byteLength / RECORD_SIZE, undefined);
  }
  endDevice(deviceIndex: number, text: string): void {
    this.onMessage(NativeMessage.deviceEnd, deviceIndex, null, 0, text);
  }
  endSource(reason: 'end-of-file' | 'error' | 'stopped'): void {
    this.onMessage(NativeMessage.sourceEnd, -1, null, 0, reason);
  }
}

export class FakeAddon implements NativeAddon {
  readonly recordVersion: number;
  readonly recordSize: number;
  readonly libpcapVersion = 'fake libpcap';
  readonly malformedKinds = ['truncatedLink'];
  readonly handles: FakeHandle[] = [];
  private readonly opts: FakeAddonOptions;

  constructor(options: FakeAddonOptions = {}) {
    this.opts = options;
    this.recordVersion = options.recordVersion ?? RECORD_VERSION;
    this.recordSize = options.recordSize ?? RECORD_SIZE;
  }

  listDevices(): NativeDeviceInfo[] {
    return (
      this.opts.devices ?? [
        {
          name: 'lo',
          description: '',
          isUp: true,
          isRunning: true,
          isLoopback: true,
          addresses: [],
        },
        {
          name: 'eth0',
          description: '',
          isUp: true,
          isRunning: true,
          isLoopback: false,
          addresses: [],
        },
      ]
    );
  }

  open(options: NativeOpenOptions, onMessage: NativeMessageHandler): NativeCaptureHandle {
    const results = options.devices.map((name): NativeOpenResult => {
      const failure = this.opts.failures?.[name];
      const warning = this.opts.warnings?.[name];
      return {
        name,
        ok: failure === undefined,
        linkType: 1,
        ifindex: 0,
        ...(failure ?? {}),
        ...(warning !== undefined ? { warning } : {}),
      };
    });
    const handle = new FakeHandle(options, onMessage, results);
    this.handles.push(handle);
    return handle;
  }

  get lastHandle(): FakeHandle {
    const h = this.handles[this.handles.length - 1];
    if (h === undefined) throw new Error('FakeAddon: open() was never called');
    return h;
  }
}
