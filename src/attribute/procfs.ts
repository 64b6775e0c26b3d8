// The only place the attribution stage reads the system: files under /proc (and /etc/passwd
// for user names) through a small ProcFs interface, so tests pass fake trees or in-memory fakes.

import { closeSync, openSync, readSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeBytes, utf8BoundaryBefore } from '../text/bytes.js';

/**
 * Synchronous read access to a /proc tree. Paths are absolute (`/proc/42/stat`). Each method
 * throws a Node errno error (`code` = `ENOENT`, `ESRCH`, `EACCES`...) on failure; callers use
 * {@link isVanished} and {@link isDenied} to sort them. Synchronous on purpose: one procfs read
 * is a few microseconds, far cheaper than a round trip through the libuv thread pool, and the
 * scanner yields to the event loop between slices itself.
 */
export interface ProcFs {
  /**
   * The file as text, losslessly: valid UTF-8 as usual, every other byte as U+DC80 + byte
   * (decodeBytes in src/text/bytes.ts). With `maxBytes`, at most that many bytes are read, and
   * a longer file is cut at the last whole character before the bound.
   */
  readText(path: string, maxBytes?: number): string;
  /** Entry names of a directory (no `.`/`..`). */
  readdir(path: string): string[];
  /**
   * Target of a symbolic link (`socket:[123]`, `net:[4026531840]`, `/usr/bin/curl`), decoded
   * losslessly like readText (the kernel bounds it at PATH_MAX, 4096 bytes).
   */
  readlink(path: string): string;
  /**
   * Whole file as text, read off the event loop; only for ASCII files (decoded as latin1).
   * Used for the socket tables: the kernel
   * takes ~55 ms to print /proc/net/udp with 10,000 sockets, which must not block the loop.
   * Optional: without it, readText is used.
   */
  readTextAsync?(path: string): Promise<string>;
  /**
   * Open fds of `pid`: st_size of /proc/<pid>/fd, which Linux 6.2 and later fill with the fd
   * count (0 before). One stat, no listing: the cheap sign that a process's fd table changed.
   * Optional; throws like readdir.
   */
  countFds?(pid: number): number;
}

/** ProcFs over the real file system; `root` prefixes every path (a fixture folder in tests). */
export class NodeProcFs implements ProcFs {
  private readonly root: string;
  private buffer = Buffer.allocUnsafe(64 * 1024);

  /** @param root folder that contains `proc/` (and `etc/passwd`). @default '/' */
  constructor(root = '/') {
    this.root = root;
  }

  readText(path: string, maxBytes = Infinity): string {
    // open + read into one reused buffer + close: procfs files report st_size 0, so
    // readFileSync's fstat is wasted, and a scan reads a thousand small files.
    const fd = openSync(this.resolve(path), 'r');
    try {
      // One byte past the bound tells a file of exactly maxBytes from a longer one.
      const limit = maxBytes + 1;
      let length = 0;
      while (length < limit) {
        if (length === this.buffer.length) {
          const bigger = Buffer.allocUnsafe(this.buffer.length * 2);
          this.buffer.copy(bigger, 0, 0, length);
          this.buffer = bigger;
        }
        const room = Math.min(this.buffer.length - length, limit - length);
        const n = readSync(fd, this.buffer, length, room, null);
        if (n === 0) break;
        length += n;
      }
      const end = length > maxBytes ? utf8BoundaryBefore(this.buffer, maxBytes) : length;
      return decodeBytes(this.buffer, 0, end);
    } finally {
      closeSync(fd);
    }
  }

  readTextAsync(path: string): Promise<string> {
    // Runs in the libuv thread pool; reads until EOF like readFileSync. latin1: the socket
    // tables are ASCII, and one-byte strings decode and hash faster than UTF-8.
    return readFile(this.resolve(path), 'latin1');
  }

  readdir(path: string): string[] {
    return readdirSync(this.resolve(path));
  }

  countFds(pid: number): number {
    return statSync(this.resolve(`/proc/${pid}/fd`)).size;
  }

  readlink(path: string): string {
    return decodeBytes(readlinkSync(this.resolve(path), { encoding: 'buffer' }));
  }

  private resolve(path: string): string {
    return this.root === '/' ? path : join(this.root, path);
  }
}

/** Errno code of an error thrown by a ProcFs, or undefined. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True when the error means the process (or fd) went away while we read it: ENOENT (pid
 * directory gone), ESRCH (task exited between open and read), or ENOTDIR/EINVAL from a
 * half-torn-down /proc entry. Such processes are skipped, never an error.
 */
export function isVanished(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR' || code === 'EINVAL';
}

/** True when the error is a permission refusal (EACCES, EPERM): another user's process without root. */
export function isDenied(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'EACCES' || code === 'EPERM';
}
