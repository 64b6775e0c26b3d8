// Capture sets (see capture.h). Live handles are opened with pcap_create/pcap_activate
// (man 3pcap pcap_activate: negative = error, positive = warning), switched to non-blocking
// mode, and each thread waits in poll(2) on pcap_get_selectable_fd plus an eventfd that
// stop() writes, with a timeout so a partly filled batch is flushed after batch_interval_ms
// even on a quiet link. pcap_next_ex returns: 1 packet, 0 none yet, PCAP_ERROR (-1),
// PCAP_ERROR_BREAK (-2, end of file or pcap_breakloop).
#include "capture.h"

#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

namespace pidflow {

namespace {

constexpr int kDltLinuxSll = 113;
constexpr int kDltLinuxSll2 = 276;
constexpr uint32_t kTimeCheckEvery = 256;  // packets between clock reads under load
// poll(2) timeout when nothing waits to be flushed (no record in the batch, no counter
// changed since the last flush): a quiet link then costs one wake-up a second instead of one
// per batch interval. A packet in the ring wakes the thread anyway (block retired after
// batch_interval_ms / 2), and so does stop() through the eventfd.
constexpr int kIdleWaitMs = 1000;
// The kernel retires a TPACKET_V3 block at most this long after a packet entered it (the
// block timeout is capped so that stop never waits for long, whatever the batch interval).
constexpr int kMaxRetireTimeoutMs = 500;
// Slack on top of two block timeouts when stop waits for the last block: the retire timer
// fires on a jiffy (4 ms at HZ=250) and the thread may be scheduled late on a busy host.
constexpr int kDrainMarginMs = 50;

using SteadyClock = std::chrono::steady_clock;

std::string KindForActivate(int rc) {
  switch (rc) {
    case PCAP_ERROR_PERM_DENIED:
    case PCAP_ERROR_PROMISC_PERM_DENIED:
      return "permission";
    case PCAP_ERROR_NO_SUCH_DEVICE:
      return "no-device";
    case PCAP_ERROR_IFACE_NOT_UP:
      return "not-up";
    default:
      return "other";
  }
}

inline void StoreLe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

}  // namespace


// An unknown link type is an error at open time, never a silent zero (STYLE.md, section 2).
// On failure the handle is closed and the device carries the reason.
static bool CheckLinkType(Device* d) {
  if (IsSupportedLinkType(d->link_type)) return true;
  const char* dlt_name = pcap_datalink_val_to_name(d->link_type);
  d->error = "unsupported link type " + std::to_string(d->link_type) + " (" +
             (dlt_name != nullptr ? dlt_name : "unknown") + ")";
  d->error_kind = "link-type";
  pcap_close(d->pcap);
  d->pcap = nullptr;
  return false;
}

CaptureSet::CaptureSet(CaptureOptions options) : options_(std::move(options)) {
  // A live capture hashes flows with a secret basis, so that nobody who can send packets past
  // it can choose flows that pile up in one chain of the JS flow table (hash flooding); a
  // replay keeps the standard basis, so its records are the same on every run.
  if (!options_.offline) {
    std::random_device random;
    flow_hash_basis_ = static_cast<uint32_t>(random());
  }
  for (size_t i = 0; i < options_.devices.size(); i++) {
    auto d = std::make_unique<Device>();
    d->name = options_.devices[i];
    d->index = static_cast<uint16_t>(i);
    devices.push_back(std::move(d));
  }
  // Buffers per device: enough for the in-flight limit in full batches, plus the one being
  // filled and a spare. Partly filled batches (quiet links) are bounded by this count too.
  uint64_t per_limit = options_.queue_limit / options_.batch_records + 2;
  max_buffers_ = static_cast<uint32_t>(per_limit > 4096 ? 4096 : per_limit);
}

CaptureSet::~CaptureSet() {
  Stop(false);
  for (auto& d : devices) {
    for (uint8_t* b : d->all_buffers) std::free(b);
  }
  if (wake_fd_ >= 0) close(wake_fd_);
}

size_t CaptureSet::Open() {
  size_t opened = 0;
  int link_type = -1;
  for (auto& d : devices) {
    if (options_.offline) {
      OpenOffline(d.get());
    } else {
      OpenLive(d.get());
    }
    if (d->ok) {
      opened++;
      if (link_type < 0) link_type = d->link_type;
    }
  }
  if (opened > 0 && options_.has_pcap_file) {
    bool same = true;
    for (auto& d : devices) same = same && (!d->ok || d->link_type == link_type);
    if (!same) {
      savefile_.Fail("cannot write one pcap file from devices with different link types: " +
                     std::string("capture on `any` to write all of them"));
    } else {
      savefile_.Open(options_.pcap_path, link_type, options_.pcap_snaplen,
                     options_.pcap_rotate_bytes, options_.pcap_max_files);
    }
  }
  return opened;
}

void CaptureSet::OpenLive(Device* d) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_create(d->name.c_str(), errbuf);
  if (p == nullptr) {
    d->error = errbuf;
    d->error_kind = "other";
    return;
  }
  int snaplen = options_.snaplen;
  if (options_.has_pcap_file && options_.pcap_snaplen > snaplen) snaplen = options_.pcap_snaplen;
  // The read timeout retires a TPACKET_V3 block at most this long after its first packet. The
  // thread flushes its batch when it has drained the ring (Run), so a record reaches JS about
  // one batch interval after its packet, and the thread wakes once per block instead of once
  // per block plus once per flush deadline.
  int timeout_ms = options_.batch_interval_ms;
  if (timeout_ms < 1) timeout_ms = 1;
  if (timeout_ms > kMaxRetireTimeoutMs) timeout_ms = kMaxRetireTimeoutMs;
  retire_timeout_ms_ = timeout_ms;
  if (pcap_set_snaplen(p, snaplen) != 0 || pcap_set_promisc(p, options_.promiscuous ? 1 : 0) != 0 ||
      pcap_set_timeout(p, timeout_ms) != 0 ||
      pcap_set_immediate_mode(p, options_.immediate ? 1 : 0) != 0 ||
      (options_.buffer_bytes > 0 && pcap_set_buffer_size(p, options_.buffer_bytes) != 0)) {
    d->error = "cannot set capture options (handle already active)";
    d->error_kind = "other";
    pcap_close(p);
    return;
  }
  int rc = pcap_activate(p);
  if (rc < 0) {
    std::string detail = pcap_geterr(p);
    d->error = pcap_statustostr(rc);
    if (!detail.empty()) d->error += ": " + detail;
    d->error_kind = KindForActivate(rc);
    pcap_close(p);
    return;
  }
  if (rc > 0) {  // PCAP_WARNING, PCAP_WARNING_PROMISC_NOTSUP, PCAP_WARNING_TSTAMP_TYPE_NOTSUP
    std::string detail = pcap_geterr(p);
    d->warning = pcap_statustostr(rc);
    if (!detail.empty()) d->warning += ": " + detail;
  }
  d->pcap = p;
  d->link_type = pcap_datalink(p);
  if (d->link_type == kDltLinuxSll) {
    // `any` offers SLL2, which carries the real interface index of every packet.
    int* dlts = nullptr;
    int n = pcap_list_datalinks(p, &dlts);
    for (int i = 0; i < n; i++) {
      if (dlts[i] == kDltLinuxSll2 && pcap_set_datalink(p, kDltLinuxSll2) == 0) {
        d->link_type = kDltLinuxSll2;
        break;
      }
    }
    if (dlts != nullptr) pcap_free_datalinks(dlts);
  }
  if (!CheckLinkType(d)) return;
  if (!ApplyFilter(d)) return;
  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    d->error = std::string("cannot switch to non-blocking mode: ") + errbuf;
    d->error_kind = "other";
    pcap_close(p);
    d->pcap = nullptr;
    return;
  }
  unsigned int index = if_nametoindex(d->name.c_str());
  d->ifindex = index;
  d->ok = true;
}

