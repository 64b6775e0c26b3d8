// Per-process, per-connection, per-remote, per-container and unknown traffic accounting. The
// monitor feeds it once per flow per batch (after attribution); snapshots and rank() read it.
// Semantics (windows, rates, EWMA, bounds, exited folding) are documented in docs/accounting.md.

import { flowKey, protocolName } from '../attribute/flow-key.js';
import { placeholderProcess } from '../attribute/process-info.js';
import type { ContainerInfo, FlowCounters, FlowTuple, ProcessInfo } from '../attribute/types.js';
import type { Clock } from '../clock.js';
import { UsageError } from '../errors.js';
import { checkInteger, checkOneOf, checkOptionKeys, checkPositive } from './check-options.js';
import { FlowIndex } from './flow-index.js';
import { LANES, RingTable, type Direction } from './ring-table.js';
import type {
  AccountantOptions,
  AccountantStats,
  ConnectionEntry,
  ContainerEntry,
  GroupBy,
  ProcessEntry,
  RankEntry,
  RankOptions,
  RemoteEntry,
  SortBy,
  TrafficCounters,
  TrafficEntry,
  UnknownEntry,
} from './types.js';

/** Key of the synthetic process that holds exited processes after their retention. */
export const EXITED_PROCESS_KEY = 'exited';
/** Key of the synthetic process that holds processes evicted because the table was full. */
export const EVICTED_PROCESS_KEY = 'evicted';

// When a table is full, evict this fraction of it (at least one entry) in one pass, so the
// O(n log n) victim search runs once per n/64 insertions instead of on every one.
const EVICT_FRACTION = 64;
const EPOCH_OFFSET_SECONDS = 1 << 20;

const ACCOUNTANT_OPTION_KEYS = [
  'clock',
  'ringSeconds',
  'exitedRetentionMs',
  'maxProcesses',
  'maxConnections',
  'maxRemotes',
  'maxContainers',
  'maxUnknown',
  'ewmaHalfLifeSeconds',
] as const;
const RANK_OPTION_KEYS = ['limit', 'windowSeconds', 'sortBy', 'groupBy'] as const;
const SORT_BY: readonly SortBy[] = ['total', 'sent', 'received'];
const GROUP_BY: readonly GroupBy[] = ['process', 'connection', 'remote', 'container'];

/** Sum of the processes and unknown traffic and of unknown traffic alone. */
const GRAND_ALL = 0;
const GRAND_UNKNOWN = 1;

/** A snapshot's accounting part: everything but timing, devices and stats. */
export interface SnapshotParts {
  /** Sum over all processes (exited and evicted aggregates included) and unknown traffic. */
  readonly totals: TrafficEntry;
  /** Every tracked process and the aggregates, by window bytes descending. */
  readonly processes: ProcessEntry[];
  /** Unknown traffic by (protocol, local port), by window bytes descending. */
  readonly unknown: UnknownEntry[];
  /** Sum of all unknown traffic (evicted unknown groups included). */
  readonly unknownTotals: TrafficEntry;
}

/**
 * Counts traffic per process, connection, remote host, container and unknown (protocol, port).
 *
 * Invariant: the totals of every process entry (the `exited` and `evicted` aggregates included)
 * plus the unknown totals equal everything ever added, in every counter and in every window.
 *
 * @example
 * const accountant = new Accountant({ clock: systemClock, ringSeconds: 15 });
 * accountant.addSent(processInfo, flow, flowCounters);
 * accountant.rank({ groupBy: 'remote', limit: 5 });
 */
export class Accountant {
  /** Seconds of history per entry. */
  readonly ringSeconds: number;
  readonly exitedRetentionMs: number;
  private readonly clock: Clock;
  private readonly startMs: number;
  private readonly epochSec: number;
  private lastSec = 0;
  private readonly maxProcesses: number;

  private readonly processes: RingTable;
  private readonly processSlots = new Map<string, number>();
  private readonly processInfo: (ProcessInfo | undefined)[] = [];
  /** The freshest info of a live process by key (the attributor's last scan), if set. */
  private processInfoSource: ((key: string) => ProcessInfo | undefined) | undefined;
  /** ms when the process was first seen missing from /proc; NaN while alive. */
  private readonly processExitedAtMs: number[] = [];
  private readonly processConnHead: number[] = [];
  private readonly processConnCount: number[] = [];
  private readonly processContainer: number[] = [];
  private exitedSlot = -1;
  private evictedSlot = -1;

