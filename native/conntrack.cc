// Connection tracking translations through ctnetlink, without a library: one request
// (IPCTNL_MSG_CT_GET with a tuple) answered by the kernel with the whole entry, both tuples.
// The kernel finds an entry by either of its tuples (nf_conntrack_find_get hashes both
// directions), so a packet seen before or after NAT finds its entry with the tuple it carries or
// that tuple reversed; src/attribute/nat.ts decides which. Called once per new flow from the JS
// thread: the kernel answers a GET within the sendmsg() call, so recv() does not wait (a
// receive timeout bounds it anyway). Needs CAP_NET_ADMIN in the namespace (nfnetlink checks it).
// Man pages: netlink(7), conntrack(8); kernel: net/netfilter/nf_conntrack_netlink.c.
#include "conntrack.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <string>

namespace pidflow {
namespace {

const char* kOpenUsage = "Usage: conntrackOpen()";
const char* kGetUsage =
    "Usage: conntrackGet(fd, ipVersion, protocol, srcAddress, srcPort, dstAddress, dstPort)";
const char* kCloseUsage = "Usage: conntrackClose(fd)";

uint32_t g_seq = 1;

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("code", Napi::String::New(env, err == EPERM    ? "EPERM"
                                       : err == EACCES ? "EACCES"
                                       : err == EINVAL ? "EINVAL"
                                       : err == EOPNOTSUPP ? "EOPNOTSUPP"
                                       : err == EPROTONOSUPPORT ? "EPROTONOSUPPORT"
                                       : err == EAGAIN ? "EAGAIN"
                                                       : "ECONNTRACK"));
  return e;
}

// A small netlink message builder over a fixed buffer (a request is under 200 bytes).
struct Builder {
  alignas(4) uint8_t buf[512];
  size_t len = 0;
  bool ok = true;

  void* Put(size_t bytes) {
    size_t aligned = NLA_ALIGN(bytes);
    if (len + aligned > sizeof(buf)) {
      ok = false;
      return nullptr;
    }
    void* at = buf + len;
    memset(at, 0, aligned);
    len += aligned;
    return at;
  }
  size_t Begin(uint16_t type) {
    size_t at = len;
    auto* a = static_cast<nlattr*>(Put(NLA_HDRLEN));
    if (a != nullptr) a->nla_type = type | NLA_F_NESTED;
    return at;
  }
  void End(size_t at) {
    if (!ok) return;
    reinterpret_cast<nlattr*>(buf + at)->nla_len = static_cast<uint16_t>(len - at);
  }
  void Attr(uint16_t type, const void* data, size_t bytes) {
    auto* a = static_cast<nlattr*>(Put(NLA_HDRLEN + bytes));
    if (a == nullptr) return;
    a->nla_type = type;
    a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + bytes);
    memcpy(reinterpret_cast<uint8_t*>(a) + NLA_HDRLEN, data, bytes);
  }
};

struct Tuple {
  int family = 0;
  uint8_t src[16] = {0};
  uint8_t dst[16] = {0};
  uint16_t src_port = 0;  // host order
  uint16_t dst_port = 0;
  bool has_ip = false;
  bool has_ports = false;
};

// Walks the attributes in [data, data + len): calls fn(type, payload, payloadLen) for each.
template <typename Fn>
void ForEachAttr(const uint8_t* data, size_t len, Fn fn) {
  while (len >= NLA_HDRLEN) {
    const auto* a = reinterpret_cast<const nlattr*>(data);
    if (a->nla_len < NLA_HDRLEN || a->nla_len > len) return;
    fn(a->nla_type & NLA_TYPE_MASK, data + NLA_HDRLEN, a->nla_len - NLA_HDRLEN);
    size_t step = NLA_ALIGN(a->nla_len);
    if (step >= len) return;
    data += step;
    len -= step;
  }
}

void ParseTuple(const uint8_t* data, size_t len, int family, Tuple* out) {
  out->family = family;
  ForEachAttr(data, len, [&](uint16_t type, const uint8_t* p, size_t n) {
    if (type == CTA_TUPLE_IP) {
      ForEachAttr(p, n, [&](uint16_t t, const uint8_t* q, size_t m) {
        if (t == CTA_IP_V4_SRC && m >= 4) memcpy(out->src, q, 4);
        if (t == CTA_IP_V4_DST && m >= 4) memcpy(out->dst, q, 4);
        if (t == CTA_IP_V6_SRC && m >= 16) memcpy(out->src, q, 16);
        if (t == CTA_IP_V6_DST && m >= 16) memcpy(out->dst, q, 16);
        out->has_ip = true;
      });
    } else if (type == CTA_TUPLE_PROTO) {
      ForEachAttr(p, n, [&](uint16_t t, const uint8_t* q, size_t m) {
        uint16_t be = 0;
        if (m >= 2) memcpy(&be, q, 2);
        if (t == CTA_PROTO_SRC_PORT && m >= 2) out->src_port = ntohs(be);
        if (t == CTA_PROTO_DST_PORT && m >= 2) out->dst_port = ntohs(be);
        out->has_ports = true;
      });
    }
  });
}

Napi::Value AddressText(Napi::Env env, int family, const uint8_t* address) {
  char text[INET6_ADDRSTRLEN] = {0};
  if (inet_ntop(family, address, text, sizeof(text)) == nullptr) return env.Null();
  return Napi::String::New(env, text);
}

}  // namespace

