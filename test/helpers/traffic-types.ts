// Messages between the traffic harness (traffic.ts) and its child workers (traffic-worker.ts):
// what a worker is asked to do and what it reports back as ground truth.

/** Common to every worker role. */
interface WorkerCommon {
  /** Bound on the traffic phase, ms. */
  durationMs: number;
  /** After reporting, stay alive until stdin closes, at most this long, ms. @default 0 */
  lingerMs?: number;
}

/** Accepts `connections` TCP connections; reads each to its end, replies `replyBytes`, closes. */
export interface TcpServerSpec extends WorkerCommon {
  role: 'tcp-server';
  address: string;
  /** 0 picks a free port (reported in the ready message). */
  port: number;
  connections: number;
  replyBytes: number;
  /** The first line each client sends is its pid (for shell clients that cannot report). */
  pidLine?: boolean;
}

/** Opens `connections` TCP connections (at most `concurrency` at once, at `ratePerSecond`). */
export interface TcpClientSpec extends WorkerCommon {
  role: 'tcp-client';
  address: string;
  port: number;
  connections: number;
  concurrency: number;
  /** 0: as fast as `concurrency` allows. */
  ratePerSecond: number;
  /** Payload bytes each connection sends before half-closing. */
  sendBytes: number;
  /**
   * Wait this long between connecting and the first write, ms: long-lived connections whose
   * sockets a periodic /proc scan can find, as opposed to churn. @default 0
   */
  holdMs?: number;
  /** Wait this long before the first connection, ms (at most 30 s). @default 0 */
  startDelayMs?: number;
}

/** Binds `ports` UDP sockets, counts datagrams, answers each with `replyBytes` (0: no answer). */
export interface UdpServerSpec extends WorkerCommon {
  role: 'udp-server';
  address: string;
  ports: number;
  replyBytes: number;
  /** Stop once this many datagrams arrived (0: run for durationMs). */
  datagrams: number;
  /**
   * connect() every socket to this peer (so the kernel delivers only its datagrams and the
   * socket shows the peer in /proc/net/udp, as nethogs needs). @default undefined: unconnected
   */
  connectTo?: { address: string; port: number };
}

/** Sends `datagrams` UDP datagrams of `payloadBytes`, round robin over sockets, then ports. */
export interface UdpClientSpec extends WorkerCommon {
  role: 'udp-client';
  address: string;
  ports: number[];
  /** Local address to bind (use the test host's own address so the report names it). */
  bindAddress?: string;
  /** Local port to bind (only with `sockets: 1`). @default 0: an ephemeral port */
  bindPort?: number;
  /** connect() the sockets (only with a single port), else sendto() each datagram. */
  connected: boolean;
  sockets: number;
  datagrams: number;
  payloadBytes: number;
  /** Datagrams per second; 0: as fast as the socket takes them. */
  ratePerSecond: number;
  /** Datagrams handed to the kernel before waiting for their callbacks. @default 64 */
  burst?: number;
  /** Wait this long between binding the sockets and the first datagram, ms. @default 0 */
  holdMs?: number;
  /** Time to wait for answers after the last send, ms. @default 200 */
  replyWaitMs?: number;
}

export type WorkerSpec = TcpServerSpec | TcpClientSpec | UdpServerSpec | UdpClientSpec;

/** One socket a worker used and what moved through it (transport payload only). */
export interface SocketReport {
  protocol: 'tcp' | 'udp';
  localAddress: string;
  localPort: number;
  /** null for an unconnected UDP socket (it talks to many peers). */
  remoteAddress: string | null;
  remotePort: number;
  sentPayloadBytes: number;
  receivedPayloadBytes: number;
  sentDatagrams: number;
  receivedDatagrams: number;
  /** Pid the peer announced with a pid line (TcpServerSpec.pidLine). */
  peerPid?: number;
}

/** The final message of a worker. */
export interface WorkerReport {
  type: 'report';
  pid: number;
  role: WorkerSpec['role'];
  elapsedMs: number;
  sockets: SocketReport[];
}
