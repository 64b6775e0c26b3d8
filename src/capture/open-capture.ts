// openCapture(): a live PacketSource over one or more devices (or `any`), with optional pcap
// file writing. Options are validated here; the addon opens one handle and thread per device.
import type { NativeAddon } from './addon.js';
import { loadAddon } from './addon.js';
import { describeOpenFailure, openFailureError } from './capture-errors.js';
import { listDeviceNames } from './devices.js';
import type { WarningHandler } from './native-source.js';
import { NativeSource } from './native-source.js';
import { boolOption, checkKnownKeys, describe, intOption, stringOption } from './validate.js';
import { UsageError } from '../errors.js';

/** Optional pcap file written by the capture threads. */
export interface PcapFileOptions {
  /** File to write; later files after rotation are `path.1`, `path.2`, ... */
  readonly path: string;
  /** Bytes kept per packet in the file. @default the capture's snaplen */
  readonly snaplen?: number;
  /** Start a new file once one would exceed this many bytes; 0 never rotates. @default 0 */
  readonly rotateBytes?: number;
  /**
   * Keep at most this many files: opening file number k deletes file number k - maxFiles
   * (like tcpdump -W, but numbers keep growing). Needs rotateBytes > 0; 0 keeps all. @default 0
   */
  readonly maxFiles?: number;
}

/** Options of openCapture(). */
export interface CaptureOptions {
  /** Device names (`eth0`, `lo`, or `any` for all). */
  readonly devices: readonly string[];
  /** BPF filter expression (pcap-filter(7)), e.g. `tcp port 443`. */
  readonly filter?: string;
  /** Bytes captured per packet: enough for the headers. @default 128 */
  readonly snaplen?: number;
  /** Kernel ring buffer per device, bytes. @default 8388608 (8 MiB) */
  readonly bufferBytes?: number;
  /** Deliver each packet as it arrives instead of in kernel blocks. @default false */
  readonly immediate?: boolean;
  /** Promiscuous mode (see traffic for other hosts). @default false */
  readonly promiscuous?: boolean;
  /** A partly filled batch is delivered after this many ms. @default 100 */
  readonly batchIntervalMs?: number;
  /** Records per batch. @default 4096 */
  readonly batchRecords?: number;
  /** Records in flight to JS (delivered but not yet handled) before new ones are dropped. @default 1000000 */
  readonly queueLimit?: number;
  /** Also write the captured packets to a pcap file. */
  readonly pcapFile?: PcapFileOptions;
  /** Called when one device fails while others keep capturing. */
  readonly onWarning?: WarningHandler;
  /** The native addon (tests pass a fake). @default loadAddon() */
  readonly addon?: NativeAddon;
}

export const DEFAULT_SNAPLEN_BYTES = 128;
export const DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024;
export const DEFAULT_BATCH_INTERVAL_MS = 100;
export const DEFAULT_BATCH_RECORDS = 4096;
export const DEFAULT_QUEUE_LIMIT_RECORDS = 1_000_000;
/** Largest pcapFile.maxFiles. */
export const MAX_PCAP_FILES = 1_000_000;

/** queueLimit and batchRecords of an open*() call, checked together. */
export function checkBatchLimits(options: { queueLimit?: unknown; batchRecords?: unknown }): {
  queueLimit: number;
  batchRecords: number;
} {
  const queueLimit = intOption(
    'queueLimit',
    options.queueLimit,
    DEFAULT_QUEUE_LIMIT_RECORDS,
    1,
    100_000_000,
  );
  // A batch never holds more than the in-flight limit allows.
  const batchRecords = intOption(
    'batchRecords',
    options.batchRecords,
    Math.min(DEFAULT_BATCH_RECORDS, queueLimit),
    1,
    1048576,
  );
  if (batchRecords > queueLimit) {
    throw new UsageError(
      `batchRecords (${batchRecords}) must not exceed queueLimit (${queueLimit})`,
    );
  }
  return { queueLimit, batchRecords };
}
const MAX_DEVICES = 64;

const KNOWN = [
  'devices',
  'filter',
  'snaplen',
  'bufferBytes',
  'immediate',
  'promiscuous',
  'batchIntervalMs',
  'batchRecords',
  'queueLimit',
  'pcapFile',
  'onWarning',
  'addon',
] as const;

/**
 * Open a live capture. Threads start with `start()`.
 * @throws UsageError for bad options; CaptureError / PermissionError when no device opens.
 * @example
 * const source = openCapture({ devices: ['any'], filter: 'tcp or udp' });
 * source.setBatchHandler(({ view, count }) => { ... });
 * source.start();
 */
