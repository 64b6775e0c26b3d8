// libFuzzer entry point over the pcap file path of a replay (readFile): the input is a whole
// pcap file, opened with libpcap's offline reader (man 3pcap pcap_fopen_offline) from memory,
// every record read with pcap_next_ex and decoded as native/capture.cc does, with the same
// invariants as fuzz_decode.cc (no crash, known malformed kinds, lengths nest, a record with
// caplen > len is malformed). Bounded: at most kMaxRecords records per input. Build and run:
// native/fuzz/run.sh.
#include <pcap/pcap.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "../decode.h"

namespace {
constexpr int kMaxRecords = 4096;

uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  FILE* file = fmemopen(const_cast<uint8_t*>(data), size, "rb");
  if (file == nullptr) return 0;
  char errbuf[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_fopen_offline(file, errbuf);  // owns `file` on success
  if (p == nullptr) {
    fclose(file);
    return 0;
  }
  pidflow::DecodeContext ctx;
  ctx.link_type = pcap_datalink(p);
  ctx.ifindex = 1;
  ctx.device = 0;
  bool supported = pidflow::IsSupportedLinkType(ctx.link_type);
  uint8_t record[PIDFLOW_RECORD_SIZE];
  for (int i = 0; i < kMaxRecords; i++) {
    struct pcap_pkthdr* header = nullptr;
    const u_char* packet = nullptr;
    int rc = pcap_next_ex(p, &header, &packet);
    if (rc != 1) break;  // PCAP_ERROR_BREAK at end of file, PCAP_ERROR on a bad record
    if (!supported) continue;  // Open() refuses these files before any record is read
    pidflow::MalformedKind kind = pidflow::MAL_TRUNCATED_LINK;
    pidflow::DecodeResult r =
        pidflow::DecodePacket(ctx, packet, header->caplen, header->len, record, &kind);
    if (r == pidflow::DECODE_MALFORMED && kind >= pidflow::MAL_KIND_COUNT) __builtin_trap();
    // A corrupt record (more captured than on the wire) is always counted as malformed.
    if (header->caplen > header->len &&
        !(r == pidflow::DECODE_MALFORMED && kind == pidflow::MAL_CAPTURED_EXCEEDS_WIRE)) {
      __builtin_trap();
    }
    if (r == pidflow::DECODE_IP) {
      uint32_t wire = Le32(record + REC_OFF_WIRE_LEN);
      uint32_t ip = Le32(record + REC_OFF_IP_LEN);
      uint32_t payload = Le32(record + REC_OFF_PAYLOAD_LEN);
      if (wire != header->len) __builtin_trap();
      if (payload > ip || ip > wire) __builtin_trap();
    }
  }
  pcap_close(p);
  return 0;
}
