// BPF iterator: every socket held in an fd table, with the process holding it. A task_file
// iterator (SEC("iter/task_file"), kernel/bpf/task_iter.c, Linux 5.8+) runs this program once
// per open file of every task, inside one read() of the iterator fd; threads that share their
// process's fd table are skipped by the kernel. For each file whose inode is a socket
// (S_IFSOCK) it writes one struct pidflow_socket_owner (socket_owners.h) with bpf_seq_write:
// what walking /proc/<pid>/fd and readlink()ing every entry gives, without a syscall per fd
// (on a host with 1,000 processes and 14,000 fds: about 1 ms in the kernel instead of 40 ms
// of getdents64 and readlink). Read by native/socket_owners.cc.
//
// The first call also writes a header record (fd = PIDFLOW_OWNER_HEADER_FD) with the reader's
// tgid as the kernel's initial pid namespace numbers it: task->tgid is that global number, so
// a reader in another pid namespace (where /proc shows other numbers) sees the mismatch with
// getpid() and does not use the iterator.
//
// Kernel structs declare only the fields read (kernel_types.h, shared with sock_events.bpf.c);
// libbpf relocates them against the running kernel's BTF at load time (no vmlinux.h).
// Build: clang -O2 -g -target bpf (native/bpf/build_bpf.py).
#include <linux/bpf.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel_types.h"
#include "socket_owners.h"

#define S_IFMT 0170000
#define S_IFSOCK 0140000

struct seq_file;

struct bpf_iter_meta {
  struct seq_file *seq;
  unsigned long long session_id;
  unsigned long long seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
  union {
    struct bpf_iter_meta *meta;
  };
  union {
    struct task_struct *task;
  };
  unsigned int fd;
  union {
    struct file *file;
  };
} __attribute__((preserve_access_index));

SEC("iter/task_file")
int socket_owners(struct bpf_iter__task_file *ctx) {
  struct seq_file *seq = ctx->meta->seq;
  struct file *file = ctx->file;
  struct task_struct *task = ctx->task;
  if (ctx->meta->seq_num == 0) {
    struct pidflow_socket_owner header = {
        .tgid = (__u32)(bpf_get_current_pid_tgid() >> 32),
        .fd = PIDFLOW_OWNER_HEADER_FD,
    };
    bpf_seq_write(seq, &header, sizeof(header));
  }
  if (file == 0 || task == 0) return 0;
  struct inode *inode = file->f_inode;
  if (inode == 0 || (inode->i_mode & S_IFMT) != S_IFSOCK) return 0;
  struct pidflow_socket_owner record = {
      .tgid = (__u32)task->tgid,
      .fd = ctx->fd,
      .inode = (__u32)inode->i_ino,
  };
  // A sockfs file's private_data is its struct socket (net/socket.c sock_alloc_file).
  struct socket *sock = file->private_data;
  struct sock *sk = 0;
  if (sock != 0) sk = BPF_CORE_READ(sock, sk);
  if (sk != 0) record.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
  bpf_seq_write(seq, &record, sizeof(record));
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
