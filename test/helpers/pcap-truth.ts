// Exact ground truth from a reference capture: run tcpdump next to the monitor, parse its pcap
// file here (independently of the addon's decoder), sum IP bytes per directional 5-tuple and map
// them to pids with the traffic workers' socket reports.

import { readFileSync } from 'node:fs';
import type { TestNet } from './netns.js';
import type { WorkerReport } from './traffic-types.js';

/** Link types (pcap-linktype(7)) the parser understands. */
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_LINUX_SLL2 = 276;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

/** Totals of one directional 5-tuple. */
export interface FlowTruth {
  protocol: number;
  srcAddress: string;
  srcPort: number;
  dstAddress: string;
  dstPort: number;
  packets: number;
  /** IP header plus payload (IPv4 total length, IPv6 payload length + 40). */
  ipBytes: number;
  /** Frame length on the wire (the record's original length). */
  wireBytes: number;
  /** Transport payload bytes (IP bytes minus IP and TCP/UDP headers). */
  payloadBytes: number;
  /**
   * Distinct payload bytes: for TCP the span of sequence numbers that carried payload, so a
   * retransmitted segment counts once (what the sending application wrote); for UDP the payload.
   */
  streamBytes: number;
}

/** What a pcap file holds, summed per flow. */
export interface PcapSummary {
  linkType: number;
  packets: number;
  /** Records that were not IPv4/IPv6 TCP/UDP (ARP, ICMP, neighbour discovery...). */
  otherPackets: number;
  /** Records too short to decode. */
  malformedPackets: number;
  /** Keyed by `proto|src|sport|dst|dport`. */
  flows: Map<string, FlowTruth>;
}

/** Expected traffic of one process, from the host's point of view. */
export interface ProcessTruth {
  pid: number;
  sentBytes: number;
  receivedBytes: number;
  sentPackets: number;
  receivedPackets: number;
  sentWireBytes: number;
  receivedWireBytes: number;
  sentPayloadBytes: number;
  receivedPayloadBytes: number;
  /** Distinct payload (see FlowTruth.streamBytes): comparable with what the workers wrote and read. */
  sentStreamBytes: number;
  receivedStreamBytes: number;
}

/** Per-process truth plus the flows no worker claimed. */
export interface TruthByProcess {
  processes: Map<number, ProcessTruth>;
  /** IP bytes of packets whose neither end matched a worker socket. */
  unmatchedBytes: number;
  unmatchedPackets: number;
}

/** `a.b.c.d` from four bytes. */
function formatIpv4(buf: Buffer, offset: number): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

