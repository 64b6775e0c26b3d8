/* The record a BPF program sends per TCP connect or per UDP socket's first send, shared by native/bpf/sock_events.bpf.c (the
 * producer, in the kernel) and native/sock_events.cc (which copies them into batches for JS,
 * where src/capture/socket-events.ts reads them at the offsets below). Plain C, fixed 64 bytes,
 * little-endian host fields, no padding holes. */
#ifndef PIDFLOW_SOCK_EVENTS_H_
#define PIDFLOW_SOCK_EVENTS_H_

#define PIDFLOW_SOCK_EVENT_VERSION 1
#define PIDFLOW_SOCK_EVENT_SIZE 64

/* Offsets (bytes):
 *   0 u32 tgid     process id (thread group) that called connect() or sent the datagram
 *   4 u16 family   AF_INET (2) or AF_INET6 (10)
 *   6 u16 sport    local port, host order
 *   8 u16 dport    remote port, host order
 *  10 u16 protocol IPPROTO_TCP (6), IPPROTO_UDP (17) or IPPROTO_UDPLITE (136)
 *  12 u32 reserved 0
 *  16 u8[16] saddr local address (IPv4 in the first 4 bytes), network order; all zero for a
 *                  UDP socket bound to no address (wildcard: the source is chosen per route)
 *  32 u8[16] daddr remote address, network order (UDP: the first datagram's destination)
 *  48 char[16] comm   task comm of the connecting or sending thread, NUL padded */
struct pidflow_sock_event {
  unsigned int tgid;
  unsigned short family;
  unsigned short sport;
  unsigned short dport;
  unsigned short protocol;
  unsigned int reserved;
  unsigned char saddr[16];
  unsigned char daddr[16];
  char comm[16];
};

#endif
