import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FakeClock } from '../clock.js';
import { UsageError } from '../errors.js';
import type {
  ContainerInfo,
  MonitorStats,
  ProcessEntry,
  RankEntry,
  RankOptions,
  Snapshot,
} from '../monitor/types.js';
import { assertGolden } from '../../test/golden/assert-golden.js';
import {
  FakeMonitor,
  makeConnectionEntry,
  makeContainerEntry,
  makeProcessEntry,
  makeProcessInfo,
  makeRemoteEntry,
  makeSnapshot,
  makeStats,
  makeUnknownEntry,
} from '../../test/helpers/fake-monitor.js';
import { startServer, type RunningServer, type ServerOptions } from './server.js';

/** A parsed response body: untyped wire data, indexed freely in assertions. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const START_MS = 1_700_000_000_000;
const TEST_VERSION = '9.9.9-test';

/** FakeMonitor that records the options rank() was called with. */
class RecordingMonitor extends FakeMonitor {
  readonly rankCalls: RankOptions[] = [];
  override rank(options: RankOptions = {}): RankEntry[] {
    this.rankCalls.push(options);
    return super.rank(options);
  }
}

const nginxA = makeProcessInfo(4242, 'nginx');
const nginxB = makeProcessInfo(4243, 'nginx', { key: '4243:2000', startTime: 2000 });
// A pod container whose names carry what the text format must escape (owners choose them).
const CURL_CONTAINER: ContainerInfo = {
  id: 'c0ffee0123456789',
  runtime: 'containerd',
  name: '',
  image: 'registry.example/fetch:1.0',
  composeProject: '',
  composeService: '',
  pod: {
    namespace: 'web',
    name: 'fetch"er\\x\ny',
    uid: '01b4b887-7635-4346-9c20-58a294bbb034',
    container: 'fetch',
  },
};
const curl = makeProcessInfo(77, 'curl', {
  containerId: 'c0ffee0123456789',
  containerRuntime: 'containerd',
  container: CURL_CONTAINER,
});
// A comm with every character the text format must escape.
const weird = makeProcessInfo(99, 'we"ird\\na\nme');

function fullStats(extra: Partial<MonitorStats> = {}): MonitorStats {
  return makeStats({
    seen: { packets: 1000, bytes: 3_725_000 },
    attributed: { packets: 980, bytes: 3_720_000 },
    unknown: { packets: 5, bytes: 5000 },
    pending: { packets: 3, bytes: 180 },
    queueDropped: { packets: 7, bytes: 0 },
    otherProtocol: { packets: 5, bytes: 420 },
    kernelDroppedPackets: 11,
    malformedPackets: 3,
    nonIpPackets: 2,
    retry: {
      pendingFlows: 2,
      limitFlows: 4096,
      droppedFlows: 1,
      droppedPackets: 4,
      resolvedFlows: 30,
      expiredFlows: 6,
      inferredFlows: 0,
      inferredPackets: 0,
    },
    scans: {
      count: 42,
      onDemand: 8,
      rateLimited: 1,
      lastDurationMs: 12.5,
      maxDurationMs: 40,
      medianDurationMs: 10,
      skippedQuiet: 3,
      maxBlockMs: 45,
      maxBlockCpuMs: 9.5,
      sockets: 120,
      processes: 80,
      namespaces: 2,
      ownerSource: 'kernel',
    },
    flows: {
      tracked: 17,
      expired: 100,
      overflowPackets: 0,
      attributionCached: 15,
      attributionEvicted: 3,
    },
    containerNames: {
      cached: 1,
      evicted: 2,
      unresolved: 0,
      filesRead: 9,
      malformedFiles: 1,
      oversizedFiles: 1,
      deniedFiles: 0,
    },
    evicted: { processes: 1, connections: 2, remotes: 0, containers: 0, flows: 3, unknown: 0 },
    devices: [
      {
        device: 'lo',
        kernelReceivedPackets: 2000,
        kernelDroppedPackets: 0,
        interfaceDroppedPackets: 0,
        capturedPackets: 1000,
        deliveredPackets: 993,
        queueDroppedPackets: 7,
        nonIpPackets: 2,
        malformedPackets: 3,
        malformedByKind: { 'short-ipv4': 2, 'bad-ihl': 1 },
      },
      {
        device: 'eth0',
        kernelReceivedPackets: 50,
        kernelDroppedPackets: 11,
        interfaceDroppedPackets: 0,
        capturedPackets: 39,
        deliveredPackets: 39,
        queueDroppedPackets: 0,
        nonIpPackets: 0,
        malformedPackets: 0,
        malformedByKind: {},
      },
    ],
    ...extra,
  });
}

