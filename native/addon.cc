// N-API registration for pidflow's capture addon: the export table and argument checks only.
// Exports: recordVersion, recordSize, malformedKinds, libpcapVersion, listDevices(),
// open(options, onMessage) -> CaptureHandle {start(), stop(), stats(), openResults()},
// sockEventVersion, sockEventSize, hasSocketEvents,
// openSocketEvents(options, onBatch) -> {stop(), stats()} (native/sock_events.cc),
// sockDiagVersion, sockDiagRecordSize, sockDiagOpen, sockDiagDump, sockDiagClose (native/sock_diag.cc),
// conntrackOpen, conntrackGet, conntrackClose (native/conntrack.cc),
// socketOwnerVersion, socketOwnerSize, hasSocketOwners, socketOwnersOpen, socketOwnersRead,
// socketOwnersClose (native/socket_owners.cc), threadCpuMs().
// TypeScript (src/capture/addon.ts) validates every argument first; the checks here are the
// last line of defence and throw TypeError with the usage line.
#include <arpa/inet.h>
#include <napi.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>

#include <time.h>

#include <memory>

#include "capture.h"
#include "decode.h"
#include "record.h"
#include "sock_diag.h"
#include "conntrack.h"
#include "sock_events.h"
#include "socket_owners.h"
#include "bpf/sock_events.h"
#include <linux/types.h>
#include "bpf/socket_owners.h"

namespace pidflow {
namespace {

const char* kOpenUsage =
    "Usage: open({offline, devices, filter?, snaplen, bufferBytes, immediate, promiscuous, "
    "batchIntervalMs, batchRecords, queueLimit, waitWhenFull, pcapPath?, pcapSnaplen, "
    "pcapRotateBytes, pcapMaxFiles?}, onMessage)";

[[noreturn]] void ThrowUsage(Napi::Env env, const char* usage) {
  throw Napi::TypeError::New(env, usage);
}

double NumberField(Napi::Object o, const char* key, const char* usage) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) ThrowUsage(o.Env(), usage);
  return v.As<Napi::Number>().DoubleValue();
}

bool BoolField(Napi::Object o, const char* key, const char* usage) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) ThrowUsage(o.Env(), usage);
  return v.As<Napi::Boolean>().Value();
}

Napi::Value AddressText(Napi::Env env, const struct sockaddr* sa) {
  if (sa == nullptr) return env.Null();
  char text[INET6_ADDRSTRLEN] = {0};
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, text, sizeof(text));
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, text, sizeof(text));
  } else {
    return env.Null();
  }
  return Napi::String::New(env, text);
}

// CPU time of the calling thread (the event loop's, when called from JS), ms: what a stretch of
// work on the event loop cost, without the GC and libuv threads that process.cpuUsage() adds.
Napi::Value ThreadCpuMs(const Napi::CallbackInfo& info) {
  struct timespec ts;
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0) return Napi::Number::New(info.Env(), -1);
  return Napi::Number::New(info.Env(), ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
}

Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char errbuf[PCAP_ERRBUF_SIZE] = {0};
  pcap_if_t* all = nullptr;
  if (pcap_findalldevs(&all, errbuf) != 0) {
    throw Napi::Error::New(env, std::string("pcap_findalldevs failed: ") + errbuf);
  }
  Napi::Array list = Napi::Array::New(env);
  uint32_t i = 0;
  for (pcap_if_t* dev = all; dev != nullptr; dev = dev->next) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", dev->name);
    o.Set("description", dev->description != nullptr ? Napi::String::New(env, dev->description)
                                                     : Napi::String::New(env, ""));
    o.Set("isUp", Napi::Boolean::New(env, (dev->flags & PCAP_IF_UP) != 0));
    o.Set("isRunning", Napi::Boolean::New(env, (dev->flags & PCAP_IF_RUNNING) != 0));
    o.Set("isLoopback", Napi::Boolean::New(env, (dev->flags & PCAP_IF_LOOPBACK) != 0));
    Napi::Array addresses = Napi::Array::New(env);
    uint32_t j = 0;
    for (pcap_addr_t* a = dev->addresses; a != nullptr; a = a->next) {
      if (a->addr == nullptr) continue;
      int family = a->addr->sa_family;
      if (family != AF_INET && family != AF_INET6) continue;
      Napi::Object ao = Napi::Object::New(env);
      ao.Set("family", family == AF_INET ? "inet" : "inet6");
      ao.Set("address", AddressText(env, a->addr));
      ao.Set("netmask", AddressText(env, a->netmask));
      addresses.Set(j++, ao);
    }
    o.Set("addresses", addresses);
    list.Set(i++, o);
  }
  pcap_freealldevs(all);
  return list;
}