void CaptureSet::OpenOffline(Device* d) {
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_t* p = pcap_open_offline(d->name.c_str(), errbuf);
  if (p == nullptr) {
    d->error = errbuf;
    d->error_kind = "file";
    return;
  }
  d->pcap = p;
  d->link_type = pcap_datalink(p);
  if (!CheckLinkType(d)) return;
  if (!ApplyFilter(d)) return;
  d->ok = true;
}

bool CaptureSet::ApplyFilter(Device* d) {
  // A live handle always gets a kernel filter, even without an expression: libpcap compiles
  // "" to `ret #snaplen`, and only a socket filter makes the kernel truncate packets to the
  // snaplen before copying them into the TPACKET_V3 ring. Without one the kernel copies whole
  // frames (an MTU frame takes 12x the room of a 128-byte snap), blocks fill 12x as often and
  // the thread wakes 4-5x as often on MTU-size traffic (measured: docs/capture.md). tcpdump
  // does the same (it always calls pcap_setfilter). Offline files need no such program.
  if (!options_.has_filter && options_.offline) return true;
  const char* expression = options_.has_filter ? options_.filter.c_str() : "";
  struct bpf_program program;
  if (pcap_compile(d->pcap, &program, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
    d->error = pcap_geterr(d->pcap);
    d->error_kind = "filter";
    pcap_close(d->pcap);
    d->pcap = nullptr;
    return false;
  }
  int rc = pcap_setfilter(d->pcap, &program);
  pcap_freecode(&program);
  if (rc != 0) {
    d->error = pcap_geterr(d->pcap);
    d->error_kind = "filter";
    pcap_close(d->pcap);
    d->pcap = nullptr;
    return false;
  }
  return true;
}

void CaptureSet::Start(Napi::Env env, Napi::Function on_message,
                       std::shared_ptr<CaptureSet> self) {
  if (started_ || stopped_) return;
  started_ = true;
  env_ = env;
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // The TSFN's finalizer owns one reference, so the set outlives every queued message.
  auto* keep = new std::shared_ptr<CaptureSet>(std::move(self));
  tsfn_ = Tsfn::New(env, on_message, "pidflow-capture", 0, 1, this,
                    [](Napi::Env, std::shared_ptr<CaptureSet>* keep_alive, CaptureSet*) {
                      delete keep_alive;
                    },
                    keep);
  napi_add_env_cleanup_hook(env, CleanupHook, this);
  int opened = 0;
  for (auto& d : devices) opened += d->ok ? 1 : 0;
  running_.store(opened);
  if (opened == 0) {
    SendEnd("error");
    return;
  }
  for (auto& d : devices) {
    if (!d->ok) continue;
    Device* dev = d.get();
    dev->thread = std::thread([this, dev] { Run(dev); });
  }
}

void CaptureSet::CleanupHook(void* arg) {
  // Process exit: stop threads and close files; the TSFN is torn down by Node itself.
  auto* set = static_cast<CaptureSet*>(arg);
  set->env_ = nullptr;
  set->Stop(false);
}

void CaptureSet::Stop(bool drain) {
  if (stopped_) return;
  stopped_ = true;
  if (drain && !options_.offline && env_ != nullptr) {
    drain_requested_.store(true);
  } else {
    stopping_.store(true);
  }
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t n = write(wake_fd_, &one, sizeof(one));
    (void)n;  // EAGAIN means the counter is already non-zero: the threads wake anyway
  }
  if (stopping_.load()) {
    for (auto& d : devices) {
      if (d->pcap != nullptr) pcap_breakloop(d->pcap);
    }
  }
  wait_cv_.notify_all();
  for (auto& d : devices) {
    if (d->thread.joinable()) d->thread.join();
  }
  stopping_.store(true);
  savefile_.Close();
  for (auto& d : devices) {
    if (d->pcap != nullptr) {
      pcap_close(d->pcap);
      d->pcap = nullptr;
    }
  }
  if (started_) {
    if (env_ != nullptr) {
      napi_remove_env_cleanup_hook(env_, CleanupHook, this);
      SendEnd("stopped");
    }
  }
}

