// Options of the HTTP agent (startServer): their types, defaults and checks.

import { systemClock } from '../clock.js';
import { UsageError } from '../errors.js';
import { requireToken } from './auth.js';
import { readPackageVersion } from './package-version.js';
import { DEFAULT_MAX_SERIES } from './process-series.js';
import type { TlsFiles } from './tls-files.js';
import type { Clock } from '../clock.js';

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** TCP port; 0 picks a free one. @default 9465 */
  port?: number;
  /**
   * The history database behind /api/v1/history (docs/history.md), or false for none.
   * @default { path: ':memory:' } (kept in memory only; `pidflow serve` uses a file)
   */
  history?: HistoryServerOptions | false;
  /** Receives one line per event (history state changes...); the library never prints. */
  onEvent?: (line: string) => void;
  /**
   * Bearer token every request must carry (`Authorization: Bearer <token>`), /healthz excepted.
   * Required when `host` is not a loopback address. @default none
   */
  token?: string;
  /** Serve HTTPS with these PEM files (reloaded by `reload()`); `clientCaFile` requires client certificates. */
  tls?: TlsFiles;
  /** Named series per metric family before processes fold into comm="other" (1..10000). @default 500 */
  maxSeries?: number;
  /**
   * Seconds after which the series of a process or container that is gone (and idle) disappear
   * from /metrics (1..86400). @default 600
   */
  seriesGraceSeconds?: number;
  /** Concurrent HTTP connections at most (1..10000). @default 64 */
  maxConnections?: number;
  /** Source of time for history queries and response timestamps. @default systemClock */
  clock?: Clock;
  /** Version reported by pidflow_build_info and `pidflowVersion`. @default the package version */
  version?: string;
}

/** Options of the history database of a server. */
export interface HistoryServerOptions {
  /** Database file, or ':memory:'. */
  path: string;
  /** Seconds between rows for a new database (1..60, dividing 60). @default 10 */
  intervalSeconds?: number;
  /** Days the coarsest rows are kept. @default 90 */
  retentionDays?: number;
  /** Bound of the main file, bytes. @default 1 GiB */
  maxBytes?: number;
  /** Rows waiting for the writer thread at most. @default 100000 */
  maxPendingRows?: number;
}

/** Default port: not assigned by IANA, next to node_exporter's 9100 range of exporters. */
export const DEFAULT_PORT = 9465;
/** Ten minutes: longer than any sane scrape interval, so a removed series was scraped idle. */
const DEFAULT_SERIES_GRACE_SECONDS = 600;
const DEFAULT_MAX_CONNECTIONS = 64;

const KNOWN_OPTIONS = [
  'host',
  'port',
  'history',
  'onEvent',
  'token',
  'tls',
  'maxSeries',
  'seriesGraceSeconds',
  'maxConnections',
  'clock',
  'version',
];

function integerOption(
  name: string,
  value: number | undefined,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `server option ${name} must be an integer ${min}..${max}, got ${String(value)}`,
    );
  }
  return value;
}

/** Options after validation: defaults filled in, token and TLS possibly absent. */
export type ResolvedServerOptions = Required<Omit<ServerOptions, 'token' | 'tls'>> & {
  token: string | undefined;
  tls: TlsFiles | undefined;
};

/** Validated options with defaults filled in. */
export function resolveOptions(options: ServerOptions): ResolvedServerOptions {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) {
      throw new UsageError(`unknown server option '${key}' (allowed: ${KNOWN_OPTIONS.join(', ')})`);
    }
  }
  const host = options.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0) {
    throw new UsageError(
      `server option host must be a non-empty address, got ${JSON.stringify(host)}`,
    );
  }
  return {
    host,
    port: integerOption('port', options.port, 0, 65_535, DEFAULT_PORT),
    token: requireToken(host, options.token),
    tls: options.tls,
    history: options.history ?? { path: ':memory:' },
    onEvent: options.onEvent ?? (() => undefined),
    maxSeries: integerOption('maxSeries', options.maxSeries, 1, 10_000, DEFAULT_MAX_SERIES),
    seriesGraceSeconds: integerOption(
      'seriesGraceSeconds',
      options.seriesGraceSeconds,
      1,
      86_400,
      DEFAULT_SERIES_GRACE_SECONDS,
    ),
    maxConnections: integerOption(
      'maxConnections',
      options.maxConnections,
      1,
      10_000,
      DEFAULT_MAX_CONNECTIONS,
    ),
    clock: options.clock ?? systemClock,
    version: options.version ?? readPackageVersion(),
  };
}
