// The only importer of the native addon (build/Release/pidflow.node): its whole surface as
// typed interfaces, and loadAddon(), which finds it from the package root and checks that its
// record layout matches src/decode/record.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { RECORD_SIZE, RECORD_VERSION } from '../decode/record.js';
import { AddonLoadError } from '../errors.js';

/** One address of a device, as libpcap's pcap_findalldevs reports it. */
export interface NativeDeviceAddress {
  readonly family: 'inet' | 'inet6';
  readonly address: string;
  readonly netmask: string | null;
}

/** One capture device from pcap_findalldevs. */
export interface NativeDeviceInfo {
  readonly name: string;
  readonly description: string;
  readonly isUp: boolean;
  readonly isRunning: boolean;
  readonly isLoopback: boolean;
  readonly addresses: readonly NativeDeviceAddress[];
}

/** Options of `open()`, all filled in and validated by src/capture. */
export interface NativeOpenOptions {
  /** true: `devices` holds one pcap file path (pcap_open_offline). */
  readonly offline: boolean;
  readonly devices: readonly string[];
  readonly filter?: string;
  readonly snaplen: number;
  /** Kernel buffer in bytes; 0 keeps libpcap's default. */
  readonly bufferBytes: number;
  readonly immediate: boolean;
  readonly promiscuous: boolean;
  readonly batchIntervalMs: number;
  readonly batchRecords: number;
  readonly queueLimit: number;
  /** Wait for JS instead of dropping when queueLimit records are in flight. */
  readonly waitWhenFull: boolean;
  readonly pcapPath?: string;
  readonly pcapSnaplen: number;
  readonly pcapRotateBytes: number;
  /** Keep at most this many rotated files, deleting the oldest; 0 or absent keeps all. */
  readonly pcapMaxFiles?: number;
}

/** Why a device failed to open. */
export type NativeErrorKind =
  'permission' | 'no-device' | 'filter' | 'link-type' | 'not-up' | 'file' | 'other';

/** Per-device result of `open()`. */
export interface NativeOpenResult {
  readonly name: string;
  readonly ok: boolean;
  readonly linkType: number;
  readonly ifindex: number;
  readonly error?: string;
  readonly errorKind?: NativeErrorKind;
  /** pcap_activate warning (e.g. promiscuous mode not supported). */
  readonly warning?: string;
}

/** Message types of the `onMessage` callback. */
export const NativeMessage = { batch: 0, deviceEnd: 1, sourceEnd: 2 } as const;

/**
 * Called on the event loop. `batch`: `buffer` holds `count` records and is detached when the
 * call returns. `deviceEnd`: a device's thread stopped on an error (`text`). `sourceEnd`: all
 * threads ended; `text` is `stopped`, `end-of-file` or `error`.
 */
export type NativeMessageHandler = (
  type: number,
  deviceIndex: number,
  buffer: ArrayBuffer | null,
  count: number,
  text: string | undefined,
) => void;

/** Counters of one opened device, as the addon reports them. */
export interface NativeDeviceStats {
  readonly device: string;
  readonly deviceIndex: number;
  readonly linkType: number;
  readonly kernelReceivedPackets: number;
  readonly kernelDroppedPackets: number;
  readonly interfaceDroppedPackets: number;
  readonly capturedPackets: number;
  readonly capturedBytes: number;
  readonly deliveredPackets: number;
  readonly queueDroppedPackets: number;
  readonly nonIpPackets: number;
  readonly malformedPackets: number;
  readonly malformedByKind: Readonly<Record<string, number>>;
}

export interface NativeStats {
  readonly devices: readonly NativeDeviceStats[];
  readonly pcap?: {
    readonly path: string;
    readonly writtenPackets: number;
    readonly writtenBytes: number;
    readonly files: number;
    readonly removedFiles: number;
    readonly removeFailures: number;
    readonly error?: string;
    readonly removeError?: string;
  };
}

/** An opened capture set; threads start with start(). stop() is synchronous and idempotent. */
export interface NativeCaptureHandle {
  start(): void;
  stop(): void;
  stats(): NativeStats;
  openResults(): NativeOpenResult[];
}

/** Options of `openSocketEvents()`, validated by src/capture/socket-events.ts. */
export interface NativeSocketEventsOptions {
  /** Events per batch handed to JS at most. */
  readonly batchRecords: number;
  /** Longest wait before a partial batch is handed over. */
  readonly batchIntervalMs: number;
  /** Events in flight to JS at most; further batches are dropped and counted. */
  readonly queueLimit: number;
  /** Load the send (UDP sends, TCP writes) and receive (TCP reads) programs too (absent: true). */
  readonly udp?: boolean;
  /**
   * Raw tracepoint of the UDP send program (absent: `sock_send_length`). Tests name a missing
   * one to force the fallback of kernels before 6.3.
   */
  readonly udpTracepoint?: string;
}

