// The agent under a real Prometheus (Debian's `prometheus`): Prometheus scrapes it with the
// bearer token, and its own query API must report the bytes a known sender moved (ground truth:
// the datagrams it sent) within 1%. `promtool check metrics` is clean, and the series of the
// sender disappears (stale in Prometheus) after it exits and the grace period passes.

import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRootDir } from '../golden/assert-golden.js';

const ROOT = packageRootDir();
const BIN = join(ROOT, 'bin', 'pidflow.js');
const IS_ROOT = process.getuid?.() === 0;
const HAS_PROMETHEUS = spawnSync('prometheus', ['--version']).status === 0;
const SKIP = !IS_ROOT
  ? 'needs root to capture on lo (CI runs as root)'
  : !HAS_PROMETHEUS
    ? 'needs Debian prometheus (bash scripts/setup-test.sh installs it)'
    : false;
const TOKEN = 'cHJvbWV0aGV1cy10ZXN0LXRva2VuLTEyMzQ1Ng==';
const DATAGRAMS = 400;
const PAYLOAD_BYTES = 1000;
/** IPv4 + UDP headers: pidflow counts IP-level bytes. */
const HEADER_BYTES = 28;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function stop(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function promQuery(
  base: string,
  query: string,
): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { result: never[] } };
  assert.equal(body.status, 'success', JSON.stringify(body));
  return body.data.result;
}

