// Socket tables of one network namespace through sock_diag netlink: the binary form of
// /proc/net/{tcp,tcp6,udp,udp6,udplite,udplite6}, without the kernel printing and JS parsing
// text. A netlink socket stays bound to the namespace it was created in, so sockDiagOpen
// creates it on a short-lived thread that setns()es into the target first (the calling thread
// never changes namespace). Dumps run in the libuv pool and resolve with one Buffer of fixed
// 48-byte records (sock_diag.h). Man pages: sock_diag(7), netlink(7), setns(2).
#include "sock_diag.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace pidflow {
namespace {

const char* kOpenUsage = "Usage: sockDiagOpen(nsPath | null)";
const char* kDumpUsage = "Usage: sockDiagDump(fd, protocolMask, tcpStates, maxSockets)";
const char* kCloseUsage = "Usage: sockDiagClose(fd)";

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

// The tables of protocolMask, bit by bit: TCP v4, TCP v6, UDP v4, UDP v6, UDP-Lite v4, v6.
struct Table {
  uint8_t family;
  uint8_t protocol;
};
const Table kTables[] = {{AF_INET, IPPROTO_TCP},     {AF_INET6, IPPROTO_TCP},
                         {AF_INET, IPPROTO_UDP},     {AF_INET6, IPPROTO_UDP},
                         {AF_INET, IPPROTO_UDPLITE}, {AF_INET6, IPPROTO_UDPLITE}};
constexpr int kTableCount = 6;

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, err == EPERM    ? "EPERM"
                                       : err == EACCES ? "EACCES"
                                       : err == ENOENT ? "ENOENT"
                                                       : "ESOCKDIAG"));
  return e;
}

void PutLittleEndian(uint8_t* at, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; i++) at[i] = static_cast<uint8_t>(value >> (8 * i));
}

int OpenNetlink() {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -errno;
  // A dump that never ends must not hold a pool thread forever.
  struct timeval tv = {2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rcvbuf = 1 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  return fd;
}

Napi::Value SockDiagOpenImpl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !(info[0].IsString() || info[0].IsNull())) {
    throw Napi::TypeError::New(env, kOpenUsage);
  }
  double netns = 0;
  int fd = -1;
  if (info[0].IsNull()) {
    fd = OpenNetlink();
    if (fd < 0) throw ErrnoError(env, "socket(NETLINK_SOCK_DIAG)", -fd);
    struct stat st;
    if (stat("/proc/self/ns/net", &st) == 0) netns = static_cast<double>(st.st_ino);
  } else {
    std::string path = info[0].As<Napi::String>().Utf8Value();
    int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) throw ErrnoError(env, "open " + path, errno);
    struct stat st;
    if (fstat(ns, &st) == 0) netns = static_cast<double>(st.st_ino);
    int result = 0;
    std::string step;
    // setns() changes only the calling thread's namespace: do it on a thread of its own that
    // ends right after creating the socket.
    std::thread worker([&]() {
      if (setns(ns, CLONE_NEWNET) != 0) {
        result = -errno;
        step = "setns " + path;
        return;
      }
      result = OpenNetlink();
      if (result < 0) step = "socket(NETLINK_SOCK_DIAG) in " + path;
    });
    worker.join();
    close(ns);
    if (result < 0) throw ErrnoError(env, step, -result);
    fd = result;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("fd", Napi::Number::New(env, fd));
  out.Set("netns", Napi::Number::New(env, netns));
  return out;
}

