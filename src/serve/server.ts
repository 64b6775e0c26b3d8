// The HTTP agent: a node:http server exposing a monitor as a JSON API (/api/v1/...), a
// Prometheus endpoint (/metrics) and a health check, using only the public Monitor API.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { UsageError, isPidflowError } from '../errors.js';
import type {
  GroupBy,
  Monitor,
  MonitorEnd,
  ProcessEntry,
  Snapshot,
  SortBy,
} from '../monitor/types.js';
import { HistoryQueryError, HistoryWriter, type HistoryStats } from '../history/history-writer.js';
import { HistoryRecorder } from './history-recorder.js';
import { historyQueryFromParams } from './history-params.js';
import {
  API_VERSION,
  processInfoView,
  rankEntryView,
  snapshotView,
  statsView,
  type JsonObject,
} from './json-view.js';
import { MonotonicCounters } from './monotonic-counters.js';
import { ProcessSeriesTable } from './process-series.js';
import { PROMETHEUS_CONTENT_TYPE, PrometheusWriter } from './prometheus-text.js';
import { renderAgentMetrics } from './agent-metrics.js';
import { Authenticator, requireToken } from './auth.js';
import {
  resolveOptions,
  type HistoryServerOptions,
  type ResolvedServerOptions,
  type ServerOptions,
} from './server-options.js';
import { SECURITY_HEADERS, WebAssets } from './web-assets.js';
import { MAX_TOP_LIMIT, topView, type TopSort } from './top-view.js';
import { listenError } from './listen-error.js';
import { readTlsFiles, type TlsFiles } from './tls-files.js';

