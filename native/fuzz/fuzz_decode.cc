// libFuzzer entry point over the packet decoder (native/decode.cc), with no N-API and no
// libpcap. Input layout: byte 0 picks the link type, bytes 1-2 (little-endian) add to the
// wire length so length-field checks see both cut and full frames, the rest is the packet.
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
  uint32_t extra = static_cast<uint32_t>(data[1]) | (static_cast<uint32_t>(data[2]) << 8);
  const uint8_t* packet = data + 3;
  uint32_t caplen = static_cast<uint32_t>(size - 3);
  // Copy to an exactly sized heap buffer so ASan catches any read past caplen.
  uint8_t* copy = new uint8_t[caplen > 0 ? caplen : 1];
  if (caplen > 0) std::memcpy(copy, packet, caplen);
  uint8_t record[PIDFLOW_RECORD_SIZE];
  pidflow::MalformedKind kind = pidflow::MAL_TRUNCATED_LINK;
  pidflow::DecodeResult r =
      pidflow::DecodePacket(ctx, copy, caplen, caplen + extra, record, &kind);
  if (r == pidflow::DECODE_MALFORMED && kind >= pidflow::MAL_KIND_COUNT) __builtin_trap();
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
    if (wire != caplen + extra) __builtin_trap();
    if (payload > ip || ip > wire) __builtin_trap();
  }
  delete[] copy;
  return 0;
}
