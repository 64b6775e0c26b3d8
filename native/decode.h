// Packet decoder: link layer -> IPv4/IPv6 (+ extension headers) -> TCP/UDP, into one fixed
// record (record.h). Pure C++17 with no N-API and no allocation, so the fuzz harness in
// native/fuzz/ links it alone. Link types: pcap-linktype(7); headers: RFC 791, RFC 8200,
// RFC 793, RFC 768, IEEE 802.1Q/802.1ad; Linux cooked capture: SLL and SLL2 (packet(7)).
#pragma once
#include <cstddef>
#include <cstdint>

#include "record.h"

namespace pidflow {

// Why a packet was counted as malformed. Names (MalformedKindName) are the keys of
// DeviceStats.malformedByKind in TypeScript, so keep them stable.
enum MalformedKind : uint8_t {
  MAL_TRUNCATED_LINK = 0,      // captured bytes end inside the link-layer header
  MAL_TOO_MANY_VLAN_TAGS,      // more stacked 802.1Q/802.1ad tags than we walk
  MAL_BAD_IP_VERSION,          // ethertype/family says IP but the version nibble disagrees
  MAL_TRUNCATED_IP,            // captured bytes end inside the fixed IP header
  MAL_BAD_IP_HEADER_LENGTH,    // IPv4 IHL < 5
  MAL_IP_LENGTH_TOO_SHORT,     // IP total length smaller than the IP header
  MAL_IP_LENGTH_EXCEEDS_FRAME, // IP length larger than the frame on the wire
  MAL_BAD_EXTENSION_HEADER,    // IPv6 extension header chain runs past the IP length
  MAL_TRUNCATED_TRANSPORT,     // IP length too small for the TCP/UDP header
  MAL_BAD_TCP_HEADER_LENGTH,   // TCP data offset < 5 or past the IP length
  MAL_CAPTURED_EXCEEDS_WIRE,   // record header: more bytes captured than were on the wire
  MAL_KIND_COUNT
};

const char* MalformedKindName(MalformedKind kind);

enum DecodeResult : uint8_t {
  DECODE_IP = 0,        // a record was written
  DECODE_NON_IP = 1,    // ARP, LLDP, ...: counted, not delivered
  DECODE_MALFORMED = 2, // *kind says why
};

// Per-capture context the link header cannot tell.
// FNV-1a's standard 32-bit offset basis.
constexpr uint32_t kStandardFlowHashBasis = 2166136261u;

struct DecodeContext {
  int link_type = 0;      // DLT_* as returned by pcap_datalink()
  uint32_t ifindex = 0;   // interface index of the capture device (0: unknown / file)
  uint16_t device = 0;    // index of the device in its capture set
  // FNV-1a offset basis of the record's flow hash: the standard one for file replays (records
  // are reproducible), a random one per live capture set (see record.h).
  uint32_t flow_hash_basis = kStandardFlowHashBasis;
};

// True if DecodePacket understands this DLT_* value.
bool IsSupportedLinkType(int link_type);

// Decode one packet. `data` holds `caplen` captured bytes of a packet `wirelen` bytes long.
// On DECODE_IP, the PIDFLOW_RECORD_SIZE bytes at `record` are fully written (the timestamp
// fields are zero: the caller fills them), and its lengths nest: payload <= IP length <= wire
// length == `wirelen`. `caplen` > `wirelen` (a corrupt pcap file record; the kernel never hands
// out one) is MAL_CAPTURED_EXCEEDS_WIRE. Never reads outside data[0, caplen).
DecodeResult DecodePacket(const DecodeContext& ctx, const uint8_t* data, uint32_t caplen,
                          uint32_t wirelen, uint8_t* record, MalformedKind* kind);

}  // namespace pidflow