Napi::Value ConntrackOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 0) throw Napi::TypeError::New(env, kOpenUsage);
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) throw ErrnoError(env, "socket(NETLINK_NETFILTER)", errno);
  // The answer comes within the request's sendmsg(); a reply that never comes must not hold the
  // JS thread: 100 ms, then the lookup counts as failed.
  struct timeval tv = {0, 100 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return Napi::Number::New(env, fd);
}

Napi::Value ConntrackGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 7 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[3].IsString() || !info[4].IsNumber() || !info[5].IsString() || !info[6].IsNumber()) {
    throw Napi::TypeError::New(env, kGetUsage);
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int ip_version = info[1].As<Napi::Number>().Int32Value();
  int protocol = info[2].As<Napi::Number>().Int32Value();
  std::string src_text = info[3].As<Napi::String>().Utf8Value();
  uint32_t src_port = info[4].As<Napi::Number>().Uint32Value();
  std::string dst_text = info[5].As<Napi::String>().Utf8Value();
  uint32_t dst_port = info[6].As<Napi::Number>().Uint32Value();
  int family = ip_version == 6 ? AF_INET6 : AF_INET;
  uint8_t src[16] = {0};
  uint8_t dst[16] = {0};
  if ((ip_version != 4 && ip_version != 6) || protocol < 0 || protocol > 255 || src_port > 65535 ||
      dst_port > 65535 || inet_pton(family, src_text.c_str(), src) != 1 ||
      inet_pton(family, dst_text.c_str(), dst) != 1) {
    throw Napi::TypeError::New(env, kGetUsage);
  }
  size_t address_bytes = family == AF_INET ? 4 : 16;

  Builder b;
  auto* nlh = static_cast<nlmsghdr*>(b.Put(NLMSG_HDRLEN));
  nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  uint32_t seq = g_seq++;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(b.Put(sizeof(nfgenmsg)));
  nfg->nfgen_family = static_cast<uint8_t>(family);
  nfg->version = NFNETLINK_V0;
  size_t tuple = b.Begin(CTA_TUPLE_ORIG);
  size_t ip = b.Begin(CTA_TUPLE_IP);
  b.Attr(family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, src, address_bytes);
  b.Attr(family == AF_INET ? CTA_IP_V4_DST : CTA_IP_V6_DST, dst, address_bytes);
  b.End(ip);
  size_t proto = b.Begin(CTA_TUPLE_PROTO);
  uint8_t num = static_cast<uint8_t>(protocol);
  b.Attr(CTA_PROTO_NUM, &num, 1);
  uint16_t sp = htons(static_cast<uint16_t>(src_port));
  uint16_t dp = htons(static_cast<uint16_t>(dst_port));
  b.Attr(CTA_PROTO_SRC_PORT, &sp, 2);
  b.Attr(CTA_PROTO_DST_PORT, &dp, 2);
  b.End(proto);
  b.End(tuple);
  nlh = reinterpret_cast<nlmsghdr*>(b.buf);
  nlh->nlmsg_len = static_cast<uint32_t>(b.len);

  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, b.buf, b.len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel)) < 0) {
    throw ErrnoError(env, "conntrack request", errno);
  }
  alignas(4) uint8_t reply[8192];
  // Replies to earlier requests that timed out may still be queued: skip other sequence numbers.
  for (int attempt = 0; attempt < 16; attempt++) {
    ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw ErrnoError(env, "conntrack reply", errno);
    }
    size_t left = static_cast<size_t>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return env.Null();
        int err = -static_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
        if (err == ENOENT || err == 0) return env.Null();
        throw ErrnoError(env, "conntrack lookup", err);
      }
      if (h->nlmsg_type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) continue;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nfgenmsg))) return env.Null();
      const auto* g = static_cast<const nfgenmsg*>(NLMSG_DATA(h));
      int entry_family = g->nfgen_family;
      const uint8_t* attrs = reinterpret_cast<const uint8_t*>(NLMSG_DATA(h)) +
                             NLMSG_ALIGN(sizeof(nfgenmsg));
      size_t attrs_len = h->nlmsg_len - NLMSG_LENGTH(NLMSG_ALIGN(sizeof(nfgenmsg)));
      Tuple orig, rep;
      ForEachAttr(attrs, attrs_len, [&](uint16_t type, const uint8_t* p, size_t m) {
        if (type == CTA_TUPLE_ORIG) ParseTuple(p, m, entry_family, &orig);
        if (type == CTA_TUPLE_REPLY) ParseTuple(p, m, entry_family, &rep);
      });
      if (!orig.has_ip || !rep.has_ip || !orig.has_ports || !rep.has_ports) return env.Null();
      Napi::Array out = Napi::Array::New(env, 8);
      out.Set(0u, AddressText(env, entry_family, orig.src));
      out.Set(1u, Napi::Number::New(env, orig.src_port));
      out.Set(2u, AddressText(env, entry_family, orig.dst));
      out.Set(3u, Napi::Number::New(env, orig.dst_port));
      out.Set(4u, AddressText(env, entry_family, rep.src));
      out.Set(5u, Napi::Number::New(env, rep.src_port));
      out.Set(6u, AddressText(env, entry_family, rep.dst));
      out.Set(7u, Napi::Number::New(env, rep.dst_port));
      return out;
    }
  }
  return env.Null();
}

Napi::Value ConntrackClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, kCloseUsage);
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd >= 0) close(fd);
  return env.Undefined();
}

}  // namespace pidflow