function processes(nginxASent = 1_000_000): ProcessEntry[] {
  return [
    makeProcessEntry(
      nginxA,
      {
        sentBytes: nginxASent,
        receivedBytes: 2_000_000,
        sentHistory: [100, 200],
        receivedHistory: [300, 400],
      },
      { connectionCount: 2 },
    ),
    makeProcessEntry(nginxB, { sentBytes: 500_000, receivedBytes: 100_000 }),
    makeProcessEntry(curl, { sentBytes: 3000, receivedBytes: 120_000 }),
    makeProcessEntry(weird, { sentBytes: 10, receivedBytes: 20 }),
  ];
}

function knownSnapshot(procs: ProcessEntry[] = processes(), stats = fullStats()): Snapshot {
  return makeSnapshot({
    time: START_MS,
    processes: procs,
    unknown: [makeUnknownEntry('tcp', 8080, { sentBytes: 0, receivedBytes: 5000 })],
    stats,
  });
}

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function serve(
  monitor: FakeMonitor = new RecordingMonitor(),
  options: ServerOptions = {},
): Promise<{ monitor: FakeMonitor; url: string; clock: FakeClock }> {
  const clock = new FakeClock(START_MS);
  server = await startServer(monitor, {
    host: '127.0.0.1',
    port: 0,
    clock,
    version: TEST_VERSION,
    ...options,
  });
  return { monitor, url: server.url, clock };
}

async function getJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function getMetrics(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return res.text();
}

function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('listens on 127.0.0.1 with a free port when port is 0', async () => {
  await serve();
  assert.match(server!.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(server!.port > 0);
});

test('/metrics matches the golden file for a known monitor', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  // The agent's own CPU, memory, descriptors and history timings vary: scrub their values.
  const text = (await getMetrics(url)).replace(
    /^((?:process_|pidflow_history_write_duration|pidflow_history_file_bytes)\S*) \S+$/gm,
    '$1 <VALUE>',
  );
  assertGolden('metrics.txt', text);
});

test('/metrics sums processes by comm and container, with the known byte counts', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  const text = await getMetrics(url);
  assert.equal(
    sample(text, 'pidflow_process_sent_bytes_total{comm="nginx",container=""}'),
    1_000_000 + 500_000,
  );
  assert.equal(
    sample(text, 'pidflow_process_received_bytes_total{comm="nginx",container=""}'),
    2_000_000 + 100_000,
  );
  assert.equal(
    sample(text, 'pidflow_process_sent_packets_total{comm="nginx",container=""}'),
    1000 + 500,
  );
  assert.equal(
    sample(text, 'pidflow_process_sent_bytes_total{comm="curl",container="c0ffee0123456789"}'),
    3000,
  );
  assert.equal(
    sample(text, 'pidflow_container_received_bytes_total{container="c0ffee0123456789"}'),
    120_000,
  );
  assert.equal(sample(text, 'pidflow_container_received_bytes_total{container=""}'), 2_100_020);
  assert.equal(sample(text, 'pidflow_unknown_received_bytes_total'), 5000);
  assert.equal(sample(text, 'pidflow_seen_packets_total'), 1000);
  assert.equal(sample(text, 'pidflow_attributed_packets_total'), 980);
  assert.equal(sample(text, 'pidflow_unknown_packets_total'), 5);
  assert.equal(sample(text, 'pidflow_queue_dropped_packets_total'), 7);
  assert.equal(sample(text, 'pidflow_kernel_dropped_packets_total{device="eth0"}'), 11);
  assert.equal(sample(text, 'pidflow_malformed_packets_total{device="lo",kind="short-ipv4"}'), 2);
  assert.equal(sample(text, 'pidflow_retry_pending_flows'), 2);
  assert.equal(sample(text, 'pidflow_scan_duration_seconds'), 0.0125);
  assert.equal(sample(text, 'pidflow_scan_duration_max_seconds'), 0.04);
  assert.equal(sample(text, 'pidflow_evicted_total{table="processes"}'), 1);
  assert.equal(sample(text, 'pidflow_up'), 1);
  assert.equal(sample(text, `pidflow_build_info{version="${TEST_VERSION}"}`), 1);
  // pid is not a label.
  assert.doesNotMatch(text, /pid="/);
  // Every family has HELP and TYPE before its first sample.
  const declared = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const m = /^# TYPE (\S+) (counter|gauge)$/.exec(line);
    if (m) declared.add(m[1]!);
    else if (!line.startsWith('# HELP '))
      assert.ok(declared.has(/^[a-z_]+/.exec(line)![0]), `no TYPE before: ${line}`);
  }
});

