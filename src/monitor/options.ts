// Validation of MonitorOptions: every option is checked, named in the error, and given its
// default here, before any handle, cgroup or timer exists.

import { availableParallelism } from 'node:os';
import {
  DEFAULT_BUFFER_BYTES,
  DEFAULT_QUEUE_LIMIT_RECORDS,
  DEFAULT_SNAPLEN_BYTES,
  MAX_PCAP_FILES,
} from '../capture/open-capture.js';
import { closestName } from '../closest-name.js';
import { UsageError } from '../errors.js';
import type { LimitOptions, MonitorOptions, ResolvedMonitorOptions } from './types.js';

/** Defaults of every option, in one place (docs/api.md mirrors this table). */
export const DEFAULTS = {
  syncIntervalMs: 1000,
  tickIntervalMs: 1000,
  queueLimit: DEFAULT_QUEUE_LIMIT_RECORDS,
  ringSeconds: 15,
  // go-netflow ends a capture after 5 minutes by default, so a forgotten one stops by itself.
  captureTimeoutMs: 5 * 60_000,
  snaplen: DEFAULT_SNAPLEN_BYTES,
  bufferBytes: DEFAULT_BUFFER_BYTES,
  exitedRetentionMs: 60_000,
  maxProcesses: 10_000,
  maxConnections: 100_000,
  maxRemotes: 10_000,
  retryBufferFlows: 4096,
  pcapSnaplen: 262_144,
  pcapRotateBytes: 0,
  pcapMaxFiles: 0,
} as const;

/** Bytes of per-second ring per tracked connection and second (sent, received, packets). */
const RING_BYTES_PER_SECOND = 24;
const DEFAULT_CONNECTION_RING_BUDGET_BYTES = 256 * 2 ** 20;
const MAX_CONNECTION_RING_BUDGET_BYTES = 2 ** 30;

const KNOWN_OPTIONS = [
  'devices',
  'includeLoopback',
  'socketEvents',
  'udpSendEvents',
  'sockDiag',
  'socketOwners',
  'conntrack',
  'readFile',
  'filter',
  'protocols',
  'syncIntervalMs',
  'tickIntervalMs',
  'queueLimit',
  'ringSeconds',
  'captureTimeoutMs',
  'snaplen',
  'bufferBytes',
  'pcapFile',
  'exitedRetentionMs',
  'maxProcesses',
  'maxConnections',
  'maxRemotes',
  'retryBufferFlows',
  'limits',
  'logger',
] as const;

/** Throws UsageError for a key that is not in `known`, suggesting the closest known key. */
export function rejectUnknownKeys(value: object, known: readonly string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const best = closestName(key, known);
    const hint =
      best !== undefined ? `did you mean '${best}'?` : `known options: ${known.join(', ')}`;
    throw new UsageError(`unknown ${where} '${key}': ${hint}`);
  }
}

function integer(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `option ${name} must be a whole number from ${min} to ${max}${unit}, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function optionalString(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) {
    throw new UsageError(`option ${name} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function validateLimitsShape(value: unknown): LimitOptions | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null) {
    throw new UsageError(
      `option limits must be an object such as { cpuCores: 0.5, memoryMB: 256 }, got ${JSON.stringify(value)}`,
    );
  }
  rejectUnknownKeys(value, ['cpuCores', 'memoryMB'], 'limits option');
  const { cpuCores, memoryMB } = value as LimitOptions;
  const cores = availableParallelism();
  if (cpuCores !== undefined) {
    if (
      typeof cpuCores !== 'number' ||
      !Number.isFinite(cpuCores) ||
      cpuCores <= 0 ||
      cpuCores > cores
    ) {
      throw new UsageError(
        `option limits.cpuCores must be a number of cores above 0 and at most ${cores} (e.g. 0.5), got ${JSON.stringify(cpuCores)}`,
      );
    }
  }
  if (memoryMB !== undefined) {
    if (typeof memoryMB !== 'number' || !Number.isFinite(memoryMB) || memoryMB < 16) {
      throw new UsageError(
        `option limits.memoryMB must be a number of MiB, at least 16, got ${JSON.stringify(memoryMB)}`,
      );
    }
  }
  if (cpuCores === undefined && memoryMB === undefined) return undefined;
  const out: LimitOptions = {};
  if (cpuCores !== undefined) out.cpuCores = cpuCores;
  if (memoryMB !== undefined) out.memoryMB = memoryMB;
  return out;
}

/**
 * Checks every option and fills in the defaults. Device names are checked against the
 * system's list later, when capture opens; here only their shape.
 */
