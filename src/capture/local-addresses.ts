// The set of this host's IP addresses (every interface, IPv4 and IPv6, in the text form that
// os.networkInterfaces() prints), refreshed on demand and by a timer so that interfaces
// created later (containers, VPNs) are picked up.
import { networkInterfaces } from 'node:os';

import type { Clock, TimerHandle } from '../clock.js';
import { systemClock } from '../clock.js';
import { UsageError } from '../errors.js';

/** Reads the addresses; the default uses os.networkInterfaces(). */
export type AddressReader = () => Iterable<string>;

export interface LocalAddressesOptions {
  /** Timer source. @default systemClock */
  readonly clock?: Clock;
  /** Re-read the interfaces this often; 0 disables the timer. @default 5000 */
  readonly refreshIntervalMs?: number;
  /** Where the addresses come from (tests pass a fake). @default os.networkInterfaces() */
  readonly readAddresses?: AddressReader;
}

export const DEFAULT_REFRESH_INTERVAL_MS = 5000;

/** Every address of every interface, as os.networkInterfaces() prints it. */
export function readInterfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const info of list ?? []) out.push(info.address);
  }
  return out;
}

/**
 * This host's addresses. `has()` accepts IPv4, IPv6 (any letter case) and IPv4-mapped IPv6
 * (`::ffff:198.18.0.1` matches `198.18.0.1`).
 * @example
 * const local = new LocalAddresses();
 * local.has('127.0.0.1'); // true
 * local.close();
 */
export class LocalAddresses {
  private set = new Set<string>();
  private timer: TimerHandle | undefined;
  private readonly read: AddressReader;
  /** Number of refreshes that failed (the previous set was kept). */
  failedRefreshes = 0;

  constructor(options: LocalAddressesOptions = {}) {
    const interval = options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (!Number.isInteger(interval) || interval < 0) {
      throw new UsageError(
        `refreshIntervalMs must be a non-negative integer, got ${String(interval)}`,
      );
    }
    this.read = options.readAddresses ?? readInterfaceAddresses;
    this.refresh();
    if (interval > 0) {
      this.timer = (options.clock ?? systemClock).setInterval(() => this.refresh(), interval);
    }
  }

  /** Re-read the interfaces now. On error the previous set stays and failedRefreshes grows. */
  refresh(): void {
    let next: Set<string>;
    try {
      next = new Set<string>();
      for (const a of this.read()) next.add(normalize(a));
    } catch {
      this.failedRefreshes++;
      return;
    }
    this.set = next;
  }

  has(address: string): boolean {
    return this.set.has(normalize(address));
  }

  /** The current addresses, sorted. */
  addresses(): string[] {
    return [...this.set].sort();
  }

  /** Stop the refresh timer (same as close()). */
  stop(): void {
    this.close();
  }

  /** Stop the refresh timer. */
  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }
}

function normalize(address: string): string {
  const a = address.toLowerCase();
  const scope = a.indexOf('%');
  const bare = scope >= 0 ? a.slice(0, scope) : a;
  return bare.startsWith('::ffff:') && bare.includes('.') ? bare.slice(7) : bare;
}