test('/metrics escapes backslash, quote and newline in label values', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  const text = await getMetrics(url);
  assert.equal(
    sample(text, 'pidflow_process_sent_bytes_total{comm="we\\"ird\\\\na\\nme",container=""}'),
    10,
  );
  // The raw newline never reaches the output inside a sample line.
  assert.ok(
    text
      .split('\n')
      .every((line) => line === '' || line.startsWith('#') || /^[a-z_]+(\{.*\})? \S+$/.test(line)),
  );
});

test('/metrics counters never decrease when a process exits and is folded into `exited`', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  const before = await getMetrics(url);
  // nginx pid 4242 exits; the accountant folds its 1,000,000 sent bytes into the exited entry.
  const exited = makeProcessEntry(
    makeProcessInfo(0, '(exited)', { key: 'exited' }),
    { sentBytes: 1_000_000, receivedBytes: 2_000_000 },
    { exited: true },
  );
  const [, b, c, w] = processes();
  monitor.tick(knownSnapshot([b!, c!, w!, exited]));
  const after = await getMetrics(url);
  const series = 'pidflow_process_sent_bytes_total{comm="nginx",container=""}';
  assert.equal(sample(before, series), 1_500_000);
  assert.equal(sample(after, series), 1_500_000);
  // Not counted twice: the aggregate only grew by bytes already exported under nginx.
  assert.equal(sample(after, 'pidflow_process_sent_bytes_total{comm="(exited)",container=""}'), 0);
  // A stats counter going down (e.g. a device reopened) stays at its high-water mark.
  monitor.tick(
    knownSnapshot([b!, c!, w!, exited], fullStats({ seen: { packets: 400, bytes: 1 } })),
  );
  const later = await getMetrics(url);
  assert.equal(sample(later, 'pidflow_seen_packets_total'), 1000);
  for (const line of before.split('\n')) {
    const m = /^(pidflow_\S+_total(?:\{.*\})?) (\S+)$/.exec(line);
    if (!m) continue;
    const value = sample(later, m[1]!);
    assert.ok(
      value === undefined || value >= Number(m[2]),
      `${m[1]} went from ${m[2]} to ${value}`,
    );
  }
});

test('/metrics folds processes beyond maxSeries into comm="other"', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor, { maxSeries: 2 });
  const text = await getMetrics(url);
  // Series are admitted in snapshot order (by window bytes): nginx first, then curl.
  assert.equal(
    sample(text, 'pidflow_process_sent_bytes_total{comm="other",container="other"}'),
    10,
  );
  assert.equal(sample(text, 'pidflow_process_series_folded_total'), 1);
});

test('/healthz is 200 while running and 503 after the monitor is done; pidflow_up follows', async () => {
  const monitor = new RecordingMonitor();
  const { url } = await serve(monitor);
  const ok = await getJson(`${url}/healthz`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body['status'], 'ok');
  monitor.end('timeout');
  await monitor.done;
  await new Promise((r) => setImmediate(r));
  const done = await getJson(`${url}/healthz`);
  assert.equal(done.status, 503);
  assert.deepEqual([done.body['status'], done.body['reason']], ['done', 'timeout']);
  assert.equal(sample(await getMetrics(url), 'pidflow_up'), 0);
});

