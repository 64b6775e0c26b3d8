// What the web page costs the agent. Part 1: the real `pidflow serve` on lo with steady UDP
// senders; its CPU (utime + stime from /proc) over alternating phases with no page open and
// with one page open in Debian's chromium (Now view, refreshing every second), then History.
// Part 2: /api/v1/top on a host with 1,000 processes (a fake monitor): latency and payload.
// Prints medians and the ratio page/no page measured in the same run. Needs root (capture).
//
//   npm run bench:web   (PHASE_SECONDS=20 ROUNDS=3 by default)

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { startServer } from '../src/serve/server.js';
import { packageRootDir } from '../test/golden/assert-golden.js';
import {
  FakeMonitor,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
} from '../test/helpers/fake-monitor.js';
import {
  chromiumPath,
  startAgent,
  startSender,
  startSink,
  type SenderHandle,
} from '../test/helpers/web-agent.js';
import { readProcUsage } from './lib/proc-usage.js';

const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (v: number[]): number => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function cpuOver(pid: number, seconds: number): Promise<number> {
  const before = readProcUsage(pid)!.cpuSeconds;
  await sleep(seconds * 1000);
  return ((readProcUsage(pid)!.cpuSeconds - before) / seconds) * 100;
}

async function agentCost(): Promise<void> {
  const chromium = chromiumPath();
  if (process.getuid?.() !== 0 || chromium === undefined) {
    console.log('part 1 skipped: needs root (capture on lo) and chromium (scripts/setup-test.sh)');
    return;
  }
  const sink = await startSink();
  const seconds = ROUNDS * PHASE_SECONDS * 3 + 30;
  const senders: SenderHandle[] = [];
  for (let i = 0; i < 5; i++) {
    senders.push(
      await startSender({
        comm: `pfbench${i}`,
        argv: [`--n=${i}`],
        port: sink.port,
        payloadBytes: 1000,
        periodSeconds: 0.005 * (i + 1),
        seconds,
      }),
    );
  }
  const agent = await startAgent(['--history-db', 'memory', '--history-interval', '10']);
  const { chromium: launcher } = await import('playwright-core');
  const browser = await launcher.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    for (const s of senders) s.go();
    await sleep(5000);
    const idle: number[] = [];
    const now: number[] = [];
    const history: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      idle.push(await cpuOver(agent.pid, PHASE_SECONDS));
      const page = await browser.newPage();
      await page.goto(agent.url);
      await page.locator('#now-table tbody tr').first().waitFor();
      now.push(await cpuOver(agent.pid, PHASE_SECONDS));
      await page.goto(`${agent.url}/#history`);
      history.push(await cpuOver(agent.pid, PHASE_SECONDS));
      await page.close();
    }
    const fmt = (v: number[]): string =>
      `${median(v).toFixed(2)} % (${v.map((x) => x.toFixed(2)).join(', ')})`;
    console.log(
      `agent CPU, ${PHASE_SECONDS} s phases, ${ROUNDS} rounds, 5 UDP senders, 0.47 MB/s in all, on lo`,
    );
    console.log(`  no page open:            ${fmt(idle)}`);
    console.log(`  one page open (Now, 1 s): ${fmt(now)}`);
    console.log(`  one page open (History):  ${fmt(history)}`);
    console.log(
      `  added by the Now view:    ${(median(now) - median(idle)).toFixed(2)} % of one core (ratio ${(median(now) / median(idle)).toFixed(2)})`,
    );
    console.log(
      `  agent RSS at the end:     ${(readProcUsage(agent.pid)!.rssBytes / 1048576).toFixed(1)} MiB`,
    );
  } finally {
    await browser.close();
    for (const s of senders) s.stop();
    sink.socket.close();
    await agent.stop();
  }
}

async function busyHostTop(): Promise<void> {
  const monitor = new FakeMonitor();
  const processes = Array.from({ length: 1000 }, (_, i) =>
    makeProcessEntry(
      makeProcessInfo(1000 + i, `worker-${i}`, {
        cmdline: ['/usr/bin/worker', `--id=${i}`, '--config=/etc/worker/config.yaml'],
      }),
      {
        sentBytes: 1e6 + i * 1000,
        receivedBytes: 2e6,
        sentHistory: Array.from({ length: 60 }, (_, s) => (i * 31 + s * 7) % 5000),
        receivedHistory: Array.from({ length: 60 }, (_, s) => (i * 17 + s * 3) % 9000),
      },
    ),
  );
  monitor.tick(makeSnapshot({ processes }));
  const server = await startServer(monitor, { port: 0, history: false });
  try {
    for (const query of ['', '&filter=worker-99', '&sort=name', '&limit=100']) {
      const ms: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        const body = await (await fetch(`${server.url}/api/v1/top?groupBy=process${query}`)).text();
        ms.push(performance.now() - t);
        bytes = body.length;
      }
      const p99 = [...ms].sort((a, b) => a - b)[Math.floor(ms.length * 0.99)]!;
      console.log(
        `  /api/v1/top${query || ' (limit 25)'}: median ${median(ms).toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, ${(bytes / 1024).toFixed(1)} KiB`,
      );
    }
  } finally {
    await server.close();
  }
}

const web = join(packageRootDir(), 'dist', 'web');
const sizes = ['index.html', 'app.js', 'app.css', 'favicon.svg'].map(
  (f) => [f, statSync(join(web, f)).size] as const,
);
console.log(
  `built page: ${sizes.map(([f, s]) => `${f} ${(s / 1024).toFixed(1)} KiB`).join(', ')}; total ${(sizes.reduce((a, [, s]) => a + s, 0) / 1024).toFixed(1)} KiB`,
);
console.log(
  `load average at start: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} (2 cores)`,
);
console.log('1,000 processes (fake monitor), 200 requests each:');
await busyHostTop();
await agentCost();
console.log(
  `load average at end: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