  private readonly conns: RingTable;
  /**
   * Connections by a flow they sent on (its source is their local end), index 0, and by a flow
   * they received on, index 1. A connection is filed under the flow it was first seen on and,
   * once it shows up, under the reverse flow too; an entry's tuple is read back from
   * connectionFlow / connectionReverse (see connectionTuple), so no connection builds a key.
   */
  private readonly connByFlow: readonly [FlowIndex, FlowIndex];
  /** Per connection: the flow it was first seen on, and from which end (0: its source is local). */
  private readonly connectionFlow: (FlowTuple | undefined)[] = [];
  /** Per connection: the flow of the other direction, once seen. */
  private readonly connectionReverse: (FlowTuple | undefined)[] = [];
  private connectionDir = new Uint8Array(0);
  private connectionProcess = new Int32Array(0);
  private connectionRemote = new Int32Array(0);
  private connectionNext = new Int32Array(0);
  private connectionPrev = new Int32Array(0);

  private readonly remotes: RingTable;
  private readonly remoteSlots = new Map<string, number>();

  private readonly containers: RingTable;
  private readonly containerSlots = new Map<string, number>();
  private readonly containerRuntime: (string | null)[] = [];
  /** Names per container slot (the resolver's shared object). */
  private readonly containerInfo: (ContainerInfo | undefined)[] = [];

  private readonly unknown: RingTable;
  private readonly unknownSlots = new Map<string, Map<number, number>>();
  private readonly unknownProtocol: string[] = [];
  private readonly unknownPort: number[] = [];

  private readonly grand: RingTable;
  private readonly evicted = {
    processes: 0,
    connections: 0,
    remotes: 0,
    containers: 0,
    unknown: 0,
  };
  private readonly lanes = new Float64Array(LANES);

  constructor(options: AccountantOptions & { clock: Clock }) {
    checkOptionKeys(options, ACCOUNTANT_OPTION_KEYS, 'Accountant');
    if (options.clock === undefined || typeof options.clock.now !== 'function') {
      throw new UsageError('Accountant needs a clock option: pass systemClock or a FakeClock');
    }
    const max = Number.MAX_SAFE_INTEGER;
    this.clock = options.clock;
    this.ringSeconds = checkInteger('ringSeconds', options.ringSeconds ?? 15, 1, 3600);
    this.exitedRetentionMs = checkInteger(
      'exitedRetentionMs',
      options.exitedRetentionMs ?? 60_000,
      0,
      max,
    );
    this.maxProcesses = checkInteger('maxProcesses', options.maxProcesses ?? 10_000, 1, max);
    const maxConnections = checkInteger(
      'maxConnections',
      options.maxConnections ?? 100_000,
      1,
      max,
    );
    const maxRemotes = checkInteger('maxRemotes', options.maxRemotes ?? 10_000, 1, max);
    const maxContainers = checkInteger('maxContainers', options.maxContainers ?? 1_000, 1, max);
    const maxUnknown = checkInteger('maxUnknown', options.maxUnknown ?? 1_024, 1, max);
    const ewmaHalfLifeSeconds = checkPositive(
      'ewmaHalfLifeSeconds',
      options.ewmaHalfLifeSeconds ?? 5,
    );

    const table = (maxEntries: number, isCompact = false): RingTable =>
      new RingTable({ maxEntries, ringSeconds: this.ringSeconds, ewmaHalfLifeSeconds, isCompact });
    // Two extra slots for the exited and evicted aggregates, which are never evicted.
    this.processes = table(this.maxProcesses + 2);
    this.conns = table(maxConnections, true);
    this.connByFlow = [
      new FlowIndex(maxConnections, (cs) => this.connectionTuple(cs, 0)),
      new FlowIndex(maxConnections, (cs) => this.connectionTuple(cs, 1)),
    ];
    this.remotes = table(maxRemotes);
    this.containers = table(maxContainers);
    this.unknown = table(maxUnknown);
    this.grand = table(2);
    this.startMs = this.clock.now();
    // Second 2^20 of the accountant's own timeline is the creation second, so windows and
    // histories that reach before it never index with negative seconds.
    this.epochSec = Math.floor(this.startMs / 1000) - EPOCH_OFFSET_SECONDS;
    this.lastSec = EPOCH_OFFSET_SECONDS;
    this.grand.alloc('total', this.lastSec);
    this.grand.alloc('unknown', this.lastSec);
  }