/**
 * Called on the event loop with `count` records of `sockEventSize` bytes (layout in
 * native/bpf/sock_events.h); the buffer is a copy the callee may keep.
 */
export type NativeSocketEventsHandler = (buffer: Uint8Array, count: number) => void;

/** Counters of the connect-event reader. */
export interface NativeSocketEventsStats {
  /** Events read from the kernel ring buffer. */
  readonly events: number;
  /** Events handed to JS. */
  readonly delivered: number;
  /** Events dropped because queueLimit events were in flight to JS. */
  readonly droppedQueue: number;
  /** Events the BPF program could not write because the ring buffer was full. */
  readonly droppedKernel: number;
}

/** An attached connect tracker; stop() is synchronous and idempotent. */
export interface NativeSocketEventsHandle {
  /** UDP send tracking is attached too (absent in older builds: false). */
  readonly udp?: boolean;
  /** Why UDP send tracking is off; empty when it is on. */
  readonly udpWarning?: string;
  /** TCP reads and writes are tracked (the send and receive programs are attached). */
  readonly io?: boolean;
  stop(): void;
  stats(): NativeSocketEventsStats;
}

/** A NETLINK_SOCK_DIAG socket bound to one network namespace (native/sock_diag.cc). */
export interface NativeSockDiagSocket {
  readonly fd: number;
  /** Inode of the namespace the socket was opened in (0: unknown). */
  readonly netns: number;
}

/** One sock_diag dump: `records` holds `sockDiagRecordSize`-byte records (native/sock_diag.h). */
export interface NativeSockDiagDump {
  readonly records: Uint8Array;
  /** Bits of the protocol mask whose table the kernel refused (no IPv6, no udp_diag). */
  readonly failedMask: number;
  /** errno of the first refused table, 0 when none. */
  readonly errno: number;
  /** Sockets past maxSockets, not returned. */
  readonly dropped: number;
}

/** Everything the .node file exports. */
export interface NativeAddon {
  readonly recordVersion: number;
  readonly recordSize: number;
  readonly libpcapVersion: string;
  /** Names of the malformed kinds, in native enum order. */
  readonly malformedKinds: readonly string[];
  listDevices(): NativeDeviceInfo[];
  open(options: NativeOpenOptions, onMessage: NativeMessageHandler): NativeCaptureHandle;
  /** Version of the socket event record (native/bpf/sock_events.h); absent in older builds. */
  readonly sockEventVersion?: number;
  readonly sockEventSize?: number;
  /** The addon was built with libbpf: openSocketEvents can work (it may still fail to load). */
  readonly hasSocketEvents?: boolean;
  /**
   * Load and attach the BPF connect tracker (native/sock_events.cc). Throws an Error with
   * `code` `ENOTBUILT` (built without libbpf) or `ELOAD` (no permission, no BTF, old kernel).
   */
  openSocketEvents?(
    options: NativeSocketEventsOptions,
    onBatch: NativeSocketEventsHandler,
  ): NativeSocketEventsHandle;
  /** Layout version and size of sock_diag records; absent in older builds. */
  readonly sockDiagVersion?: number;
  readonly sockDiagRecordSize?: number;
  /**
   * Open a sock_diag netlink socket in the namespace of `nsPath` (`/proc/<pid>/ns/net`; null:
   * our own). Throws an Error with `code` EPERM/EACCES/ENOENT when refused or gone.
   */
  sockDiagOpen?(nsPath: string | null): NativeSockDiagSocket;
  /**
   * Dump the tables of `protocolMask` (bits: TCP v4, TCP v6, UDP v4, UDP v6, UDP-Lite v4, v6),
   * TCP sockets only in the states of the `tcpStates` bit mask (1 << state), in the libuv pool.
   */
  sockDiagDump?(
    fd: number,
    protocolMask: number,
    tcpStates: number,
    maxSockets: number,
  ): Promise<NativeSockDiagDump>;
  sockDiagClose?(fd: number): void;
  /**
   * Open a ctnetlink socket (NETLINK_NETFILTER) in our own network namespace (native/conntrack.cc).
   * Throws an Error with `code` when the kernel refuses it.
   */
  conntrackOpen?(): number;
  /**
   * The conntrack entry one of whose tuples is exactly (protocol, src, dst), as
   * [origSrc, origSrcPort, origDst, origDstPort, replySrc, replySrcPort, replyDst, replyDstPort],
   * or null when there is none. Throws an Error with `code` (EPERM, EINVAL: no ctnetlink, EAGAIN:
   * no answer within 100 ms). Addresses are text (`198.18.0.1`, `fd42:6e66::1`).
   */
  conntrackGet?(
    fd: number,
    ipVersion: 4 | 6,
    protocol: number,
    srcAddress: string,
    srcPort: number,
    dstAddress: string,
    dstPort: number,
  ): NativeConntrackEntry | null;
  conntrackClose?(fd: number): void;
  /**
   * CPU time of the calling thread so far, ms (CLOCK_THREAD_CPUTIME_ID): the event loop's own,
   * without GC and worker threads. -1 when the clock is unavailable. Absent in older builds.
   */
  threadCpuMs?(): number;
  /** Layout version and size of socket-owner records (native/bpf/socket_owners.h). */
  readonly socketOwnerVersion?: number;
  readonly socketOwnerSize?: number;
  /** The addon was built with libbpf: socketOwnersOpen can work (it may still fail to load). */
  readonly hasSocketOwners?: boolean;
  /**
   * Load and attach the socket-owners BPF iterator (native/socket_owners.cc); returns a handle.
   * Throws an Error with `code` ENOTBUILT, EPERM (no CAP_BPF/CAP_PERFMON), ENOTSUP (kernel
   * without task_file iterators or BTF) or EIO.
   */
  socketOwnersOpen?(): number;
  /**
   * Every socket held in an fd table, with its process, in the libuv pool: `records` of
   * `socketOwnerSize` bytes (u32 tgid, fd, inode, netns). Rejects with `code` EPIDNS when this
   * process runs in a pid namespace of its own (the kernel's numbers are not ours).
   */
  socketOwnersRead?(handle: number, maxRecords: number): Promise<NativeSocketOwners>;
  socketOwnersClose?(handle: number): void;
}

