// NAT translations from the kernel's connection tracking: maps the tuple a packet carries on a
// captured device (after MASQUERADE/SNAT, before DNAT...) to the tuples the sockets at both
// ends really have. Input: conntrack entries read through ctnetlink by the addon
// (native/conntrack.cc), one lookup per new flow, never per packet; the answers are cached.

import type { NativeAddon, NativeConntrackEntry } from '../capture/addon.js';
import { flowKey } from './flow-key.js';
import type { FlowTuple } from './types.js';

/** Reads one conntrack entry by tuple; the addon's ctnetlink reader, or a fake in tests. */
export interface ConntrackReader {
  /**
   * The entry one of whose two tuples is exactly this one, or null. Throws (with `code`) when
   * conntrack cannot be read at all.
   */
  get(
    ipVersion: 4 | 6,
    protocol: number,
    srcAddress: string,
    srcPort: number,
    dstAddress: string,
    dstPort: number,
  ): NativeConntrackEntry | null;
  close(): void;
}

/** Opens the addon's ctnetlink reader, or throws (with `code`) when the kernel refuses it. */
export function openConntrackReader(addon: NativeAddon): ConntrackReader {
  if (
    addon.conntrackOpen === undefined ||
    addon.conntrackGet === undefined ||
    addon.conntrackClose === undefined
  ) {
    throw Object.assign(new Error('the addon was built without the conntrack reader'), {
      code: 'ENOTBUILT',
    });
  }
  const get = addon.conntrackGet.bind(addon);
  const close = addon.conntrackClose.bind(addon);
  let fd = addon.conntrackOpen();
  return {
    get: (ipVersion, protocol, srcAddress, srcPort, dstAddress, dstPort) =>
      get(fd, ipVersion, protocol, srcAddress, srcPort, dstAddress, dstPort),
    close: () => {
      if (fd >= 0) close(fd);
      fd = -1;
    },
  };
}

/**
 * How a translated flow looks to the sockets at its ends: a FlowTuple whose source end is the
 * sender's socket (its destination that socket's peer) and whose `receiverView` is the
 * receiver's (its destination end is the receiver's socket). Its `key` names the untranslated
 * flow: every copy of one packet (on a container's veth, the bridge, the uplink; before and
 * after NAT) gets the same key.
 */
export type NatView = FlowTuple & { readonly receiverView: FlowTuple };

/** Counters of {@link NatTranslations}, for stats(). */
export interface NatStats {
  /** False in degraded mode: conntrack could not be read (no module, no permission). */
  readonly available: boolean;
  /** Why conntrack is not available ('' when it is). */
  readonly unavailableReason: string;
  /** Lookups sent to the kernel (a flow takes one or two: its tuple, then the reverse). */
  readonly lookups: number;
  /** Flows answered from the cache, without a lookup. */
  readonly cacheHits: number;
  /** Flows that needed a lookup. */
  readonly cacheMisses: number;
  /** Cached answers pushed out because the cache was full. */
  readonly cacheEvictions: number;
  /** Flows cached right now. */
  readonly cached: number;
  /** Flows found translated (SNAT, MASQUERADE, DNAT). */
  readonly translatedFlows: number;
  /** Flows conntrack had no entry for. */
  readonly untrackedFlows: number;
  /** Lookups that failed (timeouts, errors other than "no entry"). */
  readonly failedLookups: number;
  /** Total time spent in lookups, ms (the CPU cost of NAT attribution). */
  readonly lookupMs: number;
}

/** Options of {@link NatTranslations}. */
export interface NatTranslationsOptions {
  /** The conntrack reader; undefined starts in degraded mode (with `unavailableReason`). */
  reader: ConntrackReader | undefined;
  /** Why there is no reader (shown in the warning). */
  unavailableReason?: string;
  /** Flows whose answer is cached at most. @default 65536 */
  limit?: number;
  /** A flow without an entry is looked up again after this long, ms. @default 5000 */
  negativeTtlMs?: number;
  /** A found answer is trusted this long (a reused tuple may get another entry), ms. @default 60000 */
  positiveTtlMs?: number;
  /** Monotonic clock, ms. */
  monotonicMs: () => number;
  /** Called once, with the reason, when conntrack turns out not to be readable. */
  onUnavailable?: (message: string) => void;
  /** Called once when the cache first overflows. */
  onOverflow?: (message: string) => void;
}

