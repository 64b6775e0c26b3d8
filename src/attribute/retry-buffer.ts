// Parking of the attribution stage: flows whose local socket no lookup found yet wait here
// (bounded) for a scan that starts after them, and leave with an answer or, after their
// retries, with what is known. What a lookup is and how an answer is reported is the caller's.

import type { FlowCounters, FlowTuple } from './types.js';

/** A flow waiting for a scan. */
export interface ParkedFlow {
  readonly flow: FlowTuple;
  /** Its own copy: the counters of every batch parked under its key, merged. */
  readonly counters: FlowCounters;
  /** Scan start number when parked: only scans that start later count against retryScans. */
  readonly parkedAtSeq: number;
  waitedScans: number;
}

/** What the buffer needs to know of a lookup's answer (the attributor's Lookup). */
export interface RetryOutcome {
  readonly isComplete: boolean;
  /** A TCP end has only a listener yet: the process that serves it has not read or written it. */
  readonly awaitsServer?: boolean | undefined;
  /** Not final only because an end may be in a namespace no scan has seen yet. */
  readonly awaitsScan?: boolean | undefined;
}

/** How parked flows are looked up again and reported (the attributor). */
export interface RetryResolver<R extends RetryOutcome> {
  /** Look the flow up; `isFinal`: its last chance (a listener may stand in for a connection). */
  lookup(flow: FlowTuple, isFinal: boolean): R;
  /** Report a flow that left the buffer with `result` (already removed and uncounted). */
  settle(parked: ParkedFlow, result: R): void;
}

/** Options of {@link RetryBuffer}. */
export interface RetryBufferOptions {
  /** Flows parked at most; 0 parks none. */
  limitFlows: number;
  /** Scans a parked flow waits for before it is reported with what is known. */
  retryScans: number;
  /**
   * Scans a flow waits at most for the process that serves its connection, while TCP
   * read/write events run (see {@link RetryBuffer.retryAfterScan}).
   */
  serverWaitScans: number;
}

/** Counters of {@link RetryBuffer.stats} (part of the `retry` block of the attributor's stats). */
export interface RetryBufferStats {
  readonly pendingFlows: number;
  readonly pendingPackets: number;
  readonly pendingBytes: number;
  readonly limitFlows: number;
  /** Flows that found the buffer full: reported at once with what was known. */
  readonly droppedFlows: number;
  readonly droppedPackets: number;
  /** Parked flows whose socket a later scan (or event) found. */
  readonly resolvedFlows: number;
  /** Parked flows reported with unknown ends after their scans. */
  readonly expiredFlows: number;
}

/**
 * Bounded map of parked flows by flow key, with the pending and drop counters, and the rule of
 * how many scans a flow waits.
 * @example
 * const buffer = new RetryBuffer({ limitFlows: 4096, retryScans: 2, serverWaitScans: 20 });
 * if (!buffer.merge(flow.key, counters) && !buffer.park(flow, counters, scheduler.scanStartSeq)) report(flow);
 * buffer.retryAfterScan(seq, resolver, tracksTcpIo);
 */
export class RetryBuffer {
  private readonly options: RetryBufferOptions;
  private readonly parked = new Map<string, ParkedFlow>();
  private pendingPackets = 0;
  private pendingBytes = 0;
  private droppedFlows = 0;
  private droppedPackets = 0;
  private resolvedFlows = 0;
  private expiredFlows = 0;

  constructor(options: RetryBufferOptions) {
    this.options = options;
  }

  /** Flows parked now. */
  get size(): number {
    return this.parked.size;
  }

  /** Merge `counters` into the flow parked under `key`, if there is one (true then). */
  merge(key: string, counters: FlowCounters): boolean {
    const parked = this.parked.get(key);
    if (parked === undefined) return false;
    mergeCounters(parked.counters, counters);
    this.pendingPackets += counters.packets;
    this.pendingBytes += counters.bytes;
    return true;
  }

