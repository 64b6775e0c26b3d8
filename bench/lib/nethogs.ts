// Runs nethogs in trace mode (`nethogs -t -v 2 -C <device>`: cumulative bytes, TCP and UDP) as
// the baseline, and keeps the largest cumulative total it printed for each pid.

import type { TestNet } from '../../test/helpers/netns.js';
import { readProcUsage } from './proc-usage.js';
import type { ProcUsage } from './proc-usage.js';

/** Totals nethogs printed for one program line. */
export interface NethogsTotals {
  /** Bytes sent (nethogs counts whole frames, link header included). */
  sentBytes: number;
  receivedBytes: number;
}

/** A running nethogs. */
export interface NethogsProcess {
  readonly pid: number;
  /** Largest cumulative totals seen per pid (pid 0 lines, `unknown TCP` etc., are in `unknown`). */
  byPid(): Map<number, NethogsTotals>;
  /** Sum of the `unknown ...` lines. */
  unknownBytes(): number;
  usage(): ProcUsage | undefined;
  stop(): Promise<void>;
}

// `/usr/bin/node/12345/0\t1.00245e+06\t31724` or `unknown TCP/0/0\t0\t0`
const LINE = /^(.*)\/(\d+)\/(\d+)\t([0-9.e+-]+)\t([0-9.e+-]+)$/;

/** Start nethogs on `device` (or several devices) on the host, refreshing every second. */
export async function startNethogs(
  net: TestNet,
  device: string | readonly string[],
): Promise<NethogsProcess> {
  const devices = typeof device === 'string' ? [device] : device;
  const child = net.spawnIn(undefined, 'nethogs', ['-t', '-v', '2', '-d', '1', '-C', ...devices], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const byPid = new Map<number, NethogsTotals>();
  const unknown = new Map<string, number>();
  let buffered = '';
  let sawRefresh = false;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (text: string) => {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith('Refreshing:')) sawRefresh = true;
      const m = LINE.exec(line);
      if (m === null) continue;
      const pid = Number(m[2]);
      const sent = Number(m[4]);
      const received = Number(m[5]);
      if (!Number.isFinite(sent) || !Number.isFinite(received)) continue;
      if (pid === 0) {
        unknown.set(m[1] ?? '', Math.max(unknown.get(m[1] ?? '') ?? 0, sent + received));
        continue;
      }
      const t = byPid.get(pid) ?? { sentBytes: 0, receivedBytes: 0 };
      t.sentBytes = Math.max(t.sentBytes, sent);
      t.receivedBytes = Math.max(t.receivedBytes, received);
      byPid.set(pid, t);
    }
  });
  const deadline = Date.now() + 5000;
  while (!sawRefresh && Date.now() < deadline && child.exitCode === null) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!sawRefresh) throw new Error(`nethogs on ${devices.join(', ')} printed nothing within 5 s`);
  return {
    pid: child.pid,
    byPid: () => byPid,
    unknownBytes: () => [...unknown.values()].reduce((a, b) => a + b, 0),
    usage: () => readProcUsage(child.pid),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    },
  };
}
