// The PacketSource contract between capture and everything downstream: batches of fixed-size
// records (layout in src/decode/record.ts) plus per-device counters. LiveSource and FileSource
// implement it over the addon; tests implement it with fakes in test/helpers/.

/** One batch of decoded packet records, valid only during the handler call that receives it. */
export interface RecordBatch {
  /** View over `count * RECORD_SIZE` bytes of records. Do not keep it after the call returns. */
  readonly view: DataView;
  /** Number of records in the batch. */
  readonly count: number;
}

/** Counters for one capture device (or one pcap file). All counters are totals since open. */
export interface DeviceStats {
  /** Device name as given to libpcap (`eth0`, `any`, or the file path for a replay). */
  readonly device: string;
  /** libpcap link type (DLT_*) of the handle. */
  readonly linkType: number;
  /** Packets the kernel handed to libpcap (pcap_stats ps_recv; on `lo` each packet counts twice). */
  readonly kernelReceivedPackets: number;
  /** Packets the kernel dropped because the buffer was full (pcap_stats ps_drop). */
  readonly kernelDroppedPackets: number;
  /** Packets dropped by the interface or driver (pcap_stats ps_ifdrop). */
  readonly interfaceDroppedPackets: number;
  /** Packets read by the capture thread. */
  readonly capturedPackets: number;
  /** Wire bytes (original length) of the packets read by the capture thread. */
  readonly capturedBytes: number;
  /** IP records handed to JavaScript. */
  readonly deliveredPackets: number;
  /** IP records dropped because the in-flight limit (queueLimit) was reached. */
  readonly queueDroppedPackets: number;
  /** Packets that were not IPv4/IPv6 (ARP, LLDP...): counted, not delivered. */
  readonly nonIpPackets: number;
  /** Malformed packets: counted, not delivered. */
  readonly malformedPackets: number;
  /** Malformed packets by kind (e.g. `truncatedLink`, `badIpHeaderLength`, `truncatedIp`...). */
  readonly malformedByKind: Readonly<Record<string, number>>;
}

/** State of the optional pcap file writer. */
export interface PcapWriterStats {
  readonly path: string;
  readonly writtenPackets: number;
  readonly writtenBytes: number;
  /** Number of files written so far (rotation by size creates more). */
  readonly files: number;
  /** Old files deleted to keep at most `maxFiles` (a file already gone is not counted). */
  readonly removedFiles: number;
  /** Old files that could not be deleted; `removeError` says why for the last one. */
  readonly removeFailures: number;
  /** Set when writing stopped because of an error; the capture goes on. */
  readonly error: string | undefined;
  /** Why the last old file could not be deleted; writing goes on. */
  readonly removeError: string | undefined;
}

/** Totals over all devices of one source. */
export interface CaptureStats {
  readonly devices: readonly DeviceStats[];
  readonly pcap: PcapWriterStats | undefined;
}

/** Why a source ended. */
export interface SourceEnd {
  readonly reason: 'stopped' | 'end-of-file' | 'error';
  readonly error?: Error;
}

/** A producer of record batches: a live capture or a pcap file replay. */
export interface PacketSource {
  readonly kind: 'live' | 'file';
  /** Devices in handle order: `deviceIndex` in a record indexes this list. */
  readonly devices: readonly string[];
  /**
   * Set the one consumer of batches. Batches are delivered on the event loop; the handler
   * must finish with the batch before it returns (the buffer is reused).
   */
  setBatchHandler(handler: (batch: RecordBatch) => void): void;
  /** Start delivering batches (capture threads run from open, but deliver only after start). */
  start(): void;
  stats(): CaptureStats;
  /** Stop the threads, flush the last batch and the pcap file. A second call is harmless. */
  stop(): Promise<void>;
  /** Resolves once the source has ended, with the reason (never rejects). */
  readonly done: Promise<SourceEnd>;
}