  /**
   * Park a copy of the flow's counters, as of scan start `seq`. False when the buffer is full:
   * counted as dropped, and the caller reports the flow now with what is known.
   */
  park(flow: FlowTuple, counters: FlowCounters, seq: number): boolean {
    if (this.parked.size >= this.options.limitFlows) {
      this.droppedFlows++;
      this.droppedPackets += counters.packets;
      return false;
    }
    this.parked.set(flow.key, {
      flow,
      counters: { ...counters },
      parkedAtSeq: seq,
      waitedScans: 0,
    });
    this.pendingPackets += counters.packets;
    this.pendingBytes += counters.bytes;
    return true;
  }

  /**
   * After scan `seq`: look every parked flow up again. A complete answer settles it; a flow
   * that waited its retryScans (scans started after it was parked), or that waited only for a
   * scan newer than itself, gets a last lookup (`isFinal`) and is settled with it. While TCP
   * read/write events run (`tracksTcpIo`), a connection whose only known end is a listener
   * waits up to serverWaitScans for the process that serves it: a busy pre-fork worker may
   * leave a connection in the accept queue for seconds.
   */
  retryAfterScan<R extends RetryOutcome>(
    seq: number,
    resolver: RetryResolver<R>,
    tracksTcpIo: boolean,
  ): void {
    for (const [key, parked] of this.parked) {
      let result = resolver.lookup(parked.flow, false);
      if (!result.isComplete) {
        if (seq <= parked.parkedAtSeq) continue; // this scan began before the flow arrived
        parked.waitedScans++;
        // A flow that only waited for a scan newer than itself has had it.
        if (parked.waitedScans < this.options.retryScans && result.awaitsScan !== true) continue;
        if (
          result.awaitsServer === true &&
          tracksTcpIo &&
          parked.waitedScans < this.options.serverWaitScans
        ) {
          continue;
        }
        // Its last chance: a listener may stand in for the connection now.
        result = resolver.lookup(parked.flow, true);
        if (result.isComplete) this.resolvedFlows++;
        else this.expiredFlows++;
      } else {
        this.resolvedFlows++;
      }
      this.take(key, parked);
      resolver.settle(parked, result);
    }
  }

  /** Settle the flow parked under `key` now if a lookup completes it (an event named its owner). */
  retryNow<R extends RetryOutcome>(key: string, resolver: RetryResolver<R>): void {
    const parked = this.parked.get(key);
    if (parked === undefined) return;
    const result = resolver.lookup(parked.flow, false);
    if (!result.isComplete) return;
    this.resolvedFlows++;
    this.take(key, parked);
    resolver.settle(parked, result);
  }

  /** Settle every parked flow now with its last lookup (`isFinal`), complete or not. */
  flush<R extends RetryOutcome>(resolver: RetryResolver<R>): void {
    for (const [key, parked] of this.parked) {
      this.take(key, parked);
      const result = resolver.lookup(parked.flow, true);
      if (result.isComplete) this.resolvedFlows++;
      else this.expiredFlows++;
      resolver.settle(parked, result);
    }
  }

  stats(): RetryBufferStats {
    return {
      pendingFlows: this.parked.size,
      pendingPackets: this.pendingPackets,
      pendingBytes: this.pendingBytes,
      limitFlows: this.options.limitFlows,
      droppedFlows: this.droppedFlows,
      droppedPackets: this.droppedPackets,
      resolvedFlows: this.resolvedFlows,
      expiredFlows: this.expiredFlows,
    };
  }

  private take(key: string, parked: ParkedFlow): void {
    this.parked.delete(key);
    this.pendingPackets -= parked.counters.packets;
    this.pendingBytes -= parked.counters.bytes;
  }
}

function mergeCounters(into: FlowCounters, from: FlowCounters): void {
  into.packets += from.packets;
  into.bytes += from.bytes;
  into.payloadBytes += from.payloadBytes;
  into.wireBytes += from.wireBytes;
  into.firstMs = Math.min(into.firstMs, from.firstMs);
  into.lastMs = Math.max(into.lastMs, from.lastMs);
  into.tcpFlags |= from.tcpFlags;
}
