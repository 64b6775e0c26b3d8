// openPcapFile(): replay a pcap file through the same native decoder and batch path as a live
// capture (pcap_open_offline). By default the reader waits for JS instead of dropping, so a
// replay is exact.
import type { NativeAddon } from './addon.js';
import { loadAddon } from './addon.js';
import { openFailureError } from './capture-errors.js';
import { DEFAULT_BATCH_INTERVAL_MS, checkBatchLimits } from './open-capture.js';
import { NativeSource } from './native-source.js';
import { boolOption, checkKnownKeys, describe, intOption, stringOption } from './validate.js';
import { UsageError } from '../errors.js';

/** Options of openPcapFile(). */
export interface PcapFileSourceOptions {
  /** BPF filter expression applied while reading. */
  readonly filter?: string;
  /** Records per batch. @default 4096 */
  readonly batchRecords?: number;
  /** A partly filled batch is delivered after this many ms. @default 100 */
  readonly batchIntervalMs?: number;
  /** Records in flight to JS before the reader waits (or drops). @default 1000000 */
  readonly queueLimit?: number;
  /** Drop records beyond queueLimit like a live capture, instead of waiting. @default false */
  readonly dropWhenFull?: boolean;
  /** The native addon (tests pass a fake). @default loadAddon() */
  readonly addon?: NativeAddon;
}

const KNOWN = [
  'filter',
  'batchRecords',
  'batchIntervalMs',
  'queueLimit',
  'dropWhenFull',
  'addon',
] as const;

/**
 * Open a pcap file for replay; `done` resolves with `end-of-file` after the last batch.
 * @throws UsageError for bad options; CaptureError when the file cannot be read or decoded.
 */
export function openPcapFile(path: string, options: PcapFileSourceOptions = {}): NativeSource {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new UsageError(`openPcapFile needs a file path, got ${describe(path)}`);
  }
  if (typeof options !== 'object' || options === null) {
    throw new UsageError(`openPcapFile options must be an object, got ${describe(options)}`);
  }
  checkKnownKeys('openPcapFile', options, KNOWN);
  const filter = stringOption('filter', options.filter);
  const { queueLimit, batchRecords } = checkBatchLimits(options);
  const batchIntervalMs = intOption(
    'batchIntervalMs',
    options.batchIntervalMs,
    DEFAULT_BATCH_INTERVAL_MS,
    1,
    60000,
  );
  const dropWhenFull = boolOption('dropWhenFull', options.dropWhenFull, false);
  const addon = options.addon ?? loadAddon();

  const source = new NativeSource('file', [path]);
  const handle = addon.open(
    {
      offline: true,
      devices: [path],
      ...(filter !== undefined ? { filter } : {}),
      snaplen: 262144,
      bufferBytes: 0,
      immediate: false,
      promiscuous: false,
      batchIntervalMs,
      batchRecords,
      queueLimit,
      waitWhenFull: !dropWhenFull,
      pcapSnaplen: 0,
      pcapRotateBytes: 0,
    },
    source.onMessage,
  );
  const failures = handle.openResults().filter((r) => !r.ok);
  if (failures.length > 0) {
    handle.stop();
    throw openFailureError(failures, filter, () => []);
  }
  source.attach(handle);
  return source;
}
