// Parent side of monitor-child.ts: start pidflow's monitor in its own process, ask it for
// per-process totals, read its CPU time and peak RSS, stop it.

import type { MonitorOptions } from '../../src/index.js';
import type { SpawnedChild, TestNet } from '../../test/helpers/netns.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeScriptCommand, packageRoot } from '../../test/helpers/traffic.js';
import type { ChildMessage } from './monitor-protocol.js';
import { readProcUsage } from './proc-usage.js';
import type { ProcUsage } from './proc-usage.js';

export type { ChildMessage, MemoryBreakdown, ProcessTotals } from './monitor-protocol.js';

type SnapshotMessage = Extract<ChildMessage, { type: 'snapshot' }>;

/** A monitor running in a child process. */
export interface MonitorProcess {
  readonly pid: number;
  readonly child: SpawnedChild;
  /** Per-process totals and counters right now. */
  snapshot(): Promise<SnapshotMessage>;
  /** CPU seconds and peak RSS of the monitor process so far. */
  usage(): ProcUsage | undefined;
  /** Stop the monitor and wait for the process to exit (killed after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * How the pidflow command runs node: the environment assignments and node flags of
 * bin/pidflow.js's `#!/usr/bin/env -S [NAME=value...] node [flags...]` line.
 */
export function commandRuntime(): { env: Record<string, string>; nodeFlags: string[] } {
  const first =
    readFileSync(join(packageRoot(), 'bin', 'pidflow.js'), 'utf8').split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env(?: -S)? (.*)$/.exec(first);
  const words = (m?.[1] ?? '').split(' ').filter((w) => w !== '');
  const nodeAt = words.indexOf('node');
  if (nodeAt < 0) throw new Error(`bin/pidflow.js: unexpected first line ${JSON.stringify(first)}`);
  const env: Record<string, string> = {};
  for (const w of words.slice(0, nodeAt)) {
    const eq = w.indexOf('=');
    if (eq > 0) env[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { env, nodeFlags: words.slice(nodeAt + 1) };
}

/** Start a monitor child (on the host) with `options`; resolves once it has started capturing. */
export async function startMonitorProcess(
  net: TestNet,
  options: MonitorOptions,
  startTimeoutMs = 10_000,
): Promise<MonitorProcess> {
  const { cmd, args } = nodeScriptCommand('bench/lib/monitor-child');
  // The monitor runs as the pidflow command runs: same node flags and environment.
  const runtime = commandRuntime();
  const child = net.spawnIn(
    undefined,
    cmd,
    [...runtime.nodeFlags, ...args, JSON.stringify(options)],
    { env: { ...process.env, ...runtime.env } },
  );
  const waiters: ((m: ChildMessage) => void)[] = [];
  let buffered = '';
  let lastError = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let message: ChildMessage;
      try {
        message = JSON.parse(line) as ChildMessage;
      } catch {
        continue;
      }
      if (message.type === 'error' || message.type === 'ended') {
        lastError =
          message.type === 'error' ? message.message : `${message.reason} ${message.error}`;
      }
      for (const w of waiters.splice(0)) w(message);
    }
  });
  child.stdin?.on('error', () => undefined);
  const next = (type: ChildMessage['type'], timeoutMs: number): Promise<ChildMessage> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`monitor child ${child.pid}: no ${type} within ${timeoutMs} ms ${lastError}`),
          ),
        timeoutMs,
      );
      const onExit = (): void => {
        clearTimeout(timer);
        reject(new Error(`monitor child ${child.pid} exited before ${type}: ${lastError}`));
      };
      child.once('exit', onExit);
      const wait = (m: ChildMessage): void => {
        if (m.type === type) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(m);
        } else if (m.type === 'error') {
          clearTimeout(timer);
          child.off('exit', onExit);
          reject(new Error(`monitor child ${child.pid} failed: ${m.message}`));
        } else waiters.push(wait);
      };
      waiters.push(wait);
    });
  await next('ready', startTimeoutMs);
  return {
    pid: child.pid,
    child,
    snapshot: async () => {
      const reply = next('snapshot', process.env['PIDFLOW_BENCH_HEAPSNAPSHOT'] ? 120_000 : 10_000);
      child.stdin?.write('snapshot\n');
      return (await reply) as SnapshotMessage;
    },
    usage: () => readProcUsage(child.pid),
    stop: async (timeoutMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin?.write('stop\n');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null)
          process.kill(child.pid, 'SIGKILL');
      }, timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
