// The batch record layout, mirrored from native/record.h: offsets and enums used to read
// the addon's batch buffers with a DataView, without allocating per packet.

/** Layout version the TypeScript side understands; the addon must export the same. */
export const RECORD_VERSION = 1;
/** Size of one record in bytes. */
export const RECORD_SIZE = 72;

export const REC_OFF_TS_SEC = 0;
export const REC_OFF_TS_USEC = 4;
export const REC_OFF_IFINDEX = 8;
export const REC_OFF_DEVICE = 12;
export const REC_OFF_DIRECTION = 14;
export const REC_OFF_IP_VERSION = 15;
export const REC_OFF_PROTOCOL = 16;
export const REC_OFF_TCP_FLAGS = 17;
export const REC_OFF_FLAGS = 18;
export const REC_OFF_SRC_PORT = 20;
export const REC_OFF_DST_PORT = 22;
export const REC_OFF_WIRE_LEN = 24;
export const REC_OFF_IP_LEN = 28;
export const REC_OFF_PAYLOAD_LEN = 32;
/**
 * u32 FNV-1a of (protocol, src addr, src port, dst addr, dst port). The offset basis is FNV's
 * standard one in file replays and a random one per live capture (no chosen-collision floods of
 * the flow table): compare hashes only within one capture.
 */
export const REC_OFF_FLOW_HASH = 36;
export const REC_OFF_SRC_ADDR = 40;
export const REC_OFF_DST_ADDR = 56;

/** Link-layer direction hint (Linux cooked capture packet type, packet(7)). */
export const Direction = {
  unknown: 0,
  host: 1,
  outgoing: 2,
  broadcast: 3,
  multicast: 4,
  otherHost: 5,
} as const;

/** Bits of the record's flags byte. */
export const RecordFlag = {
  hasPorts: 1,
  fragment: 2,
  firstFragment: 4,
  truncatedL4: 8,
} as const;

export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_ACK = 0x10;
