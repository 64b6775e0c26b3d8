// BPF program: who connects which TCP socket. Attached to the raw tracepoint
// inet_sock_set_state (TP_PROTO(const struct sock *sk, int oldstate, int newstate),
// include/trace/events/sock.h); emits one struct pidflow_sock_event (sock_events.h) per client
// connection into a ring buffer, read by native/sock_events.cc.
//
// Why a raw tracepoint: attaching a classic tracepoint (SEC("tracepoint/sock/...")) makes
// libbpf read the event id from tracefs, which is not mounted on many hosts (it was not here:
// "failed to create tracepoint 'sock/inet_sock_set_state' perf event: No such file or
// directory"). A raw tracepoint is attached by name through bpf(BPF_RAW_TRACEPOINT_OPEN) and
// needs no mount. Its context is the raw arguments, so the socket fields are read with CO-RE
// (bpf_core_read.h): the structs below declare only the fields we read, with
// preserve_access_index, and libbpf relocates their offsets against the running kernel's BTF
// (/sys/kernel/btf/vmlinux) at load time; no vmlinux.h is needed.
//
// Why two transitions: TCP_CLOSE -> TCP_SYN_SENT fires inside connect(), in the caller's
// context (so bpf_get_current_pid_tgid() is the owner), but before the kernel picks the
// ephemeral source port: tcp_v4_connect()/tcp_v6_connect() call tcp_set_state(sk,
// TCP_SYN_SENT) and only then inet_hash_connect() ("Socket identity is still unknown (sport
// may be zero)", net/ipv4/tcp_ipv4.c). So the owner is remembered per socket address in an
// LRU hash and the event is sent when the socket leaves SYN_SENT (to ESTABLISHED, usually in
// softirq context, or to CLOSE on a failed connect), when the 4-tuple is complete. A socket
// bound to a port before connect() has its port already and is sent at once.
//
// UDP (on_sock_send_length): a DNS client or any short-lived UDP sender opens a socket,
// sends one datagram and exits within milliseconds, between two /proc scans, and UDP has no
// state changes to hook. So this program sits on the send path: the raw tracepoint
// sock_send_length (TP_PROTO(struct sock *sk, int ret, int flags), include/trace/events/
// sock.h, Linux 6.3+), which sock_sendmsg_nosec() (net/socket.c) fires after every
// sendmsg/sendto/sendmmsg datagram returns, in the sender's context (so
// bpf_get_current_pid_tgid() is the owner) and after inet_autobind() has chosen the local port
// of an unbound socket. Why not fexit/udp_sendmsg and udpv6_sendmsg: the kernel this project
// runs on (and CI) refuses to load fentry/fexit programs (EPERM: no BPF trampolines), and
// has no kprobe PMU (/sys/bus/event_source/devices/kprobe) nor tracefs for kprobe events; a
// raw tracepoint needs neither. One program covers IPv4 and IPv6 (it is above the address
// families). The price: it runs for every send of every socket (TCP, Unix...) and filters on
// the first fields it reads; and sendmsg's destination is not an argument, so the remote end
// is known only for a connect()ed socket (zero otherwise): the attributor needs only the
// local end. The event says "tgid sent from UDP local port X" with the socket's bound local
// address (0 = wildcard: an unbound socket picks its source address per route).
// Why a per-socket LRU (udp_reported): a flood sends millions of datagrams from one socket;
// one event per socket, port and process is enough for the owner, so a send already reported
// costs one hash lookup and no ring buffer write.
//
// Build: clang -O2 -g -target bpf (native/bpf/build_bpf.py). See bpf-helpers(7).
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel_types.h"
#include "sock_events.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_UDPLITE 136
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define TCP_SYN_SENT 2

// Kernel structs (only the fields read, relocated by CO-RE): kernel_types.h.

struct owner {
  unsigned int tgid;
  unsigned int pad;
  unsigned long long start;  // clock ticks since boot, as /proc/<pid>/stat field 22
  char comm[16];
};

// 256 KiB: at 80 bytes per event, 3276 events waiting for the reader (it polls every 100 ms).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 256 * 1024);
} events SEC(".maps");

// Sockets in SYN_SENT whose port is not chosen yet -> owner. LRU: a socket that never leaves
// SYN_SENT through this tracepoint cannot fill it.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, unsigned long long);
  __type(value, struct owner);
} connecting SEC(".maps");

