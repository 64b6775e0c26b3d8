// The monitor's optional kernel feeds: socket events (eBPF programs, src/capture/socket-events.ts)
// into the attributor, and the conntrack reader that undoes NAT (src/attribute/nat.ts). Each is
// opened, drained and stopped here; where one cannot run, a warning says what is lost.

import type { Attributor } from '../attribute/attributor.js';
import { NatTranslations, openConntrackReader } from '../attribute/nat.js';
import type { ConntrackReader } from '../attribute/nat.js';
import { loadAddon } from '../capture/addon.js';
import type { NativeAddon } from '../capture/addon.js';
import { openSocketEvents } from '../capture/socket-events.js';
import type { SocketEventsHandle, SocketEventsOptions } from '../capture/socket-events.js';
import type { Clock } from '../clock.js';
import type { Logger } from './types.js';

/** Event-loop turns the monitor waits at most at stop for the socket events' last batch. */
const MAX_EVENT_DRAIN_TURNS = 1000;

/**
 * Opens the conntrack reader that undoes NAT. Optional: where conntrack cannot be read (no
 * CAP_NET_ADMIN, no nf_conntrack_netlink) the monitor runs in degraded mode, with one warning.
 * `openConntrack` replaces the addon's ctnetlink reader (MonitorDependencies).
 */
export function openNat(
  openConntrack: (() => ConntrackReader) | undefined,
  addon: NativeAddon | undefined,
  logger: Logger,
  clock: Clock,
): NatTranslations {
  let reader: ConntrackReader | undefined;
  let reason = '';
  try {
    reader =
      openConntrack !== undefined ? openConntrack() : openConntrackReader(addon ?? loadAddon());
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  return new NatTranslations({
    reader,
    unavailableReason: reason,
    monotonicMs: () => clock.monotonicMs(),
    onUnavailable: (message) => logger.warn?.(message),
    onOverflow: (message) => logger.warn?.(message),
  });
}

/**
 * Opens the kernel connect tracker feeding the attributor. It is optional: without it (no
 * permission, no BTF, an addon built without libbpf) a warning, and attribution relies on
 * /proc scans and peer inference alone. `open` replaces the real tracker (MonitorDependencies).
 */
export function startSocketEvents(
  attributor: Attributor,
  open: ((options: SocketEventsOptions) => SocketEventsHandle) | undefined,
  addon: NativeAddon | undefined,
  logger: Logger,
  udpSendEvents: boolean | undefined,
): SocketEventsHandle | undefined {
  const options: SocketEventsOptions = {
    onEvents: (batch) => attributor.recordConnects(batch),
    udp: udpSendEvents !== false,
  };
  try {
    const handle =
      open !== undefined ? open(options) : openSocketEvents(options, addon ?? loadAddon());
    // TCP connects are tracked; UDP sends only when the kernel accepted those programs.
    if (udpSendEvents !== false && handle.udp !== true && handle.udpWarning !== undefined) {
      logger.warn?.(`socket events track TCP only (${handle.udpWarning})`);
    }
    if (handle.tcpIo === false) {
      logger.warn?.(
        'socket events do not track TCP reads and writes (raw tracepoints sock_send_length and ' +
          'sock_recv_length need Linux 6.3+): short connections accepted on a listener that ' +
          'several processes share (pre-fork workers, SO_REUSEPORT) are reported as unknown',
      );
    }
    return handle;
  } catch (error) {
    logger.warn?.(
      `socket events are off (${error instanceof Error ? error.message : String(error)}); ` +
        'connections shorter than a /proc scan may stay unattributed',
    );
    return undefined;
  }
}

/** Stop the socket events; a failure is a warning (the monitor is stopping anyway). */
export function stopSocketEvents(handle: SocketEventsHandle | undefined, logger: Logger): void {
  try {
    handle?.stop();
  } catch (error) {
    logger.warn?.(`stopping socket events failed: ${String(error)}`);
  }
}

/**
 * Yield to the event loop until the stopped event reader's last batch has reached the
 * attributor. Bounded by turns of the loop, not by time (the monitor's clock may be fake):
 * the batch is queued before stop() returns, so a few turns deliver it.
 */
export async function drainSocketEvents(
  handle: SocketEventsHandle | undefined,
  logger: Logger,
): Promise<void> {
  if (handle?.isDrained === undefined) return;
  for (let turn = 0; turn < MAX_EVENT_DRAIN_TURNS; turn++) {
    if (handle.isDrained()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  logger.warn?.(
    `socket events: the last batch did not arrive within ${MAX_EVENT_DRAIN_TURNS} turns of the event loop at stop; ` +
      'connections of the last moments before stop may be attributed to one end only',
  );
}
