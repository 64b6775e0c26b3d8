// Bounded reads of container runtimes' and the kubelet's state on this host (/var/lib, /run,
// /var/log, users' ~/.local/share): the only place the attribution stage reads outside /proc.
// Those files are written from data that containers' owners control, so every read is capped.

import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readSync,
  readdirSync,
} from 'node:fs';
import { join } from 'node:path';

/** One file read by {@link HostFiles.readFile}. */
export interface HostFile {
  /** Contents as UTF-8 (invalid bytes become U+FFFD). */
  readonly text: string;
  /** Modification time, ms since the epoch. */
  readonly mtimeMs: number;
  /** Size in bytes. */
  readonly sizeBytes: number;
}

/**
 * Synchronous, bounded read access to state files. Paths are absolute. Methods throw a Node
 * errno error (`ENOENT`, `EACCES`, `ELOOP`...) on failure, and two of their own: `EFBIG` for a
 * file larger than the cap (nothing is parsed from a truncated file) and `EFTYPE` for anything
 * that is not a regular file (a FIFO or device would block or never end).
 */
export interface HostFiles {
  /** A regular file of at most `maxBytes` bytes; a symbolic link as the last component is refused. */
  readFile(path: string, maxBytes: number): HostFile;
  /** Entry names of a directory (no `.`/`..`). */
  readdir(path: string): string[];
  /** Modification time and size, without reading (a link as the last component is not followed). */
  stat(path: string): { readonly mtimeMs: number; readonly sizeBytes: number };
}

/** An errno-style error with a code of our own. */
function hostFileError(code: string, message: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(message);
  error.code = code;
  return error;
}

/** HostFiles over the real file system; `root` prefixes every path (a fixture folder in tests). */
export class NodeHostFiles implements HostFiles {
  private readonly root: string;

  /** @param root folder that stands for `/`. @default '/' */
  constructor(root = '/') {
    this.root = root;
  }

  readFile(path: string, maxBytes: number): HostFile {
    // O_NONBLOCK: opening a FIFO planted where a state file should be must not wait for a
    // writer. O_NOFOLLOW: a link as the last component (a user's rootless storage) is refused.
    const fd = openSync(
      this.resolve(path),
      constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW,
    );
    try {
      const stat = fstatSync(fd);
      if (!stat.isFile()) throw hostFileError('EFTYPE', `not a regular file: ${path}`);
      if (stat.size > maxBytes) {
        throw hostFileError('EFBIG', `${path} has ${stat.size} bytes, over the ${maxBytes} read`);
      }
      // Read at most maxBytes + 1: a file growing between fstat and read is still caught.
      const buffer = Buffer.allocUnsafe(Math.min(maxBytes, stat.size) + 1);
      let length = 0;
      while (length < buffer.length) {
        const n = readSync(fd, buffer, length, buffer.length - length, null);
        if (n === 0) break;
        length += n;
      }
      if (length > maxBytes) throw hostFileError('EFBIG', `${path} grew past ${maxBytes} bytes`);
      return { text: buffer.toString('utf8', 0, length), mtimeMs: stat.mtimeMs, sizeBytes: length };
    } finally {
      closeSync(fd);
    }
  }

  readdir(path: string): string[] {
    return readdirSync(this.resolve(path));
  }

  stat(path: string): { readonly mtimeMs: number; readonly sizeBytes: number } {
    const stat = lstatSync(this.resolve(path));
    return { mtimeMs: stat.mtimeMs, sizeBytes: stat.size };
  }

  private resolve(path: string): string {
    return this.root === '/' ? path : join(this.root, path);
  }
}
