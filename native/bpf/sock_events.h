/* The record a BPF program sends per TCP connect, per UDP socket's first send, or per TCP
 * connection's first read or write by a process, shared by native/bpf/sock_events.bpf.c (the
 * producer, in the kernel) and native/sock_events.cc (which copies them into batches for JS,
 * where src/capture/socket-events.ts reads them at the offsets below). Plain C, fixed 80 bytes,
 * little-endian host fields, no padding holes. */
#ifndef PIDFLOW_SOCK_EVENTS_H_
#define PIDFLOW_SOCK_EVENTS_H_

#define PIDFLOW_SOCK_EVENT_VERSION 2
#define PIDFLOW_SOCK_EVENT_SIZE 80

/* kind */
#define PIDFLOW_SOCK_EVENT_CONNECT 0 /* TCP connect() by tgid */
#define PIDFLOW_SOCK_EVENT_UDP_SEND 1 /* first datagram of a UDP socket sent by tgid */
#define PIDFLOW_SOCK_EVENT_TCP_IO 2 /* tgid read or wrote a connected TCP socket (first time) */

/* Offsets (bytes):
 *   0 u32 tgid     process id (thread group) that called connect() or sent the datagram
 *   4 u16 family   AF_INET (2) or AF_INET6 (10)
 *   6 u16 sport    local port, host order
 *   8 u16 dport    remote port, host order
 *  10 u16 protocol IPPROTO_TCP (6), IPPROTO_UDP (17) or IPPROTO_UDPLITE (136)
 *  12 u16 kind     PIDFLOW_SOCK_EVENT_* above
 *  14 u16 reserved 0
 *  16 u8[16] saddr local address (IPv4 in the first 4 bytes), network order; all zero for a
 *                  UDP socket bound to no address (wildcard: the source is chosen per route)
 *  32 u8[16] daddr remote address, network order (UDP: the first datagram's destination)
 *  48 char[16] comm   task comm of the connecting or sending thread, NUL padded
 *  64 u32 netns    inode of the socket's network namespace (/proc/<pid>/ns/net)
 *  68 u32 reserved 0
 *  72 u64 start    start time of the process (thread group leader) in clock ticks since
 *                  boot, as field 22 of /proc/<pid>/stat (USER_HZ 100) */
struct pidflow_sock_event {
  unsigned int tgid;
  unsigned short family;
  unsigned short sport;
  unsigned short dport;
  unsigned short protocol;
  unsigned short kind;
  unsigned short reserved;
  unsigned char saddr[16];
  unsigned char daddr[16];
  char comm[16];
  unsigned int netns;
  unsigned int reserved2;
  unsigned long long start;
};

#endif
