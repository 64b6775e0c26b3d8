// Socket owners from the kernel (the addon's socketOwners* functions, a BPF task_file iterator):
// every socket held in any process's fd table, with the process, in one read. It replaces the
// scanner's walks of /proc/<pid>/fd (a getdents64 per process and a readlink per fd: about 50 ms
// of CPU on a host with 1,000 processes and 14,000 fds, against about 4 ms here) and sees what a
// walk cannot: every process, including those /proc hides from us, at the moment of the read.
// Without it (addon built without libbpf, no CAP_BPF, an old kernel, a pid namespace of our
// own) the scanner walks /proc as before; why is in stats().lastError.

import type { NativeAddon } from '../capture/addon.js';

/** Record layout of native/bpf/socket_owners.h. */
export const SOCKET_OWNER_VERSION = 1;
export const SOCKET_OWNER_SIZE = 16;

/** The part of the addon this reader uses. */
export type SocketOwnersAddon = Pick<
  NativeAddon,
  | 'socketOwnerVersion'
  | 'socketOwnerSize'
  | 'socketOwnersOpen'
  | 'socketOwnersRead'
  | 'socketOwnersClose'
>;

/** True when the addon has the iterator with the layout this file decodes. */
export function hasSocketOwners(
  addon: Partial<SocketOwnersAddon> | undefined,
): addon is Required<SocketOwnersAddon> {
  return (
    addon?.socketOwnersOpen !== undefined &&
    addon.socketOwnersRead !== undefined &&
    addon.socketOwnerVersion === SOCKET_OWNER_VERSION &&
    addon.socketOwnerSize === SOCKET_OWNER_SIZE
  );
}

/** Who holds each socket, as of one read. */
export interface SocketHolders {
  /**
   * Processes (tgids) holding socket `inode` in an fd table, lowest pid first; undefined when
   * none does (a kernel socket, or closed since the table listed it).
   */
  of(inode: number): number | readonly number[] | undefined;
  /** Byte-for-byte the same list as the previous read: no socket changed hands. */
  readonly isSame: boolean;
  /** Sockets listed (fds holding a socket). */
  readonly records: number;
}

/** Where a scan gets socket owners from; undefined from read(): walk /proc instead. */
export interface SocketOwnerSource {
  /** False after a failure that will not go away (no permission, no kernel support). */
  isAvailable(): boolean;
  read(): Promise<SocketHolders | undefined>;
  close(): void;
  stats(): SocketOwnerStats;
}

/** Counters of the kernel owner source. */
export interface SocketOwnerStats {
  /** True while reads work (false before the first one and after a lasting failure). */
  readonly active: boolean;
  readonly reads: number;
  /** Reads that failed or were cut at maxRecords (those scans walked /proc). */
  readonly failures: number;
  /** Records (socket fds) in the last read. */
  readonly records: number;
  /** Why the source is off or the last read failed; '' when none. */
  readonly lastError: string;
}

/** Options of {@link KernelSocketOwners}. */
export interface KernelSocketOwnersOptions {
  /** Socket fds read at most per pass; past it the pass fails (walk /proc). @default 4_000_000 */
  maxRecords?: number;
  /** Told once why the iterator cannot be used (the scanner then walks /proc). */
  onUnavailable?: (reason: string) => void;
}

/** Errors after which the iterator is not tried again: they do not change while we run. */
const LASTING = new Set(['ENOTBUILT', 'EPERM', 'ENOTSUP', 'EPIDNS', 'EPROTO', 'ECLOSED']);

class Holders implements SocketHolders {
  constructor(
    private readonly single: ReadonlyMap<number, number>,
    private readonly shared: ReadonlyMap<number, readonly number[]>,
    readonly isSame: boolean,
    readonly records: number,
  ) {}

  of(inode: number): number | readonly number[] | undefined {
    return this.shared.get(inode) ?? this.single.get(inode);
  }

  same(): Holders {
    return new Holders(this.single, this.shared, true, this.records);
  }
}