/** RFC 5952 text (longest run of two or more zero words becomes `::`), as inet_ntop prints it. */
export function formatIpv6(buf: Buffer, offset: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(buf.readUInt16BE(offset + i * 2));
  if (words.slice(0, 5).every((w) => w === 0) && words[5] === 0xffff) {
    return `::ffff:${formatIpv4(buf, offset + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Offset of the IP header inside a record of `linkType`, or -1 when the frame carries no IP. */
function ipOffset(linkType: number, data: Buffer, captured: number): number {
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      let off = 12;
      if (captured < off + 2) return -1;
      let type = data.readUInt16BE(off);
      // 802.1Q / 802.1ad tags: skip each 4-byte tag.
      while ((type === 0x8100 || type === 0x88a8) && captured >= off + 6) {
        off += 4;
        type = data.readUInt16BE(off);
      }
      return type === 0x0800 || type === 0x86dd ? off + 2 : -1;
    }
    case LINKTYPE_LINUX_SLL: {
      if (captured < 16) return -1;
      const type = data.readUInt16BE(14);
      return type === 0x0800 || type === 0x86dd ? 16 : -1;
    }
    case LINKTYPE_LINUX_SLL2: {
      if (captured < 20) return -1;
      const type = data.readUInt16BE(0);
      return type === 0x0800 || type === 0x86dd ? 20 : -1;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return 0;
    default:
      throw new Error(`pcap link type ${linkType} is not supported by the truth parser`);
  }
}

const SUPPORTED_LINK_TYPES = new Set([
  LINKTYPE_ETHERNET,
  LINKTYPE_RAW,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
]);

/** Upper-layer protocols the IPv6 parser walks through (RFC 8200 section 4). */
const IPV6_EXTENSION_HEADERS = new Set([0, 43, 60]);

/** Parse a pcap (not pcapng) file image and sum IP bytes per directional 5-tuple. */
export function summarizePcap(file: Buffer): PcapSummary {
  const spans = new Map<FlowTruth, { base: number; start: number; end: number }>();
  if (file.length < 24) throw new Error(`pcap file too short (${file.length} bytes)`);
  const magicLe = file.readUInt32LE(0);
  let littleEndian: boolean;
  if (magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d) littleEndian = true;
  else if (magicLe === 0xd4c3b2a1 || magicLe === 0x4d3cb2a1) littleEndian = false;
  else
    throw new Error(`not a pcap file (magic 0x${magicLe.toString(16)}); pcapng is not supported`);
  const u32 = (off: number): number =>
    littleEndian ? file.readUInt32LE(off) : file.readUInt32BE(off);
  const linkType = u32(20) & 0x0fffffff;
  if (!SUPPORTED_LINK_TYPES.has(linkType)) {
    throw new Error(`pcap link type ${linkType} is not supported by the truth parser`);
  }
  const summary: PcapSummary = {
    linkType,
    packets: 0,
    otherPackets: 0,
    malformedPackets: 0,
    flows: new Map(),
  };
  let pos = 24;
  while (pos + 16 <= file.length) {
    const captured = u32(pos + 8);
    const original = u32(pos + 12);
    const start = pos + 16;
    pos = start + captured;
    if (pos > file.length) break; // Truncated last record (capture killed mid-write).
    summary.packets++;
    const data = file.subarray(start, start + captured);
    const ip = ipOffset(linkType, data, captured);
    if (ip < 0) {
      summary.otherPackets++;
      continue;
    }
    if (captured < ip + 1) {
      summary.malformedPackets++;
      continue;
    }
    const version = (data[ip] ?? 0) >> 4;
    let protocol: number;
    let src: string;
    let dst: string;
    let ipBytes: number;
    let l4: number;
    if (version === 4) {
      if (captured < ip + 20) {
        summary.malformedPackets++;
        continue;
      }
      const ihl = ((data[ip] ?? 0) & 0x0f) * 4;
      ipBytes = data.readUInt16BE(ip + 2);
      protocol = data[ip + 9] ?? 0;
      src = formatIpv4(data, ip + 12);
      dst = formatIpv4(data, ip + 16);
      l4 = ip + ihl;
      // A non-first fragment carries no transport header.
      if ((data.readUInt16BE(ip + 6) & 0x1fff) !== 0) protocol = -1;
    } else if (version === 6) {
      if (captured < ip + 40) {
        summary.malformedPackets++;
        continue;
      }
      ipBytes = data.readUInt16BE(ip + 4) + 40;
      protocol = data[ip + 6] ?? 0;
      src = formatIpv6(data, ip + 8);
      dst = formatIpv6(data, ip + 24);
      l4 = ip + 40;
      while (IPV6_EXTENSION_HEADERS.has(protocol) && captured >= l4 + 2) {
        protocol = data[l4] ?? 0;
        l4 += ((data[l4 + 1] ?? 0) + 1) * 8;
      }
    } else {
      summary.malformedPackets++;
      continue;
    }
    if ((protocol !== 6 && protocol !== 17) || captured < l4 + (protocol === 6 ? 13 : 8)) {
      summary.otherPackets++;
      continue;
    }
    const srcPort = data.readUInt16BE(l4);
    const dstPort = data.readUInt16BE(l4 + 2);
    const l4Header = protocol === 6 ? ((data[l4 + 12] ?? 0) >> 4) * 4 : 8;
    const payloadBytes = Math.max(0, ipBytes - (l4 - ip) - l4Header);
    const key = `${protocol}|${src}|${srcPort}|${dst}|${dstPort}`;
    let flow = summary.flows.get(key);
    if (flow === undefined) {
      flow = {
        protocol,
        srcAddress: src,
        srcPort,
        dstAddress: dst,
        dstPort,
        packets: 0,
        ipBytes: 0,
        wireBytes: 0,
        payloadBytes: 0,
        streamBytes: 0,
      };
      summary.flows.set(key, flow);
    }
    flow.packets++;
    flow.ipBytes += ipBytes;
    flow.wireBytes += original;
    flow.payloadBytes += payloadBytes;
    if (protocol !== 6) {
      flow.streamBytes += payloadBytes;
    } else if (payloadBytes > 0) {
      // Sequence offsets relative to the flow's first payload segment (mod 2^32, signed so a
      // reordered earlier segment is negative); the stream is the span they cover.
      const seq = data.readUInt32BE(l4 + 4);
      let span = spans.get(flow);
      if (span === undefined) {
        span = { base: seq, start: 0, end: 0 };
        spans.set(flow, span);
      }
      const offset = (seq - span.base) | 0;
      span.start = Math.min(span.start, offset);
      span.end = Math.max(span.end, offset + payloadBytes);
      flow.streamBytes = span.end - span.start;
    }
  }
  return summary;
}

/** {@link summarizePcap} of a file on disk. */
export function summarizePcapFile(path: string): PcapSummary {
  return summarizePcap(readFileSync(path));
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);
const protoNumber = (p: 'tcp' | 'udp'): number => (p === 'tcp' ? 6 : 17);

/** Packets and IP bytes of every flow in a summary: the distinct traffic on the wire. */
export function wireTotals(summary: PcapSummary): { packets: number; ipBytes: number } {
  let packets = 0;
  let ipBytes = 0;
  for (const flow of summary.flows.values()) {
    packets += flow.packets;
    ipBytes += flow.ipBytes;
  }
  return { packets, ipBytes };
}

/** Map flows to pids through the workers' socket reports: the owner of the source endpoint sent the bytes, the owner of the destination received them. */
export function truthByProcess(
  flows: Iterable<FlowTruth>,
  reports: readonly WorkerReport[],
): TruthByProcess {
  const exact = new Map<string, number>();
  const byLocal = new Map<string, number>();
  const byPort = new Map<string, number>();
  const processes = new Map<number, ProcessTruth>();
  for (const report of reports) {
    processes.set(report.pid, {
      pid: report.pid,
      sentBytes: 0,
      receivedBytes: 0,
      sentPackets: 0,
      receivedPackets: 0,
      sentWireBytes: 0,
      receivedWireBytes: 0,
      sentPayloadBytes: 0,
      receivedPayloadBytes: 0,
      sentStreamBytes: 0,
      receivedStreamBytes: 0,
    });
    for (const s of report.sockets) {
      const p = protoNumber(s.protocol);
      if (WILDCARDS.has(s.localAddress)) byPort.set(`${p}|${s.localPort}`, report.pid);
      else if (s.remoteAddress === null)
        byLocal.set(`${p}|${s.localAddress}|${s.localPort}`, report.pid);
      else
        exact.set(
          `${p}|${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`,
          report.pid,
        );
    }
  }
  const owner = (p: number, la: string, lp: number, ra: string, rp: number): number | undefined =>
    exact.get(`${p}|${la}|${lp}|${ra}|${rp}`) ??
    byLocal.get(`${p}|${la}|${lp}`) ??
    byPort.get(`${p}|${lp}`);
  let unmatchedBytes = 0;
  let unmatchedPackets = 0;
  for (const f of flows) {
    const sender = owner(f.protocol, f.srcAddress, f.srcPort, f.dstAddress, f.dstPort);
    const receiver = owner(f.protocol, f.dstAddress, f.dstPort, f.srcAddress, f.srcPort);
    const s = sender === undefined ? undefined : processes.get(sender);
    const r = receiver === undefined ? undefined : processes.get(receiver);
    if (s !== undefined) {
      s.sentBytes += f.ipBytes;
      s.sentPackets += f.packets;
      s.sentWireBytes += f.wireBytes;
      s.sentPayloadBytes += f.payloadBytes;
      s.sentStreamBytes += f.streamBytes;
    }
    if (r !== undefined) {
      r.receivedBytes += f.ipBytes;
      r.receivedPackets += f.packets;
      r.receivedWireBytes += f.wireBytes;
      r.receivedPayloadBytes += f.payloadBytes;
      r.receivedStreamBytes += f.streamBytes;
    }
    if (s === undefined && r === undefined) {
      unmatchedBytes += f.ipBytes;
      unmatchedPackets += f.packets;
    }
  }
  return { processes, unmatchedBytes, unmatchedPackets };
}

/** Counters tcpdump prints when it ends. */
export interface ReferenceCaptureResult {
  path: string;
  capturedPackets: number;
  droppedByKernel: number;
}

/** A running tcpdump. */
export interface ReferenceCapture {
  readonly pid: number;
  /**
   * Stop tcpdump (SIGINT, so it flushes the file) and return its counters; throws when tcpdump
   * printed no closing summary (its drop count would be unknown). Waits `settleMs`
   * first: with TPACKET_V3, packets sit in a ring block until it fills or its timeout (tcpdump's
   * 1000 ms) retires it, and tcpdump exits without reading a block that is not yet retired.
   */
  stop(settleMs?: number): Promise<ReferenceCaptureResult>;
}

/**
 * Start `tcpdump -i <device> -w <path> -s <snaplen>` in `ns` (undefined: the host) and wait until
 * it listens. The process is tracked by `net`, so destroy() kills it if the test fails.
 */
export async function startReferenceCapture(
  net: TestNet,
  ns: string | undefined,
  device: string,
  path: string,
  options: { snaplen?: number; bufferKiB?: number; filter?: string } = {},
): Promise<ReferenceCapture> {
  const args = [
    '-i',
    device,
    '-w',
    path,
    '-s',
    String(options.snaplen ?? 128),
    '-B',
    String(options.bufferKiB ?? 32768),
    '-n',
    '-Z',
    'root',
  ];
  if (options.filter !== undefined) args.push(options.filter);
  const child = net.spawnIn(ns, 'tcpdump', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (t: string) => {
    stderr += t;
  });
  await new Promise<void>((resolveListen, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`tcpdump on ${device} did not start within 5 s: ${stderr}`)),
      5000,
    );
    const check = (): void => {
      if (stderr.includes('listening on')) {
        clearTimeout(timer);
        resolveListen();
      }
    };
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcpdump on ${device} exited with ${code}: ${stderr.trim()}`));
    });
  });
  return {
    pid: child.pid,
    stop: async (settleMs = 1500) => {
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise((r) => setTimeout(r, settleMs));
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        process.kill(child.pid, 'SIGINT');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      }
      // tcpdump prints these counters as it exits; without them the truth is unknown (it was
      // killed, or did not exit in time), never "0 dropped".
      const num = (re: RegExp): number => {
        const m = re.exec(stderr);
        if (m?.[1] === undefined) {
          throw new Error(
            `tcpdump on ${device} printed no closing summary (${String(re)}), so its drop count is unknown: ${stderr.trim() || '(no output)'}`,
          );
        }
        return Number(m[1]);
      };
      return {
        path,
        capturedPackets: num(/(\d+) packets? captured/),
        droppedByKernel: num(/(\d+) packets? dropped by kernel/),
      };
    },
  };
}