/** One pass of the socket-owners iterator. */
export interface NativeSocketOwners {
  readonly records: Uint8Array;
  /** More sockets than maxRecords: the list is incomplete. */
  readonly truncated: boolean;
}

/** A conntrack entry's two tuples: original direction, then reply direction. */
export type NativeConntrackEntry = [
  origSrc: string,
  origSrcPort: number,
  origDst: string,
  origDstPort: number,
  replySrc: string,
  replySrcPort: number,
  replyDst: string,
  replyDstPort: number,
];

/** Where loadAddon() looks, relative to the package root, in order. */
export const ADDON_PATHS = ['build/Release/pidflow.node', 'build/Debug/pidflow.node'] as const;

let cached: NativeAddon | undefined;

/** The package root: the nearest folder above this file holding package.json. */
export function findPackageRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

/**
 * Load the addon once (cached), trying ADDON_PATHS from the package root.
 * @param root Package root to search from (tests); @default the folder holding package.json
 * @throws AddonLoadError naming every path tried and the fix, or on a record layout mismatch.
 */
export function loadAddon(root?: string): NativeAddon {
  if (cached !== undefined && root === undefined) return cached;
  root ??= findPackageRoot();
  const require = createRequire(join(root, 'package.json'));
  const tried: string[] = [];
  let lastError: unknown;
  for (const rel of ADDON_PATHS) {
    const full = join(root, rel);
    try {
      const addon = require(full) as NativeAddon;
      checkRecordLayout(addon, full);
      cached ??= addon;
      return addon;
    } catch (error) {
      if (error instanceof AddonLoadError) throw error;
      tried.push(
        `${full} (${error instanceof Error ? error.message.split('\n')[0] : String(error)})`,
      );
      lastError = error;
    }
  }
  throw new AddonLoadError(
    `cannot load the pidflow native addon; tried:\n  ${tried.join('\n  ')}\n` +
      'Build it with `npm run build:native` (it needs libpcap headers: `apt-get install libpcap-dev`).',
    { cause: lastError },
  );
}

/** Fail if the addon's record layout differs from the one src/decode was written for. */
export function checkRecordLayout(
  addon: Pick<NativeAddon, 'recordVersion' | 'recordSize'>,
  where = 'the addon',
): void {
  if (addon.recordVersion !== RECORD_VERSION || addon.recordSize !== RECORD_SIZE) {
    throw new AddonLoadError(
      `${where} writes records of version ${String(addon.recordVersion)} and ${String(addon.recordSize)} bytes, ` +
        `but src/decode expects version ${RECORD_VERSION} and ${RECORD_SIZE} bytes: ` +
        'rebuild it with `npm run build:native`.',
    );
  }
}
