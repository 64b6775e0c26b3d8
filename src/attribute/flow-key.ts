// The text key of a directional 5-tuple. It doubles as the key of the connection seen from the
// source end (local = source), so a flow's sender-side connection needs no second string, and
// the receiver-side key is the same function with the ends swapped.

/** `tcp`, `udp`, or the protocol number in decimal for anything else. */
export function protocolName(protocol: number): string {
  return protocol === 6 ? 'tcp' : protocol === 17 ? 'udp' : String(protocol);
}

/**
 * Key of the flow from (srcAddress, srcPort) to (dstAddress, dstPort): one flat string (join()
 * does not leave a rope of cons strings behind, and these keys live as long as their flow).
 * @example flowKey(6, '198.18.0.1', 40000, '198.18.0.2', 80) // 'tcp|198.18.0.1|40000|198.18.0.2|80'
 */
export function flowKey(
  protocol: number,
  srcAddress: string,
  srcPort: number,
  dstAddress: string,
  dstPort: number,
): string {
  return [protocolName(protocol), srcAddress, srcPort, dstAddress, dstPort].join('|');
}
