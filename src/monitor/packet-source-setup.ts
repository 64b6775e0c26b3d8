// Where the monitor's packets come from: a ready source (tests, embedding programs), a pcap file
// (readFile), or a live capture on the chosen devices (default: those up with an address), with
// the protocols option and the user's filter as one BPF expression.

import type { NativeAddon } from '../capture/addon.js';
import { listDevices } from '../capture/devices.js';
import type { PacketSource } from '../capture/packet-source.js';
import { openCapture, openPcapFile } from '../capture/sources.js';
import { CaptureError } from '../errors.js';
import type { Logger, ResolvedMonitorOptions } from './types.js';

/** Picks the default devices: up, with an address, loopback only on request. */
function defaultDevices(addon: NativeAddon, includeLoopback: boolean): string[] {
  const all = listDevices(addon);
  const chosen = all
    .filter((d) => d.isUp && d.addresses.length > 0 && (includeLoopback || !d.isLoopback))
    .map((d) => d.name);
  if (chosen.length === 0) {
    throw new CaptureError(
      `no network interface is up with an address${includeLoopback ? '' : ' (loopback is left out unless asked for)'}: ` +
        `name one (available: ${all.map((d) => d.name).join(', ') || 'none'}), or capture on 'any'`,
      { code: 'ERR_NO_DEVICE' },
    );
  }
  return chosen;
}

/** The protocols option as a BPF expression, combined with the user's filter. */
function buildFilter(options: ResolvedMonitorOptions): string | undefined {
  const protocols = options.protocols.length === 2 ? undefined : options.protocols[0];
  if (protocols === undefined) return options.filter;
  if (options.filter === undefined) return protocols;
  return `(${protocols}) and (${options.filter})`;
}

/**
 * The monitor's packet source: `given` if any, else the pcap file of `readFile`, else a live
 * capture (CaptureError, PermissionError). `addon` is required for the last two.
 * @example
 * const source = openPacketSource(resolved, deps.source, addon, logger);
 */
export function openPacketSource(
  resolved: ResolvedMonitorOptions,
  given: PacketSource | undefined,
  addon: NativeAddon | undefined,
  logger: Logger,
): PacketSource {
  if (given !== undefined) return given;
  const filter = buildFilter(resolved);
  if (resolved.readFile !== undefined) {
    return openPcapFile(resolved.readFile, {
      ...(filter === undefined ? {} : { filter }),
      ...(addon === undefined ? {} : { addon }),
    });
  }
  let devices = resolved.devices;
  if (devices.length === 0) devices = defaultDevices(addon!, resolved.includeLoopback);
  return openCapture({
    devices,
    ...(filter === undefined ? {} : { filter }),
    snaplen: resolved.snaplen,
    bufferBytes: resolved.bufferBytes,
    queueLimit: resolved.queueLimit,
    ...(resolved.pcapFile === undefined ? {} : { pcapFile: resolved.pcapFile }),
    ...(addon === undefined ? {} : { addon }),
    onWarning: (message: string) => logger.warn?.(message),
  });
}
