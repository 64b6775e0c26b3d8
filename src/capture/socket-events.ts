// Owners of TCP connects, UDP sends and TCP reads/writes as the kernel reports them (BPF
// programs on the raw tracepoints inet_sock_set_state, sock_send_length and sock_recv_length,
// native/sock_events.cc): catches client sockets that live for milliseconds, between two /proc
// scans (connection churn, DNS clients). Optional: callers turn an open failure into a warning.
import { formatAddress } from '../decode/address.js';
import { CaptureError, PermissionError, UsageError } from '../errors.js';
import { loadAddon } from './addon.js';
import type { NativeAddon, NativeSocketEventsHandle } from './addon.js';

/** Record layout version and size this module reads (native/bpf/sock_events.h). */
export const SOCKET_EVENT_VERSION = 2;
export const SOCKET_EVENT_SIZE = 80;

const OFF_TGID = 0;
const OFF_FAMILY = 4;
const OFF_SPORT = 6;
const OFF_DPORT = 8;
const OFF_PROTOCOL = 10;
const OFF_KIND = 12;
const OFF_SADDR = 16;
const OFF_DADDR = 32;
const OFF_COMM = 48;
const OFF_NETNS = 64;
const OFF_START = 72;
const KINDS = ['connect', 'udpSend', 'tcpIo'] as const;
const COMM_BYTES = 16;
const AF_INET = 2;
const AF_INET6 = 10;
const PROTOCOL_TCP = 6;

/**
 * What a socket event reports: `connect`, a TCP connect() (the caller owns the client end);
 * `udpSend`, the first datagram of a UDP socket from a process; `tcpIo`, the first read or
 * write of a connected TCP socket by a process (the worker that accepted it, the child a
 * parent forked to serve it, the receiver of a passed socket).
 */
export type SocketEventKind = (typeof KINDS)[number];

/**
 * One TCP connect (the process that called connect() and the connection's endpoints), the
 * first UDP send of a socket (the process that sent, its local end, and the first destination),
 * or the first read or write of a connected TCP socket by a process.
 */