/** One packet for {@link writePcap}. */
export interface PcapRecord {
  data: Buffer;
  /** Original length on the wire. @default data.length */
  originalLength?: number;
  timestampMs?: number;
}

/** A classic little-endian microsecond pcap file image. */
export function writePcap(
  records: readonly PcapRecord[],
  linkType: number,
  snaplen = 65535,
): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(snaplen, 16);
  header.writeUInt32LE(linkType, 20);
  const parts: Buffer[] = [header];
  for (const r of records) {
    const rec = Buffer.alloc(16);
    const ts = r.timestampMs ?? 0;
    rec.writeUInt32LE(Math.floor(ts / 1000), 0);
    rec.writeUInt32LE((ts % 1000) * 1000, 4);
    rec.writeUInt32LE(r.data.length, 8);
    rec.writeUInt32LE(r.originalLength ?? r.data.length, 12);
    parts.push(rec, r.data);
  }
  return Buffer.concat(parts);
}

/** Fields of {@link buildPacket}. */
export interface PacketSpec {
  ipVersion: 4 | 6;
  protocol: 'tcp' | 'udp';
  src: Buffer;
  dst: Buffer;
  srcPort: number;
  dstPort: number;
  payloadBytes: number;
  /** Prepend an Ethernet header (type chosen from the IP version). @default true */
  ethernet?: boolean;
}