  /** Count bytes `process` sent on `flow` (one flow, one batch): its connection is local = source. */
  addSent(process: ProcessInfo, flow: FlowTuple, counters: FlowCounters): void {
    this.addFlow(process, flow, counters, 0);
  }

  /** Count bytes `process` received on `flow` (one flow, one batch): local = destination. */
  addReceived(process: ProcessInfo, flow: FlowTuple, counters: FlowCounters): void {
    this.addFlow(process, flow, counters, 1);
  }

  /** Count traffic no socket was found for, grouped by protocol and local port (0 if none). */
  addUnknown(
    protocol: string,
    localPort: number,
    direction: 'sent' | 'received',
    counters: FlowCounters,
  ): void {
    const sec = this.currentSecond();
    const dir: Direction = direction === 'sent' ? 0 : 1;
    let byPort = this.unknownSlots.get(protocol);
    if (byPort === undefined) {
      byPort = new Map();
      this.unknownSlots.set(protocol, byPort);
    }
    let slot = byPort.get(localPort);
    if (slot === undefined) {
      if (this.unknown.isFull) this.evictUnknown();
      // A string per new group only (bounded by maxUnknown), never per call.
      slot = this.unknown.alloc(`${protocol}:${localPort}`, sec);
      byPort.set(localPort, slot);
      this.unknownProtocol[slot] = protocol;
      this.unknownPort[slot] = localPort;
    }
    const { bytes, packets, payloadBytes } = counters;
    this.unknown.add(slot, sec, dir, bytes, packets, payloadBytes);
    this.grand.add(GRAND_UNKNOWN, sec, dir, bytes, packets, payloadBytes);
    this.grand.add(GRAND_ALL, sec, dir, bytes, packets, payloadBytes);
  }

  /**
   * Where snapshots read the freshest info of a live process (by `${pid}:${startTime}` key):
   * flows remember the info of their first lookup, so a command line the process rewrote
   * since (setproctitle) would otherwise never show. Exited processes keep their last info.
   */
  useProcessInfoSource(source: (key: string) => ProcessInfo | undefined): void {
    this.processInfoSource = source;
  }

  /**
   * Tell the accountant which process keys a fresh /proc scan found. Processes not in `alive`
   * are marked exited now; after `exitedRetentionMs` they fold into the `exited` aggregate.
   */
  markAlive(alive: ReadonlySet<string>): void {
    const nowMs = this.clock.now();
    for (const [key, slot] of this.processSlots) {
      if (alive.has(key)) this.processExitedAtMs[slot] = NaN;
      else if (Number.isNaN(this.processExitedAtMs[slot])) this.processExitedAtMs[slot] = nowMs;
    }
    this.foldExited(nowMs);
  }

  /** Totals, processes and unknown traffic over the last `windowSeconds` complete seconds (0 = since start). */
  snapshotParts(windowSeconds: number = this.ringSeconds): SnapshotParts {
    const w = this.checkWindow(windowSeconds);
    this.foldExited(this.clock.now());
    const sec = this.currentSecond();
    const processes: ProcessEntry[] = [];
    for (const slot of this.processSlotList()) processes.push(this.processEntry(slot, sec, w));
    sortEntries(processes, 'total');
    const unknown: UnknownEntry[] = [];
    for (let slot = 0; slot < this.unknown.keys.length; slot++) {
      if (!this.unknown.isLive(slot)) continue;
      unknown.push({
        ...this.trafficEntry(this.unknown, slot, sec, w),
        kind: 'unknown',
        protocol: this.unknownProtocol[slot]!,
        localPort: this.unknownPort[slot]!,
      });
    }
    sortEntries(unknown, 'total');
    return {
      totals: this.trafficEntry(this.grand, GRAND_ALL, sec, w),
      processes,
      unknown,
      unknownTotals: this.trafficEntry(this.grand, GRAND_UNKNOWN, sec, w),
    };
  }