interface CachedView {
  /** null: no translation (conntrack has no entry, or one that translates nothing). */
  view: NatView | null;
  /** Monotonic ms after which the flow is asked again. */
  expiresMs: number;
}

/**
 * Maps each flow to its untranslated view through conntrack, with a bounded cache.
 * @example
 * const nat = new NatTranslations({ reader: openConntrackReader(addon), monotonicMs: () => performance.now() });
 * const view = nat.resolve(flow); // null: not translated
 */
export class NatTranslations {
  private reader: ConntrackReader | undefined;
  private readonly limit: number;
  private readonly negativeTtlMs: number;
  private readonly positiveTtlMs: number;
  private readonly monotonicMs: () => number;
  private readonly onUnavailable: ((message: string) => void) | undefined;
  private readonly onOverflow: ((message: string) => void) | undefined;
  private readonly cache = new Map<string, CachedView>();
  private unavailableReason = '';
  /** Closed by close() (the monitor stopped): not a degraded mode. */
  private isClosed = false;
  private hasWarnedOverflow = false;
  private readonly counters = {
    lookups: 0,
    cacheHits: 0,
    cacheMisses: 0,
    cacheEvictions: 0,
    translatedFlows: 0,
    untrackedFlows: 0,
    failedLookups: 0,
    lookupMs: 0,
  };

  constructor(options: NatTranslationsOptions) {
    this.reader = options.reader;
    this.limit = options.limit ?? 65_536;
    this.negativeTtlMs = options.negativeTtlMs ?? 5000;
    this.positiveTtlMs = options.positiveTtlMs ?? 60_000;
    this.monotonicMs = options.monotonicMs;
    this.onUnavailable = options.onUnavailable;
    this.onOverflow = options.onOverflow;
    if (this.reader === undefined) this.degrade(options.unavailableReason ?? 'no conntrack reader');
  }

  /** True while conntrack can be read. */
  get isAvailable(): boolean {
    return this.reader !== undefined;
  }

  /**
   * The untranslated view of `flow` (a packet's tuple as captured), or null when conntrack
   * knows no translation for it (or cannot be read). Once per flow: the caller keeps the answer.
   * `isShared`: other flows may carry the same tuple (copies on other interfaces), so the answer
   * is cached for them; false looks up without caching (the caller's flow is the only one).
   */
  resolve(flow: FlowTuple, isShared = true): NatView | null {
    if (this.reader === undefined) return null;
    // Loopback traffic is not translated (DNAT to 127/8 needs route_localnet): no lookup.
    if (isLoopback(flow.srcAddress) && isLoopback(flow.dstAddress)) return null;
    if (!isShared) {
      this.counters.cacheMisses++;
      return this.lookup(flow);
    }
    const now = this.monotonicMs();
    const cached = this.cache.get(flow.key);
    if (cached !== undefined && cached.expiresMs > now) {
      this.counters.cacheHits++;
      return cached.view;
    }
    this.counters.cacheMisses++;
    const view = this.lookup(flow);
    if (this.reader === undefined) return null;
    if (cached !== undefined) this.cache.delete(flow.key);
    if (this.cache.size >= this.limit) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) {
        this.cache.delete(oldest.value);
        this.counters.cacheEvictions++;
        if (!this.hasWarnedOverflow) {
          this.hasWarnedOverflow = true;
          this.onOverflow?.(
            `the NAT translation cache is full (${this.limit} flows): older flows are looked up ` +
              'in conntrack again when they come back; this costs CPU, not accuracy',
          );
        }
      }
    }
    if (this.limit > 0) {
      this.cache.set(flow.key, {
        view,
        expiresMs: now + (view === null ? this.negativeTtlMs : this.positiveTtlMs),
      });
    }
    return view;
  }

  /** Forget the cached answers of one flow (it ended: its ports may be reused). */
  forget(key: string): void {
    this.cache.delete(key);
  }

  stats(): NatStats {
    return {
      available: this.reader !== undefined || (this.isClosed && this.unavailableReason === ''),
      unavailableReason: this.unavailableReason,
      cached: this.cache.size,
      ...this.counters,
    };
  }

  close(): void {
    if (this.reader !== undefined) this.isClosed = true;
    this.reader?.close();
    this.reader = undefined;
  }

  private lookup(flow: FlowTuple): NatView | null {
    const reader = this.reader!;
    const startMs = this.monotonicMs();
    try {
      this.counters.lookups++;
      let entry = reader.get(
        flow.ipVersion,
        flow.protocol,
        flow.srcAddress,
        flow.srcPort,
        flow.dstAddress,
        flow.dstPort,
      );
      if (entry === null) {
        // After SNAT (or before DNAT), the packet's tuple is neither of the entry's two: its
        // reverse is the reply tuple.
        this.counters.lookups++;
        entry = reader.get(
          flow.ipVersion,
          flow.protocol,
          flow.dstAddress,
          flow.dstPort,
          flow.srcAddress,
          flow.srcPort,
        );
      }
      if (entry === null) {
        this.counters.untrackedFlows++;
        return null;
      }
      const view = translatedView(flow, entry);
      if (view !== null) this.counters.translatedFlows++;
      return view;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'EAGAIN') {
        this.counters.failedLookups++;
        return null;
      }
      this.degrade(error instanceof Error ? error.message : String(error));
      return null;
    } finally {
      this.counters.lookupMs += this.monotonicMs() - startMs;
    }
  }

  private degrade(reason: string): void {
    this.reader?.close();
    this.reader = undefined;
    this.unavailableReason = reason;
    this.cache.clear();
    this.onUnavailable?.(
      `conntrack cannot be read (${reason}): traffic translated by NAT (containers behind ` +
        'MASQUERADE, published ports) is not matched to its processes and may show as unknown; ' +
        'run as root (CAP_NET_ADMIN) with the nf_conntrack_netlink module loaded (modprobe nf_conntrack_netlink)',
    );
  }
}