test('/api/v1/processes returns the ranked processes with the query turned into rank options', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  const { status, body } = await getJson(`${url}/api/v1/processes?limit=2&window=5&sort=sent`);
  assert.equal(status, 200);
  assert.equal(body['version'], 1);
  assert.equal(body['pidflowVersion'], TEST_VERSION);
  assert.equal(body['time'], START_MS);
  assert.deepEqual((monitor as RecordingMonitor).rankCalls.at(-1), {
    groupBy: 'process',
    limit: 2,
    windowSeconds: 5,
    sortBy: 'sent',
  });
  const entries = body['entries'] as Json[];
  assert.equal(entries.length, 2);
  assert.equal(entries[0]!['kind'], 'process');
  assert.equal(entries[0]!['process']['pid'], 4242);
  assert.equal(entries[0]!['process']['comm'], 'nginx');
  assert.equal(entries[0]!['total']['sentBytes'], 1_000_000);
  assert.equal(entries[0]!['total']['receivedBytes'], 2_000_000);
  assert.deepEqual(entries[0]!['history'], { sentBytes: [100, 200], receivedBytes: [300, 400] });
  assert.equal(entries[0]!['connectionCount'], 2);
  assert.equal(entries[0]!['exited'], false);
});

test('defaults: limit 10, window = ringSeconds, sort total', async () => {
  const monitor = new RecordingMonitor({ ringSeconds: 30 });
  const { url } = await serve(monitor);
  await getJson(`${url}/api/v1/processes`);
  assert.deepEqual((monitor as RecordingMonitor).rankCalls.at(-1), {
    groupBy: 'process',
    limit: 10,
    windowSeconds: 30,
    sortBy: 'total',
  });
});

test('/api/v1/connections, /remotes and /containers rank by their group', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  monitor.setRank('connection', [
    makeConnectionEntry(
      nginxA,
      { local: ['198.18.0.1', 443], remote: ['198.18.0.2', 50000] },
      { sentBytes: 700, receivedBytes: 80 },
    ),
  ]);
  monitor.setRank('remote', [
    makeRemoteEntry('198.18.0.2', 3, { sentBytes: 11, receivedBytes: 22 }),
  ]);
  monitor.setRank('container', [
    makeContainerEntry(
      'c0ffee0123456789',
      'containerd',
      1,
      { sentBytes: 3000, receivedBytes: 120_000 },
      CURL_CONTAINER,
    ),
  ]);
  const { url } = await serve(monitor);

  const conns = await getJson(`${url}/api/v1/connections`);
  const c = (conns.body['entries'] as Json[])[0]!;
  assert.deepEqual(
    [
      c['kind'],
      c['protocol'],
      c['localAddress'],
      c['localPort'],
      c['remoteAddress'],
      c['remotePort'],
      c['process']['pid'],
    ],
    ['connection', 'tcp', '198.18.0.1', 443, '198.18.0.2', 50000, 4242],
  );
  assert.equal(c['total']['sentBytes'], 700);

  const remotes = await getJson(`${url}/api/v1/remotes?sort=received`);
  const r = (remotes.body['entries'] as Json[])[0]!;
  assert.deepEqual(
    [r['remoteAddress'], r['processCount'], r['total']['receivedBytes']],
    ['198.18.0.2', 3, 22],
  );

  const containers = await getJson(`${url}/api/v1/containers?window=0`);
  const k = (containers.body['entries'] as Json[])[0]!;
  assert.deepEqual(
    [k['containerId'], k['containerRuntime'], k['total']['sentBytes']],
    ['c0ffee0123456789', 'containerd', 3000],
  );
  assert.deepEqual(k['container'], { ...CURL_CONTAINER, pod: { ...CURL_CONTAINER.pod } });
  assert.deepEqual(
    (monitor as RecordingMonitor).rankCalls.map((o) => o.groupBy),
    ['connection', 'remote', 'container'],
  );
});

