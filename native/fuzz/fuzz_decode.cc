// libFuzzer entry point over the packet decoder (native/decode.cc), with no N-API and no
// libpcap. Input layout: byte 0 picks the link type, bytes 1-2 (little-endian, 15 bits) add to
// the wire length so length-field checks see both cut and full frames (bit 15 set: subtract
// instead, as a corrupt file record with caplen > len does), the rest is the packet.
// Build and run: native/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../decode.h"

namespace {
const int kLinkTypes[] = {0, 1, 12, 101, 108, 113, 228, 229, 276};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  pidflow::DecodeContext ctx;
  ctx.link_type = kLinkTypes[data[0] % (sizeof(kLinkTypes) / sizeof(kLinkTypes[0]))];
  ctx.ifindex = 1;
  ctx.device = 0;
  uint32_t extra = static_cast<uint32_t>(data[1]) | (static_cast<uint32_t>(data[2] & 0x7f) << 8);
  bool shorter_wire = (data[2] & 0x80) != 0;
  const uint8_t* packet = data + 3;
  uint32_t caplen = static_cast<uint32_t>(size - 3);
  uint32_t wirelen = shorter_wire ? (caplen > extra ? caplen - extra : 0) : caplen + extra;
  // Copy to an exactly sized heap buffer so ASan catches any read past caplen.
  uint8_t* copy = new uint8_t[caplen > 0 ? caplen : 1];
  if (caplen > 0) std::memcpy(copy, packet, caplen);
  uint8_t record[PIDFLOW_RECORD_SIZE];
  pidflow::MalformedKind kind = pidflow::MAL_TRUNCATED_LINK;
  pidflow::DecodeResult r =
      pidflow::DecodePacket(ctx, copy, caplen, wirelen, record, &kind);
  if (r == pidflow::DECODE_MALFORMED && kind >= pidflow::MAL_KIND_COUNT) __builtin_trap();
  // A record cannot hold more captured bytes than the packet had: always malformed.
  if (wirelen < caplen &&
      !(r == pidflow::DECODE_MALFORMED && kind == pidflow::MAL_CAPTURED_EXCEEDS_WIRE)) {
    __builtin_trap();
  }
  if (r == pidflow::DECODE_IP && record[REC_OFF_IP_VERSION] != 4 && record[REC_OFF_IP_VERSION] != 6) {
    __builtin_trap();
  }
  if (r == pidflow::DECODE_IP) {
    // Lengths nest: transport payload <= IP length <= length on the wire (= what we passed).
    auto le32 = [&](int off) {
      return static_cast<uint32_t>(record[off]) | (static_cast<uint32_t>(record[off + 1]) << 8) |
             (static_cast<uint32_t>(record[off + 2]) << 16) |
             (static_cast<uint32_t>(record[off + 3]) << 24);
    };
    uint32_t wire = le32(REC_OFF_WIRE_LEN);
    uint32_t ip = le32(REC_OFF_IP_LEN);
    uint32_t payload = le32(REC_OFF_PAYLOAD_LEN);
    if (wire != wirelen) __builtin_trap();
    if (payload > ip || ip > wire) __builtin_trap();
  }
  delete[] copy;
  return 0;
}