  /**
   * Entries ranked by window bytes, descending; ties broken by window bytes of both directions,
   * then total bytes since first seen, then key. Throws UsageError on a bad option.
   */
  rank(options: RankOptions = {}): RankEntry[] {
    checkOptionKeys(options, RANK_OPTION_KEYS, 'rank()');
    const limit = checkInteger('limit', options.limit ?? 10, 1, Number.MAX_SAFE_INTEGER);
    const w = this.checkWindow(options.windowSeconds ?? this.ringSeconds);
    const sortBy = checkOneOf('sortBy', options.sortBy ?? 'total', SORT_BY);
    const groupBy = checkOneOf('groupBy', options.groupBy ?? 'process', GROUP_BY);
    this.foldExited(this.clock.now());
    const sec = this.currentSecond();
    const table = this.tableOf(groupBy);
    const slots = groupBy === 'process' ? this.processSlotList() : liveSlots(table);
    const top = this.topSlots(table, slots, sec, w, sortBy, limit);
    switch (groupBy) {
      case 'process':
        return top.map((slot) => this.processEntry(slot, sec, w));
      case 'connection':
        return top.map((slot) => this.connectionEntry(slot, sec, w));
      case 'remote': {
        const counts = this.processCountsByRemote();
        return top.map((slot): RemoteEntry => ({
          ...this.trafficEntry(this.remotes, slot, sec, w),
          kind: 'remote',
          remoteAddress: this.remotes.keys[slot]!,
          processCount: counts.get(slot) ?? 0,
        }));
      }
      case 'container': {
        const counts = this.processCountsByContainer();
        return top.map((slot): ContainerEntry => ({
          ...this.trafficEntry(this.containers, slot, sec, w),
          kind: 'container',
          containerId: this.containers.keys[slot]!,
          containerRuntime: this.containerRuntime[slot] ?? null,
          ...containerField(this.containerInfo[slot]),
          processCount: counts.get(this.containers.keys[slot]!) ?? 0,
        }));
      }
    }
  }

  /** The tracked connections of one process, by window bytes descending; [] for an unknown key. */
  connections(processKey: string, windowSeconds: number = this.ringSeconds): ConnectionEntry[] {
    const w = this.checkWindow(windowSeconds);
    const ps = this.processSlots.get(processKey);
    if (ps === undefined) return [];
    const sec = this.currentSecond();
    const slots: number[] = [];
    for (let cs = this.processConnHead[ps]!; cs >= 0; cs = this.connectionNext[cs]!) slots.push(cs);
    return this.topSlots(this.conns, slots, sec, w, 'total', slots.length).map((cs) =>
      this.connectionEntry(cs, sec, w),
    );
  }

  /** Entries tracked now and entries evicted since start, per kind. */
  stats(): AccountantStats {
    return {
      processes: this.processes.size,
      connections: this.conns.size,
      remotes: this.remotes.size,
      containers: this.containers.size,
      unknown: this.unknown.size,
      evicted: { ...this.evicted },
    };
  }

  private addFlow(p: ProcessInfo, flow: FlowTuple, c: FlowCounters, dir: Direction): void {
    const sec = this.currentSecond();
    let cs = this.findConnection(flow, dir);
    let ps = -1;
    if (cs !== undefined) {
      ps = this.connectionProcess[cs]!;
      // Same 5-tuple, new owner (port reused by another process): a new connection.
      if (this.processes.keys[ps] !== p.key) {
        this.dropConnection(cs);
        cs = undefined;
      }
    }
    if (cs === undefined) {
      ps = this.processSlot(p, sec);
      cs = this.newConnection(flow, dir, ps, sec);
    }
    this.processInfo[ps] = p;
    const remoteAddress = dir === 0 ? flow.dstAddress : flow.srcAddress;
    let rs = this.connectionRemote[cs]!;
    if (rs < 0 || this.remotes.keys[rs] !== remoteAddress) {
      rs = this.remoteSlot(remoteAddress, sec);
      this.connectionRemote[cs] = rs;
    }
    const containerId = p.containerId ?? '';
    let ks = this.processContainer[ps]!;
    if (ks < 0 || this.containers.keys[ks] !== containerId) {
      ks = this.containerSlot(containerId, p.containerRuntime, p.container, sec);
      this.processContainer[ps] = ks;
    }
    const { bytes, packets, payloadBytes } = c;
    this.processes.add(ps, sec, dir, bytes, packets, payloadBytes);
    this.conns.add(cs, sec, dir, bytes, packets, payloadBytes);
    this.remotes.add(rs, sec, dir, bytes, packets, payloadBytes);
    this.containers.add(ks, sec, dir, bytes, packets, payloadBytes);
    this.grand.add(GRAND_ALL, sec, dir, bytes, packets, payloadBytes);
  }

