// Shared by test/e2e/web.test.ts and bench/web-cost.ts: start the real `pidflow serve` on lo,
// UDP senders with a name of their choice (prctl comm and argv) at a known rate, and find the
// system Chromium. Every child is killed by pid on stop.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { packageRootDir } from '../golden/assert-golden.js';

const ROOT = packageRootDir();
/** The CLI entry point of the package under test. */
export const BIN = join(ROOT, 'bin', 'pidflow.js');
/** IPv4 header plus UDP header. */
export const UDP_HEADER_BYTES = 28;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Path of Debian's chromium, or undefined when it is not installed. */
export function chromiumPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

/** True when python3 runs. */
export function hasPython(): boolean {
  return spawnSync('python3', ['-c', 'pass']).status === 0;
}

/** A running agent. */
export interface AgentHandle {
  url: string;
  pid: number;
  stderr(): string;
  stop(): Promise<number | null>;
}

/** Start `pidflow serve` on 127.0.0.1 (port chosen by the kernel) capturing lo. */
export async function startAgent(extraArgs: readonly string[]): Promise<AgentHandle> {
  const agent = spawn(
    process.execPath,
    [BIN, 'serve', '--listen', '127.0.0.1:0', '--include-loopback', ...extraArgs, 'lo'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  agent.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  agent.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => agent.on('exit', (code) => resolve(code)));
  let url: string | undefined;
  for (let i = 0; i < 150 && url === undefined && agent.exitCode === null; i++) {
    url = /listening on (https?:\/\/127\.0\.0\.1:\d+)/.exec(stdout)?.[1];
    if (url === undefined) await sleep(100);
  }
  if (url === undefined) {
    agent.kill('SIGKILL');
    throw new Error(`the agent did not say where it listens:\n${stdout}\n${stderr}`);
  }
  return {
    url,
    pid: agent.pid!,
    stderr: () => stderr,
    stop: async () => {
      if (agent.exitCode === null) agent.kill('SIGTERM');
      const timer = setTimeout(() => agent.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * Sets its comm with prctl(PR_SET_NAME), then sends `size`-byte datagrams to 127.0.0.1:port
 * every `period` seconds (absolute schedule, no drift), printing "<ms> <datagrams>" after
 * each send; exits after `seconds`. argv[1..] is free text (it shows as the command line).
 */
const SENDER_PY = `
import ctypes, socket, sys, time
comm, port, size, period, seconds = sys.argv[1].encode(), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(comm), 0, 0, 0)
sys.stdin.readline()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
payload = b"w" * size
start = time.time()
n = 0
while time.time() - start < seconds:
    s.sendto(payload, ("127.0.0.1", port))
    n += 1
    sys.stdout.write("%d %d\\n" % (time.time() * 1000, n))
    sys.stdout.flush()
    delay = start + n * period - time.time()
    if delay > 0:
        time.sleep(delay)
`;

/** A running sender and what it reported. */
export interface SenderHandle {
  pid: number;
  /** Send times (ms since the epoch) and the count of datagrams sent by then. */
  sends: { timeMs: number; count: number }[];
  /** Start sending (the comm is set before: the agent must never see the old name). */
  go(): void;
  /** IP bytes sent in [fromMs, toMs). */
  bytesBetween(fromMs: number, toMs: number): number;
  stop(): void;
}

/** Start a sender; resolves once its comm is set. */
export async function startSender(o: {
  comm: string;
  argv: readonly string[];
  port: number;
  payloadBytes: number;
  periodSeconds: number;
  seconds: number;
}): Promise<SenderHandle> {
  const child: ChildProcess = spawn(
    'python3',
    [
      '-c',
      SENDER_PY,
      o.comm,
      String(o.port),
      String(o.payloadBytes),
      String(o.periodSeconds),
      String(o.seconds),
      ...o.argv,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const sends: { timeMs: number; count: number }[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const [t, n] = line.split(' ').map(Number);
      if (t !== undefined && n !== undefined) sends.push({ timeMs: t, count: n });
    }
  });
  const { readFileSync } = await import('node:fs');
  const expected = o.comm.slice(0, 15);
  for (let i = 0; i < 100; i++) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${child.pid!}/comm`, 'utf8').replace(/\n$/, '');
    } catch {
      // not started yet
    }
    if (comm === expected) break;
    await sleep(20);
  }
  const packetBytes = o.payloadBytes + UDP_HEADER_BYTES;
  return {
    pid: child.pid!,
    sends,
    go: () => child.stdin!.write('go\n'),
    bytesBetween: (fromMs, toMs) => {
      const n = sends.filter((s) => s.timeMs >= fromMs && s.timeMs < toMs).length;
      return n * packetBytes;
    },
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A UDP sink on 127.0.0.1 that discards what it receives. */
export async function startSink(): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', () => {});
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket };
}