test('/api/v1/processes/<pid> returns the process, its connections only, and its history', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  monitor.setRank('connection', [
    makeConnectionEntry(
      nginxA,
      { local: ['198.18.0.1', 443], remote: ['198.18.0.2', 50000] },
      { sentBytes: 700, receivedBytes: 80 },
    ),
    makeConnectionEntry(
      curl,
      { local: ['198.18.0.1', 40000], remote: ['198.18.0.3', 80] },
      { sentBytes: 5, receivedBytes: 6 },
    ),
    makeConnectionEntry(
      nginxA,
      { protocol: 'udp', local: ['198.18.0.1', 53], remote: ['198.18.0.4', 5353] },
      { sentBytes: 9, receivedBytes: 1 },
    ),
  ]);
  const { url } = await serve(monitor);
  const { status, body } = await getJson(`${url}/api/v1/processes/4242`);
  assert.equal(status, 200);
  const p = body['process'] as Json;
  assert.equal(p['process']['pid'], 4242);
  assert.deepEqual(p['process']['cmdline'], ['/usr/bin/nginx', '--serve']);
  assert.deepEqual(p['history'], { sentBytes: [100, 200], receivedBytes: [300, 400] });
  const conns = body['connections'] as Json[];
  assert.deepEqual(
    conns.map((c) => [c['protocol'], c['localPort']]),
    [
      ['tcp', 443],
      ['udp', 53],
    ],
  );
});

test('/api/v1/snapshot and /api/v1/stats return the monitor state', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  const snap = await getJson(`${url}/api/v1/snapshot?window=3`);
  const s = snap.body['snapshot'] as Json;
  assert.equal(monitor.snapshotWindows.at(-1), 3);
  assert.equal(s['time'], START_MS);
  assert.equal((s['processes'] as unknown[]).length, 4);
  assert.equal(s['unknownTotals']['total']['receivedBytes'], 5000);
  assert.equal(s['totals']['total']['sentBytes'], 1_000_000 + 500_000 + 3000 + 10);
  assert.equal(s['unknown'][0]['localPort'], 8080);
  const stats = await getJson(`${url}/api/v1/stats`);
  const st = stats.body['stats'] as Json;
  assert.equal(st['seen']['packets'], 1000);
  assert.equal(st['retry']['expiredFlows'], 6);
  assert.equal(st['devices'][0]['malformedByKind']['short-ipv4'], 2);
});

test('/api/v1/history returns per-interval bytes of the top processes from the history database', async () => {
  const monitor = new RecordingMonitor({ tickIntervalMs: 1000 });
  const { url, clock } = await serve(monitor, { history: { path: ':memory:' } });
  const snap = (time: number, nginxASent: number): Snapshot => ({
    ...knownSnapshot(processes(nginxASent)),
    time,
  });
  // 21 ticks: nginx (4242) sends 4000 B a second after 1,000,000 B before the first tick.
  for (let i = 1; i <= 21; i++) monitor.tick(snap(START_MS + i * 1000, 1_000_000 + 4000 * i));
  clock.advance(21_000);
  const res = await getJson(
    `${url}/api/v1/history?from=${START_MS}&to=${START_MS + 20_000}&step=10&limit=1`,
  );
  const status = res.status;
  const body = res.body as Json;
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual(body['times'], [START_MS, START_MS + 10_000]);
  assert.deepEqual(body['recordedSeconds'], [10, 10]);
  assert.equal(body['stepSeconds'], 10);
  assert.equal(body['groupBy'], 'process');
  const nginx = (body['series'] as Json[])[0] as Json;
  assert.equal(nginx['key'], '4242:1000');
  assert.equal(nginx['name'], 'nginx');
  // The first interval carries the totals before it (the monitor started with the agent).
  assert.deepEqual(nginx['sentBytes'], [1_040_000, 40_000]);
  assert.equal(nginx['sentBytesTotal'], 1_080_000);
  assert.deepEqual(nginx['process']['cmdline'], [...nginxA.cmdline]);
  // totals = unknown + other + series at every step.
  for (let i = 0; i < 2; i++) {
    assert.equal(
      body['totals']['sentBytes'][i],
      body['unknown']['sentBytes'][i] + body['other']['sentBytes'][i] + nginx['sentBytes'][i],
    );
  }
  assert.deepEqual(body['totals']['sentBytes'], [1_543_010, 40_000]);
  const byContainer = await getJson(
    `${url}/api/v1/history?from=${START_MS}&to=${START_MS + 20_000}&groupBy=container&key=c0ffee0123456789`,
  );
  assert.equal((byContainer.body as Json)['series'][0]['containerRuntime'], 'containerd');
  const stats = (await getJson(`${url}/api/v1/stats`)).body as Json;
  assert.equal(stats['history']['up'], true);
  assert.equal(stats['history']['writtenIntervals'], 2);
});