  /**
   * Whole seconds of the clock since the accountant's epoch (the second it was created), never
   * going backwards: a clock step back adds to the latest second. Small integers keep ring
   * indexing in int32 arithmetic. Clamped to int32: about 68 years of uptime.
   */
  private currentSecond(): number {
    const sec = Math.floor(this.clock.now() / 1000) - this.epochSec;
    if (sec > this.lastSec) this.lastSec = Math.min(sec, 0x7fffffff);
    return this.lastSec;
  }

  private checkWindow(windowSeconds: unknown): number {
    if (
      typeof windowSeconds !== 'number' ||
      !Number.isInteger(windowSeconds) ||
      windowSeconds < 0 ||
      windowSeconds > this.ringSeconds
    ) {
      throw new UsageError(
        `windowSeconds must be an integer 1..${this.ringSeconds} (ringSeconds), or 0 for totals since start, got ${String(windowSeconds)}`,
      );
    }
    return windowSeconds;
  }

  private processSlot(p: ProcessInfo, sec: number): number {
    const existing = this.processSlots.get(p.key);
    if (existing !== undefined) return existing;
    if (this.processSlots.size >= this.maxProcesses) this.evictProcesses(sec);
    const slot = this.processes.alloc(p.key, sec);
    this.processSlots.set(p.key, slot);
    this.initProcess(slot, p);
    return slot;
  }

  private initProcess(slot: number, p: ProcessInfo): void {
    this.processInfo[slot] = p;
    this.processExitedAtMs[slot] = NaN;
    this.processConnHead[slot] = -1;
    this.processConnCount[slot] = 0;
    this.processContainer[slot] = -1;
  }

  private aggregateSlot(key: typeof EXITED_PROCESS_KEY | typeof EVICTED_PROCESS_KEY): number {
    const current = key === EXITED_PROCESS_KEY ? this.exitedSlot : this.evictedSlot;
    if (current >= 0) return current;
    const slot = this.processes.alloc(key, this.currentSecond());
    this.initProcess(slot, aggregateProcess(key));
    this.processExitedAtMs[slot] = this.startMs;
    if (key === EXITED_PROCESS_KEY) this.exitedSlot = slot;
    else this.evictedSlot = slot;
    return slot;
  }

  /**
   * The connection `flow` belongs to from end `dir`: filed under the flow itself, or under its
   * reverse (then filed under this flow too, so the next batch finds it at once).
   */
  private findConnection(flow: FlowTuple, dir: Direction): number | undefined {
    const own = this.connByFlow[dir];
    const cs = own.get(flow, false);
    if (cs >= 0) return cs;
    // Once per flow and end: the connection filed under the reverse flow, from the other end.
    const reverse = this.connByFlow[dir === 0 ? 1 : 0].get(flow, true);
    if (reverse < 0) return undefined;
    // Delete while connectionReverse still holds the tuple the entry was filed under.
    const previous = this.connectionReverse[reverse];
    if (previous !== undefined) own.delete(previous, false);
    this.connectionReverse[reverse] = flow;
    own.set(flow, false, reverse);
    return reverse;
  }

  /** The flow connection `cs` is filed under in connByFlow[index]. */
  private connectionTuple(cs: number, index: Direction): FlowTuple | undefined {
    return this.connectionDir[cs] === index ? this.connectionFlow[cs] : this.connectionReverse[cs];
  }