void CaptureSet::SendEnd(const std::string& reason) {
  if (end_sent_.exchange(true)) return;
  auto* m = new Message{Message::kSourceEnd, nullptr, nullptr, 0, reason};
  if (tsfn_.NonBlockingCall(m) != napi_ok) delete m;
  tsfn_.Release();
}

uint8_t* CaptureSet::AcquireBuffer(Device* d) {
  std::lock_guard<std::mutex> lock(d->pool_mutex);
  if (!d->free_buffers.empty()) {
    uint8_t* b = d->free_buffers.back();
    d->free_buffers.pop_back();
    return b;
  }
  if (d->all_buffers.size() >= max_buffers_) return nullptr;
  auto* b = static_cast<uint8_t*>(
      std::malloc(static_cast<size_t>(options_.batch_records) * PIDFLOW_RECORD_SIZE));
  if (b != nullptr) d->all_buffers.push_back(b);
  return b;
}

void CaptureSet::ReturnBuffer(Device* d, uint8_t* data, uint32_t count) {
  {
    std::lock_guard<std::mutex> lock(d->pool_mutex);
    d->free_buffers.push_back(data);
  }
  in_flight_.fetch_sub(count);
  if (options_.wait_when_full) wait_cv_.notify_all();
}

// Reads the kernel's packet count (pcap_stats: not thread-safe, so only on the handle's own
// thread) and notes when it last moved. Returns false when the stats cannot be read.
bool CaptureSet::NoteRingCount(Device* d, SteadyClock::time_point now) {
  struct pcap_stat ps;
  if (pcap_stats(d->pcap, &ps) != 0) return false;
  d->kernel_received.store(ps.ps_recv, std::memory_order_relaxed);
  d->kernel_dropped.store(ps.ps_drop, std::memory_order_relaxed);
  d->interface_dropped.store(ps.ps_ifdrop, std::memory_order_relaxed);
  if (ps.ps_recv != d->ring_seen) {
    d->ring_seen = ps.ps_recv;
    d->ring_changed_at = now;
  }
  return true;
}