test('/api/v1/history without a database is 503 and says why', async () => {
  const { url } = await serve(new RecordingMonitor(), { history: false });
  const { status, body } = await getJson(`${url}/api/v1/history`);
  assert.equal(status, 503);
  assert.equal((body as Json)['error']['code'], 'ERR_HISTORY_UNAVAILABLE');
});

test('rejects bad query values with 400 naming the parameter and the allowed values', async () => {
  const monitor = new RecordingMonitor({ ringSeconds: 15 });
  const { url } = await serve(monitor);
  const cases: [string, RegExp][] = [
    ['/api/v1/processes?limit=0', /'limit' must be an integer 1\.\.1000, got '0'/],
    ['/api/v1/processes?limit=abc', /'limit' must be an integer 1\.\.1000, got 'abc'/],
    ['/api/v1/processes?limit=1.5', /'limit' must be an integer/],
    ['/api/v1/processes?window=16', /'window' must be an integer 0\.\.15, got '16'/],
    ['/api/v1/processes?window=-1', /'window' must be an integer 0\.\.15/],
    ['/api/v1/processes?sort=bytes', /'sort' must be one of total, sent, received, got 'bytes'/],
    ['/api/v1/connections?sort=', /'sort' must be one of total, sent, received, got ''/],
    [
      '/api/v1/remotes?limt=3',
      /unknown query parameter 'limt' for \/api\/v1\/remotes \(allowed: limit, window, sort\)/,
    ],
    ['/api/v1/containers?limit=1&limit=2', /'limit' is given more than once/],
    ['/api/v1/snapshot?window=0', /'window' must be an integer 1\.\.15/],
    [
      '/api/v1/stats?x=1',
      /unknown query parameter 'x' for \/api\/v1\/stats \(it takes no parameters\)/,
    ],
    ['/api/v1/history?groupBy=pid', /'groupBy' must be one of process, container, remote/],
    ['/api/v1/history?from=2000&to=1000', /'from' \(2000\) must be before 'to' \(1000\)/],
    [
      '/api/v1/history?groupBy=remote&name=x',
      /name filter processes: use them with groupBy=process/,
    ],
    [
      `/api/v1/history?from=${START_MS - 86_400_000}&to=${START_MS}&step=10`,
      /8640 points .*limit is 2000/,
    ],
    ['/api/v1/processes/abc', /pid must be an integer 1\.\.4194304, got 'abc'/],
    ['/api/v1/processes/0', /pid must be an integer/],
    ['/api/v1/processes/1?sort=up', /'sort' must be one of total, sent, received/],
    ['/metrics?format=json', /unknown query parameter 'format' for \/metrics/],
    ['/healthz?verbose=1', /unknown query parameter 'verbose'/],
  ];
  for (const [path, message] of cases) {
    const { status, body } = await getJson(`${url}${path}`);
    assert.equal(status, 400, path);
    const error = body['error'] as { code: string; message: string };
    assert.match(error.code, /^ERR_(BAD|UNKNOWN)_PARAMETER$/, path);
    assert.match(error.message, message, path);
  }
});