  private newConnection(flow: FlowTuple, dir: Direction, ps: number, sec: number): number {
    if (this.conns.isFull) {
      for (const victim of this.conns.leastRecentlyActive(evictCount(this.conns), never)) {
        this.dropConnection(victim);
        this.evicted.connections++;
      }
    }
    // The ring table's key is the flow's (its own string); entries show the canonical key.
    const cs = this.conns.alloc(flow.key, sec);
    if (this.connectionProcess.length < this.conns.capacity) this.growConnectionColumns();
    this.connectionFlow[cs] = flow;
    this.connectionReverse[cs] = undefined;
    this.connectionDir[cs] = dir;
    this.connByFlow[dir].set(flow, false, cs);
    this.connectionProcess[cs] = ps;
    this.connectionRemote[cs] = -1;
    // Push onto the process's intrusive list of connections.
    const head = this.processConnHead[ps]!;
    this.connectionPrev[cs] = -1;
    this.connectionNext[cs] = head;
    if (head >= 0) this.connectionPrev[head] = cs;
    this.processConnHead[ps] = cs;
    this.processConnCount[ps]!++;
    return cs;
  }

  /** The numeric per-connection columns follow the ring table's capacity. */
  private growConnectionColumns(): void {
    const n = this.conns.capacity;
    const grow = <T extends Uint8Array | Int32Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    this.connectionDir = grow(this.connectionDir, new Uint8Array(n));
    this.connectionProcess = grow(this.connectionProcess, new Int32Array(n));
    this.connectionRemote = grow(this.connectionRemote, new Int32Array(n));
    this.connectionNext = grow(this.connectionNext, new Int32Array(n));
    this.connectionPrev = grow(this.connectionPrev, new Int32Array(n));
  }

  private dropConnection(cs: number): void {
    const ps = this.connectionProcess[cs]!;
    const prev = this.connectionPrev[cs]!;
    const next = this.connectionNext[cs]!;
    if (prev >= 0) this.connectionNext[prev] = next;
    else this.processConnHead[ps] = next;
    if (next >= 0) this.connectionPrev[next] = prev;
    this.processConnCount[ps]!--;
    const flow = this.connectionFlow[cs];
    const isSent = this.connectionDir[cs] === 0;
    if (flow !== undefined) this.connByFlow[isSent ? 0 : 1].delete(flow, false);
    const reverse = this.connectionReverse[cs];
    if (reverse !== undefined) this.connByFlow[isSent ? 1 : 0].delete(reverse, false);
    this.connectionFlow[cs] = undefined;
    this.connectionReverse[cs] = undefined;
    this.conns.free(cs);
  }

  private remoteSlot(address: string, sec: number): number {
    const existing = this.remoteSlots.get(address);
    if (existing !== undefined) return existing;
    if (this.remotes.isFull) {
      for (const victim of this.remotes.leastRecentlyActive(evictCount(this.remotes), never)) {
        this.remoteSlots.delete(this.remotes.keys[victim]!);
        this.remotes.free(victim);
        this.evicted.remotes++;
      }
    }
    const slot = this.remotes.alloc(address, sec);
    this.remoteSlots.set(address, slot);
    return slot;
  }

  private containerSlot(
    id: string,
    runtime: string | null,
    info: ContainerInfo | undefined,
    sec: number,
  ): number {
    const existing = this.containerSlots.get(id);
    if (existing !== undefined) return existing;
    if (this.containers.isFull) {
      for (const victim of this.containers.leastRecentlyActive(
        evictCount(this.containers),
        never,
      )) {
        this.containerSlots.delete(this.containers.keys[victim]!);
        this.containers.free(victim);
        this.evicted.containers++;
      }
    }
    const slot = this.containers.alloc(id, sec);
    this.containerSlots.set(id, slot);
    this.containerRuntime[slot] = runtime;
    this.containerInfo[slot] = info;
    return slot;
  }

  private evictUnknown(): void {
    for (const victim of this.unknown.leastRecentlyActive(evictCount(this.unknown), never)) {
      this.unknownSlots.get(this.unknownProtocol[victim]!)?.delete(this.unknownPort[victim]!);
      this.unknown.free(victim);
      this.evicted.unknown++;
    }
  }

