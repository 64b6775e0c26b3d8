// Which network interfaces are virtual (veth, bridge, tun...: /sys/devices/virtual/net), by OS
// interface index: a flow captured on one may have its far end in a namespace of this very
// host, so an end no scan knows yet is not taken as remote before one more scan. Read through
// ProcFs (/sys/class/net/<name> links and ifindex files), refreshed when an unknown index shows up.

import type { ProcFs } from './procfs.js';

/** Interfaces remembered at most (a host creating veths all day must not grow this forever). */
const MAX_LINKS = 16_384;
/** An unknown index re-reads /sys/class/net at most this often. */
const REFRESH_GAP_MS = 1000;

/**
 * Virtual-interface lookup by ifindex.
 * @example
 * const links = new VirtualLinks(procFs, () => clock.monotonicMs());
 * links.isVirtual(7); // true for a veth
 */
export class VirtualLinks {
  private byIndex = new Map<number, boolean>();
  private lastRefreshMs = -Infinity;

  constructor(
    private readonly procFs: ProcFs,
    private readonly monotonicMs: () => number,
  ) {}

  /** True when interface `ifindex` (of the capture's namespace) is virtual; false when unknown. */
  isVirtual(ifindex: number): boolean {
    const known = this.byIndex.get(ifindex);
    if (known !== undefined) return known;
    const now = this.monotonicMs();
    if (now - this.lastRefreshMs < REFRESH_GAP_MS) return false;
    this.lastRefreshMs = now;
    this.refresh();
    return this.byIndex.get(ifindex) ?? false;
  }

  private refresh(): void {
    const next = new Map<number, boolean>();
    let names: string[];
    try {
      names = this.procFs.readdir('/sys/class/net');
    } catch {
      return; // No sysfs (a fake tree, a restricted container): nothing is known virtual.
    }
    for (const name of names) {
      if (next.size >= MAX_LINKS) break;
      try {
        const index = Number(this.procFs.readText(`/sys/class/net/${name}/ifindex`, 32).trim());
        const target = this.procFs.readlink(`/sys/class/net/${name}`);
        if (Number.isInteger(index) && index > 0) next.set(index, target.includes('/virtual/'));
      } catch {
        // The interface went away during the listing.
      }
    }
    this.byIndex = next;
  }
}