test('a UsageError from the monitor becomes a 400', async () => {
  const monitor = new RecordingMonitor();
  monitor.rank = () => {
    throw new UsageError('rank() option windowSeconds must be an integer 0..15, got 99');
  };
  const { url } = await serve(monitor);
  const { status, body } = await getJson(`${url}/api/v1/processes`);
  assert.equal(status, 400);
  assert.deepEqual(body['error'], {
    code: 'ERR_BAD_PARAMETER',
    message: 'rank() option windowSeconds must be an integer 0..15, got 99',
  });
});

test('unknown paths and pids are 404 with the list of endpoints', async () => {
  const monitor = new RecordingMonitor();
  monitor.tick(knownSnapshot());
  const { url } = await serve(monitor);
  for (const path of ['/nope', '/api/v2/processes', '/api/v1/processes/4242/extra', '/metrics/']) {
    const { status, body } = await getJson(`${url}${path}`);
    assert.equal(status, 404, path);
    const error = body['error'] as { code: string; message: string };
    assert.equal(error.code, 'ERR_NOT_FOUND');
    assert.match(error.message, /endpoints: .*\/api\/v1\/processes/);
  }
  const missing = await getJson(`${url}/api/v1/processes/31337`);
  assert.equal(missing.status, 404);
  assert.equal((missing.body['error'] as { code: string }).code, 'ERR_NO_SUCH_PROCESS');
  assert.match(
    (missing.body['error'] as { message: string }).message,
    /no traffic seen for pid 31337/,
  );
});

test('methods other than GET and HEAD are 405 with an Allow header; a request body is never read', async () => {
  const { url } = await serve();
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const res = await fetch(`${url}/metrics`, {
      method,
      ...(method === 'POST' ? { body: 'x'.repeat(100_000) } : {}),
    });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get('allow'), 'GET, HEAD');
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'ERR_METHOD_NOT_ALLOWED');
    assert.match(body.error.message, new RegExp(`^${method} is not allowed on /metrics: use GET$`));
  }
  const head = await fetch(`${url}/healthz`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
});

test('URLs longer than 2048 characters are refused with 414', async () => {
  const { url } = await serve();
  const { status, body } = await getJson(`${url}/api/v1/processes?limit=${'1'.repeat(3000)}`);
  assert.equal(status, 414);
  assert.equal((body['error'] as { code: string }).code, 'ERR_URL_TOO_LONG');
});

test('/api/v1 lists the endpoints (/ is the web page)', async () => {
  const { url } = await serve();
  const { status, body } = await getJson(`${url}/api/v1`);
  assert.equal(status, 200);
  assert.ok((body['endpoints'] as string[]).includes('/metrics'));
});

test('bad server options are UsageErrors naming the option', async () => {
  const monitor = new RecordingMonitor();
  await assert.rejects(startServer(monitor, { port: 70_000 }), {
    name: 'UsageError',
    code: 'ERR_USAGE',
    message: 'server option port must be an integer 0..65535, got 70000',
  });
  await assert.rejects(startServer(monitor, { maxSeries: 1.5 }), {
    message: /maxSeries must be an integer 1\.\.10000/,
  });
  await assert.rejects(startServer(monitor, { host: '' }), {
    message: /host must be a non-empty address/,
  });
  await assert.rejects(startServer(monitor, { prot: 1 } as unknown as ServerOptions), {
    code: 'ERR_USAGE',
    message: /unknown server option 'prot'/,
  });
});

test('a port in use is an ERR_LISTEN error that says what to do', async () => {
  await serve();
  await assert.rejects(
    startServer(new RecordingMonitor(), { host: '127.0.0.1', port: server!.port }),
    {
      code: 'ERR_LISTEN',
      message: new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${server!.port}: the port is already in use \\(EADDRINUSE\\)`,
      ),
    },
  );
});

test('close() detaches from the monitor and a second close is harmless', async () => {
  const monitor = new RecordingMonitor();
  const { url } = await serve(monitor);
  assert.equal(monitor.listenerCount, 1);
  await server!.close();
  await server!.close();
  assert.equal(monitor.listenerCount, 0);
  await assert.rejects(fetch(`${url}/healthz`));
  server = undefined;
});
