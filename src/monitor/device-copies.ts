// "Each byte once per host": a packet the host sees on several captured devices (a container's
// veth, the bridge, the uplink; before and after NAT; forwarded) counts once. Input: the flow
// table's per-device flows once per batch; output: the untranslated flow and the counters not
// yet counted, for the attributor. The rule is documented in docs/accounting.md.

import type { NatTranslations } from '../attribute/nat.js';
import type { FlowCounters, FlowTuple } from '../attribute/types.js';
import type { FlowState } from './flow-table.js';

/**
 * One untranslated flow (one direction of one connection) and what each device saw of it.
 * Every copy of its packets counts toward its own device's sums; the flow's count is the
 * largest device's, field by field, so it does not depend on which copy arrives first.
 */
export interface DeviceCopy {
  /** The flow as the sockets see it (NAT undone); what the attributor gets. */
  readonly flow: FlowTuple;
  /** Device indexes seen so far, and per device cumulative packets, bytes, payload, wire bytes. */
  readonly devices: number[];
  readonly sums: number[];
  /** What was handed on so far: the per-field maxima over devices. */
  countedPackets: number;
  countedBytes: number;
  countedPayload: number;
  countedWire: number;
  lastSeenMs: number;
}

/** Counters of {@link DeviceCopies}, for stats(). */
export interface DeviceCopiesStats {
  /** Untranslated flows tracked right now. */
  readonly flows: number;
  /** Flows seen on more than one device. */
  readonly multiDeviceFlows: number;
  /** Packets and IP bytes of copies not counted again (seen on another device already). */
  readonly duplicatePackets: number;
  readonly duplicateBytes: number;
  /** Flows pushed out because the table was full (a copy of them may count twice after). */
  readonly evictedFlows: number;
}

/** Options of {@link DeviceCopies}. */
export interface DeviceCopiesOptions {
  /** NAT translations; undefined: copies are matched by their tuple alone. */
  nat: NatTranslations | undefined;
  /** Untranslated flows tracked at most. */
  limit: number;
  /**
   * Packets come from one interface only (one device captured, not `any`): no copies to merge,
   * only NAT to undo. @default false
   */
  isSingleInterface?: boolean;
  /** Receives each untranslated flow with the counters not counted before. */
  onFlow: (flow: FlowTuple, counters: FlowCounters) => void;
}

const FIELDS = 4;

/**
 * Merges the copies of each flow seen on several devices.
 * @example
 * const copies = new DeviceCopies({ nat, limit: 262144, onFlow: (f, c) => attributor.ingest(f, c) });
 * flowTable.drain((flow, counters) => copies.ingest(flow, counters), onOverflow);
 */
export class DeviceCopies {
  private readonly nat: NatTranslations | undefined;
  private readonly limit: number;
  private readonly isSingleInterface: boolean;
  private readonly onFlow: DeviceCopiesOptions['onFlow'];
  private readonly flows = new Map<string, DeviceCopy>();
  private readonly out: FlowCounters = {
    packets: 0,
    bytes: 0,
    payloadBytes: 0,
    wireBytes: 0,
    firstMs: 0,
    lastMs: 0,
    tcpFlags: 0,
  };
  private readonly counters = {
    multiDeviceFlows: 0,
    duplicatePackets: 0,
    duplicateBytes: 0,
    evictedFlows: 0,
  };

  constructor(options: DeviceCopiesOptions) {
    this.nat = options.nat;
    this.limit = options.limit;
    this.isSingleInterface = options.isSingleInterface ?? false;
    this.onFlow = options.onFlow;
  }

  /** Count one device's batch of one flow; hands on what no other device counted yet. */
  ingest(copy: FlowState, counters: FlowCounters): void {
    if (this.isSingleInterface) {
      // Nothing to merge: no table, no sums; the flow's view is kept on the flow itself.
      let flow = copy.attributed;
      if (flow === undefined) {
        flow = this.nat?.resolve(copy, false) ?? copy;
        copy.attributed = flow;
      }
      this.onFlow(flow, counters);
      return;
    }
    let merged = copy.copy;
    if (merged === undefined) {
      merged = this.find(copy);
      copy.copy = merged;
    }
    merged.lastSeenMs = counters.lastMs;
    let slot = merged.devices.indexOf(copy.device);
    if (slot < 0) {
      slot = merged.devices.length;
      merged.devices.push(copy.device);
      merged.sums.push(0, 0, 0, 0);
      if (slot === 1) this.counters.multiDeviceFlows++;
    }
    const sums = merged.sums;
    const s = slot * FIELDS;
    sums[s] = sums[s]! + counters.packets;
    sums[s + 1] = sums[s + 1]! + counters.bytes;
    sums[s + 2] = sums[s + 2]! + counters.payloadBytes;
    sums[s + 3] = sums[s + 3]! + counters.wireBytes;
    const packets = Math.max(0, sums[s]! - merged.countedPackets);
    const bytes = Math.max(0, sums[s + 1]! - merged.countedBytes);
    const payload = Math.max(0, sums[s + 2]! - merged.countedPayload);
    const wire = Math.max(0, sums[s + 3]! - merged.countedWire);
    this.counters.duplicatePackets += counters.packets - packets;
    this.counters.duplicateBytes += counters.bytes - bytes;
    if (packets === 0 && bytes === 0) return;
    merged.countedPackets += packets;
    merged.countedBytes += bytes;
    merged.countedPayload += payload;
    merged.countedWire += wire;
    const out = this.out;
    out.packets = packets;
    out.bytes = bytes;
    out.payloadBytes = payload;
    out.wireBytes = wire;
    out.firstMs = counters.firstMs;
    out.lastMs = counters.lastMs;
    out.tcpFlags = counters.tcpFlags;
    this.onFlow(merged.flow, out);
  }

  /** Forget flows idle since before `nowMs - idleMs` (capture clock, ms since the epoch). */
  sweep(nowMs: number, idleMs: number): number {
    let removed = 0;
    for (const [key, merged] of this.flows) {
      if (merged.lastSeenMs < nowMs - idleMs) {
        this.flows.delete(key);
        removed++;
      }
    }
    return removed;
  }

  stats(): DeviceCopiesStats {
    return { flows: this.flows.size, ...this.counters };
  }

  /** The untranslated flow of a copy seen for the first time (one NAT lookup per flow). */
  private find(copy: FlowState): DeviceCopy {
    const flow: FlowTuple = this.nat?.resolve(copy) ?? copy;
    let merged = this.flows.get(flow.key);
    if (merged !== undefined) return merged;
    if (this.flows.size >= this.limit) {
      const oldest = this.flows.keys().next();
      if (!oldest.done) {
        this.flows.delete(oldest.value);
        this.counters.evictedFlows++;
      }
    }
    merged = {
      flow,
      devices: [],
      sums: [],
      countedPackets: 0,
      countedBytes: 0,
      countedPayload: 0,
      countedWire: 0,
      lastSeenMs: 0,
    };
    if (this.limit > 0) this.flows.set(flow.key, merged);
    return merged;
  }
}