export function openCapture(options: CaptureOptions): NativeSource {
  if (typeof options !== 'object' || options === null) {
    throw new UsageError(`openCapture options must be an object, got ${describe(options)}`);
  }
  checkKnownKeys('openCapture', options, KNOWN);
  const devices = checkDevices(options.devices);
  const filter = stringOption('filter', options.filter);
  const snaplen = intOption('snaplen', options.snaplen, DEFAULT_SNAPLEN_BYTES, 68, 262144);
  const bufferBytes = intOption(
    'bufferBytes',
    options.bufferBytes,
    DEFAULT_BUFFER_BYTES,
    65536,
    2 ** 31 - 1,
  );
  const immediate = boolOption('immediate', options.immediate, false);
  const promiscuous = boolOption('promiscuous', options.promiscuous, false);
  const batchIntervalMs = intOption(
    'batchIntervalMs',
    options.batchIntervalMs,
    DEFAULT_BATCH_INTERVAL_MS,
    1,
    60000,
  );
  const { queueLimit, batchRecords } = checkBatchLimits(options);
  const pcap = checkPcapFile(options.pcapFile, snaplen);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new UsageError(`onWarning must be a function, got ${describe(options.onWarning)}`);
  }
  const addon = options.addon ?? loadAddon();

  const source = new NativeSource('live', devices, options.onWarning);
  const handle = addon.open(
    {
      offline: false,
      devices,
      ...(filter !== undefined ? { filter } : {}),
      snaplen,
      bufferBytes,
      immediate,
      promiscuous,
      batchIntervalMs,
      batchRecords,
      queueLimit,
      waitWhenFull: false,
      ...(pcap !== undefined ? { pcapPath: pcap.path } : {}),
      pcapSnaplen: pcap?.snaplen ?? snaplen,
      pcapRotateBytes: pcap?.rotateBytes ?? 0,
      pcapMaxFiles: pcap?.maxFiles ?? 0,
    },
    source.onMessage,
  );
  const results = handle.openResults();
  const failures = results.filter((r) => !r.ok);
  const names = (): string[] => listDeviceNames(addon);
  if (failures.length === results.length) {
    handle.stop();
    throw openFailureError(failures, filter, names);
  }
  source.attach(handle);
  for (const r of results) {
    if (!r.ok) source.warn({ device: r.name, message: describeOpenFailure(r, filter, names) });
    else if (r.warning !== undefined) {
      source.warn({ device: r.name, message: `capture on ${r.name}: ${r.warning}` });
    }
  }
  return source;
}

function checkDevices(devices: unknown): string[] {
  if (!Array.isArray(devices) || devices.length === 0 || devices.length > MAX_DEVICES) {
    throw new UsageError(
      `devices must be a list of 1 to ${MAX_DEVICES} device names (e.g. ["eth0"] or ["any"]), got ${describe(devices)}`,
    );
  }
  const seen = new Set<string>();
  for (const d of devices) {
    if (typeof d !== 'string' || d.length === 0 || d.length > 255 || d.includes('\0')) {
      throw new UsageError(`device names must be non-empty strings, got ${describe(d)}`);
    }
    if (seen.has(d)) throw new UsageError(`device "${d}" is listed twice`);
    seen.add(d);
  }
  return [...seen];
}

function checkPcapFile(
  value: unknown,
  snaplen: number,
): { path: string; snaplen: number; rotateBytes: number; maxFiles: number } | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new UsageError(
      `pcapFile must be an object {path, snaplen?, rotateBytes?, maxFiles?}, got ${describe(value)}`,
    );
  }
  checkKnownKeys('pcapFile', value, ['path', 'snaplen', 'rotateBytes', 'maxFiles']);
  const v = value as PcapFileOptions;
  if (typeof v.path !== 'string' || v.path.length === 0 || v.path.includes('\0')) {
    throw new UsageError(`pcapFile.path must be a file path, got ${describe(v.path)}`);
  }
  const pcapSnaplen = intOption('pcapFile.snaplen', v.snaplen, snaplen, 68, 262144);
  const rotateBytes = intOption(
    'pcapFile.rotateBytes',
    v.rotateBytes,
    0,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  const maxFiles = intOption('pcapFile.maxFiles', v.maxFiles, 0, 0, MAX_PCAP_FILES);
  if (maxFiles > 0 && rotateBytes === 0) {
    throw new UsageError(
      `pcapFile.maxFiles (${maxFiles}) needs rotation: set pcapFile.rotateBytes to the size of ` +
        'one file in bytes, or leave maxFiles out to write one file',
    );
  }
  return {
    path: v.path,
    snaplen: pcapSnaplen,
    rotateBytes,
    maxFiles,
  };
}