  private evictProcesses(sec: number): void {
    const count = Math.max(1, Math.floor(this.maxProcesses / EVICT_FRACTION));
    const victims = this.processes.leastRecentlyActive(
      count,
      (slot) => slot === this.exitedSlot || slot === this.evictedSlot,
      (slot) => !Number.isNaN(this.processExitedAtMs[slot]),
    );
    const target = this.aggregateSlot(EVICTED_PROCESS_KEY);
    for (const victim of victims) {
      this.evicted.connections += this.processConnCount[victim]!;
      this.foldProcess(victim, target, sec);
      this.evicted.processes++;
    }
  }

  /** Fold processes whose exit is older than the retention into the `exited` aggregate. */
  private foldExited(nowMs: number): void {
    const due: number[] = [];
    for (const slot of this.processSlots.values()) {
      if (nowMs - this.processExitedAtMs[slot]! >= this.exitedRetentionMs) due.push(slot);
    }
    if (due.length === 0) return;
    const sec = this.currentSecond();
    const target = this.aggregateSlot(EXITED_PROCESS_KEY);
    for (const slot of due) this.foldProcess(slot, target, sec);
  }

  private foldProcess(slot: number, target: number, sec: number): void {
    while (this.processConnHead[slot]! >= 0) this.dropConnection(this.processConnHead[slot]!);
    this.processes.merge(slot, target, sec);
    this.processSlots.delete(this.processes.keys[slot]!);
    this.processInfo[slot] = undefined;
    this.processes.free(slot);
  }

  private processSlotList(): number[] {
    const slots = [...this.processSlots.values()];
    if (this.exitedSlot >= 0) slots.push(this.exitedSlot);
    if (this.evictedSlot >= 0) slots.push(this.evictedSlot);
    return slots;
  }

  private tableOf(groupBy: GroupBy): RingTable {
    switch (groupBy) {
      case 'process':
        return this.processes;
      case 'connection':
        return this.conns;
      case 'remote':
        return this.remotes;
      case 'container':
        return this.containers;
    }
  }

  /** The `limit` best slots by window bytes (see rank() for the tie-breaks). */
  private topSlots(
    table: RingTable,
    slots: number[],
    sec: number,
    w: number,
    sortBy: SortBy,
    limit: number,
  ): number[] {
    const lane = sortBy === 'total' ? -1 : sortBy === 'sent' ? 0 : 1;
    const totalBytes = (slot: number): number =>
      table.totals[slot * LANES]! + table.totals[slot * LANES + 1]!;
    const score = new Map<number, [number, number, number]>();
    for (const slot of slots) {
      const since = totalBytes(slot);
      if (w === 0) {
        const primary = lane === -1 ? since : table.totals[slot * LANES + lane]!;
        score.set(slot, [primary, since, since]);
      } else {
        const both = table.windowBytes(slot, sec, w, -1);
        score.set(slot, [lane === -1 ? both : table.windowBytes(slot, sec, w, lane), both, since]);
      }
    }
    const sorted = [...slots].sort((a, b) => {
      const x = score.get(a)!;
      const y = score.get(b)!;
      return (
        y[0] - x[0] || y[1] - x[1] || y[2] - x[2] || compareKeys(table.keys[a]!, table.keys[b]!)
      );
    });
    return sorted.slice(0, limit);
  }

  private trafficEntry(table: RingTable, slot: number, sec: number, w: number): TrafficEntry {
    const total = countersOf(table.totals, slot * LANES);
    let window: TrafficCounters;
    let divisorSeconds: number;
    if (w === 0) {
      window = total;
      divisorSeconds = (this.clock.now() - this.startMs) / 1000;
    } else {
      table.readWindow(slot, sec, w, this.lanes);
      window = countersOf(this.lanes, 0);
      divisorSeconds = w;
    }
    return {
      key: table.keys[slot]!,
      total,
      window,
      rate: {
        sentBytesPerSecond: divisorSeconds > 0 ? window.sentBytes / divisorSeconds : 0,
        receivedBytesPerSecond: divisorSeconds > 0 ? window.receivedBytes / divisorSeconds : 0,
      },
      ewma: {
        sentBytesPerSecond: table.readEwma(slot, sec, 0),
        receivedBytesPerSecond: table.readEwma(slot, sec, 1),
      },
      history: table.readHistory(slot, sec),
    };
  }

