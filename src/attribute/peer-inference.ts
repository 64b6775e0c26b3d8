// Inference of the attribution stage: which process recently talked from a local address to a
// peer (address and port), learned from flows whose sockets a scan found, answers for client
// sockets that opened and closed between two scans (connection churn).

import { PROTOCOL_TCP, PROTOCOL_UDP, PROTOCOL_UDPLITE } from './net-table.js';
import type { Attribution, FlowCounters, FlowTuple, Owner } from './types.js';

/** What inference needs to know about the current tables (the SocketIndex, the scanner). */
export interface InferenceTables {
  /** True when any socket (owned or not) matches this local end. */
  hasSocket(
    protocol: number,
    address: string,
    port: number,
    peerAddress: string,
    peerPort: number,
  ): boolean;
}

/** Options of {@link PeerInference}. */
export interface PeerInferenceOptions {
  /** Local endpoint + peer pairs remembered at most; 0 disables inference. */
  limit: number;
  /** How long a learned pair can be used, ms. */
  ttlMs: number;
  /** Local port range the kernel picks client ports from (ip_local_port_range). */
  ephemeralPorts: readonly [number, number];
  /** True while the process (by key) was alive at the last scan. */
  isAlive(processKey: string): boolean;
}

interface PeerOwner {
  owner: Owner;
  lastMs: number;
  /** Two processes talked from this local address to this peer: no inference. */
  isAmbiguous: boolean;
}

/**
 * Bounded table of local address + peer -> the one process that used it, and the rule that
 * fills unknown client-side ends from it.
 * @example
 * const peers = new PeerInference({ limit: 65536, ttlMs: 60000, ephemeralPorts, isAlive });
 * peers.learn(flow, attribution, now);
 * peers.infer(flow, counters, attribution, index, now);
 */
export class PeerInference {
  private readonly options: PeerInferenceOptions;
  private readonly peers = new Map<string, PeerOwner>();
  private inferredFlows = 0;
  private inferredPackets = 0;

  constructor(options: PeerInferenceOptions) {
    this.options = options;
  }

  /** Flows and packets given an owner by inference so far. */
  stats(): { readonly inferredFlows: number; readonly inferredPackets: number } {
    return { inferredFlows: this.inferredFlows, inferredPackets: this.inferredPackets };
  }

  /**
   * Remember which process talked from a local address to a peer (address and port), once
   * per flow when it is first attributed from sockets really found.
   */
  learn(flow: FlowTuple, attribution: Attribution, now: number): void {
    if (this.options.limit === 0) return;
    const p = flow.protocol;
    // Only client-side ends (ephemeral local port) can ever be inferred: learning server-side
    // pairs (one per client port) would only fill the table.
    if (attribution.sender !== undefined && this.isEphemeral(flow.srcPort)) {
      this.learnPeer(
        `${p}|${flow.srcAddress}|${flow.dstAddress}|${flow.dstPort}`,
        attribution.sender,
        now,
      );
    }
    const rv = flow.receiverView ?? flow; // the receiver's own tuple behind NAT
    if (attribution.receiver !== undefined && this.isEphemeral(rv.dstPort)) {
      this.learnPeer(
        `${p}|${rv.dstAddress}|${rv.srcAddress}|${rv.srcPort}`,
        attribution.receiver,
        now,
      );
    }
  }

  /**
   * Fill the local ends a scan never saw (sockets that opened and closed between two scans,
   * as in connection churn) with the one process that recently talked from the same local
   * address to the same peer address and port. Use only after the flow's retries.
   */
  infer(
    flow: FlowTuple,
    counters: FlowCounters,
    attribution: Attribution,
    tables: InferenceTables,
    now: number,
  ): Attribution {
    if (this.options.limit === 0) return attribution;
    const p = flow.protocol;
    if (p !== PROTOCOL_TCP && p !== PROTOCOL_UDP && p !== PROTOCOL_UDPLITE) return attribution;
    let { sender, receiver } = attribution;
    // Only an end whose socket is gone altogether (none in the tables, not even a listener)
    // and whose port is ephemeral: the client side of a short connection. A known socket
    // whose owner could not be read (EACCES) is never guessed.
    if (
      sender === undefined &&
      attribution.srcIsLocal &&
      this.isEphemeral(flow.srcPort) &&
      !tables.hasSocket(p, flow.srcAddress, flow.srcPort, flow.dstAddress, flow.dstPort)
    ) {
      sender = this.peerOwner(`${p}|${flow.srcAddress}|${flow.dstAddress}|${flow.dstPort}`, now);
    }
    const rv = flow.receiverView ?? flow; // the receiver's own tuple behind NAT
    if (
      receiver === undefined &&
      attribution.dstIsLocal &&
      this.isEphemeral(rv.dstPort) &&
      !tables.hasSocket(p, rv.dstAddress, rv.dstPort, rv.srcAddress, rv.srcPort)
    ) {
      receiver = this.peerOwner(`${p}|${rv.dstAddress}|${rv.srcAddress}|${rv.srcPort}`, now);
    }
    if (sender === attribution.sender && receiver === attribution.receiver) return attribution;
    this.inferredFlows++;
    this.inferredPackets += counters.packets;
    return { ...attribution, sender, receiver };
  }

  private learnPeer(key: string, owner: Owner, now: number): void {
    const known = this.peers.get(key);
    if (known !== undefined) {
      if (known.owner.process.key !== owner.process.key) {
        // Seen from two processes: an answer by inference could be wrong, so give none
        // until this pair has been quiet for ttlMs.
        known.isAmbiguous = known.isAmbiguous || now - known.lastMs <= this.options.ttlMs;
        if (now - known.lastMs > this.options.ttlMs) known.owner = owner;
      }
      known.lastMs = now;
      return;
    }
    if (this.peers.size >= this.options.limit) {
      const oldest = this.peers.keys().next();
      if (!oldest.done) this.peers.delete(oldest.value);
    }
    this.peers.set(key, { owner, lastMs: now, isAmbiguous: false });
  }

  private isEphemeral(port: number): boolean {
    const [low, high] = this.options.ephemeralPorts;
    return port >= low && port <= high;
  }

  private peerOwner(key: string, now: number): Owner | undefined {
    const known = this.peers.get(key);
    if (known === undefined || known.isAmbiguous || now - known.lastMs > this.options.ttlMs) {
      return undefined;
    }
    // Only a process still alive at the last scan: an exited one never inherits new traffic.
    if (!this.options.isAlive(known.owner.process.key)) return undefined;
    return known.owner;
  }
}