// Dumps the requested tables into fixed records; runs in the libuv pool.
class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, int fd, uint32_t protocol_mask, uint32_t tcp_states,
             uint32_t max_sockets)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        fd_(fd),
        protocol_mask_(protocol_mask),
        tcp_states_(tcp_states),
        max_sockets_(max_sockets) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    buffer_.resize(1 << 16);
    for (int t = 0; t < kTableCount; t++) {
      if ((protocol_mask_ & (1u << t)) == 0) continue;
      int err = DumpTable(kTables[t]);
      if (err != 0) {
        failed_mask_ |= 1u << t;
        if (first_errno_ == 0) first_errno_ = err;
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object out = Napi::Object::New(env);
    out.Set("records",
            Napi::Buffer<uint8_t>::Copy(env, records_.data(), records_.size()));
    out.Set("failedMask", Napi::Number::New(env, failed_mask_));
    out.Set("errno", Napi::Number::New(env, first_errno_));
    out.Set("dropped", Napi::Number::New(env, dropped_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  // 0 on success, else a positive errno. A table the kernel cannot dump (no IPv6, no
  // udp_diag) fails alone; the caller falls back to /proc for the namespace.
  int DumpTable(const Table& table) {
    struct {
      nlmsghdr nlh;
      inet_diag_req_v2 req;
    } msg;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nlh.nlmsg_seq = ++seq_;
    msg.req.sdiag_family = table.family;
    msg.req.sdiag_protocol = table.protocol;
    msg.req.idiag_states = table.protocol == IPPROTO_TCP ? tcp_states_ : 0xffffffffu;
    sockaddr_nl kernel;
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) < 0) {
      return errno;
    }
    for (;;) {
      ssize_t n = recv(fd_, buffer_.data(), buffer_.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      if (n == 0) return EPROTO;
      int len = static_cast<int>(n);
      for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(buffer_.data()); NLMSG_OK(h, len);
           h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_) continue;
        if (h->nlmsg_type == NLMSG_DONE) return 0;
        if (h->nlmsg_type == NLMSG_ERROR) {
          if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return EPROTO;
          const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          return e->error == 0 ? 0 : -e->error;
        }
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
        Add(table, *static_cast<const inet_diag_msg*>(NLMSG_DATA(h)));
      }
    }
  }

  void Add(const Table& table, const inet_diag_msg& m) {
    if (records_.size() / PIDFLOW_SOCK_DIAG_RECORD_SIZE >= max_sockets_) {
      dropped_++;
      return;
    }
    uint8_t r[PIDFLOW_SOCK_DIAG_RECORD_SIZE] = {0};
    r[0] = m.idiag_family == AF_INET6 ? 6 : 4;
    r[1] = table.protocol;
    r[2] = m.idiag_state;
    uint16_t local_port = ntohs(m.id.idiag_sport);
    uint16_t remote_port = ntohs(m.id.idiag_dport);
    uint32_t uid = m.idiag_uid;
    uint32_t inode = m.idiag_inode;
    PutLittleEndian(r + 4, local_port, 2);
    PutLittleEndian(r + 6, remote_port, 2);
    PutLittleEndian(r + 8, uid, 4);
    PutLittleEndian(r + 12, inode, 4);
    size_t address_bytes = m.idiag_family == AF_INET6 ? 16 : 4;
    memcpy(r + 16, m.id.idiag_src, address_bytes);
    memcpy(r + 32, m.id.idiag_dst, address_bytes);
    records_.insert(records_.end(), r, r + PIDFLOW_SOCK_DIAG_RECORD_SIZE);
  }

  Napi::Promise::Deferred deferred_;
  int fd_;
  uint32_t protocol_mask_;
  uint32_t tcp_states_;
  uint32_t max_sockets_;
  uint32_t seq_ = 0;
  uint32_t failed_mask_ = 0;
  int first_errno_ = 0;
  double dropped_ = 0;
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> records_;
};

}  // namespace

Napi::Value SockDiagOpen(const Napi::CallbackInfo& info) { return SockDiagOpenImpl(info); }

Napi::Value SockDiagDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsNumber()) {
    throw Napi::TypeError::New(env, kDumpUsage);
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  double max_sockets = info[3].As<Napi::Number>().DoubleValue();
  if (fd < 0 || !(max_sockets >= 1 && max_sockets <= 16777216)) {
    throw Napi::TypeError::New(env, kDumpUsage);
  }
  auto* worker = new DumpWorker(env, fd, info[1].As<Napi::Number>().Uint32Value(),
                                info[2].As<Napi::Number>().Uint32Value(),
                                static_cast<uint32_t>(max_sockets));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value SockDiagClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, kCloseUsage);
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0) close(fd);
  return env.Undefined();
}

}  // namespace pidflow