export function resolveOptions(options: MonitorOptions | undefined): ResolvedMonitorOptions {
  if (options === undefined) options = {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError(`createMonitor() takes an options object, got ${JSON.stringify(options)}`);
  }
  rejectUnknownKeys(options, KNOWN_OPTIONS, 'option');
  const o = options;

  let devices: readonly string[] = [];
  if (o.devices !== undefined) {
    if (
      !Array.isArray(o.devices) ||
      o.devices.some(
        (d) => typeof d !== 'string' || d.length === 0 || d.length > 15 || /[\s/]/.test(d),
      )
    ) {
      throw new UsageError(
        `option devices must be a list of interface names such as ['eth0'] or ['any'], got ${JSON.stringify(o.devices)}`,
      );
    }
    if (new Set(o.devices).size !== o.devices.length) {
      throw new UsageError(`option devices names a device twice: ${o.devices.join(', ')}`);
    }
    devices = [...o.devices];
  }
  if (o.includeLoopback !== undefined && typeof o.includeLoopback !== 'boolean') {
    throw new UsageError(
      `option includeLoopback must be true or false, got ${JSON.stringify(o.includeLoopback)}`,
    );
  }
  if (o.udpSendEvents !== undefined && typeof o.udpSendEvents !== 'boolean') {
    throw new UsageError(
      `option udpSendEvents must be true or false, got ${JSON.stringify(o.udpSendEvents)}`,
    );
  }
  if (o.sockDiag !== undefined && typeof o.sockDiag !== 'boolean') {
    throw new UsageError(
      `option sockDiag must be true or false, got ${JSON.stringify(o.sockDiag)}`,
    );
  }
  if (o.socketOwners !== undefined && typeof o.socketOwners !== 'boolean') {
    throw new UsageError(
      `option socketOwners must be true or false, got ${JSON.stringify(o.socketOwners)}`,
    );
  }
  if (o.conntrack !== undefined && typeof o.conntrack !== 'boolean') {
    throw new UsageError(
      `option conntrack must be true or false, got ${JSON.stringify(o.conntrack)}`,
    );
  }
  if (o.socketEvents !== undefined && typeof o.socketEvents !== 'boolean') {
    throw new UsageError(
      `option socketEvents must be true or false, got ${JSON.stringify(o.socketEvents)}`,
    );
  }
  const readFile = optionalString('readFile', o.readFile);
  if (readFile !== undefined && devices.length > 0) {
    throw new UsageError(
      'options devices and readFile exclude each other: capture live or replay a file',
    );
  }
  const filter = optionalString('filter', o.filter);

  let protocols: readonly ('tcp' | 'udp')[] = ['tcp', 'udp'];
  if (o.protocols !== undefined) {
    if (
      !Array.isArray(o.protocols) ||
      o.protocols.length === 0 ||
      o.protocols.some((p) => p !== 'tcp' && p !== 'udp')
    ) {
      throw new UsageError(
        `option protocols must be a non-empty list of 'tcp' and 'udp', got ${JSON.stringify(o.protocols)}`,
      );
    }
    protocols = [...new Set(o.protocols)];
  }

  let pcapFile: ResolvedMonitorOptions['pcapFile'];
  if (o.pcapFile !== undefined && readFile !== undefined) {
    throw new UsageError(
      'options readFile and pcapFile exclude each other: a replay writes no pcap file (copy the file instead)',
    );
  }
  if (o.pcapFile !== undefined) {
    const spec = typeof o.pcapFile === 'string' ? { path: o.pcapFile } : o.pcapFile;
    if (typeof spec !== 'object' || spec === null) {
      throw new UsageError(
        `option pcapFile must be a path or { path, snaplen?, rotateBytes?, maxFiles? }, got ${JSON.stringify(o.pcapFile)}`,
      );
    }
    rejectUnknownKeys(spec, ['path', 'snaplen', 'rotateBytes', 'maxFiles'], 'pcapFile option');
    const path = optionalString('pcapFile.path', spec.path);
    if (path === undefined) throw new UsageError('option pcapFile.path is required');
    pcapFile = {
      path,
      snaplen: integer(
        'pcapFile.snaplen',
        spec.snaplen ?? DEFAULTS.pcapSnaplen,
        64,
        262_144,
        ' bytes',
      ),
      rotateBytes: integer(
        'pcapFile.rotateBytes',
        spec.rotateBytes ?? DEFAULTS.pcapRotateBytes,
        0,
        Number.MAX_SAFE_INTEGER,
        ' bytes (0 = no rotation)',
      ),
      maxFiles: integer(
        'pcapFile.maxFiles',
        spec.maxFiles ?? DEFAULTS.pcapMaxFiles,
        0,
        MAX_PCAP_FILES,
        ' files (0 = keep all)',
      ),
    };
    if (pcapFile.rotateBytes > 0 && pcapFile.rotateBytes < 65_536) {
      throw new UsageError(
        `option pcapFile.rotateBytes must be 0 (no rotation) or at least 65536 bytes, got ${pcapFile.rotateBytes}`,
      );
    }
    if (pcapFile.maxFiles > 0 && pcapFile.rotateBytes === 0) {
      throw new UsageError(
        `option pcapFile.maxFiles (${pcapFile.maxFiles}) needs rotation: set pcapFile.rotateBytes ` +
          'to the size of one file (at least 65536 bytes), or leave maxFiles out to write one file',
      );
    }
  }

  if (o.logger !== undefined && (typeof o.logger !== 'object' || o.logger === null)) {
    throw new UsageError('option logger must be an object with debug/info/warn/error methods');
  }

  const ringSeconds = integer(
    'ringSeconds',
    o.ringSeconds ?? DEFAULTS.ringSeconds,
    1,
    3600,
    ' seconds',
  );
  // Each connection keeps its own per-second ring (about 24 bytes a second): a long ring
  // lowers the default number of connections so the default stays within ~256 MiB.
  const ringBytes = RING_BYTES_PER_SECOND * (ringSeconds + 1);
  const maxConnections = integer(
    'maxConnections',
    o.maxConnections ??
      Math.min(
        DEFAULTS.maxConnections,
        Math.floor(DEFAULT_CONNECTION_RING_BUDGET_BYTES / ringBytes),
      ),
    16,
    10_000_000,
  );
  if (maxConnections * ringBytes > MAX_CONNECTION_RING_BUDGET_BYTES) {
    throw new UsageError(
      `options maxConnections ${maxConnections} and ringSeconds ${ringSeconds} would need ` +
        `${Math.round((maxConnections * ringBytes) / 2 ** 20)} MiB of connection history: ` +
        `lower maxConnections to at most ${Math.floor(MAX_CONNECTION_RING_BUDGET_BYTES / ringBytes)} or ringSeconds`,
    );
  }
  return {
    devices,
    includeLoopback: o.includeLoopback ?? false,
    socketEvents: o.socketEvents ?? true,
    udpSendEvents: o.udpSendEvents ?? true,
    sockDiag: o.sockDiag ?? true,
    socketOwners: o.socketOwners ?? true,
    conntrack: o.conntrack ?? true,
    readFile,
    filter,
    protocols,
    syncIntervalMs: integer(
      'syncIntervalMs',
      o.syncIntervalMs ?? DEFAULTS.syncIntervalMs,
      50,
      3_600_000,
      ' ms',
    ),
    tickIntervalMs: integer(
      'tickIntervalMs',
      o.tickIntervalMs ?? DEFAULTS.tickIntervalMs,
      50,
      3_600_000,
      ' ms',
    ),
    queueLimit: integer(
      'queueLimit',
      o.queueLimit ?? DEFAULTS.queueLimit,
      1024,
      100_000_000,
      ' records',
    ),
    ringSeconds,
    captureTimeoutMs: integer(
      'captureTimeoutMs',
      o.captureTimeoutMs ?? DEFAULTS.captureTimeoutMs,
      0,
      2 ** 31 - 1,
      ' ms (0 = no timeout)',
    ),
    snaplen: integer('snaplen', o.snaplen ?? DEFAULTS.snaplen, 64, 262_144, ' bytes'),
    bufferBytes: integer(
      'bufferBytes',
      o.bufferBytes ?? DEFAULTS.bufferBytes,
      65_536,
      2 ** 31 - 1,
      ' bytes',
    ),
    pcapFile,
    exitedRetentionMs: integer(
      'exitedRetentionMs',
      o.exitedRetentionMs ?? DEFAULTS.exitedRetentionMs,
      0,
      86_400_000,
      ' ms',
    ),
    maxProcesses: integer('maxProcesses', o.maxProcesses ?? DEFAULTS.maxProcesses, 16, 10_000_000),
    maxConnections,
    maxRemotes: integer('maxRemotes', o.maxRemotes ?? DEFAULTS.maxRemotes, 16, 10_000_000),
    retryBufferFlows: integer(
      'retryBufferFlows',
      o.retryBufferFlows ?? DEFAULTS.retryBufferFlows,
      16,
      10_000_000,
    ),
    limits: validateLimitsShape(o.limits),
  };
}