void CaptureSet::Publish(Device* d, const LocalCounters& local) {
  d->captured.store(local.captured, std::memory_order_relaxed);
  d->captured_bytes.store(local.captured_bytes, std::memory_order_relaxed);
  d->queue_dropped.store(local.queue_dropped, std::memory_order_relaxed);
  d->non_ip.store(local.non_ip, std::memory_order_relaxed);
  for (int k = 0; k < MAL_KIND_COUNT; k++) {
    d->malformed[k].store(local.malformed[k], std::memory_order_relaxed);
  }
  if (!options_.offline && d->pcap != nullptr) NoteRingCount(d, SteadyClock::now());
}

// Hand the batch to JS. Returns false when no new buffer is available (live: caller drops).
bool CaptureSet::Flush(Device* d, uint8_t*& batch, uint32_t& count, LocalCounters& local) {
  if (savefile_.enabled()) savefile_.Flush();
  if (batch != nullptr && count > 0) {
    if (options_.wait_when_full) {
      std::unique_lock<std::mutex> lock(wait_mutex_);
      // in_flight_ > 0: a batch larger than the limit still goes once nothing else is queued.
      while (!stopping_.load() && in_flight_.load() > 0 &&
             in_flight_.load() + count > options_.queue_limit) {
        wait_cv_.wait_for(lock, std::chrono::milliseconds(10));
      }
    }
    in_flight_.fetch_add(count);
    auto* m = new Message{Message::kBatch, d, batch, count, std::string()};
    if (tsfn_.NonBlockingCall(m) != napi_ok) {
      // The TSFN is closing (process exit): these records can no longer be delivered.
      delete m;
      in_flight_.fetch_sub(count);
      local.queue_dropped += count;
      std::lock_guard<std::mutex> lock(d->pool_mutex);
      d->free_buffers.push_back(batch);
    }
    batch = nullptr;
    count = 0;
  }
  Publish(d, local);
  if (batch == nullptr) {
    batch = AcquireBuffer(d);
    if (batch == nullptr && options_.wait_when_full) {
      while (!stopping_.load() && (batch = AcquireBuffer(d)) == nullptr) {
        std::unique_lock<std::mutex> lock(wait_mutex_);
        wait_cv_.wait_for(lock, std::chrono::milliseconds(10));
      }
    }
  }
  return batch != nullptr;
}

