// The monitor's capture-to-accounting pipeline: each batch of packet records through the flow
// table (per-flow sums), the device copies (each packet once per host, NAT undone) and the
// attributor, to the accountant; counts what it saw on the way.

import type { Accountant } from '../account/accountant.js';
import { protocolName } from '../attribute/flow-key.js';
import type { NatTranslations } from '../attribute/nat.js';
import type { Attribution, FlowCounters, FlowTuple } from '../attribute/types.js';
import type { RecordBatch } from '../capture/packet-source.js';
import type { Clock } from '../clock.js';
import { DeviceCopies } from './device-copies.js';
import type { DeviceCopiesStats } from './device-copies.js';
import { FlowTable } from './flow-table.js';
import type { FlowState, FlowTableStats } from './flow-table.js';
import type { PipelineTotals } from './monitor-stats.js';

/** Flows idle this long leave the flow table (the attributor keeps its own, longer memory). */
const FLOW_IDLE_MS = 120_000;
/** Closed TCP flows (FIN or RST seen) leave the flow table after this much quiet. */
const CLOSED_FLOW_IDLE_MS = 10_000;
/** Untranslated flows whose device copies are merged stay this long after their last packet. */
const COPY_IDLE_MS = 180_000;
/** Live flows tracked at most in the flow table (and untranslated flows in the device copies). */
const MAX_FLOWS = 262_144;

/** Options of {@link AccountingPipeline}. */
export interface AccountingPipelineOptions {
  clock: Clock;
  /** IP protocol numbers the flow table keeps (others are counted as other protocols). */
  protocols: readonly number[];
  /** Capture devices: one real interface needs no merging of copies. */
  devices: readonly string[];
  nat: NatTranslations | undefined;
  /** Where distinct flows go to be attributed; the attributor answers through {@link AccountingPipeline.onResolved}. */
  attributor: { ingest(flow: FlowTuple, counters: FlowCounters): void };
  accountant: Accountant;
}

/**
 * Batches in, accountant calls out.
 * @example
 * const pipeline = new AccountingPipeline({ clock, protocols: [6, 17], devices, nat, attributor, accountant });
 * source.setBatchHandler((batch) => pipeline.ingestBatch(batch));
 */
export class AccountingPipeline {
  private readonly clock: Clock;
  private readonly flows: FlowTable;
  private readonly copies: DeviceCopies;
  private readonly attributor: AccountingPipelineOptions['attributor'];
  private readonly accountant: Accountant;
  private readonly counted: PipelineTotals = {
    seenPackets: 0,
    seenBytes: 0,
    attributedPackets: 0,
    attributedBytes: 0,
    unknownPackets: 0,
    unknownBytes: 0,
  };

  constructor(options: AccountingPipelineOptions) {
    this.clock = options.clock;
    this.attributor = options.attributor;
    this.accountant = options.accountant;
    this.flows = new FlowTable({ maxFlows: MAX_FLOWS, protocols: options.protocols });
    this.copies = new DeviceCopies({
      nat: options.nat,
      limit: MAX_FLOWS,
      // `any` sees every interface: its copies are merged like those of several devices.
      isSingleInterface: options.devices.length === 1 && options.devices[0] !== 'any',
      onFlow: this.onDistinctFlow,
    });
  }

  /** Packets and bytes counted so far. */
  get totals(): Readonly<PipelineTotals> {
    return this.counted;
  }

  /** One batch of the packet source. */
  ingestBatch(batch: RecordBatch): void {
    this.flows.ingest(batch.view, batch.count);
    this.flows.drain(this.onFlow, this.onOverflow);
  }

  /** Forget idle and closed flows (call every few seconds). */
  sweep(): void {
    this.flows.sweep(this.clock.now(), FLOW_IDLE_MS, CLOSED_FLOW_IDLE_MS);
    this.copies.sweep(this.clock.now(), COPY_IDLE_MS);
  }

  flowStats(): FlowTableStats {
    return this.flows.stats();
  }

  copyStats(): DeviceCopiesStats {
    return this.copies.stats();
  }

  /** Called by the attributor, at once or after retries, for every flow it was given. */
  readonly onResolved = (
    flow: FlowTuple,
    counters: FlowCounters,
    attribution: Attribution,
  ): void => {
    const { sender, receiver } = attribution;
    if (sender !== undefined) this.accountant.addSent(sender.process, flow, counters);
    // Behind NAT the receiver's connection is the tuple its own socket sees.
    if (receiver !== undefined)
      this.accountant.addReceived(receiver.process, flow.receiverView ?? flow, counters);
    if (sender !== undefined || receiver !== undefined) {
      this.counted.attributedPackets += counters.packets;
      this.counted.attributedBytes += counters.bytes;
      return;
    }
    this.counted.unknownPackets += counters.packets;
    this.counted.unknownBytes += counters.bytes;
    const protocol = protocolName(flow.protocol);
    if (attribution.srcIsLocal)
      this.accountant.addUnknown(protocol, flow.srcPort, 'sent', counters);
    else
      this.accountant.addUnknown(
        protocol,
        attribution.dstIsLocal ? (flow.receiverView ?? flow).dstPort : 0,
        'received',
        counters,
      );
  };

  private readonly onFlow = (flow: FlowState, counters: FlowCounters): void => {
    this.copies.ingest(flow, counters);
  };

  /** A flow's packets not seen on another device before: counted, then attributed. */
  private readonly onDistinctFlow = (flow: FlowTuple, counters: FlowCounters): void => {
    this.counted.seenPackets += counters.packets;
    this.counted.seenBytes += counters.bytes;
    this.attributor.ingest(flow, counters);
  };

  private readonly onOverflow = (counters: FlowCounters): void => {
    this.counted.seenPackets += counters.packets;
    this.counted.seenBytes += counters.bytes;
    this.counted.unknownPackets += counters.packets;
    this.counted.unknownBytes += counters.bytes;
    this.accountant.addUnknown('other', 0, 'received', counters);
  };
}