export type { TlsFiles, ServerOptions, HistoryServerOptions };
export { DEFAULT_PORT } from './server-options.js';
import { HttpError, Query } from './query.js';
import { renderMetrics } from './render-metrics.js';
import { stringifyAsciiJson } from '../text/ascii-json.js';

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:9465`. */
  readonly url: string;
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stop listening, close connections and detach from the monitor. A second call is harmless. */
  close(): Promise<void>;
  /** Counters of the history database, or undefined without one. */
  historyStats(): HistoryStats | undefined;
  /**
   * Take a new token and re-read the TLS files (SIGHUP). Throws (keeping the old ones) when a
   * file cannot be read or the token is missing on a non-loopback address.
   */
  reload(options: { token?: string | undefined; tls?: TlsFiles | undefined }): void;
}

/** Longest range of one history query. */
const MAX_HISTORY_RANGE_MS = 90 * 86_400_000;
/** Longer URLs are refused with 414: every valid request is far shorter. */
const MAX_URL_CHARS = 2048;
const MAX_HEADER_BYTES = 8192;
const MAX_LIST_LIMIT = 1000;
const MAX_PROCESS_CONNECTIONS = 1000;
const KEEP_ALIVE_TIMEOUT_MS = 5000;
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_REQUESTS_PER_SOCKET = 1000;
/** After close(), connections still busy get this long before they are cut. */
const CLOSE_GRACE_MS = 1000;
const PID_MAX = 4_194_304;

const SORTS: readonly SortBy[] = ['total', 'sent', 'received'];

const TOP_SORTS: readonly TopSort[] = ['total', 'sent', 'received', 'name'];
const GROUPS: readonly GroupBy[] = ['process', 'container', 'remote', 'connection'];
const MAX_FILTER_CHARS = 256;

const ENDPOINTS = [
  '/ (the web page)',
  '/api/v1',
  '/api/v1/top',
  '/api/v1/processes',
  '/api/v1/processes/<pid>',
  '/api/v1/connections',
  '/api/v1/remotes',
  '/api/v1/containers',
  '/api/v1/snapshot',
  '/api/v1/stats',
  '/api/v1/history',
  '/metrics',
  '/healthz',
];

/**
 * Serve `monitor` over HTTP: JSON under /api/v1, Prometheus text at /metrics, /healthz.
 * Listens before resolving; a port in use or a bad address rejects with a PidflowError.
 *
 * @example
 * const server = await startServer(monitor, { port: 0 });
 * console.log(`${server.url}/metrics`);
 * await server.close();
 */
export async function startServer(
  monitor: Monitor,
  options: ServerOptions = {},
): Promise<RunningServer> {
  const o = resolveOptions(options);
  const agent = new Agent(monitor, o);
  return agent.listen();
}

class Agent {
  private readonly server: Server;
  private readonly series: ProcessSeriesTable;
  private readonly monotonic = new MonotonicCounters();
  private readonly history: HistoryWriter | undefined;
  private recorder: HistoryRecorder | undefined;
  private end: MonitorEnd | undefined;
  private readonly startedMs = Date.now();
  /** Authentication counters (the checks themselves come with the token option). */
  private readonly auth: Authenticator;
  private readonly web = new WebAssets();
  private tlsFiles: TlsFiles | undefined;
  private closing: Promise<void> | undefined;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly monitor: Monitor,
    private readonly o: ResolvedServerOptions,
  ) {
    this.series = new ProcessSeriesTable({
      maxSeries: o.maxSeries,
      idleEvictMs: o.seriesGraceSeconds * 1000,
    });
    if (o.history !== false) {
      const h = o.history;
      this.history = new HistoryWriter({
        path: h.path,
        ...(h.intervalSeconds === undefined ? {} : { intervalSeconds: h.intervalSeconds }),
        ...(h.retentionDays === undefined ? {} : { retentionDays: h.retentionDays }),
        ...(h.maxBytes === undefined ? {} : { maxBytes: h.maxBytes }),
        ...(h.maxPendingRows === undefined ? {} : { maxPendingRows: h.maxPendingRows }),
        onEvent: o.onEvent,
      });
    }
    this.auth = new Authenticator(o.token, () => this.o.clock.now());
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.handle(req, res);
    this.tlsFiles = o.tls;
    if (o.tls !== undefined) {
      const https = createHttpsServer(
        { maxHeaderSize: MAX_HEADER_BYTES, ...readTlsFiles(o.tls) },
        handler,
      );
      // A client without a valid certificate fails the handshake: count it with failed auths.
      https.on('tlsClientError', () => {
        if (this.tlsFiles?.clientCaFile !== undefined) this.auth.failures++;
      });
      this.server = https;
    } else {
      this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, handler);
    }
    this.server.maxConnections = o.maxConnections;
    this.server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.server.headersTimeout = REQUEST_TIMEOUT_MS;
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    this.server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
    void monitor.done.then((end) => (this.end = end));
  }

  /** Per tick: the history point, and the series (so short-lived processes are seen at tick granularity). */
  private readonly onTick = (snapshot: Snapshot): void => {
    this.recorder?.tick(snapshot);
    this.series.update(snapshot.processes, this.o.clock.now());
  };

  async listen(): Promise<RunningServer> {
    if (this.history !== undefined) {
      await this.history.ready;
      const monitor = this.monitor;
      this.recorder = new HistoryRecorder(this.history, {
        intervalSeconds: this.history.intervalSeconds,
        rank: (options) => monitor.rank(options),
        maxRemotes: monitor.options.maxRemotes,
      });
    }
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        void this.history?.close();
        reject(listenError(error, this.o.host, this.o.port));
      };
      this.server.once('error', onError);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', onError);
        this.monitor.on('tick', this.onTick);
        const address = this.server.address() as AddressInfo;
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        resolve({
          url: `${this.o.tls === undefined ? 'http' : 'https'}://${host}:${address.port}`,
          port: address.port,
          close: () => this.close(),
          historyStats: () => this.history?.stats(),
          reload: (options) => this.reload(options),
        });
      });
    });
  }

  reload(options: { token?: string | undefined; tls?: TlsFiles | undefined }): void {
    const token = requireToken(this.o.host, options.token);
    if ((options.tls === undefined) !== (this.o.tls === undefined)) {
      throw new UsageError('TLS cannot be switched on or off by a reload: restart the agent');
    }
    if (options.tls !== undefined) {
      const context = readTlsFiles(options.tls);
      (this.server as HttpsServer).setSecureContext(context);
      this.tlsFiles = options.tls;
    }
    this.auth.setToken(token);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.monitor.off('tick', this.onTick);
      // The interval being collected is written before the database closes.
      this.recorder?.flush();
      const historyClosed = this.history?.close() ?? Promise.resolve();
      this.server.close(() => {
        clearTimeout(this.graceTimer);
        void historyClosed.then(resolve);
      });
      this.server.closeIdleConnections();
      // A real timer (not the injected clock): this bounds socket I/O, not accounting time.
      this.graceTimer = setTimeout(() => this.server.closeAllConnections(), CLOSE_GRACE_MS).unref();
    });
    return this.closing;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // The API has no request bodies: never read one, and close the connection after answering
    // so an unread body cannot be parsed as the next request.
    if (
      req.headers['content-length'] !== undefined ||
      req.headers['transfer-encoding'] !== undefined
    ) {
      res.shouldKeepAlive = false;
    }
    try {
      const rawUrl = req.url ?? '/';
      if (rawUrl.length > MAX_URL_CHARS) {
        throw new HttpError(
          414,
          'ERR_URL_TOO_LONG',
          `request URL is ${rawUrl.length} characters; the limit is ${MAX_URL_CHARS}`,
        );
      }
      let url: URL;
      try {
        url = new URL(rawUrl, 'http://localhost');
      } catch {
        throw new HttpError(400, 'ERR_BAD_URL', 'request URL cannot be parsed');
      }
      const route = this.route(url.pathname);
      if (route === undefined) {
        throw new HttpError(
          404,
          'ERR_NOT_FOUND',
          `no such endpoint: ${clipPath(url.pathname)} (endpoints: ${ENDPOINTS.join(', ')})`,
        );
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        throw new HttpError(
          405,
          'ERR_METHOD_NOT_ALLOWED',
          `${req.method ?? '?'} is not allowed on ${url.pathname}: use GET`,
        );
      }
      // /healthz (probes) and the page's files (no data in them) answer without a token;
      // everything else needs one when one is set, and anything but GET/HEAD needs one always.
      const isStateChanging = req.method !== 'GET' && req.method !== 'HEAD';
      const isOpen = url.pathname === '/healthz' || WebAssets.isWebPath(url.pathname);
      if (!isOpen || isStateChanging) {
        const refusal = this.auth.check(
          req.socket.remoteAddress ?? '?',
          req.headers.authorization,
          isStateChanging,
        );
        if (refusal !== undefined) {
          if (refusal.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="pidflow"');
          throw new HttpError(refusal.status, refusal.code, refusal.message);
        }
      }
      route(new Query(url.searchParams, url.pathname), res);
    } catch (error) {
      this.sendError(res, error);
    }
  }

  /** The handler of `path`, or undefined for an unknown path. */
  private route(path: string): ((q: Query, res: ServerResponse) => void) | undefined {
    switch (path) {
      case '/api/v1':
      case '/api/v1/':
        return (q, res) => {
          q.allow();
          this.sendJson(res, 200, { endpoints: ENDPOINTS });
        };
      case '/api/v1/top':
        return (q, res) => this.top(q, res);
      case '/healthz':
        return (q, res) => this.healthz(q, res);
      case '/metrics':
        return (q, res) => this.metrics(q, res);
      case '/api/v1/processes':
        return (q, res) => this.list(q, res, 'process');
      case '/api/v1/connections':
        return (q, res) => this.list(q, res, 'connection');
      case '/api/v1/remotes':
        return (q, res) => this.list(q, res, 'remote');
      case '/api/v1/containers':
        return (q, res) => this.list(q, res, 'container');
      case '/api/v1/snapshot':
        return (q, res) => {
          const windowSeconds = q
            .allow('window')
            .integer('window', 1, this.ringSeconds, this.ringSeconds);
          this.sendJson(res, 200, { snapshot: snapshotView(this.monitor.snapshot(windowSeconds)) });
        };
      case '/api/v1/stats':
        return (q, res) => {
          q.allow();
          const history = this.history?.stats();
          this.sendJson(res, 200, {
            stats: statsView(this.monitor.stats()),
            history: history === undefined ? null : (history as unknown as JsonObject),
          });
        };
      case '/api/v1/history':
        return (q, res) => this.historyRoute(q, res);
    }
    if (WebAssets.isWebPath(path)) return (q, res) => this.webFile(q, res, path);
    const match = /^\/api\/v1\/processes\/([^/]+)$/.exec(path);
    if (match !== null) return (q, res) => this.processDetail(q, res, match[1]!);
    return undefined;
  }

  private get ringSeconds(): number {
    return this.monitor.options.ringSeconds;
  }

  private healthz(q: Query, res: ServerResponse): void {
    q.allow();
    if (this.end === undefined) {
      this.sendJson(res, 200, { status: 'ok' });
    } else {
      this.sendJson(res, 503, { status: 'done', reason: this.end.reason });
    }
  }

  private metrics(q: Query, res: ServerResponse): void {
    q.allow();
    // Window 1 is the cheapest snapshot; /metrics only reads totals and stats.
    const snapshot = this.monitor.snapshot(1);
    this.series.update(snapshot.processes, this.o.clock.now());
    const body = renderMetrics({
      snapshot,
      series: this.series,
      monotonic: this.monotonic,
      isUp: this.end === undefined,
      version: this.o.version,
    });
    const agent = new PrometheusWriter();
    renderAgentMetrics(agent, {
      history: this.history?.stats(),
      authFailures: this.auth.failures,
      authRateLimited: this.auth.rateLimited,
      startedMs: this.startedMs,
    });
    this.send(res, 200, PROMETHEUS_CONTENT_TYPE, body + agent.text());
  }

  private list(q: Query, res: ServerResponse, groupBy: GroupBy): void {
    q.allow('limit', 'window', 'sort');
    const limit = q.integer('limit', 1, MAX_LIST_LIMIT, 10);
    const windowSeconds = q.integer('window', 0, this.ringSeconds, this.ringSeconds);
    const sortBy = q.oneOf('sort', SORTS, 'total');
    const entries = this.monitor.rank({ groupBy, limit, windowSeconds, sortBy });
    this.sendJson(res, 200, {
      groupBy,
      sortBy,
      windowSeconds,
      limit,
      entries: entries.map(rankEntryView),
    });
  }

  /** A file of the web page (no data in it: open without a token). */
  private webFile(q: Query, res: ServerResponse, path: string): void {
    q.allow();
    const asset = this.web.get(path);
    if (typeof asset === 'string') throw new HttpError(503, 'ERR_PAGE_NOT_BUILT', asset);
    this.send(res, 200, asset.contentType, asset.body, 'no-cache');
  }

  /** The page's "Now" table: top N of one kind with sparklines, the rest as "other". */
  private top(q: Query, res: ServerResponse): void {
    q.allow('groupBy', 'sort', 'filter', 'limit', 'window');
    const groupBy = q.oneOf('groupBy', GROUPS, 'process');
    const sortBy = q.oneOf('sort', TOP_SORTS, 'total');
    const filter = (q.text('filter', MAX_FILTER_CHARS) ?? '').toLowerCase();
    const limit = q.integer('limit', 1, MAX_TOP_LIMIT, 25);
    const windowSeconds = q.integer('window', 1, this.ringSeconds, Math.min(5, this.ringSeconds));
    const m = this.monitor.options;
    const snapshot = this.monitor.snapshot(windowSeconds);
    // The snapshot already holds every process over the window: rank only the other kinds.
    const entries =
      groupBy === 'process'
        ? snapshot.processes
        : this.monitor.rank({
            groupBy,
            limit:
              groupBy === 'connection'
                ? m.maxConnections
                : groupBy === 'remote'
                  ? m.maxRemotes
                  : m.maxProcesses,
            windowSeconds,
            sortBy: sortBy === 'name' ? 'total' : sortBy,
          });
    this.sendJson(
      res,
      200,
      topView(entries, snapshot, { groupBy, sortBy, filter, limit, windowSeconds }),
    );
  }

  private processDetail(q: Query, res: ServerResponse, pidText: string): void {
    q.allow('window', 'sort');
    const pid = /^\d{1,7}$/.test(pidText) ? Number(pidText) : NaN;
    if (!(pid >= 1 && pid <= PID_MAX)) {
      throw new HttpError(
        400,
        'ERR_BAD_PARAMETER',
        `pid must be an integer 1..${PID_MAX}, got '${clipPath(pidText)}'`,
      );
    }
    const windowSeconds = q.integer('window', 0, this.ringSeconds, this.ringSeconds);
    const sortBy = q.oneOf('sort', SORTS, 'total');
    const snapshot = this.monitor.snapshot(Math.max(1, windowSeconds));
    const entry = pickProcess(snapshot.processes, pid);
    if (entry === undefined) {
      throw new HttpError(
        404,
        'ERR_NO_SUCH_PROCESS',
        `no traffic seen for pid ${pid} (it may have sent nothing, or exited and been folded)`,
      );
    }
    const connections = this.monitor
      .rank({
        groupBy: 'connection',
        limit: this.monitor.options.maxConnections,
        windowSeconds,
        sortBy,
      })
      .filter((c) => c.kind === 'connection' && c.process.key === entry.key)
      .slice(0, MAX_PROCESS_CONNECTIONS);
    this.sendJson(res, 200, {
      windowSeconds,
      process: { ...rankEntryView(entry), process: processInfoView(entry.process) },
      connections: connections.map(rankEntryView),
    });
  }

  private historyRoute(q: Query, res: ServerResponse): void {
    const now = this.o.clock.now();
    const query = historyQueryFromParams(q, now, MAX_HISTORY_RANGE_MS);
    if (this.history === undefined) {
      throw new HttpError(
        503,
        'ERR_HISTORY_UNAVAILABLE',
        'this agent runs without a history database (started with history disabled)',
      );
    }
    this.history.query(query, now).then(
      (result) => this.sendJson(res, 200, result as unknown as JsonObject),
      (error: unknown) => {
        if (error instanceof HistoryQueryError && error.code !== 'ERR_USAGE') {
          this.sendError(res, new HttpError(503, error.code, `history: ${error.message}`));
        } else if (error instanceof HistoryQueryError) {
          this.sendError(res, new HttpError(400, 'ERR_BAD_PARAMETER', error.message));
        } else {
          this.sendError(res, error);
        }
      },
    );
  }

  private sendJson(res: ServerResponse, status: number, body: JsonObject): void {
    const payload = {
      version: API_VERSION,
      pidflowVersion: this.o.version,
      time: this.o.clock.now(),
      ...body,
    };
    // ASCII-only JSON: exact values (undecodable /proc bytes as \udc80-\udcff, docs/serve.md),
    // and a name's control characters stay escaped even if someone curls this to a terminal.
    this.send(res, status, 'application/json; charset=utf-8', `${stringifyAsciiJson(payload)}\n`);
  }

  private sendError(res: ServerResponse, error: unknown): void {
    let status = 500;
    let code = 'ERR_INTERNAL';
    let message = error instanceof Error ? error.message : String(error);
    if (error instanceof HttpError) {
      status = error.status;
      code = error.code;
    } else if (error instanceof UsageError) {
      // The monitor refused a value the query checks let through: still the caller's input.
      status = 400;
      code = 'ERR_BAD_PARAMETER';
    } else if (isPidflowError(error)) {
      code = error.code;
    } else {
      message = `internal error: ${message}`;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    this.sendJson(res, status, { error: { code, message } });
  }

  private send(
    res: ServerResponse,
    status: number,
    contentType: string,
    body: string | Buffer,
    cacheControl = 'no-store',
  ): void {
    res.statusCode = status;
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Cache-Control', cacheControl);
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}

/** The live entry of `pid` if there is one, else the most recent exited one. */
function pickProcess(processes: readonly ProcessEntry[], pid: number): ProcessEntry | undefined {
  let best: ProcessEntry | undefined;
  for (const p of processes) {
    if (p.process.pid !== pid) continue;
    if (
      best === undefined ||
      (best.exited && !p.exited) ||
      (best.exited === p.exited && p.process.startTime > best.process.startTime)
    ) {
      best = p;
    }
  }
  return best;
}

function clipPath(path: string): string {
  return path.length > 80 ? `${path.slice(0, 80)}...` : path;
}