/** A full frame with zeroed payload, for parser tests. */
export function buildPacket(spec: PacketSpec): Buffer {
  const l4Len = spec.protocol === 'tcp' ? 20 : 8;
  const l4 = Buffer.alloc(l4Len + spec.payloadBytes);
  l4.writeUInt16BE(spec.srcPort, 0);
  l4.writeUInt16BE(spec.dstPort, 2);
  if (spec.protocol === 'tcp') l4[12] = 5 << 4;
  else l4.writeUInt16BE(l4.length, 4);
  let ip: Buffer;
  if (spec.ipVersion === 4) {
    ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + l4.length, 2);
    ip[8] = 64;
    ip[9] = spec.protocol === 'tcp' ? 6 : 17;
    spec.src.copy(ip, 12);
    spec.dst.copy(ip, 16);
  } else {
    ip = Buffer.alloc(40);
    ip[0] = 0x60;
    ip.writeUInt16BE(l4.length, 4);
    ip[6] = spec.protocol === 'tcp' ? 6 : 17;
    ip[7] = 64;
    spec.src.copy(ip, 8);
    spec.dst.copy(ip, 24);
  }
  if (spec.ethernet === false) return Buffer.concat([ip, l4]);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(spec.ipVersion === 4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([eth, ip, l4]);
}
