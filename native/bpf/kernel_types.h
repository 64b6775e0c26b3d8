/* The kernel structs pidflow's BPF programs read, with only the fields they read, names as in
 * include/net/sock.h, include/linux/sched.h, include/linux/fs.h and include/uapi/linux/in6.h.
 * preserve_access_index: libbpf relocates every field access against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux) at load time, so no vmlinux.h is needed and field order and padding
 * here do not matter. libbpf finds fields inside the kernel's anonymous unions by name. Shared by
 * sock_events.bpf.c and socket_owners.bpf.c. */
#ifndef PIDFLOW_BPF_KERNEL_TYPES_H_
#define PIDFLOW_BPF_KERNEL_TYPES_H_

/* s6_addr is a macro for in6_u.u6_addr8 in the kernel: BTF knows only the union. */
struct in6_addr {
  union {
    unsigned char u6_addr8[16];
  } in6_u;
} __attribute__((preserve_access_index));

struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
  struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
  struct net *net;
} possible_net_t;

struct task_struct {
  int tgid;
  struct task_struct *group_leader;
  unsigned long long start_boottime; /* ns since boot */
} __attribute__((preserve_access_index));

struct sock_common {
  unsigned int skc_daddr;     /* __be32, remote IPv4 */
  unsigned int skc_rcv_saddr; /* __be32, local IPv4 */
  unsigned short skc_dport;   /* __be16, remote port */
  unsigned short skc_num;     /* local port, host order */
  unsigned short skc_family;
  unsigned char skc_state;
  possible_net_t skc_net;
  struct in6_addr skc_v6_daddr;
  struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
  struct sock_common __sk_common;
  unsigned short sk_protocol;
  unsigned short sk_type;
} __attribute__((preserve_access_index));

struct socket {
  struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
  unsigned short i_mode;
  unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
  struct inode *f_inode;
  void *private_data;
} __attribute__((preserve_access_index));

#endif