void CaptureSet::Run(Device* d) {
  LocalCounters local;
  DecodeContext ctx;
  ctx.link_type = d->link_type;
  ctx.ifindex = d->ifindex;
  ctx.device = d->index;
  ctx.flow_hash_basis = flow_hash_basis_;
  uint8_t scratch[PIDFLOW_RECORD_SIZE];
  const uint32_t batch_records = options_.batch_records;
  const uint64_t queue_limit = options_.queue_limit;
  const bool drop_when_full = !options_.wait_when_full;
  const bool offline = options_.offline;
  const bool writing = savefile_.enabled();
  const auto interval = std::chrono::milliseconds(options_.batch_interval_ms);
  // A partly filled batch is flushed as soon as the ring is drained once this much time has
  // passed since the previous flush: the next block would come a whole timeout later.
  const auto drained_flush_after = interval / 2;
  uint8_t* batch = AcquireBuffer(d);
  uint32_t count = 0;
  uint32_t since_check = 0;
  auto last_flush = SteadyClock::now();
  uint64_t flushed_captured = 0;  // local.captured at the last flush
  int pollable_fd = offline ? -1 : pcap_get_selectable_fd(d->pcap);
  // Stop with drain: every packet that entered the ring before stop is in a block the kernel
  // retires within two block timeouts (its retire timer closes a non-empty block that was
  // already current at the previous tick). So the thread reads on until two timeouts (plus a
  // margin) after the ring's count last moved before stop, and ends at the first empty read
  // after that; an idle link (no packet for that long) ends at once. A link that never goes
  // quiet ends after one more such wait at most.
  const auto retire_wait = std::chrono::milliseconds(2 * retire_timeout_ms_ + kDrainMarginMs);
  bool draining = false;
  auto drain_deadline = SteadyClock::now();
  auto drain_hard_end = drain_deadline;
  d->ring_changed_at = SteadyClock::now();  // nothing can have entered the ring later than this

  while (!stopping_.load(std::memory_order_relaxed)) {
    if (!draining && drain_requested_.load(std::memory_order_relaxed)) {
      draining = true;
      auto now = SteadyClock::now();
      // Unreadable stats: assume a packet came in just now.
      if (!NoteRingCount(d, now)) d->ring_changed_at = now;
      drain_deadline = d->ring_changed_at + retire_wait;
      drain_hard_end = (drain_deadline > now ? drain_deadline : now) + retire_wait;
    }
    struct pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(d->pcap, &header, &data);
    if (rc == 1) {
      local.captured++;
      local.captured_bytes += header->len;
      if (writing) savefile_.Write(header, data);
      uint8_t* rec = batch != nullptr ? batch + static_cast<size_t>(count) * PIDFLOW_RECORD_SIZE
                                      : scratch;
      MalformedKind kind = MAL_TRUNCATED_LINK;
      DecodeResult result = DecodePacket(ctx, data, header->caplen, header->len, rec, &kind);
      if (result == DECODE_IP) {
        if (batch == nullptr ||
            (drop_when_full &&
             in_flight_.load(std::memory_order_relaxed) + count >= queue_limit)) {
          local.queue_dropped++;
        } else {
          StoreLe32(rec + REC_OFF_TS_SEC, static_cast<uint32_t>(header->ts.tv_sec));
          StoreLe32(rec + REC_OFF_TS_USEC, static_cast<uint32_t>(header->ts.tv_usec));
          if (++count == batch_records) {
            Flush(d, batch, count, local);
            last_flush = SteadyClock::now();
            flushed_captured = local.captured;
            since_check = 0;
            continue;
          }
        }
      } else if (result == DECODE_NON_IP) {
        local.non_ip++;
      } else {
        local.malformed[kind]++;
      }
      if (++since_check < kTimeCheckEvery) continue;
      since_check = 0;
      auto now = SteadyClock::now();
      if (draining && now >= drain_hard_end) break;
      if (now - last_flush >= interval) {
        Flush(d, batch, count, local);
        last_flush = now;
        flushed_captured = local.captured;
      }
    } else if (rc == 0) {
      // No packet ready (non-blocking live handle): flush if due, then wait in poll(2).
      auto now = SteadyClock::now();
      if (draining && now >= drain_deadline) break;  // every block from before stop is read
      if (now - last_flush >= interval ||
          (count > 0 && now - last_flush >= drained_flush_after)) {
        Flush(d, batch, count, local);
        last_flush = now;
        flushed_captured = local.captured;
      }
      if (batch == nullptr) batch = AcquireBuffer(d);
      if (pollable_fd < 0) {
        // No selectable fd (not the case on Linux, but pcap_get_selectable_fd may say -1):
        // sleep a little instead of spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      auto left = interval - (now - last_flush);
      int wait_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
      if (wait_ms < 1) wait_ms = 1;
      if (count == 0 && local.captured == flushed_captured && batch != nullptr) {
        wait_ms = kIdleWaitMs;  // nothing to flush: sleep until a packet (or stop) wakes us
      }
      struct pollfd fds[2] = {{pollable_fd, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
      nfds_t nfds = 2;
      if (draining) {
        // The eventfd stays readable from now on: wait on the ring only, until the deadline.
        nfds = 1;
        auto drain_left = std::chrono::duration_cast<std::chrono::milliseconds>(
                              drain_deadline - now).count() + 1;
        if (drain_left < wait_ms) wait_ms = static_cast<int>(drain_left);
      }
      poll(fds, nfds, wait_ms);  // EINTR or timeout: loop and look again
    } else if (rc == PCAP_ERROR_BREAK) {
      break;  // end of file, or pcap_breakloop from stop()
    } else {
      // PCAP_ERROR (e.g. "The interface went down") or an undocumented value.
      d->end_error = rc == PCAP_ERROR ? pcap_geterr(d->pcap)
                                      : "pcap_next_ex returned " + std::to_string(rc);
      break;
    }
  }
  Flush(d, batch, count, local);
  if (batch != nullptr) {
    std::lock_guard<std::mutex> lock(d->pool_mutex);
    d->free_buffers.push_back(batch);
  }
  ThreadEnded(d);
}

void CaptureSet::ThreadEnded(Device* d) {
  // A drained thread ends because stop asked it to: Stop() sends the end message.
  bool stopping = stopping_.load() || drain_requested_.load();
  if (!d->end_error.empty() && !stopping) {
    auto* m = new Message{Message::kDeviceEnd, d, nullptr, 0, d->end_error};
    if (tsfn_.NonBlockingCall(m) != napi_ok) delete m;
  }
  if (running_.fetch_sub(1) == 1 && !stopping) {
    if (savefile_.enabled()) savefile_.Flush();
    bool any_ok = false;
    for (auto& dev : devices) any_ok = any_ok || (dev->ok && dev->end_error.empty());
    SendEnd(options_.offline && any_ok ? "end-of-file" : "error");
  }
}

void CallJs(Napi::Env env, Napi::Function callback, CaptureSet* set, Message* message) {
  std::unique_ptr<Message> m(message);
  if (m->type == Message::kBatch) {
    if (env == nullptr) {  // environment going away: just recycle the buffer
      set->ReturnBuffer(m->device, m->data, m->count);
      return;
    }
    // An external ArrayBuffer over the pool memory, detached after the call so that a view
    // kept by mistake reads nothing instead of a reused buffer.
    Napi::ArrayBuffer ab =
        Napi::ArrayBuffer::New(env, m->data, static_cast<size_t>(m->count) * PIDFLOW_RECORD_SIZE);
    try {
      callback.Call({Napi::Number::New(env, 0), Napi::Number::New(env, m->device->index), ab,
                     Napi::Number::New(env, m->count), env.Undefined()});
    } catch (...) {
      ab.Detach();
      set->ReturnBuffer(m->device, m->data, m->count);
      throw;
    }
    ab.Detach();
    m->device->delivered += m->count;
    set->ReturnBuffer(m->device, m->data, m->count);
    return;
  }
  if (env == nullptr) return;
  if (m->type == Message::kDeviceEnd) {
    callback.Call({Napi::Number::New(env, 1), Napi::Number::New(env, m->device->index),
                   env.Null(), Napi::Number::New(env, 0), Napi::String::New(env, m->text)});
  } else {
    callback.Call({Napi::Number::New(env, 2), Napi::Number::New(env, -1), env.Null(),
                   Napi::Number::New(env, 0), Napi::String::New(env, m->text)});
  }
}

Napi::Value CaptureSet::Stats(Napi::Env env) {
  Napi::Array list = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& d : devices) {
    if (!d->ok) continue;
    Napi::Object o = Napi::Object::New(env);
    auto num = [&](const char* key, uint64_t v) {
      o.Set(key, Napi::Number::New(env, static_cast<double>(v)));
    };
    o.Set("device", d->name);
    o.Set("deviceIndex", Napi::Number::New(env, d->index));
    num("linkType", static_cast<uint64_t>(d->link_type));
    num("kernelReceivedPackets", d->kernel_received.load());
    num("kernelDroppedPackets", d->kernel_dropped.load());
    num("interfaceDroppedPackets", d->interface_dropped.load());
    num("capturedPackets", d->captured.load());
    num("capturedBytes", d->captured_bytes.load());
    num("deliveredPackets", d->delivered);
    num("queueDroppedPackets", d->queue_dropped.load());
    num("nonIpPackets", d->non_ip.load());
    uint64_t total = 0;
    Napi::Object by_kind = Napi::Object::New(env);
    for (int k = 0; k < MAL_KIND_COUNT; k++) {
      uint64_t v = d->malformed[k].load();
      total += v;
      if (v > 0) {
        by_kind.Set(MalformedKindName(static_cast<MalformedKind>(k)),
                    Napi::Number::New(env, static_cast<double>(v)));
      }
    }
    num("malformedPackets", total);
    o.Set("malformedByKind", by_kind);
    list.Set(i++, o);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("devices", list);
  if (savefile_.enabled()) {
    Napi::Object p = Napi::Object::New(env);
    p.Set("path", options_.pcap_path);
    p.Set("writtenPackets", Napi::Number::New(env, static_cast<double>(savefile_.written_packets())));
    p.Set("writtenBytes", Napi::Number::New(env, static_cast<double>(savefile_.written_bytes())));
    p.Set("files", Napi::Number::New(env, static_cast<double>(savefile_.files())));
    p.Set("removedFiles", Napi::Number::New(env, static_cast<double>(savefile_.removed_files())));
    p.Set("removeFailures",
          Napi::Number::New(env, static_cast<double>(savefile_.remove_failures())));
    std::string error = savefile_.Error();
    if (!error.empty()) p.Set("error", error);
    std::string remove_error = savefile_.RemoveError();
    if (!remove_error.empty()) p.Set("removeError", remove_error);
    result.Set("pcap", p);
  }
  return result;
}

Napi::Value CaptureSet::OpenResults(Napi::Env env) {
  Napi::Array list = Napi::Array::New(env);
  uint32_t i = 0;
  for (auto& d : devices) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", d->name);
    o.Set("ok", Napi::Boolean::New(env, d->ok));
    o.Set("linkType", Napi::Number::New(env, d->link_type));
    o.Set("ifindex", Napi::Number::New(env, d->ifindex));
    if (!d->error.empty()) o.Set("error", d->error);
    if (!d->error_kind.empty()) o.Set("errorKind", d->error_kind);
    if (!d->warning.empty()) o.Set("warning", d->warning);
    list.Set(i++, o);
  }
  return list;
}

}  // namespace pidflow
