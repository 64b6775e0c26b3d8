// Packet decoder (see decode.h). Every read is preceded by a check against the captured
// length; the IP header's own length fields are checked against the wire length. Link types
// follow pcap-linktype(7); numeric DLT values are spelled out so this file needs no pcap.h.
#include "decode.h"

#include <cstring>

namespace pidflow {
namespace {

constexpr int kDltNull = 0;         // BSD loopback, host-order 4-byte family
constexpr int kDltEn10mb = 1;       // Ethernet
constexpr int kDltRaw = 12;         // raw IP (libpcap maps LINKTYPE_RAW 101 to this)
constexpr int kDltRawOpenBsd = 14;  // raw IP on OpenBSD
constexpr int kLinktypeRaw = 101;   // LINKTYPE_RAW, in case a caller passes the file value
constexpr int kDltLoop = 108;       // OpenBSD loopback, network-order 4-byte family
constexpr int kDltLinuxSll = 113;   // Linux cooked v1
constexpr int kDltIpv4 = 228;
constexpr int kDltIpv6 = 229;
constexpr int kDltLinuxSll2 = 276;  // Linux cooked v2 (carries the ifindex), used by `any`

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;   // 802.1Q
constexpr uint16_t kEtherQinQ = 0x88a8;   // 802.1ad service tag
constexpr uint16_t kEtherQinQOld = 0x9100;  // pre-standard QinQ
constexpr int kMaxVlanTags = 8;
constexpr int kMaxIpv6ExtHeaders = 16;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | p[3];
}
inline void Le16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
inline void Le32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

// SLL/SLL2 packet types (packet(7) PACKET_*) to the record's direction hint.
inline uint8_t DirectionFromPacketType(uint16_t packet_type) {
  switch (packet_type) {
    case 0: return DIR_HOST;
    case 1: return DIR_BROADCAST;
    case 2: return DIR_MULTICAST;
    case 3: return DIR_OTHERHOST;
    case 4: return DIR_OUTGOING;
    default: return DIR_UNKNOWN;
  }
}

constexpr uint32_t kFnvPrime = 16777619u;

inline uint32_t Fnv1a(uint32_t h, const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

constexpr uint32_t FnvPrimePower(int n) {
  uint32_t r = 1;
  for (int i = 0; i < n; i++) r *= kFnvPrime;
  return r;
}

// FNV-1a of a 16-byte address field. An IPv4 record holds its address in the first 4 bytes and
// zeros after (the record is zeroed first): an FNV-1a step over a zero byte is just `h *= prime`,
// so the 12 zero bytes are one multiplication by prime^12. Same value, 11 serial multiplications
// fewer per address; the hash was most of DecodePacket's time (about 23 of 30 ns per packet).
inline uint32_t Fnv1aAddress(uint32_t h, const uint8_t* address, bool is_ipv4) {
  if (is_ipv4) return Fnv1a(h, address, 4) * FnvPrimePower(12);
  return Fnv1a(h, address, 16);
}

// Fill ports/flags/payload from the transport header. `avail` is what was captured after the
// IP headers, `l4_len` what the IP length says is there. Returns false (malformed) when the
// IP length itself is too short for the header; a snaplen cut only sets REC_TRUNCATED_L4.
bool DecodeTransport(uint8_t protocol, const uint8_t* l4, uint32_t avail, uint32_t l4_len,
                     uint8_t* rec, uint8_t* flags, MalformedKind* kind) {
  uint32_t payload = l4_len;
  if (protocol == 6) {  // TCP, RFC 793
    if (l4_len < 20) {
      *kind = MAL_TRUNCATED_TRANSPORT;
      return false;
    }
    payload = l4_len - 20;
    if (avail >= 4) {
      Le16(rec + REC_OFF_SRC_PORT, Be16(l4));
      Le16(rec + REC_OFF_DST_PORT, Be16(l4 + 2));
      *flags |= REC_HAS_PORTS;
    }
    if (avail >= 14) {
      uint32_t data_offset = static_cast<uint32_t>(l4[12] >> 4) * 4;
      if (data_offset < 20 || data_offset > l4_len) {
        *kind = MAL_BAD_TCP_HEADER_LENGTH;
        return false;
      }
      rec[REC_OFF_TCP_FLAGS] = l4[13];
      payload = l4_len - data_offset;
    } else {
      *flags |= REC_TRUNCATED_L4;
    }
  } else if (protocol == 17) {  // UDP, RFC 768
    if (l4_len < 8) {
      *kind = MAL_TRUNCATED_TRANSPORT;
      return false;
    }
    payload = l4_len - 8;
    if (avail >= 4) {
      Le16(rec + REC_OFF_SRC_PORT, Be16(l4));
      Le16(rec + REC_OFF_DST_PORT, Be16(l4 + 2));
      *flags |= REC_HAS_PORTS;
    }
    if (avail < 8) *flags |= REC_TRUNCATED_L4;
  }
  Le32(rec + REC_OFF_PAYLOAD_LEN, payload);
  return true;
}

DecodeResult Malformed(MalformedKind* kind, MalformedKind k) {
  *kind = k;
  return DECODE_MALFORMED;
}

DecodeResult DecodeIpv4(const uint8_t* p, uint32_t avail, uint32_t wire_ip, uint8_t* rec,
                        MalformedKind* kind) {
  // The caller guarantees avail >= 1: the version nibble decides before any length.
  if ((p[0] >> 4) != 4) return Malformed(kind, MAL_BAD_IP_VERSION);
  if (avail < 20) return Malformed(kind, MAL_TRUNCATED_IP);
  uint32_t ihl = static_cast<uint32_t>(p[0] & 0x0f) * 4;
  if (ihl < 20) return Malformed(kind, MAL_BAD_IP_HEADER_LENGTH);
  uint32_t total = Be16(p + 2);
  // Linux hands segmentation-offload super-packets to packet sockets with total length 0
  // when they exceed 64 KiB (BIG TCP): fall back to the frame's length.
  if (total == 0) total = wire_ip;
  if (total < ihl) return Malformed(kind, MAL_IP_LENGTH_TOO_SHORT);
  if (total > wire_ip) return Malformed(kind, MAL_IP_LENGTH_EXCEEDS_FRAME);
  if (avail < ihl) return Malformed(kind, MAL_TRUNCATED_IP);

  uint8_t protocol = p[9];
  rec[REC_OFF_IP_VERSION] = 4;
  rec[REC_OFF_PROTOCOL] = protocol;
  Le32(rec + REC_OFF_IP_LEN, total);
  std::memcpy(rec + REC_OFF_SRC_ADDR, p + 12, 4);
  std::memcpy(rec + REC_OFF_DST_ADDR, p + 16, 4);

  uint8_t flags = 0;
  uint16_t frag = Be16(p + 6);
  if ((frag & 0x1fff) != 0) {  // not the first fragment: no transport header here
    rec[REC_OFF_FLAGS] = REC_FRAGMENT;
    Le32(rec + REC_OFF_PAYLOAD_LEN, total - ihl);
    return DECODE_IP;
  }
  if (frag & 0x2000) flags |= REC_FIRST_FRAGMENT;  // MF set, offset 0
  if (!DecodeTransport(protocol, p + ihl, avail - ihl, total - ihl, rec, &flags, kind)) {
    return DECODE_MALFORMED;
  }
  rec[REC_OFF_FLAGS] = flags;
  return DECODE_IP;
}

DecodeResult DecodeIpv6(const uint8_t* p, uint32_t avail, uint32_t wire_ip, uint8_t* rec,
                        MalformedKind* kind) {
  if ((p[0] >> 4) != 6) return Malformed(kind, MAL_BAD_IP_VERSION);
  if (avail < 40) return Malformed(kind, MAL_TRUNCATED_IP);
  // 64-bit so that header sums can never wrap, whatever the (fuzzed) wire length.
  uint64_t total = 40 + static_cast<uint64_t>(Be16(p + 4));
  // Payload length 0: a jumbogram (RFC 2675) or a GSO super-packet; use the frame length.
  if (total == 40 && wire_ip > 40) total = wire_ip;
  if (total > wire_ip) return Malformed(kind, MAL_IP_LENGTH_EXCEEDS_FRAME);

  rec[REC_OFF_IP_VERSION] = 6;
  Le32(rec + REC_OFF_IP_LEN, static_cast<uint32_t>(total));
  std::memcpy(rec + REC_OFF_SRC_ADDR, p + 8, 16);
  std::memcpy(rec + REC_OFF_DST_ADDR, p + 24, 16);

  uint8_t flags = 0;
  uint8_t next = p[6];
  uint64_t hdr = 40;  // bytes of IP headers so far
  // RFC 8200 section 4: walk the extension headers we know, stop at the first other one.
  for (int i = 0;; i++) {
    if (next != 0 && next != 43 && next != 60 && next != 44 && next != 51) break;
    if (i >= kMaxIpv6ExtHeaders) return Malformed(kind, MAL_BAD_EXTENSION_HEADER);
    uint64_t need = (next == 44) ? 8 : 2;
    if (hdr + need > total) return Malformed(kind, MAL_BAD_EXTENSION_HEADER);
    if (hdr + need > avail) {  // snaplen cut inside the chain: keep what we know
      rec[REC_OFF_PROTOCOL] = next;
      rec[REC_OFF_FLAGS] = flags | REC_TRUNCATED_L4;
      Le32(rec + REC_OFF_PAYLOAD_LEN, static_cast<uint32_t>(total - hdr));
      return DECODE_IP;
    }
    const uint8_t* ext = p + hdr;
    if (next == 44) {  // fragment header, fixed 8 bytes
      uint16_t offset_flags = Be16(ext + 2);
      next = ext[0];
      hdr += 8;
      if ((offset_flags & 0xfff8) != 0) {
        rec[REC_OFF_PROTOCOL] = next;
        rec[REC_OFF_FLAGS] = REC_FRAGMENT;
        Le32(rec + REC_OFF_PAYLOAD_LEN, static_cast<uint32_t>(total - hdr));
        return DECODE_IP;
      }
      if (offset_flags & 1) flags |= REC_FIRST_FRAGMENT;
      continue;
    }
    uint32_t len = (next == 51) ? (static_cast<uint32_t>(ext[1]) + 2) * 4  // AH, RFC 4302
                                : (static_cast<uint32_t>(ext[1]) + 1) * 8;
    next = ext[0];
    hdr += len;
    if (hdr > total) return Malformed(kind, MAL_BAD_EXTENSION_HEADER);
  }
  rec[REC_OFF_PROTOCOL] = next;
  uint32_t l4_avail = avail > hdr ? static_cast<uint32_t>(avail - hdr) : 0;
  const uint8_t* l4 = p + (hdr <= avail ? hdr : avail);
  if (!DecodeTransport(next, l4, l4_avail, static_cast<uint32_t>(total - hdr), rec,
                       &flags, kind)) {
    return DECODE_MALFORMED;
  }
  rec[REC_OFF_FLAGS] = flags;
  return DECODE_IP;
}

}  // namespace

const char* MalformedKindName(MalformedKind kind) {
  switch (kind) {
    case MAL_TRUNCATED_LINK: return "truncatedLink";
    case MAL_TOO_MANY_VLAN_TAGS: return "tooManyVlanTags";
    case MAL_BAD_IP_VERSION: return "badIpVersion";
    case MAL_TRUNCATED_IP: return "truncatedIp";
    case MAL_BAD_IP_HEADER_LENGTH: return "badIpHeaderLength";
    case MAL_IP_LENGTH_TOO_SHORT: return "ipLengthTooShort";
    case MAL_IP_LENGTH_EXCEEDS_FRAME: return "ipLengthExceedsFrame";
    case MAL_BAD_EXTENSION_HEADER: return "badExtensionHeader";
    case MAL_TRUNCATED_TRANSPORT: return "truncatedTransport";
    case MAL_BAD_TCP_HEADER_LENGTH: return "badTcpHeaderLength";
    case MAL_CAPTURED_EXCEEDS_WIRE: return "capturedExceedsWire";
    default: return "unknown";
  }
}

bool IsSupportedLinkType(int link_type) {
  switch (link_type) {
    case kDltNull: case kDltEn10mb: case kDltRaw: case kDltRawOpenBsd: case kLinktypeRaw:
    case kDltLoop: case kDltLinuxSll: case kDltIpv4: case kDltIpv6: case kDltLinuxSll2:
      return true;
    default:
      return false;
  }
}

DecodeResult DecodePacket(const DecodeContext& ctx, const uint8_t* data, uint32_t caplen,
                          uint32_t wirelen, uint8_t* rec, MalformedKind* kind) {
  std::memset(rec, 0, PIDFLOW_RECORD_SIZE);
  // A pcap file record that says more bytes were captured than the packet had on the wire
  // (tcpdump: "Invalid header: len < caplen") is corrupt: neither length can be trusted, and
  // raising the wire length to caplen would count bytes the file says were never sent (and
  // make the record disagree with capturedBytes, which sums the file's lengths). Live capture
  // never produces one (TPACKET's tp_snaplen <= tp_len). Found by native/fuzz/fuzz_pcap_file.
  if (caplen > wirelen) return Malformed(kind, MAL_CAPTURED_EXCEEDS_WIRE);
  uint32_t off = 0;
  int ip_version = 0;      // 4 or 6 once known; 0 = look at the version nibble
  bool has_ethertype = false;
  uint16_t ethertype = 0;
  uint8_t direction = DIR_UNKNOWN;
  uint32_t ifindex = ctx.ifindex;

  switch (ctx.link_type) {
    case kDltEn10mb:
      if (caplen < 14) return Malformed(kind, MAL_TRUNCATED_LINK);
      ethertype = Be16(data + 12);
      off = 14;
      has_ethertype = true;
      break;
    case kDltLinuxSll:  // type(2) arphrd(2) addrlen(2) addr(8) protocol(2)
      if (caplen < 16) return Malformed(kind, MAL_TRUNCATED_LINK);
      direction = DirectionFromPacketType(Be16(data));
      ethertype = Be16(data + 14);
      off = 16;
      has_ethertype = true;
      break;
    case kDltLinuxSll2:  // protocol(2) reserved(2) ifindex(4) arphrd(2) type(1) addrlen(1) addr(8)
      if (caplen < 20) return Malformed(kind, MAL_TRUNCATED_LINK);
      ethertype = Be16(data);
      ifindex = Be32(data + 4);
      direction = DirectionFromPacketType(data[10]);
      off = 20;
      has_ethertype = true;
      break;
    case kDltNull:
    case kDltLoop: {
      if (caplen < 4) return Malformed(kind, MAL_TRUNCATED_LINK);
      uint32_t family;
      if (ctx.link_type == kDltLoop) {
        family = Be32(data);
      } else {
        // Host byte order of the machine that wrote it: accept either order.
        std::memcpy(&family, data, 4);
        if (family > 0xffff) family = Be32(data);
      }
      off = 4;
      if (family == 2) {
        ip_version = 4;
      } else if (family == 10 || family == 24 || family == 28 || family == 30) {
        ip_version = 6;  // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
      } else {
        return DECODE_NON_IP;
      }
      break;
    }
    case kDltRaw:
    case kDltRawOpenBsd:
    case kLinktypeRaw:
      break;
    case kDltIpv4:
      ip_version = 4;
      break;
    case kDltIpv6:
      ip_version = 6;
      break;
    default:
      return DECODE_NON_IP;  // unreachable: open() rejects unsupported link types
  }

  if (has_ethertype) {
    for (int tags = 0; ethertype == kEtherVlan || ethertype == kEtherQinQ ||
                       ethertype == kEtherQinQOld;
         tags++) {
      if (tags >= kMaxVlanTags) return Malformed(kind, MAL_TOO_MANY_VLAN_TAGS);
      if (caplen < off + 4) return Malformed(kind, MAL_TRUNCATED_LINK);
      ethertype = Be16(data + off + 2);  // TCI(2) then the inner ethertype
      off += 4;
    }
    if (ethertype == kEtherIpv4) {
      ip_version = 4;
    } else if (ethertype == kEtherIpv6) {
      ip_version = 6;
    } else {
      return DECODE_NON_IP;
    }
  }

  if (caplen <= off) return Malformed(kind, MAL_TRUNCATED_IP);
  const uint8_t* ip = data + off;
  uint32_t avail = caplen - off;
  uint32_t wire_ip = wirelen - off;
  if (ip_version == 0) {
    uint8_t v = ip[0] >> 4;
    if (v != 4 && v != 6) return Malformed(kind, MAL_BAD_IP_VERSION);
    ip_version = v;
  }
  DecodeResult result = ip_version == 4 ? DecodeIpv4(ip, avail, wire_ip, rec, kind)
                                        : DecodeIpv6(ip, avail, wire_ip, rec, kind);
  if (result != DECODE_IP) return result;

  Le32(rec + REC_OFF_IFINDEX, ifindex);
  Le16(rec + REC_OFF_DEVICE, ctx.device);
  rec[REC_OFF_DIRECTION] = direction;
  Le32(rec + REC_OFF_WIRE_LEN, wirelen);
  const bool is_ipv4 = rec[REC_OFF_IP_VERSION] == 4;
  uint32_t h = ctx.flow_hash_basis;
  h = Fnv1a(h, rec + REC_OFF_PROTOCOL, 1);
  h = Fnv1aAddress(h, rec + REC_OFF_SRC_ADDR, is_ipv4);
  h = Fnv1a(h, rec + REC_OFF_SRC_PORT, 2);
  h = Fnv1aAddress(h, rec + REC_OFF_DST_ADDR, is_ipv4);
  h = Fnv1a(h, rec + REC_OFF_DST_PORT, 2);
  Le32(rec + REC_OFF_FLOW_HASH, h);
  return DECODE_IP;
}

}  // namespace pidflow
