// Cheap signs that the socket tables did not change since the last scan: each namespace's table
// signature (table-signature.ts) as that scan read it, and when its tables were last dumped.
// Input: the scanner's per-namespace reads; output: "reuse these tables" and "no scan needed".

import { parseNamespaceLink } from './process-info.js';
import type { ProcFs } from './procfs.js';
import { readTableSignature } from './table-signature.js';

/**
 * A namespace whose socket counters (table-signature.ts) did not move since its last table
 * read keeps that read's tables for at most this long; then it is read again whatever they say.
 */
export const TABLE_REUSE_MS = 5_000;

/** How the last scan read one namespace: through which process, and its table signature. */
export interface NamespaceSignature {
  pid: number;
  signature: string | undefined;
}

/** The table signatures of the last scan, and the probes that compare the host with them. */
export class QuietProbe {
  /** Per namespace read by the last scan: the process read through and its table signature. */
  private signatures = new Map<number, NamespaceSignature>();
  /** Monotonic ms of each namespace's last real table read (not reused). */
  private readonly dumpedAtMs = new Map<number, number>();

  constructor(private readonly procFs: ProcFs) {}

  /**
   * Whether the tables the last scan read for `netns` may be kept at `nowMs`: dumped less than
   * TABLE_REUSE_MS ago, and `signature` (read now) is the one the last scan read.
   */
  isReusable(netns: number, signature: string, nowMs: number): boolean {
    const dumpedAtMs = this.dumpedAtMs.get(netns);
    return (
      dumpedAtMs !== undefined &&
      nowMs - dumpedAtMs < TABLE_REUSE_MS &&
      this.signatures.get(netns)?.signature === signature
    );
  }

  /** The tables of `netns` were read for real (not reused) at `nowMs`. */
  noteDumped(netns: number, nowMs: number): void {
    this.dumpedAtMs.set(netns, nowMs);
  }

  /**
   * A scan read its tables: `signatures` are what it read per namespace, `namespaces` every
   * namespace it saw (the dump times of the others are forgotten).
   */
  noteScanned(
    signatures: Map<number, NamespaceSignature>,
    namespaces: ReadonlyMap<number, unknown>,
  ): void {
    this.signatures = signatures;
    for (const netns of this.dumpedAtMs.keys()) {
      if (!namespaces.has(netns)) this.dumpedAtMs.delete(netns);
    }
  }

  /**
   * True when a scan now would most likely find what the last one found, judged from cheap
   * reads: the `/proc` listing (no process that owned a socket is gone, no process sits in a
   * namespace the last scan did not read) and each namespace's table signature (socket counters,
   * see table-signature.ts) unchanged. What it cannot see (a socket closed and another bound in
   * its place, a pid reused, a socket handed over) waits for the next scan the caller runs
   * anyway at its own pace. False whenever a read fails. `processes`: those the last scan saw;
   * `ownerPids`: those that owned a socket after it. Only meaningful after a scan.
   */
  isQuiet(processes: { has(pid: number): boolean }, ownerPids: ReadonlySet<number>): boolean {
    const { procFs } = this;
    let names: string[];
    try {
      names = procFs.readdir('/proc');
    } catch {
      return false;
    }
    const present = new Set<number>();
    for (const name of names) {
      const first = name.charCodeAt(0);
      if (first < 48 || first > 57) continue;
      const pid = Number(name);
      present.add(pid);
      if (processes.has(pid)) continue;
      // A process the last scan did not see: only its namespace matters here (its sockets
      // show in that namespace's counters). Not memoised: `ip netns exec` forks, then moves.
      let netns = 0;
      try {
        netns = parseNamespaceLink(procFs.readlink(`/proc/${pid}/ns/net`));
      } catch {
        continue; // gone, or another user's (denied): a scan could not read it either
      }
      if (netns !== 0 && !this.signatures.has(netns)) return false;
    }
    for (const pid of ownerPids) if (!present.has(pid)) return false;
    for (const { pid, signature } of this.signatures.values()) {
      if (signature === undefined || readTableSignature(procFs, pid) !== signature) return false;
    }
    return true;
  }
}