// UDP sockets already reported -> what was reported. Keyed by the socket's address, which
// the slab reuses for a later socket: the value (port and process) decides whether this send
// is news, so a reused address with a new port or a new process is reported again. LRU:
// bounded, the oldest sockets are forgotten (at worst reported once more).
struct udp_seen {
  unsigned int tgid;
  unsigned short sport;
  unsigned short pad;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, unsigned long long);
  __type(value, struct udp_seen);
} udp_reported SEC(".maps");

// TCP sockets whose reads and writes were already reported -> by whom (keyed by the socket's
// address; the ports tell a reused address apart). A process that reads or writes a connected
// TCP socket it was not reported for (the worker that accepted it, the child an inetd-style
// parent forked for it, the receiver of a passed socket) is reported once; every further read
// or write costs one hash lookup. LRU: bounded, the oldest sockets are forgotten (at worst
// reported once more).
struct tcp_seen {
  unsigned int tgid;
  unsigned short sport;
  unsigned short dport;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, unsigned long long);
  __type(value, struct tcp_seen);
} tcp_reported SEC(".maps");

// [0]: events lost because the ring buffer was full.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, unsigned int);
  __type(value, unsigned long long);
} dropped SEC(".maps");

static __always_inline void count_dropped(void) {
  unsigned int zero = 0;
  unsigned long long *count = bpf_map_lookup_elem(&dropped, &zero);
  if (count) __sync_fetch_and_add(count, 1);
}

// The fields every event takes from the socket: its ends (the remote one is zero for an
// unconnected UDP socket) and who reported it.
// Start time of the current process (its thread group leader) in clock ticks since boot, as
// /proc/<pid>/stat shows it (fs/proc/array.c: nsec_to_clock_t(start_boottime), USER_HZ 100).
// Process context only.
static __always_inline unsigned long long current_start_ticks(void) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  return BPF_CORE_READ(task, group_leader, start_boottime) / 10000000ULL;
}