/**
 * The iterator, opened on first use. A failure that will not change (no permission, no kernel
 * support, another pid namespace) turns it off for good; others fail that read only.
 */
export class KernelSocketOwners implements SocketOwnerSource {
  private handle: number | undefined;
  private isOff = false;
  private previous: Uint8Array | undefined;
  private holders: Holders | undefined;
  private reads = 0;
  private failures = 0;
  private records = 0;
  private lastError = '';
  private readonly maxRecords: number;

  constructor(
    private readonly addon: Required<SocketOwnersAddon>,
    options: KernelSocketOwnersOptions = {},
  ) {
    this.maxRecords = options.maxRecords ?? 4_000_000;
    this.onUnavailable = options.onUnavailable;
  }

  private readonly onUnavailable: ((reason: string) => void) | undefined;

  isAvailable(): boolean {
    return !this.isOff;
  }

  async read(): Promise<SocketHolders | undefined> {
    if (this.isOff) return undefined;
    try {
      this.handle ??= this.addon.socketOwnersOpen();
    } catch (error) {
      this.turnOff(error);
      return undefined;
    }
    let result: { records: Uint8Array; truncated: boolean };
    try {
      result = await this.addon.socketOwnersRead(this.handle, this.maxRecords);
    } catch (error) {
      if (LASTING.has(codeOf(error))) this.turnOff(error);
      else {
        this.failures++;
        this.lastError = messageOf(error);
      }
      return undefined;
    }
    this.reads++;
    if (result.truncated) {
      this.failures++;
      this.lastError = `more than ${this.maxRecords} socket fds: owners read from /proc instead`;
      return undefined;
    }
    const bytes = result.records;
    this.records = Math.floor(bytes.length / SOCKET_OWNER_SIZE);
    const previous = this.previous;
    if (
      this.holders !== undefined &&
      previous !== undefined &&
      previous.length === bytes.length &&
      Buffer.from(previous.buffer, previous.byteOffset, previous.length).equals(bytes)
    ) {
      return this.holders.same();
    }
    this.previous = bytes;
    this.holders = decode(bytes, this.records);
    return this.holders;
  }

  close(): void {
    if (this.handle !== undefined) {
      try {
        this.addon.socketOwnersClose(this.handle);
      } catch {
        // Closing twice or after unload: nothing left to free.
      }
      this.handle = undefined;
    }
    this.isOff = true;
    this.previous = undefined;
    this.holders = undefined;
  }

  stats(): SocketOwnerStats {
    return {
      active: !this.isOff && this.reads > 0,
      reads: this.reads,
      failures: this.failures,
      records: this.records,
      lastError: this.lastError,
    };
  }

  private turnOff(error: unknown): void {
    this.isOff = true;
    this.failures++;
    this.lastError = messageOf(error);
    this.onUnavailable?.(this.lastError);
    if (this.handle !== undefined) {
      try {
        this.addon.socketOwnersClose(this.handle);
      } catch {
        // Already gone.
      }
      this.handle = undefined;
    }
  }
}

/** inode -> holders from `count` records (u32 tgid, fd, inode, netns; little-endian). */
function decode(bytes: Uint8Array, count: number): Holders {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const single = new Map<number, number>();
  const shared = new Map<number, number[]>();
  for (let i = 0; i < count; i++) {
    const at = i * SOCKET_OWNER_SIZE;
    const tgid = view.getUint32(at, true);
    const inode = view.getUint32(at + 8, true);
    if (inode === 0) continue;
    const first = single.get(inode);
    if (first === undefined) {
      single.set(inode, tgid);
      continue;
    }
    if (first === tgid) continue; // the same process holds it in several fds
    const all = shared.get(inode);
    if (all === undefined) shared.set(inode, first < tgid ? [first, tgid] : [tgid, first]);
    else if (tgid > all[all.length - 1]!)
      all.push(tgid); // the iterator goes in pid order
    else if (!all.includes(tgid)) {
      all.push(tgid);
      all.sort((a, b) => a - b);
    }
  }
  return new Holders(single, shared, false, count);
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
