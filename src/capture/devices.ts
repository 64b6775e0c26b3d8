// The host's capture devices from libpcap (pcap_findalldevs), typed.
import type { NativeAddon } from './addon.js';
import { loadAddon } from './addon.js';
import { CaptureError } from '../errors.js';

/** One address of a capture device. */
export interface DeviceAddress {
  readonly family: 'inet' | 'inet6';
  readonly address: string;
  /** Netmask in text form, or `''` when libpcap gives none. */
  readonly netmask: string;
}

/** A capture device as libpcap lists it. */
export interface DeviceInfo {
  readonly name: string;
  readonly description: string;
  readonly isUp: boolean;
  readonly isRunning: boolean;
  readonly isLoopback: boolean;
  readonly addresses: readonly DeviceAddress[];
}

/**
 * List the devices libpcap can capture on (including `any`).
 * @throws CaptureError when libpcap cannot list them.
 */
export function listDevices(addon: NativeAddon = loadAddon()): DeviceInfo[] {
  let raw;
  try {
    raw = addon.listDevices();
  } catch (error) {
    throw new CaptureError(
      `cannot list capture devices: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return raw.map((d) => ({
    name: d.name,
    description: d.description,
    isUp: d.isUp,
    isRunning: d.isRunning,
    isLoopback: d.isLoopback,
    addresses: d.addresses.map((a) => ({
      family: a.family,
      address: a.address,
      netmask: a.netmask ?? '',
    })),
  }));
}

/** Device names only, for error messages; never throws. */
export function listDeviceNames(addon: NativeAddon): string[] {
  try {
    return addon.listDevices().map((d) => d.name);
  } catch {
    return [];
  }
}
