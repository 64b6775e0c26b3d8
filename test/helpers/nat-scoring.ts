// Scoring for the NAT and container end-to-end tests: the workers' own payload byte counts
// (what each process wrote and read on its sockets) against the monitor's per-process totals.

import assert from 'node:assert/strict';
import type { Monitor, Snapshot } from '../../src/index.js';
import type { WorkerReport } from './traffic.js';

/** Most a process may get over its worker's count (retransmitted payload). */
const MAX_OVER_TRUTH = 1.05;

/** What one worker process says it moved: payload bytes, both directions. */
export interface ProcessPayload {
  readonly pid: number;
  readonly label: string;
  readonly sentPayloadBytes: number;
  readonly receivedPayloadBytes: number;
}

/** A worker's report as its payload totals. */
export function payloadOf(label: string, report: WorkerReport): ProcessPayload {
  let sent = 0;
  let received = 0;
  for (const s of report.sockets) {
    sent += s.sentPayloadBytes;
    received += s.receivedPayloadBytes;
  }
  return { pid: report.pid, label, sentPayloadBytes: sent, receivedPayloadBytes: received };
}

/** The monitor's payload totals of `pid` (0 when it has no entry). */
export function monitorPayload(
  snapshot: Snapshot,
  pid: number,
): { sentPayloadBytes: number; receivedPayloadBytes: number } {
  const entry = snapshot.processes.find((p) => p.process.pid === pid);
  return {
    sentPayloadBytes: entry?.total.sentPayloadBytes ?? 0,
    receivedPayloadBytes: entry?.total.receivedPayloadBytes ?? 0,
  };
}

/**
 * Each process got at least `share` of the payload it really moved, in each direction where it
 * moved any, and at most 5% more: the wire may carry TCP retransmissions the worker never
 * counted (seen under load), while a packet counted twice would show as 200%. Exact host totals
 * are checked against tcpdump separately.
 */
export function assertOnRightProcess(
  what: string,
  snapshot: Snapshot,
  truths: readonly ProcessPayload[],
  share = 0.99,
): void {
  for (const t of truths) {
    const got = monitorPayload(snapshot, t.pid);
    for (const dir of ['sentPayloadBytes', 'receivedPayloadBytes'] as const) {
      if (t[dir] === 0) continue;
      const ratio = got[dir] / t[dir];
      assert.ok(
        ratio >= share && ratio <= MAX_OVER_TRUTH,
        `${what}: ${t.label} (pid ${t.pid}) ${dir}: monitor ${got[dir]}, worker ${t[dir]} ` +
          `(${(ratio * 100).toFixed(2)}%)\n${describeSnapshot(snapshot)}`,
      );
    }
  }
}

/** Processes and stats in one short text, for failure messages. */
export function describeSnapshot(snapshot: Snapshot): string {
  const rows = snapshot.processes.map(
    (p) =>
      `  pid ${p.process.pid} ${p.process.comm}: sent ${p.total.sentPayloadBytes} received ` +
      `${p.total.receivedPayloadBytes} (payload)`,
  );
  const s = snapshot.stats;
  rows.push(
    `  seen ${s.seen.bytes} attributed ${s.attributed.bytes} unknown ${s.unknown.bytes} ` +
      `duplicate ${s.duplicate.bytes} nat ${JSON.stringify(s.nat ?? null)}`,
  );
  return rows.join('\n');
}

/** TCP/UDP IP bytes the monitor counted (distinct packets: device copies once). */
export function tcpUdpSeenBytes(monitor: Monitor): number {
  const s = monitor.stats();
  return s.seen.bytes - s.otherProtocol.bytes;
}

/** Wait until `condition` holds or `limitMs` passes. */
export async function waitFor(condition: () => boolean, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
