// Types shared by the attribution stage and its consumers (account, monitor): who owns a
// packet's local socket, and the per-flow aggregate the monitor hands to the attributor.

/** Identity and description of one process, read from /proc/<pid>. */
export interface ProcessInfo {
  /** `${pid}:${startTime}`: a reused pid is a new process. */
  readonly key: string;
  readonly pid: number;
  readonly ppid: number;
  /** Short name from /proc/<pid>/comm. */
  readonly comm: string;
  /** Target of /proc/<pid>/exe, '' when unreadable. */
  readonly exe: string;
  /** Arguments from /proc/<pid>/cmdline. */
  readonly cmdline: readonly string[];
  readonly uid: number;
  /** User name from /etc/passwd, or the uid as text. */
  readonly user: string;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat). */
  readonly startTime: number;
  /** cgroup path (v2 unified line, or the v1 line that names a container). */
  readonly cgroup: string;
  /** Container id when the cgroup names one (docker, containerd, cri-o, podman, kubepods), else null. */
  readonly containerId: string | null;
  /** Container runtime name when containerId is set (`docker`, `containerd`, `crio`, `podman`, `kubepods`), else null. */
  readonly containerRuntime: string | null;
  /** Inode of the network namespace (/proc/<pid>/ns/net). */
  readonly netns: number;
  /**
   * Names of the container (set whenever containerId is): found on this host from the
   * runtime's and the kubelet's state files. Shared by all processes of the container.
   */
  readonly container?: ContainerInfo;
}

/** Container runtime: the one whose state named the container, else the one its cgroup names. */
export type ContainerRuntime = 'docker' | 'containerd' | 'crio' | 'podman' | 'kubepods';

/**
 * A container as its owners know it. Every string is data written by someone else (bounded in
 * length, never interpreted); '' means unknown. Found on the node itself: cgroup paths, the
 * runtime's state (docker's config.v2.json, OCI config.json annotations, containers/storage's
 * containers.json) and the kubelet's log layout. No API server, no runtime socket.
 */
export interface ContainerInfo {
  /** Full container id (64 hex digits). */
  readonly id: string;
  /** `kubepods` only when no runtime's state knew the id (kubelet's cgroupfs driver). */
  readonly runtime: ContainerRuntime;
  /** Container name (docker/podman `--name`; for a pod's container, see `pod.container`). */
  readonly name: string;
  /** Image as given when the container was created (`nginx:1.27`, `registry/app@sha256:...`). */
  readonly image: string;
  /** Docker Compose project and service (labels com.docker.compose.project / .service). */
  readonly composeProject: string;
  readonly composeService: string;
  /** Kubernetes pod of the container, null outside Kubernetes. */
  readonly pod: PodInfo | null;
}

/** Kubernetes identity of a container, from the node's own files. '' means unknown. */
export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Container name within the pod ('' for the pod's sandbox/pause container). */
  readonly container: string;
}

/** The process that owns one end of a flow, and the socket. */
export interface Owner {
  readonly process: ProcessInfo;
  readonly socketInode: number;
}

/** A flow as seen in one batch: the 5-tuple in packet order (source -> destination). */
export interface FlowTuple {
  /** Text key of this directional 5-tuple, built once per flow by the caller: use it for caches. */
  readonly key: string;
  readonly ipVersion: 4 | 6;
  /** IP protocol number (6 TCP, 17 UDP). */
  readonly protocol: number;
  /** Source address in text form (`198.18.0.1`, `fd42:6e66::1`; IPv4-mapped IPv6 shown as IPv4). */
  readonly srcAddress: string;
  readonly srcPort: number;
  readonly dstAddress: string;
  readonly dstPort: number;
  /**
   * Set when NAT changed the tuple between the two ends (src/attribute/nat.ts): the flow as
   * the receiver's socket sees it (its destination end is the receiver's local end). Then this
   * tuple's source end is the sender's socket, and `key` names both views.
   */
  readonly receiverView?: FlowTuple;
  /** OS interface index the flow was captured on, when known (the flow table sets it). */
  readonly device?: number;
}

/** Counters of one flow aggregated over one batch (or merged across batches while waiting). */
export interface FlowCounters {
  packets: number;
  /** IP-level bytes (IP header plus payload), as nethogs counts. */
  bytes: number;
  /** Transport payload bytes. */
  payloadBytes: number;
  /** Wire bytes (link header included). */
  wireBytes: number;
  /** Timestamp of the first and last packet, ms since the epoch (capture clock). */
  firstMs: number;
  lastMs: number;
  /** OR of the TCP flags of the flow's packets. */
  tcpFlags: number;
}

/**
 * Result of attributing a flow. `sender` owns the source endpoint (the packet was sent by it),
 * `receiver` owns the destination endpoint. Both are set when both ends are local (loopback, or
 * two namespaces on this host). `srcIsLocal`/`dstIsLocal` come from the host's addresses and
 * decide the direction of traffic that stays unknown.
 */
export interface Attribution {
  readonly sender: Owner | undefined;
  readonly receiver: Owner | undefined;
  readonly srcIsLocal: boolean;
  readonly dstIsLocal: boolean;
}
