// A full disk and a read-only file system under the history database (a small tmpfs the test
// mounts): the agent reports it in /api/v1/stats, /metrics and its log, keeps serving live
// data, and writes again once the disk is writable. Needs root (mount).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { startServer } from '../../src/serve/server.js';
import {
  FakeMonitor,
  makeProcessEntry,
  makeProcessInfo,
  makeSnapshot,
} from '../helpers/fake-monitor.js';

const IS_ROOT = process.getuid?.() === 0;
const START_MS = 1_700_000_000_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

test(
  'a full disk and a read-only file system are reported while live data is still served',
  { skip: IS_ROOT ? false : 'needs root to mount a small tmpfs', timeout: 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pidflow-disk-'));
    const roDir = mkdtempSync(join(tmpdir(), 'pidflow-disk-ro-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'pidflow-test', dir]);
    const events: string[] = [];
    const monitor = new FakeMonitor({ tickIntervalMs: 1000 });
    const clock = new FakeClock(START_MS);
    const server = await startServer(monitor, {
      port: 0,
      clock,
      history: { path: join(dir, 'h.db'), intervalSeconds: 1 },
      onEvent: (line) => events.push(line),
    });
    try {
      const stats = async (): Promise<{
        up: boolean;
        lastError: string | null;
        writeErrors: number;
      }> =>
        ((await (await fetch(`${server.url}/api/v1/stats`)).json()) as { history: never }).history;
      // 400 processes with long command lines per 1 s interval fill 1 MiB within a few hundred ticks.
      let tick = 0;
      const feed = (n: number): void => {
        for (let k = 0; k < n; k++) {
          tick++;
          const processes = Array.from({ length: 400 }, (_, i) =>
            makeProcessEntry(
              makeProcessInfo(1000 + i, `p${i}`, {
                key: `${1000 + i}:${tick}`,
                startTime: tick,
                cmdline: [`/usr/bin/p${i}`, 'x'.repeat(200)],
              }),
              { sentBytes: 1000 * tick, receivedBytes: tick },
            ),
          );
          monitor.tick(makeSnapshot({ time: START_MS + tick * 1000, processes }));
        }
      };
      await waitFor('the disk to fill', async () => {
        feed(5);
        return (await stats()).writeErrors > 0;
      });
      const full = await stats();
      assert.equal(full.up, false);
      assert.match(full.lastError ?? '', /disk is full .*free space/);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /^pidflow_history_up 0$/m);
      assert.match(metrics, /^pidflow_history_write_errors_total [1-9]\d*$/m);
      assert.match(metrics, /^pidflow_history_dropped_rows_total [1-9]\d*$/m);
      assert.ok(
        events.some((e) => /^history: error: .*disk is full/.test(e)),
        events.join('\n'),
      );
      assert.equal(
        events.filter((e) => /disk is full/.test(e)).length,
        1,
        'logged once, not once per interval',
      );
      // Live data is still served.
      const live = await fetch(`${server.url}/api/v1/processes?limit=1`);
      assert.equal(live.status, 200);
      assert.equal(((await live.json()) as { entries: unknown[] }).entries.length, 1);

      // Room again: writing resumes and says so.
      execFileSync('mount', ['-o', 'remount,size=16m', dir]);
      events.length = 0;
      await waitFor('writes to resume', async () => {
        feed(1);
        return (await stats()).up;
      });
      assert.ok(
        events.some((e) => /^history: writing .* again$/.test(e)),
        events.join('\n'),
      );
      await server.close();

      // A read-only file system (a read-only bind mount of the same directory): the agent starts,
      // reports why it cannot write, and serves live data.
      execFileSync('mount', ['--bind', dir, roDir]);
      execFileSync('mount', ['-o', 'remount,bind,ro', roDir]);
      const roEvents: string[] = [];
      const ro = await startServer(monitor, {
        port: 0,
        clock,
        history: { path: join(roDir, 'h.db'), intervalSeconds: 1 },
        onEvent: (line) => roEvents.push(line),
      });
      try {
        const h = ((await (await fetch(`${ro.url}/api/v1/stats`)).json()) as { history: never })
          .history as { up: boolean; lastError: string };
        assert.equal(h.up, false);
        assert.match(h.lastError, /the file system is read-only/);
        assert.match(h.lastError, /make .* writable .* or choose another file with --history-db/);
        assert.ok(
          roEvents.some((e) => /^history: error: /.test(e)),
          roEvents.join('\n'),
        );
        assert.match(await (await fetch(`${ro.url}/metrics`)).text(), /^pidflow_history_up 0$/m);
        assert.equal((await fetch(`${ro.url}/api/v1/processes`)).status, 200);
        const q = await fetch(`${ro.url}/api/v1/history`);
        assert.equal(q.status, 503);
      } finally {
        await ro.close();
      }
    } finally {
      await server.close();
      try {
        execFileSync('umount', [roDir], { stdio: 'ignore' });
      } catch {
        // Not mounted (the test failed before).
      }
      execFileSync('umount', [dir]);
      rmSync(roDir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
