// Reader for the batch records (layout in record.ts): readRecord() fills a reusable object
// without allocating. Addresses are rendered by address.ts on the non-hot path.
import {
  RECORD_SIZE,
  REC_OFF_DEVICE,
  REC_OFF_DIRECTION,
  REC_OFF_DST_PORT,
  REC_OFF_FLAGS,
  REC_OFF_FLOW_HASH,
  REC_OFF_IFINDEX,
  REC_OFF_IP_LEN,
  REC_OFF_IP_VERSION,
  REC_OFF_PAYLOAD_LEN,
  REC_OFF_PROTOCOL,
  REC_OFF_SRC_PORT,
  REC_OFF_TCP_FLAGS,
  REC_OFF_TS_SEC,
  REC_OFF_TS_USEC,
  REC_OFF_WIRE_LEN,
} from './record.js';

/** One decoded record; readRecord() overwrites every field. Addresses stay in the view. */
export interface PacketRecord {
  /** Byte offset of this record in the batch view (add REC_OFF_SRC_ADDR for the address). */
  offset: number;
  tsSec: number;
  tsUsec: number;
  ifindex: number;
  deviceIndex: number;
  /** Direction hint (`Direction` in record.ts). */
  direction: number;
  ipVersion: number;
  protocol: number;
  tcpFlags: number;
  /** `RecordFlag` bits. */
  flags: number;
  srcPort: number;
  dstPort: number;
  /** Bytes on the wire, link header included. */
  wireLen: number;
  /** IP length: IPv4 total length, IPv6 40 + payload length. */
  ipLen: number;
  payloadLen: number;
  flowHash: number;
}

/** A zeroed record to pass to readRecord() again and again. */
export function createRecord(): PacketRecord {
  return {
    offset: 0,
    tsSec: 0,
    tsUsec: 0,
    ifindex: 0,
    deviceIndex: 0,
    direction: 0,
    ipVersion: 0,
    protocol: 0,
    tcpFlags: 0,
    flags: 0,
    srcPort: 0,
    dstPort: 0,
    wireLen: 0,
    ipLen: 0,
    payloadLen: 0,
    flowHash: 0,
  };
}

/** Fill `out` with record number `index` of the batch view and return it. */
export function readRecord(view: DataView, index: number, out: PacketRecord): PacketRecord {
  const o = index * RECORD_SIZE;
  out.offset = o;
  out.tsSec = view.getUint32(o + REC_OFF_TS_SEC, true);
  out.tsUsec = view.getUint32(o + REC_OFF_TS_USEC, true);
  out.ifindex = view.getUint32(o + REC_OFF_IFINDEX, true);
  out.deviceIndex = view.getUint16(o + REC_OFF_DEVICE, true);
  out.direction = view.getUint8(o + REC_OFF_DIRECTION);
  out.ipVersion = view.getUint8(o + REC_OFF_IP_VERSION);
  out.protocol = view.getUint8(o + REC_OFF_PROTOCOL);
  out.tcpFlags = view.getUint8(o + REC_OFF_TCP_FLAGS);
  out.flags = view.getUint8(o + REC_OFF_FLAGS);
  out.srcPort = view.getUint16(o + REC_OFF_SRC_PORT, true);
  out.dstPort = view.getUint16(o + REC_OFF_DST_PORT, true);
  out.wireLen = view.getUint32(o + REC_OFF_WIRE_LEN, true);
  out.ipLen = view.getUint32(o + REC_OFF_IP_LEN, true);
  out.payloadLen = view.getUint32(o + REC_OFF_PAYLOAD_LEN, true);
  out.flowHash = view.getUint32(o + REC_OFF_FLOW_HASH, true);
  return out;
}
