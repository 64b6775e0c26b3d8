// Socket tables through sock_diag netlink (NETLINK_SOCK_DIAG, INET_DIAG): one netlink socket
// per network namespace (opened inside it on a short-lived thread), dumps into fixed records.
#ifndef PIDFLOW_SOCK_DIAG_H_
#define PIDFLOW_SOCK_DIAG_H_

#include <napi.h>

// One socket of a dump: 48 bytes, numbers little-endian, addresses in network
// order (IPv4 in the first 4 bytes). src/attribute/sock-diag.ts mirrors this layout.
#define PIDFLOW_SOCK_DIAG_VERSION 1
#define PIDFLOW_SOCK_DIAG_RECORD_SIZE 48
// Offsets: 0 u8 family (4 or 6), 1 u8 protocol, 2 u8 state, 3 u8 0, 4 u16 local port,
// 6 u16 remote port, 8 u32 uid, 12 u32 inode, 16 local address[16], 32 remote address[16].

namespace pidflow {

/** sockDiagOpen(nsPath | null) -> {fd, netns}: a NETLINK_SOCK_DIAG socket in that namespace. */
Napi::Value SockDiagOpen(const Napi::CallbackInfo& info);

/** sockDiagDump(fd, protocolMask, tcpStates, maxSockets) -> Promise<Buffer> of records. */
Napi::Value SockDiagDump(const Napi::CallbackInfo& info);

/** sockDiagClose(fd). */
Napi::Value SockDiagClose(const Napi::CallbackInfo& info);

}  // namespace pidflow

#endif
