// Capture sets: one or more libpcap handles (live devices or one offline file), one
// std::thread per handle that reads packets (man 3pcap pcap_next_ex), decodes them into
// records (decode.h) and hands full batches to JavaScript through one
// Napi::TypedThreadSafeFunction call per batch. Bounded: at most queue_limit records in
// flight; beyond that live captures drop (counted) and file replays wait.
#pragma once
#include <napi.h>
#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "decode.h"
#include "savefile.h"

namespace pidflow {

struct CaptureOptions {
  bool offline = false;
  std::vector<std::string> devices;  // live device names, or the one file path when offline
  bool has_filter = false;
  std::string filter;
  int snaplen = 128;
  int buffer_bytes = 0;  // 0 = libpcap's default
  bool immediate = false;
  bool promiscuous = false;
  int batch_interval_ms = 100;
  uint32_t batch_records = 4096;
  uint64_t queue_limit = 1000000;
  bool wait_when_full = false;  // back-pressure instead of dropping (file replay default)
  bool has_pcap_file = false;
  std::string pcap_path;
  int pcap_snaplen = 0;
  uint64_t pcap_rotate_bytes = 0;
  uint64_t pcap_max_files = 0;  // 0 = keep every rotated file
};

// Counters a capture thread owns; published to the atomics below at every flush.
struct LocalCounters {
  uint64_t captured = 0;
  uint64_t captured_bytes = 0;
  uint64_t queue_dropped = 0;
  uint64_t non_ip = 0;
  uint64_t malformed[MAL_KIND_COUNT] = {};
};

struct Device {
  std::string name;
  uint16_t index = 0;
  pcap_t* pcap = nullptr;
  int link_type = -1;
  uint32_t ifindex = 0;
  bool ok = false;
  std::string error;       // open failure text
  std::string error_kind;  // permission | no-device | filter | link-type | not-up | file | other
  std::string warning;     // pcap_activate warning text
  std::thread thread;
  std::string end_error;   // set by the thread when it ends on pcap_next_ex error
  // Thread-owned: the kernel's packet count at the last look, and when it last moved (the
  // latest time a packet can have entered the ring, as far as the thread knows).
  uint64_t ring_seen = 0;
  std::chrono::steady_clock::time_point ring_changed_at{};

  std::atomic<uint64_t> kernel_received{0}, kernel_dropped{0}, interface_dropped{0};
  std::atomic<uint64_t> captured{0}, captured_bytes{0}, queue_dropped{0}, non_ip{0};
  std::atomic<uint64_t> malformed[MAL_KIND_COUNT] = {};
  uint64_t delivered = 0;  // only touched on the JS thread

  std::mutex pool_mutex;
  std::vector<uint8_t*> free_buffers;
  std::vector<uint8_t*> all_buffers;
};

class CaptureSet;

struct Message {
  enum Type { kBatch = 0, kDeviceEnd = 1, kSourceEnd = 2 } type;
  Device* device;
  uint8_t* data;
  uint32_t count;
  std::string text;  // device error, or the source end reason
};

void CallJs(Napi::Env env, Napi::Function callback, CaptureSet* set, Message* message);
using Tsfn = Napi::TypedThreadSafeFunction<CaptureSet, Message, CallJs>;

class CaptureSet {
 public:
  CaptureSet(CaptureOptions options);
  ~CaptureSet();

  // Open every handle (errors are kept per device). Returns the number opened.
  size_t Open();
  // Create the thread-safe function and start one thread per opened device.
  void Start(Napi::Env env, Napi::Function on_message, std::shared_ptr<CaptureSet> self);
  // Stop threads, flush, close handles and the savefile; queue the end message. Idempotent.
  // With drain (live captures), each thread first reads what the kernel already captured:
  // it waits, bounded by DrainWait(), for the kernel to hand over the ring block that holds
  // the packets received before this call (TPACKET_V3 hands a block over only when it is
  // full or its timeout retires it). Without drain (process exit, file replays), it stops at
  // once.
  void Stop(bool drain = true);
  Napi::Value Stats(Napi::Env env);
  Napi::Value OpenResults(Napi::Env env);

  // Called on the JS thread once a batch's JS call returned.
  void ReturnBuffer(Device* device, uint8_t* data, uint32_t count);

  const CaptureOptions& options() const { return options_; }
  std::vector<std::unique_ptr<Device>> devices;

 private:
  void OpenLive(Device* d);
  void OpenOffline(Device* d);
  bool ApplyFilter(Device* d);
  void Run(Device* d);
  uint8_t* AcquireBuffer(Device* d);
  bool Flush(Device* d, uint8_t*& batch, uint32_t& count, LocalCounters& local);
  void Publish(Device* d, const LocalCounters& local);
  void ThreadEnded(Device* d);
  bool NoteRingCount(Device* d, std::chrono::steady_clock::time_point now);
  void SendEnd(const std::string& reason);
  static void CleanupHook(void* arg);

  CaptureOptions options_;
  SaveFile savefile_;
  Tsfn tsfn_;
  bool started_ = false;
  bool stopped_ = false;
  napi_env env_ = nullptr;
  int wake_fd_ = -1;
  uint32_t max_buffers_ = 0;
  uint32_t flow_hash_basis_ = kStandardFlowHashBasis;
  int retire_timeout_ms_ = 0;  // the ring block timeout given to libpcap (live)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> drain_requested_{false};
  std::atomic<bool> end_sent_{false};
  std::atomic<int> running_{0};
  std::atomic<uint64_t> in_flight_{0};
  std::mutex wait_mutex_;
  std::condition_variable wait_cv_;
};

}  // namespace pidflow