static __always_inline void fill_event(struct pidflow_sock_event *e, const struct sock *sk,
                                       unsigned short family, unsigned short sport,
                                       unsigned short protocol, unsigned short kind,
                                       unsigned int tgid, unsigned long long start) {
  e->tgid = tgid;
  e->family = family;
  e->sport = sport;
  e->dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
  e->protocol = protocol;
  e->kind = kind;
  e->reserved = 0;
  e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
  e->reserved2 = 0;
  e->start = start;
  __builtin_memset(e->saddr, 0, sizeof(e->saddr));
  __builtin_memset(e->daddr, 0, sizeof(e->daddr));
  if (family == AF_INET) {
    unsigned int saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
    unsigned int daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
    __builtin_memcpy(e->saddr, &saddr, 4);
    __builtin_memcpy(e->daddr, &daddr, 4);
  } else {
    BPF_CORE_READ_INTO(&e->saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
    BPF_CORE_READ_INTO(&e->daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
  }
}

static __always_inline void emit(const struct sock *sk, unsigned short family,
                                 unsigned short sport, const struct owner *who) {
  struct pidflow_sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_dropped();
    return;
  }
  fill_event(e, sk, family, sport, IPPROTO_TCP, PIDFLOW_SOCK_EVENT_CONNECT, who->tgid,
             who->start);
  __builtin_memcpy(e->comm, who->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
}

SEC("raw_tp/inet_sock_set_state")
int on_inet_sock_set_state(struct bpf_raw_tracepoint_args *ctx) {
  const struct sock *sk = (const struct sock *)ctx->args[0];
  int oldstate = (int)ctx->args[1];
  int newstate = (int)ctx->args[2];
  if (newstate != TCP_SYN_SENT && oldstate != TCP_SYN_SENT) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  unsigned short sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  unsigned long long key = (unsigned long long)sk;
  if (newstate == TCP_SYN_SENT) {
    struct owner who = {};
    who.tgid = (unsigned int)(bpf_get_current_pid_tgid() >> 32);
    who.start = current_start_ticks();
    bpf_get_current_comm(who.comm, sizeof(who.comm));
    if (sport != 0) {
      emit(sk, family, sport, &who);
      return 0;
    }
    bpf_map_update_elem(&connecting, &key, &who, BPF_ANY);
    return 0;
  }
  struct owner *who = bpf_map_lookup_elem(&connecting, &key);
  if (!who) return 0;
  if (sport != 0) emit(sk, family, sport, who);
  bpf_map_delete_elem(&connecting, &key);
  return 0;
}

// Each sendmsg() that returned `ret` on socket sk; only datagrams sent on UDP and UDP-Lite
// sockets are reported.
// A read or write of `ret` bytes on TCP socket sk by the current process: reported when this
// process was not the last one reported for the socket (tcp_reported).
static __always_inline int report_tcp_io(const struct sock *sk, int ret) {
  if (ret < 0) return 0;  // EAGAIN and errors: no bytes moved
  if (BPF_CORE_READ(sk, sk_type) != SOCK_STREAM) return 0;
  unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  unsigned short sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  unsigned short dport = __builtin_bswap16(BPF_CORE_READ(sk, __sk_common.skc_dport));
  if (sport == 0 || dport == 0) return 0;  // not connected
  unsigned int tgid = (unsigned int)(bpf_get_current_pid_tgid() >> 32);
  unsigned long long key = (unsigned long long)sk;
  struct tcp_seen *seen = bpf_map_lookup_elem(&tcp_reported, &key);
  if (seen && seen->tgid == tgid && seen->sport == sport && seen->dport == dport) return 0;
  struct pidflow_sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_dropped();  // not remembered: the next read or write tries again
    return 0;
  }
  struct tcp_seen now = {.tgid = tgid, .sport = sport, .dport = dport};
  bpf_map_update_elem(&tcp_reported, &key, &now, BPF_ANY);
  fill_event(e, sk, family, sport, IPPROTO_TCP, PIDFLOW_SOCK_EVENT_TCP_IO, tgid,
             current_start_ticks());
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
  return 0;
}

// Each recvmsg() that returned `ret` on socket sk (raw tracepoint sock_recv_length,
// TP_PROTO(struct sock *sk, int ret, int flags), Linux 6.3+, fired by sock_recvmsg_nosec() in
// the reader's context): only TCP reads are reported, through report_tcp_io.
SEC("raw_tp/sock_recv_length")
int on_sock_recv_length(struct bpf_raw_tracepoint_args *ctx) {
  const struct sock *sk = (const struct sock *)ctx->args[0];
  int ret = (int)ctx->args[1];
  if (sk == 0) return 0;
  if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  return report_tcp_io(sk, ret);
}

SEC("raw_tp/sock_send_length")
int on_sock_send_length(struct bpf_raw_tracepoint_args *ctx) {
  const struct sock *sk = (const struct sock *)ctx->args[0];
  int ret = (int)ctx->args[1];
  if (ret < 0 || sk == 0) return 0;  // nothing sent: no traffic to attribute
  unsigned short protocol = BPF_CORE_READ(sk, sk_protocol);
  if (protocol == IPPROTO_TCP) return report_tcp_io(sk, ret);
  if (protocol != IPPROTO_UDP && protocol != IPPROTO_UDPLITE) return 0;
  // A raw socket of protocol 17 has sk_protocol 17 too, and its "port" is the protocol.
  if (BPF_CORE_READ(sk, sk_type) != SOCK_DGRAM) return 0;
  unsigned short family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (family != AF_INET && family != AF_INET6) return 0;
  unsigned short sport = BPF_CORE_READ(sk, __sk_common.skc_num);
  if (sport == 0) return 0;
  unsigned int tgid = (unsigned int)(bpf_get_current_pid_tgid() >> 32);
  unsigned long long key = (unsigned long long)sk;
  struct udp_seen *seen = bpf_map_lookup_elem(&udp_reported, &key);
  if (seen && seen->sport == sport && seen->tgid == tgid) return 0;  // the flood case
  struct pidflow_sock_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    // Not remembered as reported: the next send of this socket tries again.
    count_dropped();
    return 0;
  }
  struct udp_seen now = {.tgid = tgid, .sport = sport, .pad = 0};
  bpf_map_update_elem(&udp_reported, &key, &now, BPF_ANY);
  // Connected: the peer; else 0 (sendto()'s destination is not a tracepoint argument).
  fill_event(e, sk, family, sport, protocol, PIDFLOW_SOCK_EVENT_UDP_SEND, tgid,
             current_start_ticks());
  bpf_get_current_comm(e->comm, sizeof(e->comm));
  bpf_ringbuf_submit(e, 0);
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