export interface SocketEvent {
  /** Absent: `connect` for TCP, `udpSend` for UDP (events of the first record version). */
  readonly kind?: SocketEventKind;
  /** Process id (thread group id, never a thread id) of the process that acted. */
  readonly pid: number;
  /**
   * Its start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, the
   * process's key even after it exited. Absent or 0: unknown.
   */
  readonly startTime?: number;
  /** Inode of the socket's network namespace; absent or 0: unknown. */
  readonly netns?: number;
  /** comm of the connecting or sending thread (up to 15 bytes). */
  readonly comm: string;
  /** IP protocol number: 6 (TCP), 17 (UDP) or 136 (UDP-Lite). */
  readonly protocol: number;
  /**
   * Local address, formatted like the rest of pidflow (IPv4-mapped IPv6 shown as IPv4).
   * `0.0.0.0` or `::` for a UDP socket bound to no address (the source is chosen per route).
   */
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** Options of {@link openSocketEvents}. */
export interface SocketEventsOptions {
  /** Called on the event loop with each batch of decoded events. */
  onEvents(batch: readonly SocketEvent[]): void;
  /** Longest wait before a partial batch is handed over. @default 20 */
  batchIntervalMs?: number;
  /** Events in flight to JS at most; more are dropped and counted. @default 65536 */
  queueLimit?: number;
  /**
   * Track UDP sends too (a raw tracepoint on every send of every socket, docs/attribution.md);
   * false: no UDP send events. @default true
   */
  udp?: boolean;
  /**
   * Track which process reads and writes each connected TCP socket (raw tracepoints on every
   * send and receive: accepted connections go to the worker that serves them, docs/attribution.md).
   * @default true
   */
  tcpIo?: boolean;
}

/** Counters of {@link SocketEventsHandle.stats}. */
export interface SocketEventsStats {
  /** Events decoded and handed to onEvents. */
  readonly events: number;
  /** Events lost: ring buffer full in the kernel, JS queue full, or malformed records. */
  readonly dropped: number;
  /** Events of UDP (and UDP-Lite) sends among `events` (absent: 0). */
  readonly udpEvents?: number;
  /** Events of TCP reads and writes among `events` (absent: 0). */
  readonly tcpIoEvents?: number;
}

/** An attached connect tracker. */
export interface SocketEventsHandle {
  /**
   * UDP sends are tracked too (false when the kernel refused those programs: see udpWarning).
   * Optional so that injected fakes need not say; absent means false.
   */
  readonly udp?: boolean;
  /** Why UDP send tracking is off, with the fix; undefined when it is on. */
  readonly udpWarning?: string | undefined;
  /** TCP reads and writes are tracked (absent: false). */
  readonly tcpIo?: boolean;
  /** Detach the BPF program and stop the reader thread. Synchronous, idempotent. */
  stop(): void;
  stats(): SocketEventsStats;
  /**
   * After stop(): true once every event read from the kernel has reached `onEvents` (or was
   * dropped). The last batch crosses to JS through the event loop, so a caller that needs it
   * (the monitor, before its final flush) yields until this is true. Absent: always drained.
   */
  isDrained?(): boolean;
}

/**
 * Decode `count` socket event records from `buffer`. Records with an unknown family are
 * skipped and counted in the returned `malformed`.
 */
export function decodeSocketEvents(
  buffer: Uint8Array,
  count: number,
): { events: SocketEvent[]; malformed: number } {
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const n = Math.min(count, Math.floor(buffer.byteLength / SOCKET_EVENT_SIZE));
  const events: SocketEvent[] = [];
  let malformed = count - n;
  for (let i = 0; i < n; i++) {
    const o = i * SOCKET_EVENT_SIZE;
    const family = view.getUint16(o + OFF_FAMILY, true);
    if (family !== AF_INET && family !== AF_INET6) {
      malformed++;
      continue;
    }
    const kind = KINDS[view.getUint16(o + OFF_KIND, true)];
    if (kind === undefined) {
      malformed++;
      continue;
    }
    const ipVersion = family === AF_INET ? 4 : 6;
    let commEnd = o + OFF_COMM;
    while (commEnd < o + OFF_COMM + COMM_BYTES && buffer[commEnd] !== 0) commEnd++;
    // Ticks since boot fit a double exactly for 2.8 million years.
    const start =
      view.getUint32(o + OFF_START, true) + view.getUint32(o + OFF_START + 4, true) * 2 ** 32;
    events.push({
      kind,
      pid: view.getUint32(o + OFF_TGID, true),
      startTime: start,
      netns: view.getUint32(o + OFF_NETNS, true),
      comm: Buffer.from(
        buffer.buffer,
        buffer.byteOffset + o + OFF_COMM,
        commEnd - o - OFF_COMM,
      ).toString('utf8'),
      protocol: view.getUint16(o + OFF_PROTOCOL, true),
      localAddress: formatAddress(view, o + OFF_SADDR, ipVersion),
      localPort: view.getUint16(o + OFF_SPORT, true),
      remoteAddress: formatAddress(view, o + OFF_DADDR, ipVersion),
      remotePort: view.getUint16(o + OFF_DPORT, true),
    });
  }
  return { events, malformed };
}

function checkOption(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `socket events option ${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Attach the kernel connect tracker and deliver its events in batches.
 * @throws UsageError on bad options; PermissionError without CAP_BPF/CAP_PERFMON (root);
 * CaptureError (code `ERR_SOCKET_EVENTS`) when the addon lacks the feature or the kernel
 * refuses the program (no BTF, old kernel). Callers treat both as a warning.
 * @example
 * const events = openSocketEvents({ onEvents: (batch) => index.add(batch) });
 * events.stop();
 */
export function openSocketEvents(
  options: SocketEventsOptions,
  addon: NativeAddon = loadAddon(),
): SocketEventsHandle {
  if (typeof options?.onEvents !== 'function') {
    throw new UsageError('openSocketEvents needs an onEvents(batch) function');
  }
  const batchIntervalMs = checkOption('batchIntervalMs', options.batchIntervalMs ?? 20, 1, 10_000);
  const queueLimit = checkOption('queueLimit', options.queueLimit ?? 65_536, 1, 16_777_216);
  if (addon.openSocketEvents === undefined || addon.hasSocketEvents !== true) {
    throw new CaptureError(
      'socket events are not available: the native addon was built without libbpf; install ' +
        'libbpf-dev and clang (apt-get install libbpf-dev clang) and run `npm run build:native`',
      { code: 'ERR_SOCKET_EVENTS' },
    );
  }
  if (
    addon.sockEventVersion !== SOCKET_EVENT_VERSION ||
    addon.sockEventSize !== SOCKET_EVENT_SIZE
  ) {
    throw new CaptureError(
      `the native addon writes socket events of version ${String(addon.sockEventVersion)} and ` +
        `${String(addon.sockEventSize)} bytes, but src/capture expects version ${SOCKET_EVENT_VERSION} ` +
        `and ${SOCKET_EVENT_SIZE} bytes: rebuild it with \`npm run build:native\``,
      { code: 'ERR_SOCKET_EVENTS' },
    );
  }
  let events = 0;
  let udpEvents = 0;
  let tcpIoEvents = 0;
  const wantsUdp = options.udp !== false;
  const wantsTcpIo = options.tcpIo !== false;
  let malformed = 0;
  let native: NativeSocketEventsHandle;
  try {
    native = addon.openSocketEvents(
      // One send program serves UDP sends and TCP writes: load it when either is wanted, and
      // drop here the kind that was not asked for.
      { batchRecords: 1024, batchIntervalMs, queueLimit, udp: wantsUdp || wantsTcpIo },
      (buffer, count) => {
        const decoded = decodeSocketEvents(buffer, count);
        malformed += decoded.malformed;
        let batch = decoded.events;
        if (!wantsUdp || !wantsTcpIo) {
          batch = batch.filter((e) =>
            e.kind === 'tcpIo' ? wantsTcpIo : e.kind === 'connect' || wantsUdp,
          );
        }
        events += batch.length;
        for (const e of batch) {
          if (e.protocol !== PROTOCOL_TCP) udpEvents++;
          else if (e.kind === 'tcpIo') tcpIoEvents++;
        }
        if (batch.length > 0) options.onEvents(batch);
      },
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/EPERM|EACCES|Operation not permitted|Permission denied/i.test(message)) {
      throw new PermissionError(
        `${message}: socket events need root (or CAP_BPF and CAP_PERFMON); pidflow works ` +
          'without them but misses very short connections between two /proc scans',
        { cause: error },
      );
    }
    throw new CaptureError(
      `${message}: pidflow works without socket events but misses very short connections ` +
        'between two /proc scans; the kernel needs BTF (/sys/kernel/btf/vmlinux) and BPF ring buffers (5.8+)',
      { cause: error, code: 'ERR_SOCKET_EVENTS' },
    );
  }
  const udp = native.udp === true && wantsUdp;
  return {
    udp,
    tcpIo: native.io === true && wantsTcpIo,
    // Not asked for: nothing to warn about.
    udpWarning:
      udp || !wantsUdp
        ? undefined
        : `${native.udpWarning || 'the native addon predates UDP send tracking'}: short-lived UDP ` +
          'senders (DNS clients) may stay unattributed; UDP tracking needs the raw tracepoint ' +
          'sock_send_length (Linux 6.3+), or rebuild the addon with `npm run build:native`',
    stop: () => native.stop(),
    isDrained: () => {
      const s = native.stats();
      return s.delivered + s.droppedQueue >= s.events;
    },
    stats: () => {
      const s = native.stats();
      return {
        events,
        dropped: s.droppedKernel + s.droppedQueue + malformed,
        udpEvents,
        tcpIoEvents,
      };
    },
  };
}