class CaptureHandle : public Napi::ObjectWrap<CaptureHandle> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "CaptureHandle",
                       {InstanceMethod<&CaptureHandle::Start>("start"),
                        InstanceMethod<&CaptureHandle::Stop>("stop"),
                        InstanceMethod<&CaptureHandle::Stats>("stats"),
                        InstanceMethod<&CaptureHandle::OpenResults>("openResults")});
  }

  explicit CaptureHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CaptureHandle>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      ThrowUsage(env, kOpenUsage);
    }
    Napi::Object o = info[0].As<Napi::Object>();
    CaptureOptions opt;
    opt.offline = BoolField(o, "offline", kOpenUsage);
    Napi::Value devs = o.Get("devices");
    if (!devs.IsArray()) ThrowUsage(env, kOpenUsage);
    Napi::Array arr = devs.As<Napi::Array>();
    if (arr.Length() == 0 || arr.Length() > 1024) ThrowUsage(env, kOpenUsage);
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsString()) ThrowUsage(env, kOpenUsage);
      opt.devices.push_back(v.As<Napi::String>().Utf8Value());
    }
    Napi::Value filter = o.Get("filter");
    if (filter.IsString()) {
      opt.has_filter = true;
      opt.filter = filter.As<Napi::String>().Utf8Value();
    } else if (!filter.IsUndefined()) {
      ThrowUsage(env, kOpenUsage);
    }
    opt.snaplen = static_cast<int>(NumberField(o, "snaplen", kOpenUsage));
    opt.buffer_bytes = static_cast<int>(NumberField(o, "bufferBytes", kOpenUsage));
    opt.immediate = BoolField(o, "immediate", kOpenUsage);
    opt.promiscuous = BoolField(o, "promiscuous", kOpenUsage);
    opt.batch_interval_ms = static_cast<int>(NumberField(o, "batchIntervalMs", kOpenUsage));
    opt.batch_records = static_cast<uint32_t>(NumberField(o, "batchRecords", kOpenUsage));
    opt.queue_limit = static_cast<uint64_t>(NumberField(o, "queueLimit", kOpenUsage));
    opt.wait_when_full = BoolField(o, "waitWhenFull", kOpenUsage);
    Napi::Value pcap_path = o.Get("pcapPath");
    if (pcap_path.IsString()) {
      opt.has_pcap_file = true;
      opt.pcap_path = pcap_path.As<Napi::String>().Utf8Value();
      opt.pcap_snaplen = static_cast<int>(NumberField(o, "pcapSnaplen", kOpenUsage));
      opt.pcap_rotate_bytes = static_cast<uint64_t>(NumberField(o, "pcapRotateBytes", kOpenUsage));
      // Optional so callers that predate the file limit keep working (0 = keep every file).
      if (!o.Get("pcapMaxFiles").IsUndefined()) {
        double max_files = NumberField(o, "pcapMaxFiles", kOpenUsage);
        if (!(max_files >= 0 && max_files <= 1000000)) ThrowUsage(env, kOpenUsage);
        opt.pcap_max_files = static_cast<uint64_t>(max_files);
      }
    } else if (!pcap_path.IsUndefined()) {
      ThrowUsage(env, kOpenUsage);
    }
    if (opt.snaplen < 1 || opt.snaplen > 262144 || opt.batch_records < 1 ||
        opt.batch_records > 1048576 || opt.batch_interval_ms < 1 || opt.queue_limit < 1 ||
        opt.buffer_bytes < 0 || (opt.has_pcap_file && opt.pcap_snaplen < 1)) {
      ThrowUsage(env, kOpenUsage);
    }
    set_ = std::make_shared<CaptureSet>(std::move(opt));
    set_->Open();
    on_message_ = Napi::Persistent(info[1].As<Napi::Function>());
  }

  ~CaptureHandle() override {
    if (set_) set_->Stop(false);
  }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    set_->Start(info.Env(), on_message_.Value(), set_);
    return info.Env().Undefined();
  }
  Napi::Value Stop(const Napi::CallbackInfo& info) {
    set_->Stop();
    return info.Env().Undefined();
  }
  Napi::Value Stats(const Napi::CallbackInfo& info) { return set_->Stats(info.Env()); }
  Napi::Value OpenResults(const Napi::CallbackInfo& info) { return set_->OpenResults(info.Env()); }

  std::shared_ptr<CaptureSet> set_;
  Napi::FunctionReference on_message_;
};

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto* ctor = env.GetInstanceData<Napi::FunctionReference>();
  if (info.Length() != 2) ThrowUsage(env, kOpenUsage);
  return ctor->New({info[0], info[1]});
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* ctor = new Napi::FunctionReference(Napi::Persistent(CaptureHandle::Init(env)));
  env.SetInstanceData(ctor);
  exports.Set("recordVersion", Napi::Number::New(env, PIDFLOW_RECORD_VERSION));
  exports.Set("recordSize", Napi::Number::New(env, PIDFLOW_RECORD_SIZE));
  exports.Set("libpcapVersion", Napi::String::New(env, pcap_lib_version()));
  Napi::Array kinds = Napi::Array::New(env);
  for (int k = 0; k < MAL_KIND_COUNT; k++) {
    kinds.Set(static_cast<uint32_t>(k), MalformedKindName(static_cast<MalformedKind>(k)));
  }
  exports.Set("malformedKinds", kinds);
  exports.Set("listDevices", Napi::Function::New(env, ListDevices, "listDevices"));
  exports.Set("open", Napi::Function::New(env, Open, "open"));
  exports.Set("sockEventVersion", Napi::Number::New(env, PIDFLOW_SOCK_EVENT_VERSION));
  exports.Set("sockEventSize", Napi::Number::New(env, PIDFLOW_SOCK_EVENT_SIZE));
  exports.Set("hasSocketEvents", Napi::Boolean::New(env, SocketEventsBuilt()));
  exports.Set("openSocketEvents",
              Napi::Function::New(env, OpenSocketEvents, "openSocketEvents"));
  exports.Set("sockDiagVersion", Napi::Number::New(env, PIDFLOW_SOCK_DIAG_VERSION));
  exports.Set("sockDiagRecordSize", Napi::Number::New(env, PIDFLOW_SOCK_DIAG_RECORD_SIZE));
  exports.Set("sockDiagOpen", Napi::Function::New(env, SockDiagOpen, "sockDiagOpen"));
  exports.Set("sockDiagDump", Napi::Function::New(env, SockDiagDump, "sockDiagDump"));
  exports.Set("sockDiagClose", Napi::Function::New(env, SockDiagClose, "sockDiagClose"));
  exports.Set("conntrackOpen", Napi::Function::New(env, ConntrackOpen, "conntrackOpen"));
  exports.Set("conntrackGet", Napi::Function::New(env, ConntrackGet, "conntrackGet"));
  exports.Set("conntrackClose", Napi::Function::New(env, ConntrackClose, "conntrackClose"));
  exports.Set("threadCpuMs", Napi::Function::New(env, ThreadCpuMs, "threadCpuMs"));
  exports.Set("socketOwnerVersion", Napi::Number::New(env, PIDFLOW_SOCKET_OWNER_VERSION));
  exports.Set("socketOwnerSize", Napi::Number::New(env, PIDFLOW_SOCKET_OWNER_SIZE));
  exports.Set("hasSocketOwners", Napi::Boolean::New(env, SocketOwnersBuilt()));
  exports.Set("socketOwnersOpen",
              Napi::Function::New(env, SocketOwnersOpen, "socketOwnersOpen"));
  exports.Set("socketOwnersRead",
              Napi::Function::New(env, SocketOwnersRead, "socketOwnersRead"));
  exports.Set("socketOwnersClose",
              Napi::Function::New(env, SocketOwnersClose, "socketOwnersClose"));
  return exports;
}

}  // namespace
}  // namespace pidflow

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return pidflow::Init(env, exports);
}

NODE_API_MODULE(pidflow, InitAddon)