  private processEntry(slot: number, sec: number, w: number): ProcessEntry {
    return {
      ...this.trafficEntry(this.processes, slot, sec, w),
      kind: 'process',
      process: this.infoOf(slot),
      connectionCount: this.processConnCount[slot]!,
      exited: !Number.isNaN(this.processExitedAtMs[slot]),
    };
  }

  private connectionEntry(slot: number, sec: number, w: number): ConnectionEntry {
    const flow = this.connectionFlow[slot]!;
    const isSent = this.connectionDir[slot] === 0;
    return {
      ...this.trafficEntry(this.conns, slot, sec, w),
      key: isSent
        ? flow.key
        : flowKey(flow.protocol, flow.dstAddress, flow.dstPort, flow.srcAddress, flow.srcPort),
      kind: 'connection',
      protocol: protocolName(flow.protocol) as ConnectionEntry['protocol'],
      localAddress: isSent ? flow.srcAddress : flow.dstAddress,
      localPort: isSent ? flow.srcPort : flow.dstPort,
      remoteAddress: isSent ? flow.dstAddress : flow.srcAddress,
      remotePort: isSent ? flow.dstPort : flow.srcPort,
      process: this.infoOf(this.connectionProcess[slot]!),
    };
  }

  /** Info of a process slot: the source's fresher one while the process lives. */
  private infoOf(slot: number): ProcessInfo {
    const stored = this.processInfo[slot]!;
    if (this.processInfoSource === undefined || !Number.isNaN(this.processExitedAtMs[slot])) {
      return stored;
    }
    return this.processInfoSource(stored.key) ?? stored;
  }

  /** Remote slot -> number of distinct tracked processes with a tracked connection to it. */
  private processCountsByRemote(): Map<number, number> {
    const seen = new Map<number, Set<number>>();
    for (const cs of liveSlots(this.conns)) {
      const rs = this.connectionRemote[cs]!;
      if (rs < 0 || this.remotes.keys[rs] !== this.remoteAddressOf(cs)) continue;
      let set = seen.get(rs);
      if (set === undefined) seen.set(rs, (set = new Set()));
      set.add(this.connectionProcess[cs]!);
    }
    return new Map([...seen].map(([rs, set]) => [rs, set.size]));
  }

  private remoteAddressOf(cs: number): string {
    const flow = this.connectionFlow[cs]!;
    return this.connectionDir[cs] === 0 ? flow.dstAddress : flow.srcAddress;
  }

  /** Container id -> number of tracked (not yet folded) processes in it. */
  private processCountsByContainer(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const slot of this.processSlots.values()) {
      const id = this.processInfo[slot]!.containerId ?? '';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return counts;
  }
}

function never(): boolean {
  return false;
}

function evictCount(table: RingTable): number {
  return Math.max(1, Math.floor(table.maxEntries / EVICT_FRACTION));
}

function liveSlots(table: RingTable): number[] {
  const slots: number[] = [];
  for (let slot = 0; slot < table.keys.length; slot++) if (table.isLive(slot)) slots.push(slot);
  return slots;
}

function countersOf(lanes: Float64Array, base: number): TrafficCounters {
  return {
    sentBytes: lanes[base]!,
    receivedBytes: lanes[base + 1]!,
    sentPackets: lanes[base + 2]!,
    receivedPackets: lanes[base + 3]!,
    sentPayloadBytes: lanes[base + 4]!,
    receivedPayloadBytes: lanes[base + 5]!,
  };
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortEntries(entries: TrafficEntry[], sortBy: SortBy): void {
  const score = (e: TrafficEntry): number =>
    sortBy === 'sent'
      ? e.window.sentBytes
      : sortBy === 'received'
        ? e.window.receivedBytes
        : e.window.sentBytes + e.window.receivedBytes;
  entries.sort(
    (a, b) =>
      score(b) - score(a) ||
      b.total.sentBytes + b.total.receivedBytes - (a.total.sentBytes + a.total.receivedBytes) ||
      compareKeys(a.key, b.key),
  );
}

function aggregateProcess(key: string): ProcessInfo {
  return placeholderProcess(key, 0, `(${key})`);
}

/** The optional `container` field of a container entry (absent for the host). */
function containerField(info: ContainerInfo | undefined): { container?: ContainerInfo } {
  return info === undefined ? {} : { container: info };
}