/**
 * The view of `flow` given its conntrack entry, or null when the entry translates nothing.
 * An entry has an original tuple (initiator -> responder, as the initiator sent it) and a reply
 * tuple (responder -> initiator, as the responder sends it). A packet in the original direction
 * carries the original tuple before NAT and the reverse of the reply tuple after it; one in the
 * reply direction carries the reply tuple or the reverse of the original.
 */
export function translatedView(flow: FlowTuple, entry: NativeConntrackEntry): NatView | null {
  const [os, osp, od, odp, rs, rsp, rd, rdp] = entry;
  if (os === rd && osp === rdp && od === rs && odp === rsp) return null;
  const isOriginal =
    (flow.srcAddress === os &&
      flow.srcPort === osp &&
      flow.dstAddress === od &&
      flow.dstPort === odp) ||
    (flow.srcAddress === rd &&
      flow.srcPort === rdp &&
      flow.dstAddress === rs &&
      flow.dstPort === rsp);
  const p = flow.protocol;
  // The sender's socket sees the tuple of its own direction; the receiver's socket sees the
  // other direction's tuple, reversed.
  const sender = isOriginal ? [os, osp, od, odp] : [rs, rsp, rd, rdp];
  const receiver = isOriginal ? [rd, rdp, rs, rsp] : [od, odp, os, osp];
  const receiverView: FlowTuple = {
    key: flowKey(
      p,
      receiver[0] as string,
      receiver[1] as number,
      receiver[2] as string,
      receiver[3] as number,
    ),
    ipVersion: flow.ipVersion,
    protocol: p,
    srcAddress: receiver[0] as string,
    srcPort: receiver[1] as number,
    dstAddress: receiver[2] as string,
    dstPort: receiver[3] as number,
  };
  const senderKey = flowKey(
    p,
    sender[0] as string,
    sender[1] as number,
    sender[2] as string,
    sender[3] as number,
  );
  return {
    ...(flow.device === undefined ? {} : { device: flow.device }),
    key: `${senderKey}>${receiverView.key}`,
    ipVersion: flow.ipVersion,
    protocol: p,
    srcAddress: sender[0] as string,
    srcPort: sender[1] as number,
    dstAddress: sender[2] as string,
    dstPort: sender[3] as number,
    receiverView,
  };
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
