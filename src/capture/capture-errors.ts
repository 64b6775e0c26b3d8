// Native open failures -> CaptureError or PermissionError, translated exactly once here.
import type { NativeOpenResult } from './addon.js';
import { CaptureError, PermissionError } from '../errors.js';

/** The fix for a missing capability, with the exact command. */
export const SETCAP_FIX =
  'run as root, or grant them with setcap cap_net_raw,cap_net_admin+eip $(readlink -f $(which node))';

/** Error codes of CaptureError, beyond the default ERR_CAPTURE. */
export const CaptureErrorCode = {
  filter: 'ERR_CAPTURE_FILTER',
  noDevice: 'ERR_CAPTURE_NO_DEVICE',
  linkType: 'ERR_CAPTURE_LINK_TYPE',
  file: 'ERR_CAPTURE_FILE',
  generic: 'ERR_CAPTURE',
} as const;

/** Message for one failed device (used in warnings and in the all-failed error). */
export function describeOpenFailure(
  result: NativeOpenResult,
  filter: string | undefined,
  availableDevices: () => readonly string[],
): string {
  const text = result.error ?? 'unknown error';
  switch (result.errorKind) {
    case 'permission':
      return `capture on ${result.name} needs CAP_NET_RAW and CAP_NET_ADMIN: ${SETCAP_FIX} (libpcap: ${text})`;
    case 'no-device':
      return `no capture device named "${result.name}" (libpcap: ${text}); available devices: ${listOrNone(availableDevices())}`;
    case 'filter':
      return `invalid capture filter "${filter ?? ''}" on ${result.name}: ${text}`;
    case 'link-type':
      return `cannot decode ${result.name}: ${text}; supported: Ethernet, Linux cooked (SLL, SLL2), loopback (NULL, LOOP), raw IP`;
    case 'not-up':
      return `capture device ${result.name} is down (libpcap: ${text}); bring it up with: ip link set ${result.name} up`;
    case 'file':
      return `cannot read pcap file ${result.name}: ${text}`;
    default:
      return `cannot capture on ${result.name}: ${text}`;
  }
}

/** The error to throw when no device could be opened. */
export function openFailureError(
  failures: readonly NativeOpenResult[],
  filter: string | undefined,
  availableDevices: () => readonly string[],
): Error {
  const describe = (r: NativeOpenResult): string =>
    describeOpenFailure(r, filter, availableDevices);
  const first = failures[0];
  if (first === undefined) return new CaptureError('no capture device given');
  const kinds = new Set(failures.map((f) => f.errorKind ?? 'other'));
  const only = kinds.size === 1 ? first.errorKind : undefined;
  if (kinds.has('filter')) {
    // The filter is the same everywhere: one message with libpcap's text.
    const f = failures.find((r) => r.errorKind === 'filter') ?? first;
    return new CaptureError(`invalid capture filter "${filter ?? ''}": ${f.error ?? ''}`, {
      code: CaptureErrorCode.filter,
    });
  }
  if (only === 'permission') {
    const names = failures.map((f) => f.name).join(', ');
    return new PermissionError(
      `capture on ${names} needs CAP_NET_RAW and CAP_NET_ADMIN: ${SETCAP_FIX} (libpcap: ${first.error ?? ''})`,
    );
  }
  if (failures.length === 1) {
    const code =
      only === 'no-device'
        ? CaptureErrorCode.noDevice
        : only === 'link-type'
          ? CaptureErrorCode.linkType
          : only === 'file'
            ? CaptureErrorCode.file
            : CaptureErrorCode.generic;
    return new CaptureError(describe(first), { code });
  }
  return new CaptureError(
    `no capture device could be opened:\n  ${failures.map(describe).join('\n  ')}`,
    { code: only === 'no-device' ? CaptureErrorCode.noDevice : CaptureErrorCode.generic },
  );
}

function listOrNone(names: readonly string[]): string {
  return names.length > 0 ? names.join(', ') : '(none)';
}
