// The batch record layout: the only contract between the native decoder and src/decode.
// One fixed-size, little-endian record per IP packet; src/decode/record.ts mirrors every
// offset below and checks PIDFLOW_RECORD_VERSION and PIDFLOW_RECORD_SIZE once at load.
#pragma once
#include <cstdint>

#define PIDFLOW_RECORD_VERSION 1
#define PIDFLOW_RECORD_SIZE 72

// Direction hints from the link layer (Linux cooked capture packet types, see packet(7)).
enum PidflowDirection : uint8_t {
  DIR_UNKNOWN = 0,   // the link type carries no hint (Ethernet, raw IP, loopback)
  DIR_HOST = 1,      // PACKET_HOST: addressed to this host (received)
  DIR_OUTGOING = 2,  // PACKET_OUTGOING: sent by this host
  DIR_BROADCAST = 3, // PACKET_BROADCAST
  DIR_MULTICAST = 4, // PACKET_MULTICAST
  DIR_OTHERHOST = 5, // PACKET_OTHERHOST: seen in promiscuous mode, for someone else
};

enum PidflowRecordFlags : uint8_t {
  REC_HAS_PORTS = 1 << 0,    // src_port/dst_port are valid (TCP or UDP with a full header)
  REC_FRAGMENT = 1 << 1,     // IPv4/IPv6 fragment other than the first: no transport header
  REC_FIRST_FRAGMENT = 1 << 2, // first fragment of a fragmented datagram (ports valid)
  REC_TRUNCATED_L4 = 1 << 3, // snaplen cut the transport header: ports may be missing
};

// Offsets (bytes) inside one record; all multi-byte integers little-endian, addresses in
// network byte order as on the wire (IPv4 in the first 4 bytes, the rest zero).
#define REC_OFF_TS_SEC 0        // u32 seconds since the epoch (pcap header)
#define REC_OFF_TS_USEC 4       // u32 microseconds
#define REC_OFF_IFINDEX 8       // u32 OS interface index (SLL2 header, or the capture device's)
#define REC_OFF_DEVICE 12       // u16 index of the capture device inside this handle set
#define REC_OFF_DIRECTION 14    // u8 PidflowDirection
#define REC_OFF_IP_VERSION 15   // u8 4 or 6
#define REC_OFF_PROTOCOL 16     // u8 IP protocol number of the transport (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6...)
#define REC_OFF_TCP_FLAGS 17    // u8 TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10...)
#define REC_OFF_FLAGS 18        // u8 PidflowRecordFlags
#define REC_OFF_RESERVED 19     // u8 zero
#define REC_OFF_SRC_PORT 20     // u16 host order
#define REC_OFF_DST_PORT 22     // u16 host order
#define REC_OFF_WIRE_LEN 24     // u32 original length on the wire (pcap len, link header included)
#define REC_OFF_IP_LEN 28       // u32 IP length: IPv4 total length, IPv6 40 + payload length
#define REC_OFF_PAYLOAD_LEN 32  // u32 transport payload bytes (IP length minus IP and L4 headers)
#define REC_OFF_FLOW_HASH 36    // u32 FNV-1a of (protocol, src addr, src port, dst addr, dst port);
                                // offset basis: standard for file replays, random per live capture set
#define REC_OFF_SRC_ADDR 40     // 16 bytes
#define REC_OFF_DST_ADDR 56     // 16 bytes
