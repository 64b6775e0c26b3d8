// `npm run bench:soak` (as root): `pidflow serve` for --seconds (default 600) under a steady mix on
// loopback: 1,000 processes trickling UDP, short-lived TCP clients (churn), long TCP flows; /metrics
// scraped every 5 s with the token, history queried every 5 s. Prints the agent's CPU, RSS over
// time with its slope after warm-up, open descriptors, database size, and /metrics and history
// latency (median, p99). Options: --seconds N, --processes N, --warmup N.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readProcUsage } from './lib/proc-usage.js';

const TOKEN = 'c29hay1iZW5jaC10b2tlbi0wMTIzNDU2Nzg5';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function quantile(values: readonly number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  let sx = 0;
  let sy = 0;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxy += x * y;
    sxx += x * x;
  }
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

function fileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // Not there (yet).
    }
  }
  return total;
}

function openFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
}

async function timed(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`${url}: ${res.status}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '600' },
      processes: { type: 'string', default: '1000' },
      warmup: { type: 'string', default: '120' },
    },
  });
  const seconds = Number(values.seconds);
  const processCount = Number(values.processes);
  const warmupSeconds = Number(values.warmup);
  if (process.getuid?.() !== 0) throw new Error('run as root: the agent captures on lo');
  const dir = mkdtempSync(join(tmpdir(), 'pidflow-soak-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, TOKEN);
  chmodSync(tokenFile, 0o600);
  const db = join(dir, 'history.db');
  const idle = join(dir, 'idle');
  spawnSyncOk('mkfifo', [idle]);
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  const sink = createSocket('udp4');
  let agent: ChildProcess | undefined;
  const deadline = Date.now() + (seconds + 120) * 1000;
  try {
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
    sink.on('message', () => undefined);
    // A TCP sink for churn clients and long flows: reads and discards.
    const tcp = createServer((s) => {
      s.on('data', () => undefined);
      s.on('error', () => undefined);
    });
    servers.push(tcp);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const tcpPort = (tcp.address() as { port: number }).port;

    const port = 19_465 + (process.pid % 500);
    agent = spawn(
      process.execPath,
      [
        join(process.cwd(), 'bin', 'pidflow.js'),
        'serve',
        '--listen',
        `127.0.0.1:${port}`,
        '--token-file',
        tokenFile,
        '--history-db',
        db,
        '--include-loopback',
        'lo',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    agent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    for (let i = 0; i < 200 && !out.includes('listening'); i++) await sleep(100);
    if (!out.includes('listening')) throw new Error('the agent did not start');
    const base = `http://127.0.0.1:${port}`;
    const pid = agent.pid!;

    // 1,000 processes, each a bash with one UDP socket sending 100 bytes every 5 s (no forks:
    // `read -t` on a FIFO nobody writes is the timer).
    for (let i = 0; i < processCount; i++) {
      const c = spawn(
        'bash',
        [
          '-c',
          `exec 3>/dev/udp/127.0.0.1/${sink.address().port}; exec 4<>${idle}; sleep_s=$((RANDOM % 5 + 3)); while :; do printf '%0100d' 0 >&3; read -t $sleep_s -u 4; done`,
        ],
        { stdio: 'ignore' },
      );
      children.push(c);
    }
    // Long flows: one node child with 4 TCP connections at about 256 KiB/s each.
    const flows = spawn(
      process.execPath,
      [
        '-e',
        `const net=require('node:net');const b=Buffer.alloc(16384);for(let i=0;i<4;i++){const s=net.connect(${tcpPort},'127.0.0.1',()=>setInterval(()=>s.write(b),62));s.on('error',()=>process.exit(1));}`,
      ],
      { stdio: 'ignore' },
    );
    children.push(flows);
    // Churn: 5 short-lived TCP clients a second (each its own process), 20 KB each.
    const churn = setInterval(() => {
      const c = spawn(
        'bash',
        ['-c', `exec 3<>/dev/tcp/127.0.0.1/${tcpPort}; head -c 20000 /dev/zero >&3`],
        {
          stdio: 'ignore',
        },
      );
      c.on('error', () => undefined);
    }, 200);

    const startMs = Date.now();
    const samples: { t: number; cpu: number; rss: number; fds: number; db: number }[] = [];
    const metricsMs: number[] = [];
    const historyMs: number[] = [];
    const dayHistoryMs: number[] = [];
    let failures = 0;
    let next = startMs;
    while (Date.now() - startMs < seconds * 1000 && Date.now() < deadline) {
      next += 5000;
      try {
        metricsMs.push(await timed(`${base}/metrics`));
        const now = Date.now();
        historyMs.push(
          await timed(
            `${base}/api/v1/history?from=${now - 3_600_000}&to=${now}&groupBy=process&limit=10`,
          ),
        );
        if (samples.length % 6 === 0) {
          dayHistoryMs.push(
            await timed(
              `${base}/api/v1/history?from=${now - 86_400_000}&to=${now}&groupBy=container&limit=10`,
            ),
          );
        }
      } catch (error) {
        failures++;
        process.stderr.write(`request failed: ${(error as Error).message}\n`);
      }
      const u = readProcUsage(pid);
      if (u === undefined) throw new Error('the agent died');
      samples.push({
        t: (Date.now() - startMs) / 1000,
        cpu: u.cpuSeconds,
        rss: u.rssBytes,
        fds: openFds(pid),
        db: fileBytes(db),
      });
      const last = samples[samples.length - 1]!;
      if (samples.length % 12 === 0) {
        process.stderr.write(
          `t=${last.t.toFixed(0)}s rss=${(last.rss / 2 ** 20).toFixed(1)}MB cpu=${last.cpu.toFixed(1)}s fds=${last.fds} db=${(last.db / 2 ** 20).toFixed(2)}MB\n`,
        );
      }
      await sleep(Math.max(0, next - Date.now()));
    }
    clearInterval(churn);
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const warm = samples.filter((s) => s.t >= warmupSeconds);
    const rssSlopeMbPerHour = (slope(warm.map((s) => [s.t, s.rss])) * 3600) / 2 ** 20;
    const cpuShare = (last.cpu - first.cpu) / (last.t - first.t);
    const warmCpu =
      warm.length > 1
        ? (warm[warm.length - 1]!.cpu - warm[0]!.cpu) / (warm[warm.length - 1]!.t - warm[0]!.t)
        : Number.NaN;
    const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
    const lines = [
      `soak: ${seconds} s, ${processCount} trickling processes, 5 churn clients/s, 4 long flows; ${availableParallelism()} cores, load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} at the end (shared machine)`,
      `agent CPU: ${(cpuShare * 100).toFixed(1)}% of one core overall, ${(warmCpu * 100).toFixed(1)}% after warm-up`,
      `agent RSS: ${mb(first.rss)} MB at start, ${mb(warm[0]?.rss ?? Number.NaN)} MB after ${warmupSeconds} s, ${mb(last.rss)} MB at the end; slope after warm-up ${rssSlopeMbPerHour.toFixed(2)} MB/hour; max ${mb(Math.max(...samples.map((s) => s.rss)))} MB`,
      `RSS over time (MB): ${samples
        .filter((_, i) => i % 12 === 0)
        .map((s) => `${s.t.toFixed(0)}s:${mb(s.rss)}`)
        .join(' ')}`,
      `open fds: ${first.fds} at start, ${last.fds} at the end, max ${Math.max(...samples.map((s) => s.fds))}`,
      `history database: ${mb(last.db)} MB after ${last.t.toFixed(0)} s; growth after warm-up ${mb(((last.db - (warm[0]?.db ?? 0)) / (last.t - (warm[0]?.t ?? 0))) * 86_400)} MB/day (10 s rows are kept 1 day, 1 min rows 7 days, 1 h rows 90 days)`,
      `/metrics latency: p50 ${quantile(metricsMs, 0.5).toFixed(1)} ms, p99 ${quantile(metricsMs, 0.99).toFixed(1)} ms (${metricsMs.length} scrapes)`,
      `history (1 h, by process) latency: p50 ${quantile(historyMs, 0.5).toFixed(1)} ms, p99 ${quantile(historyMs, 0.99).toFixed(1)} ms (${historyMs.length} queries)`,
      `history (24 h, by container) latency: p50 ${quantile(dayHistoryMs, 0.5).toFixed(1)} ms, p99 ${quantile(dayHistoryMs, 0.99).toFixed(1)} ms (${dayHistoryMs.length} queries)`,
      `failed requests: ${failures}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const stats = await (
      await fetch(`${base}/api/v1/stats`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json();
    process.stdout.write(
      `history stats: ${JSON.stringify((stats as { history: unknown }).history)}\n`,
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    if (agent !== undefined) {
      agent.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 3000));
      if (agent.exitCode === null) agent.kill('SIGKILL');
    }
    sink.close();
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnSyncOk(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
}

main().catch((error: unknown) => {
  process.stderr.write(`soak failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