test(
  'a real Prometheus scrapes the agent with the token and reports the known sender within 1%; promtool is clean; the series goes after the grace period',
  { skip: SKIP, timeout: 180_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidflow-prom-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, TOKEN);
    chmodSync(tokenFile, 0o600);
    // A unique comm for the sender: exec node through a symlink with its own name.
    const comm = `pfsend${process.pid % 100_000}`;
    symlinkSync(process.execPath, join(dir, comm));
    let agent: ChildProcess | undefined;
    let prom: ChildProcess | undefined;
    let sender: ChildProcess | undefined;
    const sink = createSocket('udp4');
    let agentErr = '';
    let promErr = '';
    try {
      await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
      const agentPort = await freePort();
      agent = spawn(
        process.execPath,
        [
          BIN,
          'serve',
          '--listen',
          `127.0.0.1:${agentPort}`,
          '--token-file',
          tokenFile,
          '--history-db',
          'memory',
          '--include-loopback',
          '--interval',
          '500ms',
          '--exited-retention',
          '2s',
          '--series-grace',
          '3s',
          '--max-series',
          '200',
          'lo',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let agentOut = '';
      agent.stdout!.on('data', (d: Buffer) => (agentOut += d.toString()));
      agent.stderr!.on('data', (d: Buffer) => (agentErr += d.toString()));
      for (let i = 0; i < 150 && !agentOut.includes('listening'); i++) await sleep(100);
      assert.match(agentOut, /listening on http:\/\/127\.0\.0\.1:/, agentErr);
      const auth = { headers: { authorization: `Bearer ${TOKEN}` } };

      const promPort = await freePort();
      const config = join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'scrape_configs:',
          '  - job_name: pidflow',
          '    scrape_interval: 1s',
          '    scrape_timeout: 1s',
          `    authorization: { type: Bearer, credentials_file: ${tokenFile} }`,
          `    static_configs: [{ targets: ['127.0.0.1:${agentPort}'] }]`,
          '',
        ].join('\n'),
      );
      assert.equal(spawnSync('promtool', ['check', 'config', config]).status, 0);
      prom = spawn(
        'prometheus',
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${promPort}`,
          '--storage.tsdb.retention.time=1h',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prom.stderr!.on('data', (d: Buffer) => (promErr = (promErr + d.toString()).slice(-4000)));
      const promBase = `http://127.0.0.1:${promPort}`;
      for (let i = 0; i < 100; i++) {
        const ready = await fetch(`${promBase}/-/ready`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        await sleep(200);
      }
      // Prometheus reaches the agent with the token.
      let up: string | undefined;
      for (let i = 0; i < 60 && up !== '1'; i++) {
        up = (await promQuery(promBase, 'up{job="pidflow"}'))[0]?.value[1];
        if (up !== '1') await sleep(500);
      }
      assert.equal(up, '1', `Prometheus scrapes the agent:\n${promErr}`);

      // The known sender: DATAGRAMS datagrams of PAYLOAD_BYTES from one connected socket.
      const script = `
        const s = require('node:dgram').createSocket('udp4');
        s.bind(0, '127.0.0.1', () => {
          s.connect(${sink.address().port}, '127.0.0.1', async () => {
            await new Promise((r) => setTimeout(r, 1500)); // a socket scan sees it first
            for (let i = 0; i < ${DATAGRAMS}; i++) {
              await new Promise((r) => s.send(Buffer.alloc(${PAYLOAD_BYTES}, 0x61), r));
              if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
            }
            process.stdout.write('done\\n');
            process.stdin.on('end', () => process.exit(0));
            process.stdin.resume();
          });
        });`;
      sender = spawn(join(dir, comm), ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
      let senderOut = '';
      sender.stdout!.on('data', (d: Buffer) => (senderOut += d.toString()));
      for (let i = 0; i < 200 && !senderOut.includes('done'); i++) await sleep(100);
      assert.ok(senderOut.includes('done'), 'the sender sent everything');
      const expected = DATAGRAMS * (PAYLOAD_BYTES + HEADER_BYTES);

      const query = `sum(pidflow_process_sent_bytes_total{comm="${comm}"})`;
      let seen = 0;
      for (let i = 0; i < 60; i++) {
        seen = Number((await promQuery(promBase, query))[0]?.value[1] ?? 0);
        if (Math.abs(seen - expected) <= expected * 0.01) break;
        await sleep(500);
      }
      assert.ok(
        Math.abs(seen - expected) <= expected * 0.01,
        `Prometheus says ${seen} bytes sent by ${comm}; sent ${expected} (1%)`,
      );

      // promtool on what Prometheus scrapes.
      const text = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`, auth)).text();
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text });
      assert.equal(lint.status, 0, `promtool: ${lint.stdout.toString()}${lint.stderr.toString()}`);
      assert.equal(`${lint.stdout.toString()}${lint.stderr.toString()}`.trim(), '');
      // The shipped rules check, and every dashboard query runs on this Prometheus.
      const rules = spawnSync('promtool', [
        'check',
        'rules',
        join(ROOT, 'deploy', 'prometheus', 'pidflow-rules.yml'),
      ]);
      assert.equal(rules.status, 0, rules.stdout.toString() + rules.stderr.toString());
      const dashboard = JSON.parse(
        readFileSync(join(ROOT, 'deploy', 'grafana', 'pidflow-dashboard.json'), 'utf8'),
      ) as { panels: { targets: { expr: string }[] }[] };
      for (const panel of dashboard.panels) {
        for (const t of panel.targets)
          await promQuery(promBase, t.expr.replaceAll('$instance', '.*'));
      }
      // The dashboard's top-talkers query, scoped to the sender: the agent sees every process
      // on this shared host, so an unscoped top 10 need not hold it, and rate() has an answer
      // only once two scrapes hold the series. Wait for that with a deadline, then check.
      const topQuery = `topk(10, sum by (comm, container) (rate(pidflow_process_sent_bytes_total{comm="${comm}"}[5m]) + rate(pidflow_process_received_bytes_total{comm="${comm}"}[5m])))`;
      let top: Awaited<ReturnType<typeof promQuery>> = [];
      for (let i = 0; i < 40 && !top.some((r) => r.metric['comm'] === comm); i++) {
        top = await promQuery(promBase, topQuery);
        if (!top.some((r) => r.metric['comm'] === comm)) await sleep(500);
      }
      assert.ok(
        top.some((r) => r.metric['comm'] === comm),
        `the sender is a top talker: ${JSON.stringify(top)}`,
      );
      const budget = await promQuery(
        promBase,
        'max(pidflow_series) <= on() pidflow_series_limit + 1',
      );
      assert.equal(budget.length, 1, 'series stay within the budget');

      // The sender exits: after exited-retention (2 s) and the grace period (3 s) its series goes,
      // and Prometheus marks it stale.
      sender.stdin!.end();
      await new Promise<void>((r) =>
        sender!.exitCode !== null ? r() : sender!.once('exit', () => r()),
      );
      let gone = false;
      for (let i = 0; i < 60 && !gone; i++) {
        await sleep(500);
        const metrics = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`, auth)).text();
        gone = !metrics.includes(`comm="${comm}"`);
      }
      assert.ok(gone, 'the series leaves /metrics after the grace period');
      let stale = false;
      for (let i = 0; i < 30 && !stale; i++) {
        stale =
          (await promQuery(promBase, `pidflow_process_sent_bytes_total{comm="${comm}"}`)).length ===
          0;
        if (!stale) await sleep(500);
      }
      assert.ok(stale, 'Prometheus no longer returns the series');
      const expired = await promQuery(promBase, 'pidflow_series_expired_total');
      assert.ok(Number(expired[0]?.value[1] ?? 0) >= 1);
    } finally {
      sink.close();
      if (sender !== undefined && sender.exitCode === null) sender.kill('SIGKILL');
      await stop(prom);
      await stop(agent);
      rmSync(dir, { recursive: true, force: true });
    }
    assert.doesNotMatch(agentErr, /^error:/m);
  },
);
