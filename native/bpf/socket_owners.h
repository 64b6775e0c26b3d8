// One record of the socket-owners iterator (socket_owners.bpf.c), shared with the reader
// (native/socket_owners.cc) and mirrored by src/attribute/socket-owners-kernel.ts: 16 bytes,
// little-endian u32 fields.
#ifndef PIDFLOW_BPF_SOCKET_OWNERS_H_
#define PIDFLOW_BPF_SOCKET_OWNERS_H_

#define PIDFLOW_SOCKET_OWNER_VERSION 1
#define PIDFLOW_SOCKET_OWNER_SIZE 16
/** fd of the header record, which carries the reader's global tgid and nothing else. */
#define PIDFLOW_OWNER_HEADER_FD 0xffffffffu

struct pidflow_socket_owner {
  __u32 tgid;   // process holding the socket (kernel's global numbering)
  __u32 fd;     // fd number in that process
  __u32 inode;  // socket inode, as in /proc/net tables and sock_diag
  __u32 netns;  // network namespace inode of the socket (0 when it has no sock)
};

#endif
